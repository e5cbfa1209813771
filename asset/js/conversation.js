// The open conversation: its title, history (newest 50, then older pages loaded as the reader
// scrolls up, keeping their place) and bubbles. Opened at a message (openAt: a search hit, a
// reply), it shows the page around it, and newer pages load as the reader scrolls down.
import { postRows } from './api.js';
import { byId, el } from './dom.js';
import { withPicture } from './profile-view.js';
import { renderBubble } from './render.js';
import { parseKey } from './store.js';
import { renderSystem, systemUserIds } from './system.js';
import { JumpButton, decorate } from './timeline.js';
import { Media } from './wire.js';

const PAGE = 50;
const STICK_PX = 80; // this close to the bottom counts as "reading the latest"
const PRELOAD_PX = 400; // start fetching older messages this far before the top is reached
const FLASH_MS = 2000; // how long a message opened at stays marked
const UNREAD_PAGES = 10; // older pages fetched at most to reach the first unread message

// What a bubble shows that can change after it was drawn; same signature = keep the node
// (so a playing voice clip is not cut off when older messages are loaded above it).
// `rev` counts the edits, recalls and reactions applied to it since (msgevents.js).
const signature = (msg) => `${msg.id}|${msg.state}|${msg.error}|${msg.rev ?? 0}`;

export class ConversationView {
  #store;
  #names;
  #onRetry;
  #decorateBubble;
  #bubbles = new Map(); // message object -> its <li>, for the open conversation only
  #drawn = new WeakMap(); // <li> -> signature of what it shows
  #loadingNewer = false;
  #older = null; // the page of older messages on its way
  #newFrom = null; // messages after this id are new (the "New messages" line), or null
  key = null;

