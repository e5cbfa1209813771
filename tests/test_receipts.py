"""Read receipts (1:1 "read", groups "read by N"), and the settings that stop receipts and
hide presence."""

from __future__ import annotations

import pytest

from tests.conftest import (
    Account,
    Api,
    ChatClient,
    assert_next_is_sentinel,
    befriend,
    both_buses,
    connect,
    join_group,
    register,
)
from tests.test_events import sent
from tests.test_live import focus
from tests.test_presence import presence_of, until


async def send(client: ChatClient, cmd: int, dstid: int, text: str) -> int:
    """A message from `client`; its id once acked."""
    ack = await sent(client, cmd=cmd, dstid=dstid, media=1, content=text)
    assert ack["cmd"] == 12, ack
    return ack["id"]


async def peer_read(api: Api, user: Account, peer: Account) -> int:
    rows = await api.ok("/message/conversations", user.token)
    return next(r["peerread"] for r in rows if (r["cmd"], r["dstid"]) == (10, peer.id))


def read_frame(reader: Account, dstcmd: int, dstid: int, readid: int) -> dict:  # 1:1
    return {
        "cmd": 16,
        "type": "read",
        "dstcmd": dstcmd,
        "dstid": dstid,
        "userid": reader.id,
        "readid": readid,
    }


@both_buses
@pytest.mark.gen_test(timeout=30)
async def test_one_to_one_read_shows_on_the_senders_devices_until_turned_off(api, base_url):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    await befriend(api, ann, bob)
    ann_sock, bob_sock = await connect(base_url, ann), await connect(base_url, bob)
    first = await send(ann_sock, 10, bob.id, "one")
    second = await send(ann_sock, 10, bob.id, "two")
    assert (await bob_sock.next_message())["id"] == first
    assert (await bob_sock.next_message())["id"] == second
    assert await peer_read(api, ann, bob) == 0

    await api.ok("/message/read", bob.token, cmd=10, dstid=ann.id, id=first)
    # Ann's socket, whatever it has open, hears that Bob read up to the first.
    assert await ann_sock.next_frame() == read_frame(bob, 10, bob.id, first)
    assert await peer_read(api, ann, bob) == first
    assert await peer_read(api, bob, ann) == 0  # Ann has read nothing of Bob's
    # A mark that does not move says nothing.
    await api.ok("/message/read", bob.token, cmd=10, dstid=ann.id, id=first)
    await assert_next_is_sentinel(ann_sock, sender=bob_sock, dstid=ann.id)

    # Bob stops sending receipts: his reading is no longer shown, live or in the list.
    assert (await api.ok("/user/settings", bob.token, send_receipts=False))["send_receipts"] is False
    assert (await api.ok("/user/me", bob.token))["send_receipts"] is False
    await api.ok("/message/read", bob.token, cmd=10, dstid=ann.id, id=second)
    await assert_next_is_sentinel(ann_sock, sender=bob_sock, dstid=ann.id)
    assert await peer_read(api, ann, bob) == 0
    # Back on: shown again. And it goes both ways: Ann stopping hers hides Bob's from her.
    await api.ok("/user/settings", bob.token, send_receipts=True)
    assert await peer_read(api, ann, bob) == second
    await api.ok("/user/settings", ann.token, send_receipts=False)
    assert await peer_read(api, ann, bob) == 0
    third = await send(ann_sock, 10, bob.id, "three")
    await api.ok("/message/read", bob.token, cmd=10, dstid=ann.id, id=third)
    await assert_next_is_sentinel(ann_sock, sender=bob_sock, dstid=ann.id)


