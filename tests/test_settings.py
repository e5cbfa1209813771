"""Settings (PROTOCOL.md "Starting it"): file < CHATD_* environment < command line, bad values refused."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
from pathlib import Path

import pytest

from server.settings import DEFAULT_CONFIG, ROOT, Settings, SettingsError, load_settings, option_names


def write_ini(tmp_path: Path, body: str, section: str = "chatd") -> str:
    path = tmp_path / "chatd.ini"
    path.write_text(f"[{section}]\n{body}\n", encoding="utf-8")
    return str(path)


def test_file_then_environment_then_command_line(tmp_path):
    config = write_ini(tmp_path, "port = 9001\nmax_text = 100\nhost = 0.0.0.0\ndebug = yes")
    env = {"CHATD_PORT": "9002", "CHATD_MAX_TEXT": "200"}

    only_file = load_settings(["--config", config], {})
    assert (only_file.port, only_file.max_text, only_file.host, only_file.debug) == (
        9001,
        100,
        "0.0.0.0",
        True,
    )

    env_beats_file = load_settings(["--config", config], env)
    assert (env_beats_file.port, env_beats_file.max_text, env_beats_file.host) == (9002, 200, "0.0.0.0")

    argv_beats_env = load_settings(["--config", config, "--port", "9003", "--send-rate", "2.5"], env)
    assert (argv_beats_env.port, argv_beats_env.max_text, argv_beats_env.send_rate) == (9003, 200, 2.5)
    assert argv_beats_env.host == "0.0.0.0"  # untouched options keep the file's value
    assert argv_beats_env.token_days == Settings().token_days  # and unset ones their default


def test_config_file_from_environment_and_a_missing_one_is_refused(tmp_path):
    config = write_ini(tmp_path, "port = 9004")
    assert load_settings([], {"CHATD_CONFIG": config}).port == 9004
    with pytest.raises(SettingsError, match="config"):
        load_settings(["--config", str(tmp_path / "nope.ini")], {})


def test_paths_and_urls_are_normalised(tmp_path):
    settings = load_settings(
        ["--config", write_ini(tmp_path, ""), "--database", "sqlite:///data/x.db", "--upload-dir", "up"], {}
    )
    assert settings.database == f"sqlite:///{ROOT}/data/x.db"
    assert settings.upload_dir == ROOT / "up"
    settings = load_settings(["--config", write_ini(tmp_path, "database = sqlite:////srv/chat.db")], {})
    assert settings.database == "sqlite:////srv/chat.db"
    settings = load_settings(["--allowed-origins", "https://a.example/, https://b.example"], {})
    assert settings.allowed_origins == ("https://a.example", "https://b.example")


@pytest.mark.parametrize(
    ("argv", "env", "option"),
    [
        (["--port", "abc"], {}, "port"),
        (["--port", "70000"], {}, "port"),
        ([], {"CHATD_PORT": "0"}, "port"),
        (["--database", "mysql://root@localhost/chat"], {}, "database"),
        ([], {"CHATD_DATABASE": "sqlite:///"}, "database"),
        (["--debug", "maybe"], {}, "debug"),
        (["--send-rate", "fast"], {}, "send_rate"),
        (["--redis-url", "http://localhost"], {}, "redis_url"),
        (["--sqlite-synchronous", "off"], {}, "sqlite_synchronous"),
        (["--processes", "4"], {}, "processes"),  # more than 1 needs redis_url
        (["--host", " "], {}, "host"),
        (["--allowed-origins", "evil.example"], {}, "allowed_origins"),
    ],
)
def test_bad_value_names_the_option_in_one_line(tmp_path, argv, env, option):
    config = write_ini(tmp_path, "")
    with pytest.raises(SettingsError) as err:
        load_settings(["--config", config, *argv], env)
    message = str(err.value)
    assert option in message and "\n" not in message


def test_bad_value_in_the_file_names_option_and_file(tmp_path):
    config = write_ini(tmp_path, "port = eighty")
    with pytest.raises(SettingsError) as err:
        load_settings(["--config", config], {})
    assert "port" in str(err.value) and config in str(err.value)


def test_unknown_key_in_the_file_is_refused(tmp_path):
    config = write_ini(tmp_path, "port = 9000\nprot = 9001")
    with pytest.raises(SettingsError, match="prot"):
        load_settings(["--config", config], {})


def test_unknown_section_in_the_file_is_refused(tmp_path):
    # A misspelt section would otherwise be ignored silently, with every option at its default.
    config = write_ini(tmp_path, "port = 9000", section="chat")
    with pytest.raises(SettingsError, match="chat"):
        load_settings(["--config", config], {})
    config = write_ini(tmp_path, "port = 9000\n[extra]\nport = 9001")
    with pytest.raises(SettingsError, match="extra"):
        load_settings(["--config", config], {})
    # An empty file or one with only the section is fine.
    assert load_settings(["--config", write_ini(tmp_path, "")], {}) == Settings()


def test_shipped_chatd_ini_lists_every_option_with_its_default():
    assert DEFAULT_CONFIG == ROOT / "config" / "chatd.ini"
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(DEFAULT_CONFIG, encoding="utf-8")
    listed = dict(parser.items("chatd"))
    assert sorted(listed) == sorted(option_names())
    defaults = Settings()
    for name, raw in listed.items():
        parsed = load_settings(["--config", str(DEFAULT_CONFIG), f"--{name.replace('_', '-')}", raw], {})
        if name in ("database", "upload_dir"):
            # Their defaults are paths inside the chatd folder; the file names them relatively.
            assert str(ROOT) in str(getattr(parsed, name)), name
        else:
            assert getattr(parsed, name) == getattr(defaults, name), name
    # And loading the file as a whole changes nothing from the defaults.
    assert load_settings(["--config", str(DEFAULT_CONFIG)], {}) == defaults
    # Every option has a comment just above it.
    lines = DEFAULT_CONFIG.read_text(encoding="utf-8").splitlines()
    for name in option_names():
        index = next(i for i, line in enumerate(lines) if line.split("=")[0].strip() == name)
        assert lines[index - 1].startswith("#"), name


def test_bad_port_on_the_command_line_exits_with_one_line():
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATD_")}
    result = subprocess.run(
        [sys.executable, "-m", "server", "--port", "notanumber"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "port" in lines[0] and "notanumber" in lines[0]
    assert result.stdout == ""


def test_original_client_implies_open_contacts_and_registration_unless_they_are_set(tmp_path):
    plain = load_settings(["--config", str(DEFAULT_CONFIG)], {})
    assert (plain.open_contacts, plain.registration) == (False, "invite")
    # The shipped file leaves both empty, so turning original_client on there opens both.
    on = load_settings(["--config", str(DEFAULT_CONFIG), "--original-client", "true"], {})
    assert (on.open_contacts, on.registration) == (True, "open")
    # Set explicitly, they stay as set, in the file or in the environment.
    config = write_ini(tmp_path, "original_client = true\nopen_contacts = false")
    kept = load_settings(["--config", config], {"CHATD_REGISTRATION": "invite"})
    assert (kept.open_contacts, kept.registration) == (False, "invite")
    assert Settings.for_tests(original_client=True).open_contacts is True
    assert Settings.for_tests(original_client=True, open_contacts=False).open_contacts is False
    # original_client_dir: empty is none; a relative path is under the data folder.
    assert plain.original_client_dir is None
    assert load_settings(["--original-client-dir", "gochat"], {}).original_client_dir.name == "gochat"
