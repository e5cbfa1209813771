"""The token cache forgets a token the moment a revocation names it, and never keeps one
that a lookup read before a revocation it did not see."""

from __future__ import annotations

from server.bus import TokenRevoked
from server.tokencache import TokenCache


def test_a_revocation_drops_the_named_token_or_all_but_the_kept_one():
    cache = TokenCache(ttl=60)
    for digest, user_id in (("a1", 1), ("a2", 1), ("a3", 1), ("b1", 2)):
        cache.put(digest, user_id, cache.generation)
    cache.on_event(TokenRevoked(1, digests=("a1",)))  # a logout
    assert [cache.get(d) for d in ("a1", "a2", "a3", "b1")] == [None, 1, 1, 2]
    cache.on_event(TokenRevoked(1, keep="a3", reason="password changed"))
    assert [cache.get(d) for d in ("a2", "a3", "b1")] == [None, 1, 2]
    cache.on_event(TokenRevoked(2, reason="account disabled"))
    assert cache.get("b1") is None


def test_a_lookup_that_began_before_a_revocation_is_not_cached():
    cache = TokenCache(ttl=60)
    began = cache.generation
    cache.on_event(TokenRevoked(1, digests=("a1",)))  # lands while the lookup is in the database
    cache.put("a1", 1, began)
    assert cache.get("a1") is None


def test_entries_expire_and_the_oldest_go_past_the_bound():
    cache = TokenCache(ttl=-1)  # already past
    cache.put("a1", 1, cache.generation)
    assert cache.get("a1") is None
    cache = TokenCache(ttl=60, max_entries=2)
    for i in range(3):
        cache.put(f"d{i}", i, cache.generation)
    assert [cache.get(f"d{i}") for i in range(3)] == [None, 1, 2]
