"""make_app(settings): the Tornado application with its database, pools, bus, hub and writer."""

from __future__ import annotations

import logging
from typing import Any

import tornado.web

from handlers import (
    admin,
    contacts,
    emoji,
    friends,
    groups,
    linkpreview,
    messages,
    ops,
    originalpages,
    pages,
    qr,
    socket,
    upload,
    users,
)
from handlers import receipts as receipt_handlers
from handlers.base import BaseHandler, redact_tokens
from handlers.outlet import Pinger
from handlers.search import SearchHandler
from models import db, meta
from models import messages as message_q
from server import original
from server.bus import Bus, InProcessBus
from server.context import Ctx
from server.emoji import load_catalog
from server.errors import ClientError
from server.hub import Hub
from server.mediajobs import MediaJobs
from server.metrics import Metrics
from server.pools import Pools
from server.presence import RedisPresence
from server.redisbus import RedisBus
from server.services import messages as message_service
from server.services import writing
from server.services.messagelog import MessageLog
from server.services.uploads import UploadSlots
from server.settings import ROOT, Settings
from server.sharedlimits import SharedSlots
from server.writer import MessageWriter

log = logging.getLogger(__name__)


access_log = logging.getLogger("tornado.access")


def log_request(handler: tornado.web.RequestHandler) -> None:
    """Tornado's access log line, without the token the WebSocket URL carries."""
    status = handler.get_status()
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    if status >= 400:
        handler.application.settings["ctx"].metrics.tally.error(status, "http")
    request = handler.request
    uri = redact_tokens(request.uri or "")
    access_log.log(
        level, "%d %s %s (%s) %.2fms", status, request.method, uri, request.remote_ip,
        1000.0 * request.request_time(),
    )  # fmt: skip


class AssetHandler(tornado.web.StaticFileHandler):
    """Static files. Pages link entry scripts with ?v=hash (cached for long); the modules
    they import have no hash, so browsers must revalidate those or keep stale code."""

    def set_extra_headers(self, path: str) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        if not self.get_query_argument("v", ""):
            self.set_header("Cache-Control", "no-cache")


class NotFoundHandler(BaseHandler):
    public = True

    async def prepare(self) -> None:
        raise ClientError(404, "not found")


def make_ctx(settings: Settings, metrics_dir: str = "") -> Ctx:
    """Open and migrate the database and wire the process's shared parts together (the
    bus connects in Ctx.start). `metrics_dir`: where the workers of `--processes` keep
    their figures (server/metrics.py)."""
    database = db.open_database(settings.database, settings.sqlite_synchronous)
    db.bind(database)
    db.migrate(database)
    with database.connection_context():
        chat_uid = meta.chat_uid()
        last_stored = message_q.max_id()
    pools = Pools(
        database,
        settings.db_threads,
        settings.hash_threads,
        settings.media_threads,
        hash_queue=settings.hash_queue,
        media_procs=MediaJobs.from_settings(settings),
        db_queue_max=settings.db_queue_max,
    )
    holder: dict[str, Ctx] = {}
    log_reader = MessageLog()
    bus: Bus
    if settings.redis_url:
        # Every process on this database shares its chat's channels and keys, and only those.
        bus = RedisBus(settings.redis_url, f"chatd:{chat_uid}:", log_reader)
    else:
        bus = InProcessBus(horizon=last_stored)
    metrics = Metrics(metrics_dir)
    if isinstance(bus, RedisBus):
        bus.intake.on_lag = metrics.on_lag
    hub = Hub(watcher=bus, metrics=metrics)
    bus.subscribe(hub.on_event)

    async def store(items: list[Any]) -> list[Any]:
        if bus.publishes_in_job:
            return await writing.store_and_publish(holder["ctx"], items)
        return await writing.store(holder["ctx"], items)

    async def publish(batch: list[Any]) -> None:
        if not bus.publishes_in_job:
            await message_service.publish_stored(holder["ctx"], batch)

    writer: MessageWriter[Any, Any] = MessageWriter(
        store, publish, settings.write_batch, settings.write_queue_max
    )
    writer.on_batch = metrics.batch
    catalog = load_catalog(ROOT / "asset")
    if settings.original_client_dir is not None:  # listed now, not on the loop at the first sticker
        original.sticker_files(settings.original_client_dir)
    shared: dict[str, Any] = {}
    if isinstance(bus, RedisBus):  # limits (and presence) use the bus's client, under its prefix
        shared = {"redis": bus.client, "redis_prefix": bus.channels.prefix.decode()}
    ctx = Ctx(
        settings=settings,
        pools=pools,
        bus=bus,
        hub=hub,
        writer=writer,
        emoji=catalog,
        metrics=metrics,
        chat_uid=chat_uid,
        **shared,
    )
    if isinstance(bus, RedisBus):
        ctx.presence = RedisPresence(bus.client, ctx.redis_prefix)
    hub.on_count = ctx.presence.changed
    holder["ctx"] = log_reader.ctx = ctx
    return ctx


