// Chat page entry: wires the session, sidebar, conversation view, composer and socket together.
import { TOKEN_KEY, postData, request, session, setUnauthorizedHandler } from './api.js';
import { ConversationView } from './conversation.js';
import { Sidebar } from './contacts.js';
import { byId } from './dom.js';
import { Names } from './names.js';
import { ChatSocket } from './socket.js';
import { MessageStore, parseKey } from './store.js';
import { Media, outgoingFrame } from './wire.js';

const LOGIN = '/login.html?next=/chat.html';
const MOBILE = window.matchMedia('(max-width: 720px)');

const token = session.token;
const me = session.user;
if (!token || !me || me.id == null) {
  location.replace(LOGIN);
} else {
  start();
}

function start() {
  const app = byId('app');
  const composer = byId('composer');
  const input = byId('message-input');
  const sendButton = byId('send-btn');
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

  const send = (msg) => socket.send(outgoingFrame(msg)); // false while offline: kept pending
  const view = new ConversationView({
    store,
    names,
    onRetry: retry,
    onHistory: (rows) => rows.forEach((r) => socket.noteId(r.id)),
  });
  const sidebar = new Sidebar({ names, onOpen: openConversation });
  // After a reload the open conversation's title may improve (a friend's name arrived).
  const reloadContacts = () => sidebar.load().then(() => view.key && view.setTitle(sidebar.titleOf(view.key)));

  function retry(msg) {
    view.upsert(store.retry(msg));
    send(msg);
    input.focus(); // the Retry button was just replaced
  }

  function openConversation(key) {
    sidebar.select(key);
    updateTitle();
    input.disabled = sendButton.disabled = false;
    view.open(key, sidebar.titleOf(key));
    setSidebarOpen(false);
    input.focus();
  }

  function updateTitle() {
    const n = sidebar.totalUnread();
    document.title = n ? `(${n}) chatd` : 'chatd';
  }

  // --- composer: Enter sends, Shift+Enter is a new line ---
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      composer.requestSubmit();
    }
  });
  // Grow the text box with its content (up to the CSS max-height).
  const fitInput = () => {
    input.style.height = 'auto';
    input.style.height = `${input.scrollHeight + 2}px`;
  };
  input.addEventListener('input', fitInput);
  composer.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text || !view.key) return;
    const { cmd, dstid } = parseKey(view.key);
    const msg = store.draft(cmd, dstid, { media: Media.TEXT, content: text });
    view.upsert(msg);
    send(msg);
    input.value = '';
    fitInput();
  });

  // --- socket ---
  socket.addEventListener('message', ({ detail: frame }) => {
    const key = store.keyOf(frame);
    const { msg, isNew } = store.put(frame);
    view.upsert(msg);
    if (!sidebar.knows(key)) reloadContacts(); // a new friend or a group joined elsewhere
    if (isNew && key !== view.key && !store.isMine(frame)) {
      sidebar.bump(key);
      updateTitle();
    }
  });
  socket.addEventListener('ack', ({ detail }) => {
    socket.noteId(detail.id);
    const msg = store.ack(detail);
    if (msg) view.upsert(msg);
  });
  socket.addEventListener('refused', ({ detail }) => {
    const msg = store.fail(detail);
    if (msg) view.upsert(msg);
    else if (!detail.cmid) console.warn('chatd: frame refused:', detail.msg);
  });
  socket.addEventListener('online', () => {
    offline.hidden = true;
    // Anything unacked may have been lost with the old socket; the same cmid makes a
    // resend safe (the server stores it once and acks it again).
    store.pending().forEach(send);
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
    if (e.key === 'Escape' && MOBILE.matches && app.classList.contains('sidebar-open')) closeSidebar();
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
  reloadContacts();
  socket.start();
}
