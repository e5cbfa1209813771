// Chat page entry: wires the session, sidebar, conversation view, composer and socket together.
import { TOKEN_KEY, postData, request, session, setUnauthorizedHandler } from './api.js';
import { Composer } from './composer.js';
import { ConversationView } from './conversation.js';
import { Sidebar } from './contacts.js';
import { byId } from './dom.js';
import { loadCatalog } from './emoji.js';
import './media.js'; // registers the image, voice, emoji and sticker renderers
import { Names } from './names.js';
import { Outbox } from './outbox.js';
import { ReadMarks } from './reads.js';
import { ChatSocket } from './socket.js';
import { MessageStore, convKey, parseKey } from './store.js';

const LOGIN = '/login.html?next=/chat.html';
const MOBILE = window.matchMedia('(max-width: 720px)');

const token = session.token;
const me = session.user;
if (!token || !me || me.id == null) {
  location.replace(LOGIN);
} else {
  start();
}

/** The server's limits from <body data-limits>; the server enforces them anyway. */
function pageLimits() {
  try {
    return JSON.parse(document.body.dataset.limits || '{}');
  } catch {
    return {};
  }
}

function start() {
  const app = byId('app');
  const offline = byId('offline');
  const toggle = byId('sidebar-toggle');

  const names = new Names();
  names.learn([me]);
  const store = new MessageStore(me.id);
  const socket = new ChatSocket({ userId: me.id, token });

  const endSession = () => {
    socket.stop();
    session.clear();
    location.replace(LOGIN);
  };
  setUnauthorizedHandler(endSession);
  // Logged out in another tab: follow suit here.
  window.addEventListener('storage', (e) => e.key === TOKEN_KEY && !e.newValue && endSession());

  const view = new ConversationView({
    store,
    names,
    onRetry: (msg) => {
      outbox.retry(msg);
      composer.focus(); // the Retry button was just replaced
    },
    onHistory: (rows) => rows.forEach((r) => socket.noteId(r.id)),
  });
  const sidebar = new Sidebar({ names, me: me.id, onOpen: openConversation });
  const reads = new ReadMarks({ sidebar });
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
      const msg = store.draft(cmd, dstid, fields);
      view.upsert(msg);
      sidebar.noteMessage(key, msg, false);
      outbox.send(msg); // offline: it stays pending and goes out on reconnect
    },
  });

  // After a reload the open conversation's title may improve (a friend's name arrived).
  const reloadContacts = () =>
    sidebar.load().then((ok) => {
      if (view.key) view.setTitle(sidebar.titleOf(view.key));
      updateTitle();
      return ok;
    });

  // The open conversation counts as read only while someone can see it.
  const seeing = (key) => key === view.key && document.visibilityState === 'visible';
  const markSeen = () => view.key && reads.mark(view.key, store.newestId(view.key));
  document.addEventListener('visibilitychange', () => seeing(view.key) && markSeen());

  async function openConversation(key) {
    sidebar.select(key);
    updateTitle();
    composer.enable();
    setSidebarOpen(false);
    composer.focus();
    await view.open(key, sidebar.titleOf(key));
    if (seeing(key)) markSeen();
  }

  function updateTitle() {
    const n = sidebar.totalUnread();
    document.title = n ? `(${n}) chatd` : 'chatd';
  }

  // The catalog turns :codes: and emoji messages into characters; draw them again once.
  loadCatalog().then((catalog) => {
    if (!catalog) return;
    view.refresh();
    sidebar.render();
  });

  // --- socket ---
  socket.addEventListener('message', ({ detail: frame }) => {
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
    offline.hidden = true;
    // Back after a drop (or the first load failed): counts and previews may have moved on.
    if (connectedBefore || !listLoaded) reloadContacts();
    connectedBefore = true;
  });
  socket.addEventListener('offline', ({ detail }) => {
    offline.textContent = 'Offline: reconnecting…';
    offline.hidden = false;
    // A refused upgrade (bad token) looks like any failed connect; ask the API, whose 401
    // ends the session through setUnauthorizedHandler.
    if (!detail.wasOpen) postData('/user/find', { id: me.id }).catch(() => {});
  });
  window.addEventListener('online', () => socket.reconnectNow());

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
    if (e.key === 'Escape' && !e.defaultPrevented && MOBILE.matches && app.classList.contains('sidebar-open')) {
      closeSidebar();
    }
  });
  byId('me-name').textContent = `${me.nickname ?? 'Me'} (#${me.id})`;
  byId('logout').addEventListener('click', async () => {
    socket.stop();
    setUnauthorizedHandler(null); // a 401 here just means the token was already gone
    try {
      await request('/user/logout');
    } catch {
      // Already invalid or unreachable: forgetting the token locally is what matters.
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
    if (ok) socket.noteId(sidebar.newestId() ?? 0);
    socket.start();
  });
}
