"""A small imitation of the original Go IM's folder (view/ with Go template includes, asset/
with a script, a stylesheet of a name chatd also has, images and a doutu sticker package).
Our own files, written for the tests: never the original's."""

from __future__ import annotations

from pathlib import Path

import orjson
from PIL import Image

from tests.serverproc import ServerProcess

STICKER = "/asset/plugins/doutu/mkgif/12鼓掌.gif"
STICKER_AS_SENT = "/asset/plugins/doutu//mkgif/12鼓掌.gif"  # its page joins base + "/" + pkg
OLD_AVATAR = "/mnt/15443322110042.png"  # an upload the original server kept under mnt/

HEAD = """{{define "/chat/head.shtml"}}
<meta name="imitation" content="head part">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/asset/css/chat.css">
<script src="/asset/js/util.js"></script>
{{end}}
"""
LOGIN = """{{/* the sign-in page, as the original names it */}}
{{define "/user/login.shtml"}}<!DOCTYPE html>
<html>
<head>
{{template "/chat/head.shtml"}}
</head>
<body>
<h1 id="title">Imitation sign-in</h1>
{{template "/chat/foot.shtml" .}}
</body>
</html>
{{end}}
"""
FOOT = """{{define "/chat/foot.shtml"}}<p id="foot">
  {{- template "/chat/badge.shtml" -}}
</p>{{end}}
{{define "/chat/badge.shtml"}}<b id="badge">included twice deep</b>{{end}}
"""
UTIL_JS = """// the imitation's util.js: says it ran
window.imitationUtil = true;
document.addEventListener('DOMContentLoaded', () => {
  document.getElementById('title').dataset.util = 'loaded';
});
"""
CHAT_CSS = "/* the imitation's chat.css */\nbody { background: rgb(1, 2, 3); }\n"
SECRET = "not for the web"


def make_original(root: Path) -> Path:
    """Write the imitation under `root` (and a secret file beside it); returns `root`."""
    (root / "view" / "chat").mkdir(parents=True)
    (root / "view" / "user").mkdir()
    (root / "view" / "chat" / "head.html").write_text(HEAD)
    (root / "view" / "chat" / "foot.html").write_text(FOOT)
    (root / "view" / "user" / "login.html").write_text(LOGIN)
    asset = root / "asset"
    for sub in ("js", "css", "images", "plugins/doutu/mkgif"):
        (asset / sub).mkdir(parents=True)
    (asset / "js" / "util.js").write_text(UTIL_JS)
    (asset / "css" / "chat.css").write_text(CHAT_CSS)
    Image.new("RGB", (16, 16), (200, 120, 40)).save(asset / "images" / "user.jpg", "JPEG")
    Image.new("RGB", (16, 16), (40, 120, 200)).save(asset / "images" / "community.png", "PNG")
    Image.new("P", (8, 8), 3).save(asset / "plugins" / "doutu" / "mkgif" / "1.gif", "GIF")
    info = {"id": "mkgif", "icon": "1.gif", "assets": ["1.gif"], "size": "small"}
    (asset / "plugins" / "doutu" / "mkgif" / "info.json").write_bytes(orjson.dumps(info))
    secret = root.parent / "secret.txt"
    secret.write_text(SECRET)
    (asset / "js" / "leak.js").symlink_to(secret)  # a symlink out of the folder
    return root


def original_folder(root: Path) -> Path:
    """The imitation plus what its users' messages name: a sticker of a name in Chinese (as
    the original's are) and an old upload under mnt/."""
    make_original(root)
    stickers = root / "asset" / "plugins" / "doutu" / "mkgif"
    Image.new("RGB", (8, 8), "orange").save(stickers / "12鼓掌.gif")
    (root / "mnt").mkdir()
    Image.new("RGB", (16, 16), "teal").save(root / OLD_AVATAR.lstrip("/"))
    return root


def start_original_server(data_dir: Path, folder: Path, *extra: str) -> ServerProcess:
    """The real server process with original_client on, serving `folder`."""
    args = ("--original-client", "true", "--original-client-dir", str(folder), *extra)
    return ServerProcess(data_dir, None, *args).start()
