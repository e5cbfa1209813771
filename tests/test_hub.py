"""The hub's friend and group sets, which let a message skip the database's permission check,
end exact whatever order the load and the events come in."""

from __future__ import annotations

from server.bus import Friendship, Membership, MembershipEnded
from server.hub import Hub


class Outlet:
    def __init__(self, key: str) -> None:
        self.key = key
        self.token_digest = ""
        self.frames: list[tuple[int, bytes]] = []

    def push(self, message_id: int, frame: bytes) -> None:
        self.frames.append((message_id, frame))

    def shut(self, code: int, reason: str) -> None:
        pass


def test_nothing_is_known_before_the_load_so_the_database_decides():
    hub = Hub()
    hub.attach(1, Outlet("a"))
    assert not hub.may_send(1, 10, 2) and not hub.may_send(1, 11, 7)
    assert not hub.may_send(9, 10, 2)  # not online here at all


def test_friendship_events_during_the_load_are_applied_over_it_in_order():
    hub = Hub()
    hub.attach(1, Outlet("a"))
    read_at = hub.mark()
    # While 1's circle loads (it read: friends with 2 and 3), 2 is unfriended, 4 befriended,
    # and 3 unfriended then befriended again.
    for event in (
        Friendship(1, 2, False),
        Friendship(4, 1, True),
        Friendship(1, 3, False),
        Friendship(3, 1, True),
    ):
        hub.on_event(event)
    hub.load_circle(1, {2, 3}, set(), read_at)
    assert [hub.may_send(1, 10, other) for other in (2, 3, 4)] == [False, True, True]
    hub.on_event(Friendship(1, 4, False))
    assert not hub.may_send(1, 10, 4)
    # The other side, online too, follows the same events.
    hub.attach(4, Outlet("b"))
    hub.load_circle(4, set(), set(), hub.mark())
    hub.on_event(Friendship(1, 4, True))
    assert hub.may_send(4, 10, 1) and hub.may_send(1, 10, 4)


def test_a_removal_during_the_load_is_not_undone_by_it():
    hub = Hub()
    hub.attach(1, Outlet("a"))
    read_at = hub.mark()
    hub.on_event(MembershipEnded(1, 7))  # committed after the load read 7 and 8
    hub.on_event(Membership(1, 9))
    hub.load_circle(1, set(), {7, 8}, read_at)
    assert [hub.may_send(1, 11, g) for g in (7, 8, 9)] == [False, True, True]


def test_a_user_who_goes_offline_and_back_loads_again():
    hub = Hub()
    outlet = Outlet("a")
    hub.attach(1, outlet)
    hub.load_circle(1, {2}, {7}, hub.mark())
    hub.detach(1, outlet)
    hub.attach(1, Outlet("b"))
    assert not hub.may_send(1, 10, 2) and not hub.may_send(1, 11, 7)
