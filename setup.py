"""Only what setup.cfg cannot say: view/, asset/ and config/ are installed as data files
under <prefix>/share/chatd/, folder by folder (setup.cfg's data_files globs do not recurse).
server/settings.py finds them there when there is no source tree beside the package."""

from pathlib import Path

from setuptools import setup

SHARE = Path("share") / "chatd"


def data_files(*folders: str) -> list[tuple[str, list[str]]]:
    by_folder: dict[str, list[str]] = {}
    for folder in folders:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file() and not any(part.startswith((".", "__")) for part in path.parts):
                by_folder.setdefault(str(SHARE / path.parent), []).append(str(path))
    return sorted(by_folder.items())


setup(data_files=data_files("view", "asset", "config"))
