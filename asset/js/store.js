// Messages per conversation, in memory, with no DOM: dedupe by id, own messages by cmid,
// and the pending/sent/failed state of what we send.
import { Cmd } from './wire.js';

export const convKey = (cmd, dstid) => `${cmd}:${dstid}`;

export function parseKey(key) {
  const [cmd, dstid] = key.split(':').map(Number);
  return { cmd, dstid };
}

/** A random cmid. getRandomValues also works on plain http (randomUUID needs a secure context). */
export function newCmid() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `c-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

// Stored messages in id order; ours not yet stored (no id) after them, in the order typed.
function byOrder(a, b) {
  if (a.id != null && b.id != null) return a.id - b.id;
  if (a.id != null) return -1;
  if (b.id != null) return 1;
  return a.seq - b.seq;
}

export class MessageStore {
  #me;
  #convs = new Map();
  #mine = new Map(); // cmid -> our message; cmid is only unique per sender
  #seq = 0;

  constructor(meId) {
    this.#me = meId;
  }

  /** The conversation a message belongs to: the other party for 1:1, the group for cmd 11. */
  keyOf(msg) {
    if (msg.cmd === Cmd.GROUP) return convKey(Cmd.GROUP, msg.dstid);
    return convKey(Cmd.SINGLE, msg.userid === this.#me ? msg.dstid : msg.userid);
  }

  isMine(msg) {
    return msg.userid === this.#me;
  }

  /**
   * The conversation record {key, items, byId, hasOlder, newest}, created on first use.
   * `newest`: while a window opened at a message does not reach the latest, its newest id.
   */
  conv(key) {
    let conv = this.#convs.get(key);
    if (!conv) {
      conv = { key, items: [], byId: new Map(), hasOlder: null, newest: null };
      this.#convs.set(key, conv);
    }
    return conv;
  }

  /**
   * Adds a stored message (live frame or history row). Returns {msg, isNew}: isNew is false
   * when we already had it, by id or, for our own messages, by cmid (sent from this tab).
   */
  put(frame) {
    const conv = this.conv(this.keyOf(frame));
    const known = conv.byId.get(frame.id);
    if (known) return { msg: known, isNew: false };
    const draft = this.isMine(frame) && frame.cmid ? this.#mine.get(frame.cmid) : null;
    if (draft) {
      Object.assign(draft, frame, { state: 'sent', error: null });
      this.#index(conv, draft);
      return { msg: draft, isNew: false };
    }
    const msg = { ...frame, state: 'sent', error: null, seq: ++this.#seq };
    conv.items.push(msg);
    this.#index(conv, msg);
    if (this.isMine(msg) && msg.cmid) this.#mine.set(msg.cmid, msg);
    return { msg, isNew: true };
  }

  /** A message typed here, pending until its ack. `fields`: media, content, url... */
  draft(cmd, dstid, fields) {
    const msg = {
      id: null, userid: this.#me, cmd, dstid, ...fields,
      cmid: newCmid(), createat: null, state: 'pending', error: null, seq: ++this.#seq,
    };
    const conv = this.conv(this.keyOf(msg));
    conv.items.push(msg);
    this.#mine.set(msg.cmid, msg);
    return msg;
  }

  /** Applies an ack {cmid, id, createat}; returns the message or null if it is not ours. */
  ack({ cmid, id, createat }) {
    const msg = this.#mine.get(cmid);
    if (!msg) return null;
    Object.assign(msg, { id, createat, state: 'sent', error: null });
    this.#index(this.conv(this.keyOf(msg)), msg);
    return msg;
  }

  /** Applies a refusal {cmid, code, msg}; returns the message or null. */
  fail({ cmid, code, msg: reason }) {
    const msg = this.#mine.get(cmid);
    if (!msg || msg.state === 'sent') return null; // a late refusal of a stored retry
    msg.state = 'failed';
    msg.error = reason || `refused (code ${code})`;
    return msg;
  }

  /** Marks a failed message pending again; it keeps its cmid so the server stores it once. */
  retry(msg) {
    msg.state = 'pending';
    msg.error = null;
    return msg;
  }

  /** The highest stored message id in conversation `key`, or null. */
  newestId(key) {
    const items = this.conv(key).items;
    for (let i = items.length - 1; i >= 0; i -= 1) if (items[i].id != null) return items[i].id;
    return null;
  }

  /**
   * Forgets conversation `key`'s stored messages with an id below `id` (not our unsent ones):
   * they are cut off from the newer ones by a gap and come back through history.
   */
  dropBelow(key, id) {
    const conv = this.conv(key);
    conv.items = conv.items.filter((m) => {
      if (m.id == null || m.id >= id) return true;
      conv.byId.delete(m.id);
      if (m.cmid && this.#mine.get(m.cmid) === m) this.#mine.delete(m.cmid);
      return false;
    });
  }

  /** Our messages waiting for an ack, oldest first: resent after a reconnect. */
  pending() {
    return [...this.#mine.values()].filter((m) => m.state === 'pending').sort(byOrder);
  }

  #index(conv, msg) {
    conv.byId.set(msg.id, msg);
    conv.items.sort(byOrder);
  }
}
