"""config/chatd.service (issue 10, operations): it passes `systemd-analyze verify` and keeps
its hardening."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.serverproc import ROOT

UNIT = ROOT / "config" / "chatd.service"
INSTALLED_PYTHON = "ExecStart=/opt/chatd/.venv/bin/python "


def unit_lines() -> list[str]:
    return [line.strip() for line in UNIT.read_text().splitlines() if line.strip()]


def test_the_unit_passes_systemd_analyze_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip(
            "systemd-analyze is not installed here (no systemd): config/chatd.service is not verified"
        )
    # Only the interpreter's path changes: /opt/chatd does not exist on this machine, and
    # verify checks that ExecStart names an executable.
    text = UNIT.read_text()
    assert text.count(INSTALLED_PYTHON) == 1
    copy = tmp_path / "chatd.service"
    copy.write_text(text.replace(INSTALLED_PYTHON, f"ExecStart={sys.executable} "))
    done = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip(), done.stderr.strip()) == (0, "", ""), done


def test_the_unit_runs_chatd_as_its_own_user_in_a_read_only_system():
    lines = unit_lines()
    for wanted in (
        "User=chatd",
        "NoNewPrivileges=true",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/chatd",
        "StateDirectory=chatd chatd/upload",
        "UMask=0077",
        "Restart=on-failure",
        INSTALLED_PYTHON + "-m server --config /etc/chatd.ini",
        # For issue 10's scale-out: after the database and Redis when they are used.
        "# After=postgresql.service redis-server.service",
        "# Wants=postgresql.service redis-server.service",
    ):
        assert wanted.strip() in lines, wanted
    assert any("--processes N" in line for line in lines)
