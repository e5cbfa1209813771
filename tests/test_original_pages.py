"""Serving the original Go IM's pages and assets (original_client_dir, issue 12 point 2):
against the real server process on our imitation of its folder (tests/originalfixture.py)."""

from __future__ import annotations

import http.client
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path

import orjson
import pytest
from tornado.httpclient import HTTPRequest

from tests.conftest import register
from tests.originalfixture import CHAT_CSS, SECRET, UTIL_JS, make_original, start_original_server
from tests.serverproc import ROOT, free_port

CHATD_CHAT_CSS = (ROOT / "asset" / "css" / "chat.css").read_bytes()


def get(base_url: str, path: str, method: str = "GET", body: bytes | None = None) -> http.client.HTTPResponse:
    """One request with `path` sent exactly as written (no client-side normalisation)."""
    host, port = urllib.parse.urlsplit(base_url).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request(method, path, body=body)
    response = conn.getresponse()
    response.body = response.read()  # type: ignore[attr-defined]
    conn.close()
    return response


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One server process serving the imitation (started once for the module's checks)."""
    data = tmp_path_factory.mktemp("served")
    proc = start_original_server(data, make_original(data / "original"))
    yield proc
    proc.stop()


def test_login_page_is_served_with_its_includes_expanded(served):
    response = get(served.base_url, "/user/login.shtml")
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/html; charset=UTF-8"
    assert response.getheader("X-Frame-Options") == "DENY"
    assert response.getheader("Cache-Control") == "no-cache"
    # No script policy: the original runs inline scripts and Vue 2 compiles with new Function.
    assert "script-src" not in response.getheader("Content-Security-Policy", "")
    html = response.body.decode()
    assert '<meta name="imitation" content="head part">' in html  # {{template "/chat/head.shtml"}}
    assert '<p id="foot"><b id="badge">included twice deep</b></p>' in html  # nested, trimmed
    assert "{{" not in html and "the sign-in page" not in html  # no action or comment left


def test_root_redirects_to_the_original_login_page(served):
    response = get(served.base_url, "/")
    assert response.status == 302
    assert response.getheader("Location") == "/user/login.shtml"


def test_parts_are_pages_too_and_unknown_names_are_404(served):
    # As in Go, every template named like a path is served, parts included.
    assert get(served.base_url, "/chat/head.shtml").status == 200
    assert get(served.base_url, "/user/nothing.shtml").status == 404


def test_asset_serves_the_original_files(served):
    js = get(served.base_url, "/asset/js/util.js")
    assert js.status == 200 and js.body.decode() == UTIL_JS
    assert "javascript" in js.getheader("Content-Type")
    css = get(served.base_url, "/asset/css/chat.css")
    assert css.status == 200 and css.body.decode() == CHAT_CSS  # the original's, not chatd's
    gif = get(served.base_url, "/asset/plugins/doutu/mkgif/1.gif")
    assert gif.status == 200 and gif.body.startswith(b"GIF8")
    # The original's chat page fetches the sticker package's info.json with a POST.
    info = get(served.base_url, "/asset/plugins/doutu/mkgif/info.json", "POST", b"")
    assert info.status == 200 and orjson.loads(info.body)["assets"] == ["1.gif"]
    # chatd's own sticker URLs (in its catalog and stored messages) still answer at /asset/.
    assert get(served.base_url, "/asset/stickers/chatd-blobs/ok.webp").status == 200


def module_imports(source: str) -> set[str]:
    return set(re.findall(r"""(?:from|import)\s+['"](\./[\w.-]+\.js)['"]""", source))


def test_chatd_pages_still_load_every_file_they_link(served):
    for page in ("/chat.html", "/login.html", "/register.html"):
        response = get(served.base_url, page)
        assert response.status == 200, page
        links = re.findall(r'<(?:link|script)\b[^>]*?(?:href|src)="([^"]+)"', response.body.decode())
        files = [link for link in links if link != "data:,"]  # the empty favicon
        assert files, page
        for link in files:
            assert link.startswith("/chatd-asset/"), link  # never the original's same-named file
            assert get(served.base_url, link).status == 200, link
    # chatd's chat.css there, the original's at /asset/.
    assert get(served.base_url, "/chatd-asset/css/chat.css").body == CHATD_CHAT_CSS
    # Every module chat.js pulls in, transitively, resolves relatively under /chatd-asset/js/.
    seen: set[str] = set()
    todo = ["/chatd-asset/js/chat.js"]
    while todo:
        url = todo.pop()
        if url in seen:
            continue
        seen.add(url)
        response = get(served.base_url, url)
        assert response.status == 200, url
        todo += [urllib.parse.urljoin(url, name) for name in module_imports(response.body.decode())]
    assert len(seen) > 20 and all(url.startswith("/chatd-asset/js/") for url in seen)


@pytest.mark.parametrize(
    "path",
    [
        "/asset/../setup.cfg",
        "/asset/js/../../../setup.cfg",
        "/asset/%2e%2e/%2e%2e/secret.txt",
        "/asset/..%2f..%2fsecret.txt",
        "/asset/js/leak.js",  # a symlink out of the folder
        "/asset//etc/passwd",
        "/asset/%2fetc%2fpasswd",
        "/asset/js/",
        "/chatd-asset/../setup.cfg",
        "/chatd-asset/%2e%2e/setup.cfg",
    ],
)
def test_nothing_outside_the_asset_folders_is_served(served, path):
    response = get(served.base_url, path)
    assert response.status in (403, 404), (path, response.status)
    assert SECRET.encode() not in response.body and b"[metadata]" not in response.body


def start_failing(original: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    args = [
        sys.executable, "-m", "server", "--port", str(free_port()),
        "--database", f"sqlite:///{tmp_path}/chatd.db", "--upload-dir", str(tmp_path / "up"),
        "--original-client", "true", "--original-client-dir", str(original),
    ]  # fmt: skip
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("breakage", "named"),
    [
        ('{{define "/user/x.shtml"}}<p>{{.Name}}</p>{{end}}', "view/user/broken.html:1"),
        ('{{define "/user/x.shtml"}}{{template "/chat/missing.shtml"}}{{end}}', "/chat/missing.shtml"),
        ('\n\n{{define "/user/x.shtml"}}<p>never ended', "view/user/broken.html:3"),
        ('{{define "/a.shtml"}}{{template "/b.shtml"}}{{end}}'
         '{{define "/b.shtml"}}{{template "/a.shtml"}}{{end}}', "/a.shtml -> /b.shtml -> /a.shtml"),
    ],
)  # fmt: skip
def test_a_template_error_stops_the_server_with_one_line(tmp_path, breakage, named):
    original = make_original(tmp_path / "original")
    (original / "view" / "user" / "broken.html").write_text(breakage)
    result = start_failing(original, tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("chatd: original_client_dir") and named in lines[0], lines[0]


def test_a_folder_without_view_stops_the_server(tmp_path):
    (tmp_path / "empty" / "asset").mkdir(parents=True)
    result = start_failing(tmp_path / "empty", tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"chatd: original_client_dir {tmp_path / 'empty'}: no view/ folder in it (it must hold a copy "
        "of the original project's view/ and asset/)"
    ]


# --- without the option nothing changes (in-process app, default settings) ---


@pytest.fixture
def settings_overrides(request, tmp_path):
    """Tests that ask for `original` get the imitation served; the others default settings."""
    if "original" in request.fixturenames:
        return {"original_client": True, "original_client_dir": request.getfixturevalue("original")}
    return {}


@pytest.fixture
def original(tmp_path) -> Path:
    return make_original(tmp_path / "original")


@pytest.mark.gen_test
async def test_without_the_dir_nothing_changes(http_client, base_url):
    fetch = http_client.fetch
    home = await fetch(base_url + "/", follow_redirects=False, raise_error=False)
    assert (home.code, home.headers["Location"]) == (301, "/chat.html")
    assert (await fetch(base_url + "/user/login.shtml", raise_error=False)).code == 404
    page = (await fetch(base_url + "/chat.html")).body.decode()
    assert 'href="/asset/css/chat.css?v=' in page and "/chatd-asset/" not in page
    css = await fetch(base_url + "/asset/css/chat.css")
    assert css.body == CHATD_CHAT_CSS
    assert (await fetch(base_url + "/chatd-asset/css/chat.css", raise_error=False)).code == 404


# --- the original's built-in avatar and group icon (issue 12 point 3) ---


@pytest.mark.gen_test
async def test_original_default_avatar_is_kept_through_a_profile_edit(api, original):
    # The original's register page sends its default picture as the avatar.
    data = await api.ok(
        "/user/register",
        mobile="13800000001",
        passwd="correct horse",
        nickname="Ann",
        avatar="/asset/images/user.jpg",
    )
    token = data["token"]
    assert data["avatar"] == "/asset/images/user.jpg"
    # chatd's own profile panel sends the avatar back with a new nickname: accepted.
    user = await api.ok("/user/profile", token, nickname="Annie", avatar="/asset/images/user.jpg")
    assert (user["nickname"], user["avatar"]) == ("Annie", "/asset/images/user.jpg")


@pytest.mark.parametrize(
    "avatar",
    [
        "/asset/images/none.jpg",  # no such file in the original's folder
        "/asset/../asset/images/user.jpg",
        "/asset/images/../../../secret.txt",
        "/asset/%2e%2e/secret.txt",
        "/asset/js/leak.js",  # a symlink out of the folder
        "/asset/images/",
        "/asset/stickers/chatd-blobs/ok.webp",  # chatd's own asset: not an avatar
        "/asset/images/user.jpg?x=1",
        "https://evil.example/asset/images/user.jpg",
    ],
)
@pytest.mark.gen_test
async def test_other_avatars_are_still_refused(api, original, avatar):
    ann = await register(api, "Ann")
    status, envelope = await api.call("/user/profile", ann.token, avatar=avatar)
    assert status == 400 and envelope["code"] == -1, (avatar, status, envelope)
    assert (await api.ok("/user/me", ann.token))["avatar"] == ""


@pytest.mark.gen_test
async def test_without_the_dir_an_asset_avatar_is_refused_as_before(api):
    ann = await register(api, "Ann")
    status, _ = await api.call("/user/profile", ann.token, avatar="/asset/images/user.jpg")
    assert status == 400


@pytest.mark.gen_test
async def test_original_default_group_icon_is_accepted(api, original, http_client, base_url):
    ann = await register(api, "Ann")
    group = await api.ok(
        "/contact/createcommunity", ann.token, name="Tea", icon="/asset/images/community.png"
    )
    assert group["icon"] == "/asset/images/community.png"
    rows = await api.ok("/contact/loadcommunity", ann.token)
    assert [row["icon"] for row in rows] == ["/asset/images/community.png"]
    # ... and the picture it names is served.
    icon = await http_client.fetch(HTTPRequest(base_url + "/asset/images/community.png"))
    assert icon.code == 200 and icon.body.startswith(b"\x89PNG")
