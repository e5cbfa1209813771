// Read receipts on our own messages. 1:1: ✓ once stored, ✓✓ "Read" once the other side's read
// mark passes it (from the conversation list's `peerread`, then cmd 16 "read" frames).
// Groups: "Read by N" under our recent messages (POST /message/readcounts when the chat opens
// and when a member's read mark moves while it is open); a click lists who (/message/readers).
// Someone who stopped sending receipts is never counted, and sees no one's.
import { postRows } from './api.js';
import { el } from './dom.js';
import { openPanel, panelMessage, panelSection } from './panel.js';
import { convKey, parseKey } from './store.js';
import { Cmd } from './wire.js';

const COUNTED = 50; // our latest group messages that get a count
const RECOUNT_MS = 300; // read frames arriving together make one request

export class Receipts {
  #store;
  #view;
  #names;
  #peerRead = new Map(); // 1:1 key -> the other side's read mark
  #counts = new Map(); // group message id (ours) -> members who read it
  #recount = null;

  constructor({ store, view, names }) {
    this.#store = store;
    this.#view = view;
    this.#names = names;
  }

  /** Rows of /message/conversations: 1:1 rows carry `peerread`. */
  setRows(rows) {
    for (const row of rows) {
      if (row.cmd === Cmd.SINGLE && Number.isInteger(row.peerread)) this.#raise(convKey(row.cmd, row.dstid), row.peerread);
    }
  }

  /** A cmd 16 "read" frame: 1:1 {dstcmd, dstid, userid, readid}; group {dstcmd, dstid}, a hint. */
  heard(frame) {
    const key = convKey(frame.dstcmd, frame.dstid);
    if (frame.dstcmd === Cmd.SINGLE) this.#raise(key, frame.readid);
    else if (key === this.#view.key) {
      clearTimeout(this.#recount);
      this.#recount = setTimeout(() => this.loadCounts(key), RECOUNT_MS);
    }
  }

  #raise(key, readId) {
    if (readId <= (this.#peerRead.get(key) ?? 0)) return;
    this.#peerRead.set(key, readId);
    if (key === this.#view.key) this.redraw();
  }

  /** The chat `key` is open with its latest history: fetch its counts (groups). */
  opened(key) {
    if (parseKey(key).cmd === Cmd.GROUP) this.loadCounts(key);
  }

  async loadCounts(key) {
    const own = this.#store.conv(key).items.filter((m) => m.id != null && this.#store.isMine(m));
    const ids = own.slice(-COUNTED).map((m) => m.id);
    if (!ids.length) return;
    try {
      const rows = await postRows('/message/readcounts', { dstid: parseKey(key).dstid, ids });
      for (const row of rows) this.#counts.set(row.id, row.count);
    } catch {
      return; // no counts this time; the next read frame or opening asks again
    }
    if (key === this.#view.key) this.redraw();
  }

  /** Adds the receipt to a bubble just drawn (ConversationView calls it for each). */
  decorate(li, msg) {
    if (msg.id == null || !this.#store.isMine(msg)) return;
    const key = this.#store.keyOf(msg);
    if (msg.cmd === Cmd.SINGLE) {
      const read = msg.id <= (this.#peerRead.get(key) ?? 0);
      li.querySelector('.msg__meta')?.append(
        el('span', {
          class: 'msg__receipt',
          dataset: { read: String(read) },
          title: read ? 'Read' : 'Sent',
          'aria-label': read ? 'Read' : 'Sent',
          text: read ? '✓✓' : '✓',
        }),
      );
      return;
    }
    const count = this.#counts.get(msg.id) ?? 0;
    if (!count) return;
    li.querySelector('.msg__bubble')?.append(
      el('button', {
        type: 'button',
        class: 'msg__readby',
        text: `Read by ${count}`,
        onclick: () => this.#showReaders(msg),
      }),
    );
  }

  /** Draws the open conversation's receipts again (a mark moved, counts arrived). */
  redraw() {
    const conv = this.#store.conv(this.#view.key);
    for (const li of this.#view.list.querySelectorAll('li.msg--mine[data-id]')) {
      li.querySelectorAll('.msg__receipt, .msg__readby').forEach((n) => n.remove());
      const msg = conv.byId.get(Number(li.dataset.id));
      if (msg) this.decorate(li, msg);
    }
  }

  async #showReaders(msg) {
    const list = el('ul', { id: 'readers-list', class: 'plain-list' });
    openPanel('readers', 'Read by', panelSection('Members who read it', list));
    try {
      const users = await postRows('/message/readers', { dstid: msg.dstid, id: msg.id });
      this.#names.learn(users);
      const items = users.map((u) => el('li', { class: 'row' }, el('span', { class: 'row__name', text: u.nickname || `User ${u.id}` })));
      list.replaceChildren(...(items.length ? items : [el('li', { class: 'contacts__empty', text: 'Nobody yet.' })]));
    } catch (err) {
      panelMessage(`Could not load: ${err.message}`);
    }
  }
}
