"""server/gotemplates.py: the Go template includes of the original's pages, on our own
small view folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.gotemplates import TemplateError, load_pages


def views(tmp_path: Path, files: dict[str, str]) -> Path:
    view = tmp_path / "view"
    for name, text in files.items():
        (view / name).parent.mkdir(parents=True, exist_ok=True)
        (view / name).write_text(text)
    return view


def test_defines_become_pages_with_includes_expanded(tmp_path):
    view = views(
        tmp_path,
        {
            "chat/head.html": '{{define "/chat/head.shtml"}}<title>Chat</title>{{end}}',
            "chat/index.html": (
                '{{/* the main page\n   over two lines */}}{{define  "/chat/index.shtml"}}'
                '<head>{{template "/chat/head.shtml"}}</head>'
                '<body>{{ template "/chat/tabs.shtml" . }}</body>{{end}}'
                '\n{{define "/chat/tabs.shtml"}}<nav>{{template `/chat/head.shtml`}}</nav>{{end}}'
            ),
        },
    )
    pages = load_pages(view)
    assert (
        pages["/chat/index.shtml"]
        == "<head><title>Chat</title></head><body><nav><title>Chat</title></nav></body>"
    )
    assert set(pages) == {"/chat/head.shtml", "/chat/index.shtml", "/chat/tabs.shtml"}  # not "index.html"


def test_trim_markers_trim_the_text_beside_the_action(tmp_path):
    view = views(
        tmp_path,
        {
            "a/a.html": (
                '{{define "/a"}}<p>\n  {{- /* c */ -}}\n  x  {{- template "/b" }} y{{end}}'
                '{{define "/b"}}[b]{{end}}'
            )
        },
    )
    assert load_pages(view)["/a"] == "<p>x[b] y"


def test_a_later_definition_replaces_an_earlier_one_but_an_empty_one_does_not(tmp_path):
    view = views(
        tmp_path,
        {
            "a/1.html": '{{define "/p"}}first{{end}}{{define "/q"}}kept{{end}}',
            "a/2.html": '{{define "/p"}}second{{end}}{{define "/q"}}  {{end}}',
        },
    )
    pages = load_pages(view)
    assert (pages["/p"], pages["/q"]) == ("second", "kept")


def test_only_files_two_levels_down_are_read_as_go_globs_them(tmp_path):
    view = views(
        tmp_path,
        {
            "top.html": '{{define "/top"}}{{.}}{{end}}',  # view/* is not matched by view/**/*
            "a/b/deep.html": '{{define "/deep"}}{{.}}{{end}}',  # nor view/a/b/*
        },
    )
    (view / "a" / "ok.html").write_text('{{define "/ok"}}ok{{end}}')
    with pytest.raises(TemplateError, match=r"view/a/b: is a directory"):
        load_pages(view)
    (view / "a" / "b" / "deep.html").unlink()
    (view / "a" / "b").rmdir()
    assert load_pages(view) == {"/ok": "ok"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<p>{{.Name}}</p>", r"^view/a/x.html:1: \{\{.Name\}\} is not understood"),
        ("\n{{if .}}x{{end}}", r"^view/a/x.html:2: \{\{if \.\}\} is not understood"),
        ('{{template "/a" .Data}}', r"is not understood"),
        ('{{define "/a"}}{{define "/b"}}{{end}}{{end}}', r"nested defines"),
        ("{{end}}", r"\{\{end\}\} without a \{\{define\}\}"),
        ('\n\n{{define "/a"}}never ended', r'^view/a/x.html:3: \{\{define "/a"\}\} has no \{\{end\}\}'),
        ('{{define "/a"}}{{template "/nope"}}{{end}}', r'no template named "/nope" is defined'),
        ('{{define "/a"}}{{template "/b"}}{{end}}{{define "/b"}}{{template "/a"}}{{end}}', r"/a -> /b -> /a"),
        ('{{define "/a"}}{{template "/a"}}{{end}}', r'template "/a" includes itself'),
        ('{{define "/a}}', r"unterminated quoted string"),
        ("{{/* open", r"unclosed comment"),
        ("{{/* c */ }}", r"comment ends before closing delimiter"),
        ("{{define", r"unclosed action"),
        ('{{define "\\q"}}{{end}}', r"escape"),
    ],
)
def test_what_it_cannot_render_is_refused_with_the_file_and_line(tmp_path, text, message):
    view = views(tmp_path, {"a/x.html": text})
    with pytest.raises(TemplateError, match=message):
        load_pages(view)


def test_a_broken_part_no_page_uses_is_refused_too(tmp_path):
    view = views(
        tmp_path, {"a/x.html": '{{define "/ok"}}ok{{end}}{{define "part"}}{{template "gone"}}{{end}}'}
    )
    with pytest.raises(TemplateError, match='"gone"'):
        load_pages(view)
