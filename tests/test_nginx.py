"""config/nginx.conf (issue 10, operations), run for real in front of a real chatd: TLS,
the HTTP redirect, a WebSocket chat through it, and /upload/ served by nginx from disk with
chatd's own headers, never the temp files."""

from __future__ import annotations

import getpass
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

from tests import mediafiles
from tests.conftest import Api, ChatClient, befriend, register
from tests.serverproc import ROOT, ServerProcess, free_port
from tests.test_uploads import multipart

pytestmark = pytest.mark.slow

NGINX = shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
SITE = ROOT / "config" / "nginx.conf"


def rewrite(text: str, old: str, new: str, count: int = 1) -> str:
    """Replace `old` exactly `count` times: if the example changes shape, this test says so."""
    assert text.count(old) == count, f"config/nginx.conf no longer has {count} x {old!r}"
    return text.replace(old, new)


def site_for_test(upstream_port: int, http_port: int, https_port: int, cert: Path, key: Path,
                  upload_dir: Path) -> str:  # fmt: skip
    """The example with only what a machine's setup changes: ports, certificate, upstream
    and upload folder (no IPv6 listeners: the test listens on 127.0.0.1)."""
    site = SITE.read_text()
    site = rewrite(site, "    listen [::]:80;\n", "")
    site = rewrite(site, "    listen [::]:443 ssl;\n", "")
    site = rewrite(site, "listen 80;", f"listen 127.0.0.1:{http_port};")
    site = rewrite(site, "listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
    site = rewrite(site, "server 127.0.0.1:8088;", f"server 127.0.0.1:{upstream_port};")
    site = rewrite(site, "/etc/ssl/chatd/fullchain.pem", str(cert))
    site = rewrite(site, "/etc/ssl/chatd/privkey.pem", str(key))
    return rewrite(site, "alias /var/lib/chatd/upload/", f"alias {upload_dir}/")


def worker_user() -> str:
    # As root, nginx's workers run as nobody: that proves they read what chatd stored as
    # another user. Otherwise they run as we do (nginx ignores `user` then).
    if os.geteuid() != 0:
        return ""
    try:
        pwd.getpwnam("nobody")
        group = grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
    except KeyError:
        return f"user {getpass.getuser()};"
    return f"user nobody {group};"


@dataclass
class Stack:
    chatd: ServerProcess
    base: str  # https://127.0.0.1:PORT through nginx
    http_base: str  # the plain HTTP listener, which only redirects
    ca_certs: str
    upload_dir: Path
    nginx_pid: int

    def nginx_workers(self) -> list[int]:
        children = []
        for proc in Path("/proc").iterdir():
            try:
                status = (proc / "status").read_text() if proc.name.isdigit() else ""
            except OSError:
                continue
            if f"\nPPid:\t{self.nginx_pid}\n" in status:
                children.append(int(proc.name))
        return children

    def client(self) -> AsyncHTTPClient:
        return AsyncHTTPClient(force_instance=True, defaults={"ca_certs": self.ca_certs})


def wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"nginx exited {proc.returncode}: {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)  # nginx is starting: nothing to wait on but its port
    raise AssertionError(f"nginx did not listen: {log.read_text()}")


@pytest.fixture
def stack() -> Iterator[Stack]:
    if NGINX is None:
        pytest.skip("nginx is not installed (scripts/setup.sh --services installs it)")
    # Not under pytest's tmp_path: its folders are 0700, and nginx's workers may be nobody.
    work = Path(tempfile.mkdtemp(prefix="chatd-nginx-"))
    work.chmod(0o755)
    chatd = None
    nginx = None
    try:
        data_dir = work / "data"
        upload_dir = data_dir / "upload"
        upload_dir.mkdir(parents=True)
        for folder in (data_dir, upload_dir):  # as config/chatd.service's StateDirectory= makes them
            folder.chmod(0o755)
        cert, key = work / "cert.pem", work / "key.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        # chatd as the unit runs it: UMask=0077, so only what it makes public is readable.
        chatd = ServerProcess(data_dir, umask=0o077).start()
        http_port, https_port = free_port(), free_port()
        site = site_for_test(chatd.port, http_port, https_port, cert, key, upload_dir)
        (work / "chatd-site.conf").write_text(site)
        (work / "nginx.conf").write_text(
            f"""
            daemon off;
            worker_processes 1;
            pid {work}/nginx.pid;
            error_log {work}/error.log info;
            {worker_user()}
            events {{ worker_connections 256; }}
            http {{
                access_log {work}/access.log;
                client_body_temp_path {work}/client_body;
                proxy_temp_path {work}/proxy;
                fastcgi_temp_path {work}/fastcgi;
                uwsgi_temp_path {work}/uwsgi;
                scgi_temp_path {work}/scgi;
                include {work}/chatd-site.conf;
            }}
            """
        )
        log = work / "nginx.out"
        with open(log, "wb") as out:
            nginx = subprocess.Popen(
                [NGINX, "-p", str(work), "-e", str(work / "error.log"), "-c", str(work / "nginx.conf")],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_for_port(https_port, nginx, log)
        wait_for_port(http_port, nginx, log)
        yield Stack(chatd, f"https://127.0.0.1:{https_port}", f"http://127.0.0.1:{http_port}", str(cert),
                    upload_dir, nginx.pid)  # fmt: skip
    finally:
        if nginx is not None:
            nginx.send_signal(signal.SIGQUIT)  # graceful stop
            try:
                nginx.wait(10)
            except subprocess.TimeoutExpired:
                nginx.kill()
                nginx.wait(10)
        if chatd is not None:
            chatd.stop()
        shutil.rmtree(work, ignore_errors=True)


async def wss(stack: Stack, account) -> ChatClient:
    url = stack.base.replace("https", "wss", 1) + f"/chat?id={account.id}&token={account.token}"
    # A browser sends the page's origin; chatd compares it with the Host nginx passes on.
    request = HTTPRequest(url, headers={"Origin": stack.base}, ca_certs=stack.ca_certs)
    return ChatClient(await websocket_connect(request), account)


@pytest.mark.gen_test(timeout=60)
async def test_chat_through_nginx_with_tls_and_uploads_served_from_disk(stack):
    client = stack.client()
    # Plain HTTP only redirects.
    response = await client.fetch(
        stack.http_base + "/chat.html?x=1", follow_redirects=False, raise_error=False
    )
    assert response.code == 301 and response.headers["Location"] == "https://127.0.0.1/chat.html?x=1"
    response = await client.fetch(stack.base + "/chat.html")
    assert response.code == 200 and b"<html" in response.body.lower()

    api = Api(client, stack.base)
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    await befriend(api, ann, bob)
    # A POST as a browser makes it (same origin) passes chatd's cross-origin check.
    status, _ = await api.call("/user/me", ann.token, headers={"Origin": stack.base})
    assert status == 200

    a, b = await wss(stack, ann), await wss(stack, bob)
    await a.send(cmd=10, dstid=bob.id, media=1, content="through nginx")
    assert (await a.next_frame())["cmd"] == 12
    assert (await b.next_message())["content"] == "through nginx"

    body, content_type = multipart(mediafiles.landscape())
    response = await client.fetch(HTTPRequest(
        stack.base + "/attach/upload", method="POST", body=body,
        headers={"Content-Type": content_type, "Authorization": f"Bearer {ann.token}"},
    ))  # fmt: skip
    photo = orjson.loads(response.body)["data"]
    await a.send(cmd=10, dstid=bob.id, media=4, url=photo["url"])
    assert (await b.next_message())["url"] == photo["url"]
    a.close()
    b.close()

    served = {}
    for url in (photo["url"], photo["pic"]):
        served[url] = await client.fetch(stack.base + url)
    partial = await client.fetch(stack.base + photo["url"], headers={"Range": "bytes=0-9"})

    # Nothing but stored names: not the uploads in progress, not half-written files, not
    # folders, not what lies beside the upload dir.
    key_dir = stack.upload_dir / photo["url"].split("/")[2] / photo["url"].split("/")[3]
    (stack.upload_dir / ".tmp").mkdir(exist_ok=True)
    (stack.upload_dir / ".tmp" / "incoming-abc").write_bytes(b"half an upload")
    (key_dir / ".part-abc").write_bytes(b"half a file")
    (stack.upload_dir / "notes.txt").write_bytes(b"not an upload")
    key = photo["url"].rsplit("/", 1)[1].split(".")[0]
    refused = [
        "/upload/.tmp/incoming-abc",
        "/upload/.tmp/",
        f"/upload/{key[:2]}/{key[2:4]}/.part-abc",
        f"/upload/{key[:2]}/{key[2:4]}/",
        "/upload/",
        "/upload/notes.txt",
        f"/upload/{key[:2]}/{key[2:4]}/{key}.jpg.bak",
        f"/upload/{key[:2]}/{key[2:4]}/{key[:4]}{'f' * 28}.jpg",  # well-formed, never stored
    ]
    # Paths that leave /upload/ once decoded are not nginx's upload location at all.
    escaping = ["/upload/..%2fchatd.db", "/upload/%2e%2e/chatd.db"]
    for url in refused + escaping:
        response = await client.fetch(stack.base + url, raise_error=False)
        assert response.code == 404, (url, response.code)
        assert b"half a" not in (response.body or b"") and b"SQLite" not in (response.body or b"")
    # nginx answered every other /upload/ request itself, from disk: none reached chatd.
    asked_chatd = [line for line in stack.chatd.log_path.read_text().splitlines() if "GET /upload/" in line]
    assert [line for line in asked_chatd if not any(url in line for url in escaping)] == []
    if os.geteuid() == 0:  # and it was another user than chatd that read the files
        assert {owner_of(pid) for pid in stack.nginx_workers()} == {"nobody"}

    # The same bytes and headers as chatd's own /upload/ handler gives.
    plain = AsyncHTTPClient()
    for url, response in served.items():
        direct = await plain.fetch(stack.chatd.base_url + url)
        assert response.body == direct.body
        for header in ("Content-Type", "X-Content-Type-Options", "Content-Security-Policy", "Cache-Control"):
            assert response.headers.get(header) == direct.headers.get(header), (url, header)
    assert (partial.code, partial.body) == (206, served[photo["url"]].body[:10])

    # Videos come from disk too, as chatd serves them; files go through chatd, which serves
    # them only as named downloads.
    clip_body, clip_type = multipart(mediafiles.video("mp4", 1.0, stack.upload_dir.parent), kind="video")
    response = await client.fetch(HTTPRequest(
        stack.base + "/attach/upload", method="POST", body=clip_body,
        headers={"Content-Type": clip_type, "Authorization": f"Bearer {ann.token}"},
    ))  # fmt: skip
    clip = orjson.loads(response.body)["data"]
    from_disk = await client.fetch(stack.base + clip["url"])
    direct = await plain.fetch(stack.chatd.base_url + clip["url"])
    assert from_disk.body == direct.body and from_disk.headers["Content-Type"] == "video/mp4"
    page_body, page_type = multipart(
        b"<html><script>alert(1)</script></html>", filename="page.html", kind="file"
    )
    response = await client.fetch(HTTPRequest(
        stack.base + "/attach/upload", method="POST", body=page_body,
        headers={"Content-Type": page_type, "Authorization": f"Bearer {ann.token}"},
    ))  # fmt: skip
    page = await client.fetch(stack.base + orjson.loads(response.body)["data"]["url"])
    assert page.headers["Content-Type"] == "application/octet-stream"
    assert page.headers["Content-Disposition"].startswith('attachment; filename="page.html"')


def owner_of(pid: int) -> str:
    uid = next(
        line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("Uid:")
    )
    return pwd.getpwuid(int(uid.split()[1])).pw_name
