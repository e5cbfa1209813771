#!/usr/bin/env bash
# Build a release archive of chatd from the committed tree:
#   ./release.sh                      checks, builds release/chatd-X.Y.Z.tar.gz, tags vX.Y.Z
#   ./release.sh --no-tag             the same without tagging (for trying it out)
#   ./release.sh --no-tag --no-check  only the archive, without the checks (tests use this)
# The archive is a source distribution: `pip install chatd-X.Y.Z.tar.gz` installs chatd,
# with view/, asset/ and config/ under <venv>/share/chatd (see setup.py).
# The version comes from setup.cfg. upload/ contents never ship (only its placeholder).
set -euo pipefail
cd "$(dirname "$0")"

tag=1
check=1
for arg in "$@"; do
  case "$arg" in
    --no-tag) tag=0 ;;
    --no-check) check=0 ;;
    *) echo "usage: $0 [--no-tag] [--no-check]" >&2; exit 2 ;;
  esac
done
if [ "$tag" = 1 ] && [ "$check" = 0 ]; then
  echo "release: a tagged release runs the checks; --no-check goes with --no-tag" >&2
  exit 2
fi

if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  echo "release: the work tree has uncommitted changes; commit or stash them first" >&2
  exit 1
fi

version=$(sed -n 's/^version *= *//p' setup.cfg | head -n1)
if [ -z "$version" ]; then
  echo "release: no version in setup.cfg" >&2
  exit 1
fi
if [ "$tag" = 1 ] && git rev-parse -q --verify "refs/tags/v$version" >/dev/null; then
  echo "release: tag v$version exists; bump the version in setup.cfg" >&2
  exit 1
fi

# The whole suite (browser tests included), then format, lint and types.
if [ "$check" = 1 ]; then make check; fi

name="chatd-$version"
mkdir -p release
# git archive ships exactly what is committed: no venv, no database, no uploads.
git archive --format=tar.gz --prefix="$name/" -o "release/$name.tar.gz" HEAD \
  setup.cfg setup.py pyproject.toml README.md Makefile scripts server handlers models view asset config docs upload/.gitkeep
echo "release: built release/$name.tar.gz"

if [ "$tag" = 1 ]; then
  git tag -a "v$version" -m "chatd $version"
  echo "release: tagged v$version"
fi
