"""`chatd backup` and `chatd restore` (issue 10, operations): a backup restored into an empty
data dir serves the same history and files; anything but an empty target is refused."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from tornado.httpclient import AsyncHTTPClient

from tests import mediafiles
from tests.conftest import Api, befriend, connect, fresh_pg_database, join_group, register
from tests.serverproc import ROOT, ServerProcess
from tests.test_e2e import all_history
from tests.test_uploads import upload

pytestmark = pytest.mark.slow
MANIFEST = "manifest.json"


def chatd(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATD_")}
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def one_line_error(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert done.stderr.startswith("chatd: ") and done.stderr.count("\n") == 1, done.stderr
    for fragment in fragments:
        assert fragment in done.stderr, done.stderr


class DataDirs:
    """Fresh data dirs, each a database (SQLite file, or a new PostgreSQL database) and an
    upload dir, as `ServerProcess(data_dir, database=...)` uses them."""

    def __init__(self, root: Path, kind: str, stack: ExitStack) -> None:
        self.root, self.kind, self.stack = root, kind, stack
        self.count = 0

    def new(self) -> tuple[Path, str]:
        self.count += 1
        data_dir = self.root / f"data{self.count}"
        if self.kind == "postgres":
            return data_dir, self.stack.enter_context(fresh_pg_database())
        return data_dir, f"sqlite:///{data_dir}/chatd.db"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def data_dirs(request, tmp_path) -> Iterator[DataDirs]:
    with ExitStack() as stack:
        yield DataDirs(tmp_path, request.param, stack)


def backup(archive: Path, data_dir: Path, database: str) -> subprocess.CompletedProcess[str]:
    return chatd("backup", str(archive), "--database", database, "--upload-dir", str(data_dir / "upload"))


def restore(archive: Path, data_dir: Path, database: str) -> subprocess.CompletedProcess[str]:
    return chatd("restore", str(archive), "--database", database, "--upload-dir", str(data_dir / "upload"))


async def fetch(url: str):
    return await AsyncHTTPClient().fetch(url, raise_error=False)


@pytest.mark.gen_test(timeout=120)
async def test_a_backup_restored_into_an_empty_data_dir_serves_the_same_history_and_files(
    tmp_path, data_dirs
):
    source_dir, source_db = data_dirs.new()
    source_dir.mkdir()
    server = ServerProcess(source_dir, database=source_db).start()
    try:
        api = Api(AsyncHTTPClient(), server.base_url)
        ann, bob = await register(api, "Ann"), await register(api, "Bob")
        await befriend(api, ann, bob)
        a, b = await connect(server.base_url, ann), await connect(server.base_url, bob)
        await a.send(cmd=10, dstid=bob.id, media=1, content="hello Bob")
        assert (await b.next_message())["content"] == "hello Bob"
        await b.send(cmd=10, dstid=ann.id, media=1, content="hi Ann 👋")
        assert (await a.next_message())["content"] == "hi Ann 👋"
        status, envelope = await upload(AsyncHTTPClient(), server.base_url, ann.token, mediafiles.landscape())
        assert status == 200, envelope
        photo = envelope["data"]
        await a.send(cmd=10, dstid=bob.id, media=4, url=photo["url"], content="the view")
        assert (await b.next_message())["url"] == photo["url"]
        club = await api.ok("/contact/createcommunity", ann.token, name="Club")
        await join_group(api, ann, bob, club["id"])
        await b.send(cmd=11, dstid=club["id"], media=1, content="hello club")
        while (await a.next_message())["content"] != "hello club":
            pass
        history = await all_history(api, ann.token, bob.id)
        group_history = await api.ok("/message/history", bob.token, cmd=11, dstid=club["id"])
        files = {}
        for url in (photo["url"], photo["pic"]):
            response = await fetch(server.base_url + url)
            files[url] = (response.body, response.headers["Content-Type"])
        a.close()
        b.close()
    finally:
        server.stop()
    assert [m["content"] for m in history] == ["the view", "hi Ann 👋", "hello Bob"]

    archive = tmp_path / "chatd-backup.tar.gz"
    done = backup(archive, source_dir, source_db)
    assert done.returncode == 0, done.stderr
    photo_bytes = sum(len(body) for body, _ in files.values())
    # 3 messages 1:1, the join line and one in the group; the photo and its thumbnail.
    assert (
        done.stdout == f"chatd: backed up 5 messages, 2 users, 2 files ({photo_bytes:,} bytes) to {archive}\n"
    )
    assert archive.stat().st_mode & 0o777 == 0o600  # it holds password hashes and every message

    target_dir, target_db = data_dirs.new()
    done = restore(archive, target_dir, target_db)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(
        f"chatd: restored 5 messages, 2 users, 2 files ({photo_bytes:,} bytes) into "
    )

    restored = ServerProcess(target_dir, database=target_db).start()
    try:
        api = Api(AsyncHTTPClient(), restored.base_url)
        # The same sessions, the same history, the same files.
        assert await all_history(api, ann.token, bob.id) == history
        assert await api.ok("/message/history", bob.token, cmd=11, dstid=club["id"]) == group_history
        for url, (body, content_type) in files.items():
            response = await fetch(restored.base_url + url)
            assert (response.code, response.body, response.headers["Content-Type"]) == (
                200,
                body,
                content_type,
            )
        login = await api.ok("/user/login", mobile=bob.mobile, passwd="correct horse")
        assert login["id"] == bob.id
        # Ids go on after the restored ones (PostgreSQL's sequences came along).
        a = await connect(restored.base_url, ann)
        await a.send(cmd=10, dstid=bob.id, media=1, content="after the restore")
        ack = await a.next_frame()
        assert ack["cmd"] == 12 and ack["id"] > max(m["id"] for m in history + group_history)
        a.close()
    finally:
        restored.stop()


@pytest.mark.gen_test(timeout=120)
async def test_a_backup_taken_while_messages_arrive_is_consistent(tmp_path, data_dirs):
    source_dir, source_db = data_dirs.new()
    source_dir.mkdir()
    server = ServerProcess(source_dir, database=source_db).start()
    archive = tmp_path / "live.tar.gz"
    try:
        api = Api(AsyncHTTPClient(), server.base_url)
        ann, bob = await register(api, "Ann"), await register(api, "Bob")
        await befriend(api, ann, bob)
        a = await connect(server.base_url, ann)
        acked: list[str] = []
        backing_up = asyncio.get_running_loop().run_in_executor(None, backup, archive, source_dir, source_db)

        async def send_until_done() -> None:
            while not backing_up.done() or len(acked) < 50:
                content = f"m{len(acked)}"
                await a.send(cmd=10, dstid=bob.id, media=1, content=content)
                frame = await a.next_frame()
                assert frame["cmd"] == 12
                acked.append(content)

        await send_until_done()
        done = await backing_up
        assert done.returncode == 0, done.stderr
        a.close()
    finally:
        server.stop()

    target_dir, target_db = data_dirs.new()
    done = restore(archive, target_dir, target_db)
    assert done.returncode == 0, done.stderr
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile(MANIFEST))  # type: ignore[arg-type]
    restored = ServerProcess(target_dir, database=target_db).start()
    try:
        api = Api(AsyncHTTPClient(), restored.base_url)
        contents = [m["content"] for m in reversed(await all_history(api, ann.token, bob.id))]
    finally:
        restored.stop()
    # One moment's copy: the messages stored before it, in order, none missing; and the
    # manifest counts exactly what the copy holds.
    assert contents == acked[: len(contents)]
    assert manifest["counts"]["messages"] == len(contents)
    assert (manifest["database"], manifest["counts"]["users"]) == (
        "sqlite" if data_dirs.kind == "sqlite" else "postgresql",
        2,
    )


def make_source(data_dirs: DataDirs) -> tuple[Path, str]:
    """A data dir with one account and one stored upload file, made without a server."""
    data_dir, database = data_dirs.new()
    done = chatd("adduser", "--database", database, "--mobile", "13700000001", "--nickname", "Ann",
                 stdin="correct horse\n")  # fmt: skip
    assert done.returncode == 0, done.stderr
    stored = data_dir / "upload" / "ab" / "cd" / ("abcd" + "0" * 28 + ".jpg")
    stored.parent.mkdir(parents=True)
    stored.write_bytes(mediafiles.landscape(64, 48))
    (data_dir / "upload" / ".tmp").mkdir()
    (data_dir / "upload" / ".tmp" / "incoming-half").write_bytes(b"half an upload")
    return data_dir, database


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


def test_backup_and_restore_of_files_without_a_server(tmp_path, data_dirs):
    source_dir, source_db = make_source(data_dirs)
    archive = tmp_path / "b.tar.gz"
    done = backup(archive, source_dir, source_db)
    assert done.returncode == 0, done.stderr
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile(MANIFEST))  # type: ignore[arg-type]
    suffix = "pgdump" if data_dirs.kind == "postgres" else "db"
    # In-progress uploads under .tmp/ are not part of a backup.
    assert names == [MANIFEST, f"database/chatd.{suffix}", "upload/ab/cd/abcd" + "0" * 28 + ".jpg"]
    assert manifest["format"] == "chatd-backup" and manifest["chatd_version"] == "0.1.0"
    assert manifest["schema_version"] >= 4 and manifest["created"].endswith("Z")
    assert manifest["counts"]["files"] == 1 and manifest["counts"]["users"] == 1

    # A backup never overwrites a file.
    one_line_error(backup(archive, source_dir, source_db), "exists")

    target_dir, target_db = data_dirs.new()
    target_dir.mkdir()
    (target_dir / "upload").mkdir()  # an empty upload dir is fine, as is an absent one
    done = restore(archive, target_dir, target_db)
    assert done.returncode == 0, done.stderr
    restored = target_dir / "upload" / "ab" / "cd" / ("abcd" + "0" * 28 + ".jpg")
    assert restored.read_bytes() == (source_dir / "upload" / "ab" / "cd" / restored.name).read_bytes()
    # A web server in front (config/nginx.conf) may read restored files as it reads new ones.
    assert (restored.stat().st_mode & 0o777, restored.parent.stat().st_mode & 0o777) == (0o644, 0o755)
    assert tree(target_dir / "upload") == ["ab", "ab/cd", "ab/cd/" + restored.name]

    # Restoring again: the target is no longer empty; nothing changes.
    before = tree(target_dir)
    one_line_error(restore(archive, target_dir, target_db), "is not empty")
    assert tree(target_dir) == before


def test_restore_refuses_a_target_that_is_not_empty_and_changes_nothing(tmp_path, data_dirs):
    source_dir, source_db = make_source(data_dirs)
    archive = tmp_path / "b.tar.gz"
    assert backup(archive, source_dir, source_db).returncode == 0

    # A database with tables (here: another chatd's), an empty upload dir.
    used_dir, used_db = make_source(data_dirs)
    for path in (used_dir / "upload").rglob("*"):
        if path.is_file():
            path.unlink()
    one_line_error(restore(archive, used_dir, used_db), "is not empty", "empty")

    # An empty database and an upload dir holding a file.
    data_dir, database = data_dirs.new()
    (data_dir / "upload" / "notes").mkdir(parents=True)
    (data_dir / "upload" / "notes" / "todo.txt").write_text("keep me")
    before = tree(data_dir)
    one_line_error(restore(archive, data_dir, database), f"upload dir {data_dir / 'upload'} is not empty")
    assert tree(data_dir) == before  # no database file, nothing staged beside the upload dir
    assert sorted(p.name for p in data_dir.parent.iterdir() if p.name.startswith(".")) == []


@pytest.mark.postgres
def test_restore_refuses_the_other_database_kind(tmp_path):
    with ExitStack() as stack:
        sqlite_dirs = DataDirs(tmp_path / "s", "sqlite", stack)
        pg_dirs = DataDirs(tmp_path / "p", "postgres", stack)
        sqlite_source, pg_source = make_source(sqlite_dirs), make_source(pg_dirs)
        for (source_dir, source_db), name in ((sqlite_source, "s.tar.gz"), (pg_source, "p.tar.gz")):
            assert backup(tmp_path / name, source_dir, source_db).returncode == 0
        data_dir, pg_target = pg_dirs.new()
        one_line_error(
            restore(tmp_path / "s.tar.gz", data_dir, pg_target),
            "holds a SQLite database and the configured one is PostgreSQL",
            "does not convert",
        )
        data_dir, sqlite_target = sqlite_dirs.new()
        one_line_error(
            restore(tmp_path / "p.tar.gz", data_dir, sqlite_target),
            "holds a PostgreSQL database and the configured one is SQLite",
        )
        assert tree(data_dir) == []


def tar_gz(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return path


def chatd_manifest(**changes) -> bytes:
    manifest = {
        "format": "chatd-backup", "format_version": 1, "chatd_version": "0.1.0", "schema_version": 4,
        "database": "sqlite", "created": "2026-01-01T00:00:00Z",
        "counts": {"messages": 0, "users": 0, "files": 0, "bytes": 0},
    }  # fmt: skip
    return json.dumps({**manifest, **changes}).encode()


def test_restore_refuses_what_is_not_a_chatd_backup(tmp_path):
    source_dir, source_db = make_source(DataDirs(tmp_path / "s", "sqlite", ExitStack()))
    good = tmp_path / "good.tar.gz"
    assert backup(good, source_dir, source_db).returncode == 0
    with tarfile.open(good) as tar:
        database = tar.extractfile("database/chatd.db").read()  # type: ignore[union-attr]
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (tmp_path / "random.tar.gz").write_bytes(os.urandom(4096))
    cases = [
        (tmp_path / "random.tar.gz", "not a chatd backup"),
        (tmp_path / "missing.tar.gz", "does not exist"),
        (tar_gz(tmp_path / "other.tar.gz", {"README": b"hello"}), "not a chatd backup (no chatd manifest)"),
        (
            tar_gz(tmp_path / "escape.tar.gz", {MANIFEST: chatd_manifest(), "database/chatd.db": database,
                                                "upload/../../escaped.jpg": b"x"}),
            "unexpected entry 'upload/../../escaped.jpg'",
        ),
        (
            tar_gz(tmp_path / "newer.tar.gz", {MANIFEST: chatd_manifest(schema_version=999)}),
            "made by a newer chatd (schema 999",
        ),
        (
            tar_gz(tmp_path / "short.tar.gz", {MANIFEST: chatd_manifest(counts={"messages": 0, "users": 1,
                                               "files": 3, "bytes": 10}), "database/chatd.db": database}),
            "is incomplete: 0 of 3 files",
        ),
        (truncated, "could not be read to the end"),
    ]  # fmt: skip
    for archive, reason in cases:
        data_dir = tmp_path / f"into-{archive.stem}"
        one_line_error(restore(archive, data_dir, f"sqlite:///{data_dir}/chatd.db"), reason)
        # Nothing was made: no database, no upload dir, no staging folder, nothing outside.
        assert tree(data_dir) == [], (archive, tree(data_dir))
    assert not (tmp_path / "escaped.jpg").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if ".restoring-" in p.name) == []


def test_backup_of_a_missing_database_or_a_foreign_one_is_refused(tmp_path):
    one_line_error(backup(tmp_path / "x.tar.gz", tmp_path, f"sqlite:///{tmp_path}/none.db"), "does not exist")
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    one_line_error(backup(tmp_path / "x.tar.gz", tmp_path, f"sqlite:///{foreign}"), "is not a chatd database")
    assert not (tmp_path / "x.tar.gz").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no work files left


def test_backup_and_restore_help():
    common = ["FILE", "--config", "--database", "--upload-dir"]
    for command, words in (("backup", [*common, "while the server"]), ("restore", [*common, "empty"])):
        done = chatd(command, "--help")
        assert done.returncode == 0, done.stderr
        text = " ".join(done.stdout.split())
        for word in words:
            assert word in text, (command, word)
    one_line_error(chatd("backup"), "backup: the following arguments are required: FILE")
