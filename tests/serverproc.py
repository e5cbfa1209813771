"""Run the real `python -m server` as a child process on a free port."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tornado.testing import bind_unused_port

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    sock, port = bind_unused_port()
    sock.close()
    return port


class ServerProcess:
    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *extra: str,
        database: str | None = None,
        open_files: int | None = None,
        umask: int | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.database = database or f"sqlite:///{data_dir}/chatd.db"
        self.port = port or free_port()
        self.extra = extra
        self.open_files = open_files  # a soft RLIMIT_NOFILE to start the server with
        self.umask = umask  # e.g. systemd's UMask= in config/chatd.service
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / f"server-{self.port}.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> ServerProcess:
        args = [
            sys.executable, "-m", "server",
            "--port", str(self.port),
            "--database", self.database,
            "--upload-dir", str(self.data_dir / "upload"),
            "--send-rate", "100000", "--send-burst", "100000",
            "--registration", "open",
            *self.extra,
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHATD_")}
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=self._limits
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}: {self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(self.base_url + "/healthz", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not start: {self.log_path.read_text()}")

    def _limits(self) -> None:
        if self.umask is not None:
            os.umask(self.umask)
        if self.open_files is not None:
            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files, hard))

    def terminate(self, timeout: float = 10.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self.log.close()
        return code

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.log.close()

    def stop(self) -> None:
        """Stop it whatever state it is in: politely first, then by force."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            self.log.close()
