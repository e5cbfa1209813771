// Typing indicators (cmd 16, never stored). Sending: while the user types in a conversation,
// one "typing" frame at most every SEND_EVERY_MS, and "stop" when the draft is cleared or
// sent. Showing: who is typing in each conversation, forgotten SHOW_MS after their last
// frame, at once on their "stop" or when a message from them arrives. The server passes a
// typing frame on only to sockets that have that conversation open (see focus.js).
import { convKey, parseKey } from './store.js';
import { Cmd } from './wire.js';

const SEND_EVERY_MS = 3_000; // the server drops more than one per 3 s anyway
const SHOW_MS = 5_000; // a little over the sending interval: a steady typist does not flicker

export class Typing {
  #socket;
  #names;
  #onChange;
  #sentAt = new Map(); // conversation key -> when we last said we are typing there
  #typists = new Map(); // conversation key -> Map(user id -> timer that forgets them)

  /** onChange(key): who is typing in conversation `key` changed. */
  constructor({ socket, names, onChange }) {
    this.#socket = socket;
    this.#names = names;
    this.#onChange = onChange;
  }

  /** The draft of conversation `key` is now `text` (called on every input). */
  input(key, text) {
    if (!key) return;
    if (!text.trim()) {
      this.stop(key);
      return;
    }
    const now = Date.now();
    if (now - (this.#sentAt.get(key) ?? -Infinity) < SEND_EVERY_MS) return;
    if (this.#send(key, false)) this.#sentAt.set(key, now);
  }

  /** The draft was sent or cleared: take the indicator back if we showed one. */
  stop(key) {
    if (!key || !this.#sentAt.has(key)) return;
    this.#sentAt.delete(key);
    this.#send(key, true);
  }

  #send(key, stop) {
    const { cmd, dstid } = parseKey(key);
    const frame = { cmd: Cmd.LIVE, type: 'typing', dstcmd: cmd, dstid };
    if (stop) frame.stop = true;
    return this.#socket.send(frame); // offline: nothing to tell anyone
  }

  /** A typing frame from the server: {dstcmd, dstid, userid, stop?}. */
  heard(frame) {
    const key = convKey(frame.dstcmd, frame.dstid);
    if (frame.stop) {
      this.clear(key, frame.userid);
      return;
    }
    let typists = this.#typists.get(key);
    if (!typists) this.#typists.set(key, (typists = new Map()));
    clearTimeout(typists.get(frame.userid));
    typists.set(frame.userid, setTimeout(() => this.clear(key, frame.userid), SHOW_MS));
    if (!this.#names.has(frame.userid)) this.#names.resolve(frame.userid).then(() => this.#onChange(key));
    this.#onChange(key);
  }

  /** `userId` is no longer typing in `key` (a stop, a message from them, or silence). */
  clear(key, userId) {
    const typists = this.#typists.get(key);
    if (!typists?.has(userId)) return;
    clearTimeout(typists.get(userId));
    typists.delete(userId);
    if (!typists.size) this.#typists.delete(key);
    this.#onChange(key);
  }

  /** "Ann is typing…", "Ann and Bob are typing…", "3 people are typing…", or ''. */
  textFor(key) {
    const ids = [...(this.#typists.get(key)?.keys() ?? [])];
    if (!ids.length) return '';
    if (ids.length > 2) return `${ids.length} people are typing…`;
    const names = ids.map((id) => this.#names.get(id));
    return `${names.join(' and ')} ${ids.length === 1 ? 'is' : 'are'} typing…`;
  }
}