def routes(settings: Settings) -> list[Any]:
    page_routes = [(rf"/{name}\.html", pages.PageHandler, {"page": name}) for name in pages.PAGES]
    # The original client's pages and /asset/ when original_client_dir is set (its / is a 302).
    original_home, original = originalpages.original_routes(settings, ROOT / "asset")
    home = {"url": original_home, "permanent": False} if original_home else {"url": "/chat.html"}
    return [
        # First: Tornado tries the routes in order, one regex each, and sockets open most.
        (r"/chat", socket.ChatSocketHandler),
        (r"/", tornado.web.RedirectHandler, home),
        *page_routes,
        (r"/healthz", ops.HealthHandler),
        (r"/metrics", ops.MetricsHandler),
        (r"/emoji\.json", emoji.EmojiCatalogHandler),
        (r"/user/register", users.RegisterHandler),
        (r"/user/login", users.LoginHandler),
        (r"/user/logout", users.LogoutHandler),
        (r"/user/passwd", users.ChangePasswdHandler),
        (r"/user/find", users.FindUserHandler),
        (r"/user/me", users.MeHandler),
        (r"/user/profile", users.ProfileHandler),
        # accounts and admin
        (r"/user/signupinvite", users.SignupInviteHandler),
        (r"/admin/users", admin.UsersHandler),
        (r"/admin/disable", admin.DisableHandler),
        (r"/qr\.svg", qr.QrHandler),
        (r"/contact/addfriend", contacts.AddFriendHandler),
        (r"/contact/loadfriend", contacts.LoadFriendHandler),
        (r"/contact/presence", contacts.PresenceHandler),
        # groups
        (r"/contact/createcommunity", groups.CreateCommunityHandler),
        (r"/contact/joincommunity", groups.JoinCommunityHandler),
        (r"/contact/loadcommunity", groups.LoadCommunityHandler),
        (r"/contact/invite", groups.InviteHandler),
        (r"/contact/invites", groups.InvitesHandler),
        (r"/contact/revokeinvite", groups.RevokeInviteHandler),
        (r"/contact/members", groups.MembersHandler),
        (r"/contact/leavecommunity", groups.LeaveCommunityHandler),
        (r"/contact/kick", groups.KickHandler),
        (r"/contact/updatecommunity", groups.UpdateCommunityHandler),
        (r"/contact/setrole", groups.SetRoleHandler),
        (r"/invite/([0-9a-fA-F]{32})", groups.InviteLinkHandler),
        (r"/message/history", messages.HistoryHandler),
        (r"/message/get", messages.GetHandler),
        (r"/message/conversations", messages.ConversationsHandler),
        (r"/message/read", messages.MarkReadHandler),
        (r"/message/readers", receipt_handlers.ReadersHandler),
        (r"/message/readcounts", receipt_handlers.ReadCountsHandler),
        (r"/message/search", SearchHandler),
        # friends
        (r"/contact/requests", friends.RequestsHandler),
        (r"/contact/accept", friends.AcceptHandler),
        (r"/contact/decline", friends.DeclineHandler),
        (r"/contact/cancelrequest", friends.CancelRequestHandler),
        (r"/contact/unfriend", friends.UnfriendHandler),
        (r"/contact/block", friends.BlockHandler),
        (r"/contact/unblock", friends.UnblockHandler),
        (r"/contact/blocked", friends.BlockedHandler),
        (r"/user/settings", friends.UserSettingsHandler),
        (r"/link/preview", linkpreview.LinkPreviewHandler),
        (r"/attach/upload", upload.UploadHandler),
        (r"/upload/(.*)", upload.UploadFileHandler, {"path": str(settings.upload_dir)}),
        *original,  # last: chatd's own routes win a name the original's folder also defines
    ]


def upload_counts(ctx: Ctx) -> SharedSlots | None:
    """Uploads in progress per user, counted in Redis when there is one. A slot is held at
    most as long as an upload may take and then be processed (plus a minute), so one whose
    process died frees itself."""
    if ctx.redis is None:
        return None
    settings = ctx.settings
    return SharedSlots(ctx.limits_link, "uploads", settings.upload_timeout + settings.media_job_timeout + 60)


def make_app(settings: Settings, ctx: Ctx | None = None) -> tornado.web.Application:
    ctx = ctx or make_ctx(settings)
    return tornado.web.Application(
        routes(settings),
        ctx=ctx,
        upload_slots=UploadSlots(settings.uploads_per_user, settings.uploads_total, upload_counts(ctx)),
        debug=settings.debug,
        autoreload=False,
        template_path=str(ROOT / "view"),
        static_path=str(ROOT / "asset"),
        static_url_prefix=originalpages.static_url_prefix(settings),  # /chatd-asset/ beside the original
        static_handler_class=AssetHandler,
        default_handler_class=NotFoundHandler,
        xsrf_cookies=True,
        cross_origin_protection=True,
        trusted_origins=list(settings.allowed_origins),
        pinger=Pinger(settings.ping_interval),  # one task pings every socket (not Tornado's, one each)
        websocket_max_message_size=settings.max_frame_bytes,
        compress_response=True,
        log_function=log_request,
    )
