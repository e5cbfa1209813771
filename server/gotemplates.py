"""The subset of Go's html/template that the original Go IM's pages use, rendered once at start.

The original server parses `view/**/*` with `template.ParseGlob` and serves each template at
its name: `{{define "/user/login.shtml"}}...{{end}}` is the page `/user/login.shtml`, and
`{{template "/chat/head.shtml"}}` pulls a part in. Its pages are executed with no data (nil),
so what matters is only which text ends up where. This module understands exactly that:
`{{define "NAME"}}` (at the top of a file, not nested), `{{end}}`, `{{template "NAME"}}` and
`{{template "NAME" .}}`, `{{/* comments */}}` and the `{{-`/`-}}` whitespace trims. Anything
else is refused at start with the file and line, as Go refuses what it cannot parse.

html/template would also escape data by context; with no data there is nothing to escape
(it also drops HTML comments from the text, which we keep: browsers ignore them anyway).
Plain functions, no Tornado: the caller reads the files once at start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_SPACE = " \t\r\n"
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "r": "\r"}
MAX_DEPTH = 100  # includes within includes; real pages nest two or three deep


class TemplateError(ValueError):
    """A template the renderer cannot render; the message names the file (and line)."""


@dataclass(frozen=True)
class Include:
    name: str
    where: str  # "view/chat/index.html:12", for errors


@dataclass
class Template:
    name: str
    where: str
    parts: list[str | Include] = field(default_factory=list)

    def is_empty(self) -> bool:
        """Go's IsEmptyTree: only whitespace (and comments). An empty definition never
        replaces an existing one, so a file of defines does not clobber a same-named file."""
        return all(isinstance(p, str) and not p.strip(_SPACE) for p in self.parts)


@dataclass(frozen=True)
class _Action:
    tokens: list[tuple[str, str]]  # (kind, value): word, str, dot, other
    source: str  # the action as written, for errors
    trim_left: bool
    trim_right: bool
    comment: bool
    end: int  # index just past the closing }}


def _lex_action(text: str, start: int, where: str) -> _Action:
    """The action opening at `start` (at "{{")."""
    i = start + 2
    trim_left = text.startswith("-", i) and i + 1 < len(text) and text[i + 1] in _SPACE
    if trim_left:
        i += 2
    if text.startswith("/*", i):  # as in Go, a comment starts right after "{{" or "{{- "
        close = text.find("*/", i + 2)
        if close < 0:
            raise TemplateError(f"{where}: unclosed comment")
        j = close + 2
        trim_right = text.startswith(" -}}", j)
        if trim_right:
            j += 2
        if not text.startswith("}}", j):
            raise TemplateError(f"{where}: comment ends before closing delimiter")
        return _Action([], text[start : j + 2], trim_left, trim_right, True, j + 2)
    tokens: list[tuple[str, str]] = []
    while True:
        if i >= len(text):
            raise TemplateError(f"{where}: unclosed action (no }}}} after {{{{)")
        ch = text[i]
        if ch in _SPACE:
            if text.startswith("-}}", i + 1):
                return _Action(tokens, text[start : i + 4], trim_left, True, False, i + 4)
            i += 1
        elif text.startswith("}}", i):
            return _Action(tokens, text[start : i + 2], trim_left, False, False, i + 2)
        elif ch == '"':
            value, i = _quoted(text, i, where)
            tokens.append(("str", value))
        elif ch == "`":
            close = text.find("`", i + 1)
            if close < 0:
                raise TemplateError(f"{where}: unterminated raw string")
            tokens.append(("str", text[i + 1 : close]))
            i = close + 1
        elif (word := _WORD.match(text, i)) is not None:
            tokens.append(("word", word.group()))
            i = word.end()
        else:
            j = i + 1
            while j < len(text) and text[j] not in _SPACE and not text.startswith("}}", j):
                j += 1
            tokens.append(("dot" if text[i:j] == "." else "other", text[i:j]))
            i = j


def _quoted(text: str, i: int, where: str) -> tuple[str, int]:
    """A "..." string at `i` and the index past it (the escapes a path name may need)."""
    out: list[str] = []
    j = i + 1
    while j < len(text):
        ch = text[j]
        if ch == '"':
            return "".join(out), j + 1
        if ch == "\n":
            break
        if ch == "\\":
            escaped = text[j + 1 : j + 2]
            if escaped not in _ESCAPES:
                raise TemplateError(f"{where}: escape \\{escaped} in a template name is not understood")
            out.append(_ESCAPES[escaped])
            j += 2
            continue
        out.append(ch)
        j += 1
    raise TemplateError(f"{where}: unterminated quoted string")


def parse(text: str, file_name: str, label: str) -> list[Template]:
    """The templates of one file: the file's own (named `file_name`, its text outside any
    define, as Go names it by its base name) and each `{{define}}`. `label` names the file in
    errors. Raises TemplateError."""
    top = Template(file_name, label)
    current = top
    found = [top]
    pos = 0
    trim_next = False
    while True:
        start = text.find("{{", pos)
        chunk = text[pos:] if start < 0 else text[pos:start]
        if trim_next:
            chunk = chunk.lstrip(_SPACE)
        if start < 0:
            current.parts.append(chunk)
            break
        where = f"{label}:{text.count(chr(10), 0, start) + 1}"
        action = _lex_action(text, start, where)
        current.parts.append(chunk.rstrip(_SPACE) if action.trim_left else chunk)
        pos, trim_next = action.end, action.trim_right
        if action.comment:
            continue
        kinds = [kind for kind, _ in action.tokens]
        words = [value for _, value in action.tokens]
        if kinds == ["word", "str"] and words[0] == "define":
            if current is not top:
                raise TemplateError(
                    f'{where}: {{{{define}}}} inside {{{{define "{current.name}"}}}} (nested defines)'
                )
            current = Template(words[1], where)
            found.append(current)
        elif kinds == ["word"] and words[0] == "end":
            if current is top:
                raise TemplateError(f"{where}: {{{{end}}}} without a {{{{define}}}}")
            current = top
        elif kinds in (["word", "str"], ["word", "str", "dot"]) and words[0] == "template":
            current.parts.append(Include(words[1], where))
        else:
            raise TemplateError(
                f"{where}: {action.source} is not understood (only define, template, end and "
                "comments are: the original's pages use no data)"
            )
    if current is not top:
        raise TemplateError(f'{current.where}: {{{{define "{current.name}"}}}} has no {{{{end}}}}')
    return found


def view_files(view_dir: Path) -> list[Path]:
    """What Go's ParseGlob("view/**/*") reads: every entry exactly two levels below view/
    (Go's `**` is a plain `*`, so files directly in view/ or deeper are not read), sorted."""
    return sorted(p for sub in view_dir.iterdir() if sub.is_dir() for p in sub.iterdir())


def collect(view_dir: Path) -> dict[str, Template]:
    """Every template of the view folder by name. A later non-empty definition of a name
    replaces an earlier one, as in Go. Raises TemplateError, OSError."""
    templates: dict[str, Template] = {}
    for path in view_files(view_dir):
        label = str(path.relative_to(view_dir.parent))
        if path.is_dir():
            raise TemplateError(f"{label}: is a directory (Go's ParseGlob would fail on it too)")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise TemplateError(f"{label}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        for template in parse(text, path.name, label):
            old = templates.get(template.name)
            if old is None or not template.is_empty():
                templates[template.name] = template
    return templates


def render(templates: dict[str, Template], name: str) -> str:
    """`name` with its includes expanded. Raises TemplateError on a missing name or a cycle."""
    done: dict[str, str] = {}

    def expand(template: Template, stack: tuple[str, ...]) -> str:
        if template.name in done:
            return done[template.name]
        out: list[str] = []
        for part in template.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            if part.name in stack or part.name == template.name:
                chain = " -> ".join((*stack, template.name, part.name))
                raise TemplateError(f'{part.where}: template "{part.name}" includes itself ({chain})')
            included = templates.get(part.name)
            if included is None:
                raise TemplateError(f'{part.where}: no template named "{part.name}" is defined')
            if len(stack) >= MAX_DEPTH:
                raise TemplateError(f"{part.where}: includes nested more than {MAX_DEPTH} deep")
            out.append(expand(included, (*stack, template.name)))
        done[template.name] = "".join(out)
        return done[template.name]

    return expand(templates[name], ())


def load_pages(view_dir: Path) -> dict[str, str]:
    """The view folder's pages: {name: html} for each template whose name looks like a path
    (starts with "/"), which the original serves at that path. Every template is rendered,
    so a broken part fails here even if no page uses it. Raises TemplateError, OSError."""
    templates = collect(view_dir)
    rendered = {name: render(templates, name) for name in templates}
    return {name: html for name, html in rendered.items() if name.startswith("/")}
