"""A small stand-in for the original Go IM project's folder, for the tests of issue 12."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

STICKER = "/asset/plugins/doutu/mkgif/12鼓掌.gif"
OLD_AVATAR = "/mnt/15443322110042.png"
STICKER_AS_SENT = "/asset/plugins/doutu//mkgif/12鼓掌.gif"  # its page joins base + "/" + pkg


def original_folder(root: Path) -> Path:
    """A small stand-in for the original project's view/ and asset/ (ours, not its files)."""
    (root / "view" / "user").mkdir(parents=True)
    (root / "view" / "user" / "login.html").write_text(
        '{{define "/user/login.shtml"}}<html><body>login</body></html>{{end}}', encoding="utf-8"
    )
    stickers = root / "asset" / "plugins" / "doutu" / "mkgif"
    stickers.mkdir(parents=True)
    Image.new("RGB", (8, 8), "orange").save(stickers / "12鼓掌.gif")
    (stickers / "info.json").write_text('{"id": "mkgif", "assets": ["12鼓掌.gif"]}', encoding="utf-8")
    (root / "mnt").mkdir()  # where the original server kept uploads (an old avatar)
    Image.new("RGB", (16, 16), "teal").save(root / "mnt" / "15443322110042.png")
    return root
