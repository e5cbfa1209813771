"""Searching the user's messages: the query's terms, the rate limit, and each hit's snippet
with the matched text marked as offsets (the client draws them as text, never as HTML)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, TypedDict

from models import search as search_q
from models.messages import CMD_GROUP, CMD_SINGLE, MessageRow
from server.errors import ClientError
from server.services.messages import check_may_read

if TYPE_CHECKING:
    from server.context import Ctx

QUERY_MAX = 100  # characters
TERMS_MAX = 8
LIMIT_MAX = 50
SNIPPET_BEFORE = 30  # characters of context shown before the first hit
SNIPPET_LEN = 120
ELLIPSIS = "…"


class Hit(TypedDict):
    message: MessageRow
    snippet: str
    highlights: list[list[int]]  # [start, end) in code points of `snippet`


def terms_of(query: str) -> list[str]:
    """The query's words (every one must be in a hit); 400 for none or too many."""
    if len(query) > QUERY_MAX:
        raise ClientError(400, f"search text longer than {QUERY_MAX} characters")
    terms = list(dict.fromkeys(query.split()))  # in order, each once
    if not terms:
        raise ClientError(400, "empty search")
    if len(terms) > TERMS_MAX:
        raise ClientError(400, f"at most {TERMS_MAX} words in a search")
    return terms


async def charge_search(ctx: Ctx, user_id: int) -> None:
    """Spend one of the user's searches (search_rate per minute); 429 when spent."""
    limits = ctx.search_limits
    while not limits.ready(user_id):  # with Redis: the chat's count, fetched first
        await limits.refill(user_id)
    if not limits.allow(user_id):
        wait = limits.wait_s(user_id)
        raise ClientError(429, "searching too often; try again later", retry_after=max(1, math.ceil(wait)))


async def do_search(
    ctx: Ctx,
    user_id: int,
    query: str,
    cmd: int | None,
    dst_id: int | None,
    before_id: int | None,
    limit: int,
) -> list[Hit]:
    """Ranked hits among the messages the user may read (of one conversation when cmd and
    dstid are given: 403/404 as for its history)."""
    terms = terms_of(query)
    if not 1 <= limit <= LIMIT_MAX:
        raise ClientError(400, f"limit must be 1..{LIMIT_MAX}")
    if (cmd is None) != (dst_id is None):
        raise ClientError(400, "give both cmd and dstid, or neither")
    if cmd is not None and cmd not in (CMD_SINGLE, CMD_GROUP):
        raise ClientError(400, "cmd must be 10 or 11")
    scope = search_q.Scope(cmd, dst_id) if cmd is not None and dst_id is not None else None
    await charge_search(ctx, user_id)

    def read() -> list[MessageRow]:
        if scope is not None:
            check_may_read(user_id, scope.cmd, scope.dst_id)
        return search_q.search(user_id, terms, scope, before_id, limit)

    rows: list[MessageRow] = await ctx.pools.db(read)
    hits = []
    for row in rows:
        text, marks = snippet(row["content"], terms)
        hits.append(Hit(message=row, snippet=text, highlights=marks))
    return hits


def _fold(text: str) -> str:
    """Lower case, one character for one, so offsets in the result are offsets in `text`."""
    return "".join(low if len(low := c.lower()) == 1 else c for c in text)


def _spans(folded: str, terms: list[str]) -> list[list[int]]:
    """Every place a term occurs, overlapping ones merged, in order."""
    found: list[list[int]] = []
    for term in {_fold(t) for t in terms}:
        at = folded.find(term)
        while at >= 0:
            found.append([at, at + len(term)])
            at = folded.find(term, at + 1)
    merged: list[list[int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def snippet(content: str, terms: list[str]) -> tuple[str, list[list[int]]]:
    """Up to SNIPPET_LEN characters of `content` around its first hit (an ellipsis where it
    is cut), and the [start, end) offsets of every hit within that snippet."""
    spans = _spans(_fold(content), terms)
    first = spans[0][0] if spans else 0
    start = max(0, min(first - SNIPPET_BEFORE, len(content) - SNIPPET_LEN))
    end = min(len(content), start + SNIPPET_LEN)
    head = ELLIPSIS if start > 0 else ""
    text = head + content[start:end] + (ELLIPSIS if end < len(content) else "")
    shift = len(head) - start
    marks = [[max(s, start) + shift, min(e, end) + shift] for s, e in spans if s < end and e > start]
    return text, marks
