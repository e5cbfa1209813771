"""What the browser page relies on to work from the HttpOnly cookie alone: pages set the
`_xsrf` cookie a script can read, and POST /user/me says who the token cookie belongs to."""

from __future__ import annotations

from http.cookies import SimpleCookie

import pytest
from tornado.httpclient import HTTPRequest

from tests.conftest import register


async def page_cookies(http_client, base_url: str, page: str) -> SimpleCookie:
    response = await http_client.fetch(base_url + page)
    assert response.code == 200
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("Set-Cookie"):
        jar.load(header)
    return jar


@pytest.mark.gen_test
@pytest.mark.parametrize("page", ["/chat.html", "/login.html", "/register.html"])
async def test_pages_set_a_script_readable_xsrf_cookie(http_client, base_url, page):
    jar = await page_cookies(http_client, base_url, page)
    assert jar["_xsrf"].value
    assert not jar["_xsrf"]["httponly"]  # the script echoes it in X-XSRFToken


@pytest.mark.gen_test
async def test_me_answers_from_the_cookie_with_the_page_xsrf(api, http_client, base_url):
    ann = await register(api, "Ann")
    xsrf = (await page_cookies(http_client, base_url, "/chat.html"))["_xsrf"].value
    cookie = f"chatd_token={ann.token}; _xsrf={xsrf}"
    # As the page sends it: the cookie authenticates, the header echoes the _xsrf cookie.
    status, envelope = await api.call("/user/me", headers={"Cookie": cookie, "X-XSRFToken": xsrf})
    assert status == 200, envelope
    assert envelope["data"]["id"] == ann.id and envelope["data"]["nickname"] == "Ann"
    assert envelope["data"]["mobile"] == ann.mobile  # the Add-me card shows one's own number
    assert "token" not in envelope["data"]
    # Without the header another site could make the same request: refused.
    status, _ = await api.call("/user/me", headers={"Cookie": cookie})
    assert status == 403
    # No session: 401, which sends the page to the login form.
    status, _ = await api.call("/user/me", headers={"Cookie": f"_xsrf={xsrf}", "X-XSRFToken": xsrf})
    assert status == 401
    response = await http_client.fetch(
        HTTPRequest(base_url + "/user/me", method="POST", body=b"{}"), raise_error=False
    )
    assert response.code == 401
