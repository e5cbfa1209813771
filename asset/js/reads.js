// Read marks: POST /message/read when a conversation is seen, one request at a time per
// conversation (a burst of messages while it is open makes at most two requests).
import { postData } from './api.js';
import { parseKey } from './store.js';

export class ReadMarks {
  #sidebar;
  #wanted = new Map(); // key -> highest id to mark
  #busy = new Set(); // keys with a request in flight

  constructor({ sidebar }) {
    this.#sidebar = sidebar;
  }

  /** Marks conversation `key` read up to message `id` (ignored if already marked). */
  mark(key, id) {
    if (!Number.isInteger(id) || id <= this.#sidebar.readIdOf(key)) return;
    if (id <= (this.#wanted.get(key) ?? 0)) return;
    this.#wanted.set(key, id);
    if (!this.#busy.has(key)) this.#send(key);
  }

  async #send(key) {
    const id = this.#wanted.get(key);
    this.#busy.add(key);
    try {
      const row = await postData('/message/read', { ...parseKey(key), id });
      this.#sidebar.setRead(key, row);
    } catch (err) {
      // The badge stays until the next mark; nothing else depends on it.
      console.warn('chatd: could not mark read:', err.message);
    } finally {
      this.#busy.delete(key);
    }
    if ((this.#wanted.get(key) ?? 0) > id) this.#send(key);
    else this.#wanted.delete(key);
  }
}
