"""A small imitation of the original Go IM's folder (view/ with Go template includes, asset/
with a script, a stylesheet of a name chatd also has, images and a doutu sticker package).
Our own files, written for the tests: never the original's."""

from __future__ import annotations

from pathlib import Path

import orjson
from PIL import Image

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
