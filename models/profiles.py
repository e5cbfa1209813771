"""A user's own profile fields (nickname, avatar, memo) and who shows them."""

from __future__ import annotations

from models.contacts import FRIEND, Contact
from models.users import PublicUser, User, public_row


def update_profile(user_id: int, fields: dict[str, str]) -> PublicUser | None:
    """Sets the given columns (nickname, avatar, memo) and answers the public user, or None
    when there is no such user."""
    if fields:
        User.update(**fields).where(User.id == user_id).execute()
    user = User.get_or_none(User.id == user_id)
    return public_row(user) if user else None


def friend_ids(user_id: int) -> list[int]:
    """The ids of the user's friends."""
    query = Contact.select(Contact.dst_id).where((Contact.owner_id == user_id) & (Contact.cate == FRIEND))
    return [row.dst_id for row in query]
