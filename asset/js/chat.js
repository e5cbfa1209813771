// Chat page entry: wires the session, sidebar, conversation view, composer and socket together.
import { USER_KEY, postData, request, session, setUnauthorizedHandler } from './api.js';
import { Composer } from './composer.js';
import { wireConsent } from './consent.js';
import { ConversationView } from './conversation.js';
import { Sidebar } from './contacts.js';
import { byId } from './dom.js';
import { Drafts, bindDrafts } from './drafts.js';
import { loadCatalog } from './emoji.js';
import { roleName } from './groupinfo.js';
import { openAt, setOpener } from './jump.js';
import { loginUrl } from './links.js';
import { wireLive } from './live.js';
import './media.js'; // registers the image, voice, emoji and sticker renderers
import { MessageActions } from './msgactions.js';
import { MessageEvents } from './msgevents.js';
import { Names } from './names.js';
import { watchNetwork } from './netstate.js';
import { Notifier, showUnread } from './notify.js';
import { Outbox } from './outbox.js';
import { Profile, showHeaderAvatar } from './profile.js';
import { ReadMarks } from './reads.js';
import { bindSearch } from './search.js';
import { ChatSocket } from './socket.js';
import { MessageStore, convKey, parseKey } from './store.js';
import { CLOSE_SESSION_ENDED, Media, isEvent } from './wire.js';

const LOGIN = loginUrl(); // an invite or add-me link in the address comes back after sign-in
const ENDED = `${LOGIN}&ended=1`; // the login page says the session ended
const MOBILE = window.matchMedia('(max-width: 720px)');

// Who is signed in is the server's answer for the cookie, not what storage says: the session
// may have ended, or another tab may have signed in as someone else. No profile kept: never
// signed in here, so straight to the login page.
const known = session.user;
if (!known || known.id == null) {
  location.replace(LOGIN);
} else {
  postData('/user/me').then(
    (me) => {
      // /user/me has no mobile; keep the one from the login answer (the "Add me" card shows it).
      const mobile = known.id === me.id ? known.mobile : undefined;
      session.save({ mobile, ...me });
      start({ mobile, ...me });
    },
    (err) => {
      if (err.status !== 401) start(known); // server unreachable: the socket keeps trying
      else {
        session.clear();
        location.replace(LOGIN);
      }
    },
  );
}

/** The server's limits from <body data-limits>; the server enforces them anyway. */
function pageLimits() {
  try {
    return JSON.parse(document.body.dataset.limits || '{}');
  } catch {
    return {};
  }
}

