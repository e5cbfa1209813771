"""Where chatd's files are: view/, asset/ and config/ (ROOT) and its data (DATA_ROOT)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def _installed_files() -> Path | None:
    """Where pip put view/, asset/ and config/ (setup.py's data files), if it did."""
    try:
        files = importlib.metadata.files("chatd") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.parts[-4:] == ("share", "chatd", "config", "chatd.ini"):
            return Path(str(file.locate())).resolve().parent.parent
    return None


# A source checkout keeps view/, asset/ and config/ beside the packages, and its data (what
# relative paths name: the default SQLite file, upload/) in itself. An installed copy finds
# them under <prefix>/share/chatd/ and keeps its data in the working directory, since
# site-packages is no place to write.
SOURCE_TREE = (PACKAGE_ROOT / "view" / "chat.html").is_file()
ROOT = PACKAGE_ROOT if SOURCE_TREE else (_installed_files() or PACKAGE_ROOT)
DATA_ROOT = PACKAGE_ROOT if SOURCE_TREE else Path.cwd()
DEFAULT_CONFIG = ROOT / "config" / "chatd.ini"
SECTION = "chatd"
