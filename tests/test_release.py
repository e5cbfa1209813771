"""release.sh (issue 10, operations): its archive, built from a clean clone of what is
committed, installs into a fresh virtual environment, and that copy starts and serves."""

from __future__ import annotations

import configparser
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

import pytest

from tests.serverproc import ROOT, free_port

pytestmark = pytest.mark.slow


def run(*args: str | Path, cwd: Path | None = None, timeout: float = 600) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


def get(url: str) -> tuple[int, bytes, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read(), response.headers.get("Content-Type", "")


def wait_for_health(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"chatd exited {proc.returncode}: {log.read_text()}")
        try:
            get(url + "/healthz")
            return
        except OSError:
            time.sleep(0.1)  # the process is starting: nothing to wait on but its port
    raise AssertionError(f"chatd did not start: {log.read_text()}")


def test_the_release_archive_installs_into_a_fresh_venv_and_serves_the_chat_page(tmp_path):
    clone = tmp_path / "clone"
    run("git", "clone", "-q", "--no-checkout", ROOT, clone)
    run("git", "-C", clone, "checkout", "-q", run("git", "-C", ROOT, "rev-parse", "HEAD").strip())
    run(clone / "release.sh", "--no-tag", "--no-check", cwd=clone)
    config = configparser.ConfigParser()
    config.read(clone / "setup.cfg")
    version = config["metadata"]["version"]
    archive = clone / "release" / f"chatd-{version}.tar.gz"
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    prefix = f"chatd-{version}/"
    assert all(name.startswith(prefix) or name == prefix.rstrip("/") for name in names)
    shipped = {name.removeprefix(prefix) for name in names}
    assert {"setup.py", "setup.cfg", "view/chat.html", "config/chatd.ini", "config/nginx.conf"} <= shipped
    # No data ships: no database, no uploads beyond the placeholder, no venv.
    assert [n for n in shipped if n.startswith("upload/")] == ["upload/.gitkeep"]
    assert not [n for n in shipped if n.endswith(".db") or n.startswith(".venv")]

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    run(venv / "bin" / "pip", "install", "-q", archive)
    installed = run(venv / "bin" / "python", "-c", "import server; print(server.__file__)", cwd=tmp_path)
    assert Path(installed.strip()).is_relative_to(venv)  # the installed copy, not the clone

    # Started from an empty working directory with no options but the port: the installed
    # copy reads its own config/chatd.ini and keeps its data where it was started.
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    port = free_port()
    log = data_dir / "chatd.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATD_")}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [venv / "bin" / "chatd", "--port", str(port)], cwd=data_dir, env=env, stdout=out, stderr=out
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_health(proc, base, log)
        status, body, _ = get(base + "/healthz")
        assert status == 200 and f'"version": "{version}"'.encode() in body
        status, page, content_type = get(base + "/chat.html")
        assert status == 200 and content_type.startswith("text/html")
        assets = re.findall(rb'(?:src|href)="(/asset/[^"?]+)', page)
        assert assets, page[:500]
        asset = assets[0].decode()
        status, body, _ = get(base + asset)
        assert (status, body) == (200, (clone / asset.lstrip("/")).read_bytes())
        assert (data_dir / "chatd.db").is_file() and (data_dir / "upload").is_dir()
        assert f"database=sqlite:///{data_dir}/chatd.db" in log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