function start(me) {
  const app = byId('app');
  const offline = byId('offline');
  const toggle = byId('sidebar-toggle');

  const names = new Names();
  names.learn([me]);
  const store = new MessageStore(me.id);
  const socket = new ChatSocket({ userId: me.id });

  const endSession = () => {
    socket.stop();
    session.clear();
    location.replace(ENDED);
  };
  setUnauthorizedHandler(endSession);
  // Logged out or signed in as someone else in another tab: follow suit here.
  window.addEventListener('storage', (e) => {
    if (e.key !== USER_KEY) return;
    if (!e.newValue) endSession();
    else if (session.user?.id !== me.id) location.reload();
  });

  let live = null; // typing, presence, receipts: wired once the views exist
  const view = new ConversationView({
    store,
    names,
    decorate: (li, msg) => live?.decorate(li, msg),
    onRetry: (msg) => {
      outbox.retry(msg);
      composer.focus(); // the Retry button was just replaced
    },
  });
  const sidebar = new Sidebar({ names, me: me.id, onOpen: openConversation });
  const events = new MessageEvents({
    store,
    view,
    names,
    me: me.id,
    onReact: (msg, emoji) => actions.react(msg, emoji),
    onJump: (msg, id) => {
      const { cmd, dstid } = parseKey(store.keyOf(msg));
      openAt(cmd, dstid, id);
    },
    onChanged: (key, msg) => sidebar.changed(key, msg),
  });
  const actions = new MessageActions({
    store,
    view,
    events,
    socket,
    names,
    limits: pageLimits(),
    me: me.id,
    roleIn: (key) => {
      const group = sidebar.entryOf(key);
      return group ? roleName(group.role) : null;
    },
  });
  const reads = new ReadMarks({ sidebar });
  live = wireLive({ socket, store, names, view, sidebar });
  const outbox = new Outbox({
    socket,
    store,
    onChange: (msg) => {
      view.upsert(msg);
      sidebar.render(); // the preview may be this message
    },
  });
  const composer = new Composer({
    limits: pageLimits(),
    currentKey: () => view.key,
    send: (key, fields) => {
      const { cmd, dstid } = parseKey(key);
      const msg = store.draft(cmd, dstid, actions.attach(key, fields));
      view.upsert(msg);
      sidebar.noteMessage(key, msg, false);
      outbox.send(msg); // offline: it stays pending and goes out on reconnect
    },
  });

  // Drafts per conversation, kept across reloads (drafts.js); the box swaps as chats change.
  const drafts = new Drafts(me.id);
  const draftBox = bindDrafts({ drafts, composer, currentKey: () => view.key });

  const showHeader = () => view.key && showHeaderAvatar(sidebar.avatarOf(view.key));
  // After a reload the open conversation's title may improve (a friend's name arrived).
  const reloadContacts = () =>
    sidebar.load().then((ok) => {
      if (view.key) view.setTitle(sidebar.titleOf(view.key));
      showHeader();
      updateTitle();
      return ok;
    });

  const consent = wireConsent({ me, socket, sidebar, names, view, composer, reloadContacts, openConversation,
    registration: pageLimits().registration });

  // The open conversation counts as read only while someone can see it.
  const seeing = (key) => key === view.key && document.visibilityState === 'visible';
  const markSeen = () => view.key && reads.mark(view.key, store.newestId(view.key));
  document.addEventListener('visibilitychange', () => {
    if (seeing(view.key)) markSeen();
    // What comes while nobody looks gets the "New messages" line.
    else if (view.key && document.visibilityState === 'hidden') view.markNewFrom(store.newestId(view.key));
  });

  // `at`: a message id to open the conversation at (jump.js openAt), instead of its latest.
  async function openConversation(key, at = null) {
    // Where the "New messages" line goes: after the read mark, if anything is unread.
    const newFrom = at == null && sidebar.unreadOf(key) > 0 ? sidebar.readIdOf(key) : null;
    if (key !== view.key) draftBox.swap(key); // this chat's own draft, not the last one's
    drafts.rememberOpen(key);
    sidebar.select(key);
    updateTitle();
    composer.enable();
    setSidebarOpen(false);
    const title = sidebar.titleOf(key);
    const loading = at == null ? view.open(key, title, newFrom) : view.openAt(key, title, at);
    showHeader();
    actions.opened(key);
    live.opened(key, loading);
    consent.opened(); // the info button, or a locked composer if it is no longer ours
    composer.focus();
    await loading;
    if (seeing(key)) markSeen();
  }

  function updateTitle() {
    showUnread(sidebar.totalUnread()); // the title and the favicon
  }

  setOpener(openConversation);
  bindSearch({ sidebar, names, store, currentKey: () => view.key });
  new Notifier({ me: me.id, names, socket, store, titleOf: (key) => sidebar.titleOf(key),
    readIdOf: (key) => sidebar.readIdOf(key), openConversation });
  new Profile({ me, names, socket, onChanged: (user, isMe) => {
    if (!isMe) reloadContacts(); // the friend rows carry the name and picture
    sidebar.render();
    view.refresh();
    showHeader();
  } });
  watchNetwork({ socket }); // the offline banner

  // The catalog turns :codes: and emoji messages into characters; draw them again once.
  loadCatalog().then((catalog) => {
    if (!catalog) return;
    view.refresh();
    sidebar.render();
  });

  // --- socket ---
  socket.addEventListener('message', ({ detail: frame }) => {
    if (isEvent(frame)) {
      events.apply(frame); // an edit, recall or reaction changes a message already shown
      if (frame.media === Media.RECALL) sidebar.recalled(store.keyOf(frame), frame.ref, frame.userid);
      return;
    }
    const key = store.keyOf(frame);
    const { msg, isNew } = store.put(frame);
    view.upsert(msg);
    if (!sidebar.knows(key)) reloadContacts(); // a new friend or a group joined elsewhere
    sidebar.noteMessage(key, msg, isNew && !store.isMine(frame) && !seeing(key));
    if (seeing(key)) reads.mark(key, msg.id);
    updateTitle();
  });
  socket.addEventListener('read', ({ detail }) => {
    sidebar.setRead(convKey(detail.dstcmd, detail.dstid), detail);
    updateTitle();
  });
  let connectedBefore = false;
  let listLoaded = false;
  socket.addEventListener('online', () => {
    // Back after a drop (or the first load failed): counts and previews may have moved on.
    if (!connectedBefore && !listLoaded) {
      // Started without the list, so live only: a list fetched now (after the socket
      // subscribed) is the snapshot the next reconnect's `since` may start from.
      reloadContacts().then((ok) => ok && socket.startAfter(sidebar.newestId() ?? 0));
    } else if (connectedBefore) reloadContacts();
    connectedBefore = true;
  });
  socket.addEventListener('offline', ({ detail }) => {
    // (netstate.js shows the banner.) A refused upgrade (session over, or the cookie now
    // names someone else) looks like any failed connect; ask the server: a 401 ends the
    // session through setUnauthorizedHandler.
    if (!detail.wasOpen) {
      postData('/user/me').then((now) => now.id !== me.id && location.reload(), () => {});
    }
  });
  socket.addEventListener('ended', ({ detail }) => {
    if (detail.code === CLOSE_SESSION_ENDED) {
      endSession(); // logged out elsewhere, password changed or token expired
      return;
    }
    offline.textContent = 'Disconnected: this account has too many chat windows open. Reload to reconnect.';
    offline.hidden = false;
  });

  // --- header: sidebar toggle, who am I, log out ---
  function setSidebarOpen(open) {
    app.classList.toggle('sidebar-open', open);
    toggle.setAttribute('aria-expanded', String(open));
    toggle.setAttribute('aria-label', open ? 'Hide contacts' : 'Show contacts');
  }
  const closeSidebar = () => {
    setSidebarOpen(false);
    toggle.focus();
  };
  toggle.addEventListener('click', () => {
    setSidebarOpen(true);
    // Move focus into the panel (it covers the page on a phone), starting at the contacts.
    byId('sidebar').querySelector('.contact, #add-friend-input')?.focus();
  });
  byId('sidebar-close').addEventListener('click', closeSidebar);
  document.addEventListener('keydown', (e) => {
    // An open panel takes the Escape for itself (the browser closes it).
    const panelOpen = document.querySelector('dialog[open]');
    if (e.key === 'Escape' && !e.defaultPrevented && !panelOpen && MOBILE.matches && app.classList.contains('sidebar-open')) {
      closeSidebar();
    }
  });
  byId('logout').addEventListener('click', async () => {
    socket.stop();
    drafts.forgetAll(); // the next person at this computer starts clean
    setUnauthorizedHandler(null); // a 401 here just means the token was already gone
    try {
      await request('/user/logout');
    } catch {
      // Already invalid or unreachable: the server clears the cookie when it can answer.
    }
    session.clear();
    location.replace('/login.html');
  });

  setSidebarOpen(MOBILE.matches); // on a phone, start on the contact list
  // The socket starts after the conversation list, resuming just after its newest message
  // (0 when there is none yet): the counts on screen plus the replay then cover everything,
  // with no gap between them. Only here: later, the open conversation may lack messages
  // below the list's newest one, and only `since` replays those.
  reloadContacts().then((ok) => {
    listLoaded = ok;
    if (ok) socket.startAfter(sidebar.newestId() ?? 0);
    socket.start();
    // The chat open before the reload comes back, unless a link asks for something else.
    const saved = drafts.openKey();
    const linked = /[?&](join|add)=/.test(location.search);
    consent.followLinks();
    if (!linked && saved && !view.key && sidebar.knows(saved)) openConversation(saved);
  });
}