@both_buses
@pytest.mark.gen_test(timeout=30)
async def test_group_read_counts_and_readers_for_members_only(api, base_url):
    ann, bob, cy, dave, eve = [await register(api, n) for n in ("Ann", "Bob", "Cy", "Dave", "Eve")]
    club = (await api.ok("/contact/createcommunity", ann.token, name="Club"))["id"]
    await join_group(api, ann, bob, club)
    await join_group(api, ann, cy, club)
    ann_sock, ann_other, bob_sock = (
        await connect(base_url, ann),
        await connect(base_url, ann),
        await connect(base_url, bob),
    )
    await assert_next_is_sentinel(bob_sock, ann_other, sender=ann_sock, dstid=club, cmd=11)
    await focus(ann_sock, 11, club)  # Ann has the group open; her other socket does not
    m1 = await send(ann_sock, 11, club, "m1")
    m2 = await send(ann_sock, 11, club, "m2")
    bobs = await send(bob_sock, 11, club, "from bob")

    await api.ok("/message/read", bob.token, cmd=11, dstid=club, id=bobs)
    await api.ok("/message/read", cy.token, cmd=11, dstid=club, id=m1)

    async def counts(user: Account, ids: list[int]) -> dict[int, int]:
        return {
            r["id"]: r["count"] for r in await api.ok("/message/readcounts", user.token, dstid=club, ids=ids)
        }

    async def readers(user: Account, message_id: int) -> list[str]:
        return [
            u["nickname"] for u in await api.ok("/message/readers", user.token, dstid=club, id=message_id)
        ]

    # Only Ann's own messages are counted for her; Bob's id is left out.
    assert await counts(ann, [m1, m2, bobs]) == {m1: 2, m2: 1}
    assert await readers(ann, m1) == ["Bob", "Cy"]
    assert await readers(ann, m2) == ["Bob"]
    assert await counts(bob, [m1, bobs]) == {bobs: 0}  # nobody else read past Bob's own

    # Dave joins later and reads everything: messages from before he joined are not his to count.
    await join_group(api, ann, dave, club)
    latest = (await api.ok("/message/history", dave.token, cmd=11, dstid=club, limit=1))[0]["id"]
    await api.ok("/message/read", dave.token, cmd=11, dstid=club, id=latest)
    assert await counts(ann, [m1, m2]) == {m1: 2, m2: 1}
    # Cy stops sending receipts: no longer counted or listed.
    await api.ok("/user/settings", cy.token, send_receipts=False)
    assert await readers(ann, m1) == ["Bob"]

    # Strangers, someone else's message, bad ids.
    for user, body, status in (
        (eve, {"dstid": club, "id": m1}, 403),
        (bob, {"dstid": club, "id": m1}, 404),  # not his message
        (ann, {"dstid": 999_999, "id": m1}, 404),
        (ann, {"dstid": club, "id": 0}, 400),
    ):
        code, envelope = await api.call("/message/readers", user.token, **body)
        assert code == status, (body, envelope)
    for user, body, status in (
        (eve, {"dstid": club, "ids": [m1]}, 403),
        (ann, {"dstid": club, "ids": "1,2"}, 400),
        (ann, {"dstid": club, "ids": [True]}, 400),
        (ann, {"dstid": club, "ids": list(range(1, 102))}, 400),
    ):
        code, envelope = await api.call("/message/readcounts", user.token, **body)
        assert code == status, (body, envelope)


@both_buses
@pytest.mark.gen_test(timeout=30)
async def test_group_read_events_go_only_to_sockets_with_the_group_open(api, base_url):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    club = (await api.ok("/contact/createcommunity", ann.token, name="Club"))["id"]
    await join_group(api, ann, bob, club)
    watching, elsewhere, bob_sock = (
        await connect(base_url, ann),
        await connect(base_url, ann),
        await connect(base_url, bob),
    )
    await assert_next_is_sentinel(watching, elsewhere, sender=bob_sock, dstid=club, cmd=11)
    await focus(watching, 11, club)
    m1 = await send(watching, 11, club, "m1")
    assert (await elsewhere.next_message())["id"] == m1
    assert (await bob_sock.next_message())["id"] == m1

    await api.ok("/message/read", bob.token, cmd=11, dstid=club, id=m1)
    # A hint to ask for the counts again; who read how far is for /message/readcounts to say.
    assert await watching.next_frame() == {"cmd": 16, "type": "read", "dstcmd": 11, "dstid": club}
    await assert_next_is_sentinel(watching, elsewhere, sender=bob_sock, dstid=club, cmd=11)


@both_buses
@pytest.mark.gen_test(timeout=30)
async def test_hidden_presence_answers_as_unknown_both_ways(api, base_url):
    ann, bob, cy = await register(api, "Ann"), await register(api, "Bob"), await register(api, "Cy")
    await befriend(api, ann, bob)
    await befriend(api, ann, cy)
    _bob_sock, _cy_sock = await connect(base_url, bob), await connect(base_url, cy)
    assert (await until(api, ann.token, bob.id, 1))["online"] is True
    # One friend only (the open chat's): one row.
    assert [r["userid"] for r in await api.ok("/contact/presence", ann.token, userid=bob.id)] == [bob.id]

    assert (await api.ok("/user/settings", bob.token, show_presence=False))["show_presence"] is False
    hidden = (await presence_of(api, ann.token))[bob.id]
    assert (hidden["online"], hidden["sockets"], hidden["lastseen"]) == (False, 0, 0)
    assert (await presence_of(api, ann.token))[cy.id]["online"] is True
    # Hiding his own hides everyone's from him: Ann is online, for Cy, not for Bob.
    _ann_sock = await connect(base_url, ann)
    assert (await until(api, cy.token, ann.id, 1))["online"] is True
    assert (await presence_of(api, bob.token))[ann.id]["online"] is False
    await api.ok("/user/settings", bob.token, show_presence=True)
    assert (await presence_of(api, ann.token))[bob.id]["online"] is True
    code, _ = await api.call("/user/settings", bob.token, show_presence="maybe")
    assert code == 400
