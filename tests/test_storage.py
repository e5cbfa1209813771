"""Upload paths: one shape, always inside the root."""

from __future__ import annotations

import os
import time

import pytest

from server import storage


def test_layout_is_pinned():
    key = "0123456789abcdef0123456789abcdef"
    assert storage.relative_path(key, ".jpg") == f"01/23/{key}.jpg"
    assert storage.relative_path(key, ".thumb.webp") == f"01/23/{key}.thumb.webp"
    assert storage.url_for(storage.relative_path(key, ".mp3")) == f"/upload/01/23/{key}.mp3"
    assert storage.key_of_url(f"/upload/01/23/{key}.mp3") == key
    assert storage.key_of_url(f"/upload/01/23/{key}.thumb.webp") == key


@pytest.mark.parametrize(
    "url",
    [
        "/upload/01/23/../../etc/passwd",
        "/upload/01/24/0123456789abcdef0123456789abcdef.jpg",  # shard does not match the key
        "https://evil.example/upload/01/23/0123456789abcdef0123456789abcdef.jpg",
        "/upload/01/23/0123456789ABCDEF0123456789abcdef.jpg",
        "/upload/.tmp/incoming-x",
        "",
    ],
)
def test_anything_else_is_not_an_upload_url(url):
    assert storage.key_of_url(url) is None


def test_keys_are_random_and_paths_stay_inside_the_root(tmp_path):
    keys = {storage.new_key() for _ in range(1000)}
    assert len(keys) == 1000 and all(len(k) == 32 for k in keys)
    with pytest.raises(storage.StorageError):
        storage.path_for(tmp_path, "../outside.jpg")
    with pytest.raises(storage.StorageError):
        storage.relative_path("../" + "a" * 29, ".jpg")
    target = storage.write_atomically(tmp_path, storage.relative_path("ab" * 16, ".png"), b"data")
    assert target.read_bytes() == b"data" and target.parent.parent.parent == tmp_path.resolve()
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temp file left


def test_sweep_removes_only_old_unfinished_uploads(tmp_path):
    fd_old, old = storage.temp_file(tmp_path)
    fd_new, new = storage.temp_file(tmp_path)
    os.close(fd_old)
    os.close(fd_new)
    hour_ago = time.time() - 7200
    os.utime(old, (hour_ago, hour_ago))
    assert storage.sweep_temp(tmp_path) == 1
    assert not old.exists() and new.exists()


def test_stored_files_are_readable_by_a_web_server_whatever_the_umask(tmp_path):
    # config/nginx.conf serves /upload/ from disk as another user; temp files stay private.
    key = storage.new_key()
    old = os.umask(0o077)
    try:
        stored = storage.write_atomically(tmp_path, storage.relative_path(key, ".jpg"), b"jpeg")
        fd, temp = storage.temp_file(tmp_path)
        os.close(fd)
    finally:
        os.umask(old)
    modes = [p.stat().st_mode & 0o777 for p in (stored, stored.parent, stored.parent.parent)]
    assert modes == [0o644, 0o755, 0o755]
    assert temp.stat().st_mode & 0o777 == 0o600