  /** onRetry(msg): resend a failed message; decorate(li, msg): add to a bubble just drawn. */
  constructor({ store, names, onRetry, decorate = () => {} }) {
    this.#store = store;
    this.#names = names;
    this.#onRetry = onRetry;
    this.#decorateBubble = decorate;
    this.pane = byId('message-pane');
    this.list = byId('messages');
    this.title = byId('conv-title');
    this.older = byId('load-older');
    this.error = byId('conv-error');
    this.empty = byId('empty-state');
    this.newer = el('button', { type: 'button', id: 'load-newer', class: 'btn btn--small load-older', hidden: true,
      text: 'Load newer messages', onclick: () => this.loadNewer() });
    this.list.after(this.newer);
    this.older.addEventListener('click', () => this.loadOlder());
    this.jump = new JumpButton({ pane: this.pane, onJump: () => this.#scrollToBottom() });
    this.pane.addEventListener('scroll', () => {
      if (this.pane.scrollTop < PRELOAD_PX) this.loadOlder();
      if (this.pane.scrollHeight - this.pane.scrollTop - this.pane.clientHeight < PRELOAD_PX) this.loadNewer();
    }, { passive: true });
  }

  /**
   * Shows conversation `key` from memory at once, then fetches its latest history. `newFrom`:
   * the read mark when it has unread messages (the "New messages" line goes above the first
   * one after it, and the view opens there; older pages are fetched until it is reached).
   */
  async open(key, title, newFrom = null) {
    this.key = key;
    this.#newFrom = newFrom;
    this.title.textContent = title;
    this.showError('');
    this.#store.conv(key).newest = null; // the latest page replaces a window opened at a message
    this.#renderAll(true);
    this.#scrollToBottom();
    this.jump.reset();
    await this.loadHistory(false);
    if (newFrom == null) return;
    const conv = this.#store.conv(key);
    for (let page = 0; page < UNREAD_PAGES; page += 1) {
      const oldest = conv.items.find((m) => m.id != null);
      if (this.key !== key || !conv.hasOlder || !oldest || oldest.id <= newFrom) break;
      await this.loadOlder();
    }
    if (this.key === key) this.#scrollToLatest();
  }

  /** From now on messages after `id` are new (the tab was hidden), unless a line is there. */
  markNewFrom(id) {
    if (!this.key || this.#newFrom != null || id == null) return;
    this.#newFrom = id;
  }

  setTitle(title) {
    if (this.key) this.title.textContent = title;
  }

  /** Draws every bubble again (e.g. the emoji catalog arrived), keeping the reader's place. */
  refresh() {
    if (!this.key) return;
    const stick = this.#isNearBottom();
    const fromBottom = this.pane.scrollHeight - this.pane.scrollTop;
    this.#renderAll(true);
    if (stick) this.#scrollToBottom();
    else this.pane.scrollTop = this.pane.scrollHeight - fromBottom;
  }

  /**
   * Shows conversation `key` with the page around message `id` (what was held of it is
   * dropped: it may be cut off from that page), scrolled to that message, marked a moment;
   * a message already on screen is only scrolled to.
   * If that fails (404: not a message this user may read there), it opens at the latest.
   */
  async openAt(key, title, id) {
    const held = this.key === key && this.#store.conv(key).byId.get(id);
    if (held && this.#bubbles.has(held)) {
      this.reveal(id); // already on screen (a reply quoting a message shown above): no reload
      return;
    }
    this.key = key;
    this.title.textContent = title;
    this.showError('');
    this.#bubbles = new Map(); // nothing of the conversation shown before until its page is here
    this.list.replaceChildren();
    let rows;
    try {
      rows = await postRows('/message/history', { ...parseKey(key), around: id, limit: PAGE });
    } catch (err) {
      if (this.key !== key) return;
      await this.open(key, title); // the conversation still opens, at its latest
      this.showError(`Could not open that message: ${err.message}`);
      return;
    }
    if (this.key !== key) return;
    const conv = this.#store.conv(key);
    this.#store.dropBelow(key, Infinity);
    for (const row of rows) this.#store.put(row);
    // As the server splits the page: up to (PAGE - 1) / 2 older, the rest newer.
    const older = Math.floor((PAGE - 1) / 2);
    conv.hasOlder = rows.filter((r) => r.id < id).length === older;
    const newer = rows.filter((r) => r.id > id);
    conv.newest = newer.length === PAGE - 1 - older ? Math.max(...rows.map((r) => r.id)) : null;
    this.#renderAll(true);
    this.reveal(id);
  }

  /** Scrolls to message `id` of the open conversation and marks it for a moment. */
  reveal(id) {
    const msg = this.key && this.#store.conv(this.key).byId.get(id);
    const li = msg && this.#bubbles.get(msg);
    if (!li) return;
    li.scrollIntoView({ block: 'center' });
    li.classList.add('msg--found');
    setTimeout(() => li.classList.remove('msg--found'), FLASH_MS);
  }

  /** Below a window opened at a message: the next newer page, until the latest is reached. */
  async loadNewer() {
    const key = this.key;
    const conv = key && this.#store.conv(key);
    if (!conv || conv.newest == null || this.#loadingNewer) return;
    this.#loadingNewer = true;
    this.newer.disabled = true;
    try {
      const rows = await postRows('/message/history', { ...parseKey(key), after: conv.newest, limit: PAGE });
      for (const row of rows) this.#store.put(row);
      conv.newest = rows.length === PAGE ? Math.max(...rows.map((r) => r.id)) : null;
      if (this.key === key) this.#renderAll(false); // what is above stays where it is
    } catch (err) {
      if (this.key === key) this.showError(`Could not load messages: ${err.message}`);
    } finally {
      this.#loadingNewer = false;
      this.newer.disabled = false;
    }
  }

  /** The page before the oldest shown, if there is one and none is on its way. */
  loadOlder() {
    const conv = this.key && this.#store.conv(this.key);
    if (!conv || !conv.hasOlder) return Promise.resolve();
    this.#older ??= this.loadHistory(true).finally(() => (this.#older = null));
    return this.#older;
  }

  /** Fetches a page of history: the newest, or the one before the oldest shown. */
  async loadHistory(older) {
    const key = this.key;
    const conv = this.#store.conv(key);
    const body = { ...parseKey(key), limit: PAGE };
    const oldest = conv.items.find((m) => m.id != null);
    if (older && oldest) body.before = oldest.id;
    this.older.disabled = true;
    try {
      const rows = await postRows('/message/history', body);
      const full = rows.length === PAGE;
      if (!older && full && this.#gapBelow(conv, rows)) {
        // What we hold is cut off from the newest page (messages that never reached this
        // tab): drop it so the scrollback loads, page by page, everything in between.
        this.#store.dropBelow(key, Math.min(...rows.map((r) => r.id)));
        conv.hasOlder = true;
      }
      for (const row of rows) this.#store.put(row);
      if (older || conv.hasOlder === null) conv.hasOlder = full;
      if (this.key !== key) return; // the user moved on meanwhile
      const fromBottom = this.pane.scrollHeight - this.pane.scrollTop;
      this.#renderAll(false);
      // Loading older keeps the reader's place; the first load shows the newest.
      if (older) this.pane.scrollTop = this.pane.scrollHeight - fromBottom;
      else this.#scrollToLatest();
    } catch (err) {
      if (this.key === key) this.showError(`Could not load messages: ${err.message}`);
    } finally {
      this.older.disabled = false;
    }
    // A page that does not fill the pane gives nothing to scroll: fetch the next one now.
    if (this.key === key && conv.hasOlder && this.pane.scrollHeight <= this.pane.clientHeight + PRELOAD_PX) {
      setTimeout(() => this.key === key && this.loadOlder(), 0);
    }
  }

  /**
   * Whether what `conv` holds below the newest page `rows` may be cut off from it. Messages
   * we hold are contiguous unless some never reached this tab; then the page either shares
   * none of them, or has messages we lack that are older than ones we hold.
   */
  #gapBelow(conv, rows) {
    const held = conv.items.filter((m) => m.id != null).map((m) => m.id);
    const lowest = Math.min(...rows.map((r) => r.id));
    if (!held.some((id) => id < lowest)) return false; // nothing below the page to cut off
    const highest = Math.max(...held);
    const missed = rows.filter((r) => !conv.byId.has(r.id));
    return missed.length === rows.length || missed.some((r) => r.id < highest);
  }

  /** Shows a new or changed message if it belongs to the open conversation. */
  upsert(msg) {
    if (this.#store.keyOf(msg) !== this.key) return;
    const inPast = this.#store.conv(this.key).newest != null;
    if (inPast && this.#store.isMine(msg) && msg.state === 'pending' && msg.id == null) {
      this.open(this.key, this.title.textContent); // sending from a window in the past: to the latest
      return;
    }
    if (!this.#shows(msg)) return; // past the window opened at a message: it comes with the pages below
    const stick = this.#isNearBottom() || (this.#store.isMine(msg) && msg.state === 'pending');
    const items = this.#store.conv(this.key).items;
    const li = this.#bubble(msg);
    const isNew = !this.#bubbles.has(msg);
    this.#bubbles.get(msg)?.remove();
    this.#bubbles.set(msg, li);
    const next = items.slice(items.indexOf(msg) + 1).find((m) => this.#bubbles.has(m));
    this.list.insertBefore(li, (next && this.#bubbles.get(next)) || null);
    this.empty.hidden = true;
    this.#decorate();
    if (stick) this.#scrollToBottom();
    else if (isNew && !next) this.jump.noteUnseen();
  }

  /** The drawn bubble of the open conversation's message `id`, or null. */
  bubbleOf(id) {
    return this.list.querySelector(`.msg[data-id="${Number(id)}"]`);
  }

  /** Puts a nickname learnt later into the bubbles that show a placeholder. */
  rename(userId, name) {
    for (const li of this.list.querySelectorAll(`.msg[data-userid="${Number(userId)}"]`)) {
      const from = li.querySelector('.msg__from');
      const avatar = li.querySelector('.msg__avatar');
      if (!from || !avatar) continue; // a system line: drawn again by #systemLine
      from.textContent = name;
      if (avatar.querySelector('img')) continue;
      avatar.textContent = name.slice(0, 1).toUpperCase();
      withPicture(avatar, this.#names.avatar(userId)); // learnt with the name
    }
  }

  showError(text) {
    this.error.textContent = text;
    this.error.hidden = !text;
  }

  #bubble(msg) {
    if (msg.media === Media.SYSTEM) return this.#systemLine(msg);
    const mine = this.#store.isMine(msg);
    const name = this.#names.get(msg.userid);
    if (!this.#names.has(msg.userid)) {
      this.#names.resolve(msg.userid).then((n) => n && this.rename(msg.userid, n));
    }
    const li = renderBubble(msg, { mine, name, avatar: this.#names.avatar(msg.userid) }, this.#onRetry);
    this.#decorateBubble(li, msg); // read receipts (receipts.js)
    this.#drawn.set(li, signature(msg));
    return li;
  }

  /** A system line; names not known yet are asked for, then the line is drawn again. */
  #systemLine(msg) {
    const unknown = systemUserIds(msg).filter((id) => !this.#names.has(id));
    if (unknown.length) {
      Promise.all(unknown.map((id) => this.#names.resolve(id))).then((got) => {
        if (got.some(Boolean) && this.#bubbles.has(msg)) this.upsert(msg); // failures: keep the placeholder
      });
    }
    const li = renderSystem(msg, (id) => this.#names.get(id));
    this.#drawn.set(li, signature(msg));
    return li;
  }

  /** Whether `msg` is drawn: all are, but past the newest of a window opened at a message. */
  #shows(msg) {
    const newest = this.#store.conv(this.key).newest;
    return newest == null || (msg.id != null && msg.id <= newest);
  }

  /** Puts the open conversation's bubbles in order, reusing unchanged ones unless `force`. */
  #renderAll(force) {
    const conv = this.#store.conv(this.key);
    const old = this.#bubbles;
    this.#bubbles = new Map();
    this.list.replaceChildren(
      ...conv.items.filter((msg) => this.#shows(msg)).map((msg) => {
        const kept = old.get(msg);
        const li = !force && kept && this.#drawn.get(kept) === signature(msg) ? kept : this.#bubble(msg);
        this.#bubbles.set(msg, li);
        return li;
      }),
    );
    this.empty.hidden = conv.items.length > 0 || conv.hasOlder === null;
    this.older.hidden = !conv.hasOlder;
    this.newer.hidden = conv.newest == null;
    this.#decorate();
  }

  /** Day lines, runs of one sender and the "New messages" line (timeline.js). */
  #decorate() {
    const rows = this.#store.conv(this.key).items.map((msg) => [msg, this.#bubbles.get(msg)]).filter(([, li]) => li);
    decorate(this.list, rows, { newFrom: this.#newFrom, isMine: (msg) => this.#store.isMine(msg) });
  }

  /** The "New messages" line near the top of the pane if there is one, else the bottom. */
  #scrollToLatest() {
    const line = this.list.querySelector('.new-line');
    if (!line) {
      this.#scrollToBottom();
      return;
    }
    this.pane.scrollTop += line.getBoundingClientRect().top - this.pane.getBoundingClientRect().top - 8;
    this.jump.update();
  }

  #isNearBottom() {
    return this.pane.scrollHeight - this.pane.scrollTop - this.pane.clientHeight < STICK_PX;
  }

  #scrollToBottom() {
    this.pane.scrollTop = this.pane.scrollHeight;
    this.jump.update();
  }
}
