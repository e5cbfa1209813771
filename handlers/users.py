"""/user/* endpoints."""

from __future__ import annotations

from handlers.base import TOKEN_COOKIE, BaseHandler
from server.services import accounts, friends, profile, signup
from server.services.accounts import AccountRow


class _SetsTokenCookie(BaseHandler):
    public = True

    def answer_with_cookie(self, account: AccountRow) -> None:
        # The page keeps the token for API calls; the cookie lets the WebSocket and page
        # loads authenticate. HttpOnly keeps scripts off it; SameSite keeps other sites off.
        self.set_cookie(
            TOKEN_COOKIE,
            account["token"],
            httponly=True,
            samesite="Strict",
            secure=self.ctx.settings.cookie_secure,
            expires_days=self.ctx.settings.token_days,
        )
        self.ok(account)


class RegisterHandler(_SetsTokenCookie):
    async def post(self) -> None:
        account = await accounts.do_register(
            self.ctx,
            mobile=self.str_arg("mobile", max_len=32).strip(),
            passwd=self.str_arg("passwd", max_len=256),
            nickname=self.str_arg("nickname", max_len=256),
            avatar=self.str_arg("avatar", "", max_len=512),
            sex=self.str_arg("sex", "U", max_len=1),
            address=self.client_address,
            invite=self.str_arg("invite", "", max_len=64).strip(),
        )
        self.set_status(200)
        self.answer_with_cookie(account)


class LoginHandler(_SetsTokenCookie):
    async def post(self) -> None:
        account = await accounts.do_login(
            self.ctx,
            mobile=self.str_arg("mobile", max_len=32).strip(),
            passwd=self.str_arg("passwd", max_len=256),
            address=self.client_address,
        )
        self.answer_with_cookie(account)


class LogoutHandler(BaseHandler):
    async def post(self) -> None:
        await accounts.do_logout(self.ctx, self.user_id, self.token)
        self.clear_cookie(TOKEN_COOKIE)
        self.ok()


class ChangePasswdHandler(BaseHandler):
    """Sets a new password; every other device is logged out, this one stays."""

    async def post(self) -> None:
        await accounts.do_change_passwd(
            self.ctx,
            self.user_id,
            self.token,
            old=self.str_arg("oldpasswd", max_len=256),
            new=self.str_arg("newpasswd", max_len=256),
            address=self.client_address,
        )
        self.ok()


class FindUserHandler(BaseHandler):
    async def post(self) -> None:
        user_id = self.id_arg("id", required=False)
        mobile = self.str_arg("mobile", "", max_len=32).strip() or None
        self.ok(await friends.get_user(self.ctx, self.user_id, user_id, mobile))


class MeHandler(BaseHandler):
    """The caller's own public profile: how a page that cannot read its HttpOnly token
    cookie learns who is signed in (401 when nobody is)."""

    async def post(self) -> None:
        me = await accounts.get_public_user(self.ctx, user_id=self.user_id)
        self.ok({**me, **await friends.get_own_flags(self.ctx, self.user_id)})  # + role, findable, own mobile


class SignupInviteHandler(BaseHandler):
    """A sign-up link for someone new (registration = invite; refused when closed)."""

    async def post(self) -> None:
        uses = self.int_arg("uses", required=False, lo=0, hi=signup.MAX_USES)
        expires = self.int_arg("expires", required=False, lo=0, hi=signup.MAX_EXPIRES_S)
        self.ok(await signup.do_make_signup_invite(self.ctx, self.user_id, uses, expires))


class ProfileHandler(BaseHandler):
    """Edits the caller's nickname, avatar and memo (those given); answers the public user."""

    async def post(self) -> None:
        def optional(name: str) -> str | None:
            return self.str_arg(name, max_len=512) if self.args.get(name) is not None else None

        user = await profile.do_update_profile(
            self.ctx, self.user_id, optional("nickname"), optional("avatar"), optional("memo")
        )
        self.ok(user)
