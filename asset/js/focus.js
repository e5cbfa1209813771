// Tells the server which conversation this tab shows (cmd 16 "focus"): typing indicators and
// group read receipts go only to sockets that have the conversation open, so a tab in the
// background, or looking elsewhere, costs nobody anything. Sent when a chat opens, when the
// tab is hidden or shown again, and after every reconnect (a new socket starts with none).
import { parseKey } from './store.js';
import { Cmd } from './wire.js';

export class Focus {
  #socket;
  #key = null;
  #sent = undefined; // what the server was last told on this socket

  constructor({ socket }) {
    this.#socket = socket;
    document.addEventListener('visibilitychange', () => this.#tell());
    socket.addEventListener('online', () => {
      this.#sent = undefined;
      this.#tell();
    });
  }

  /** The conversation now open (null: none). */
  set(key) {
    this.#key = key;
    this.#tell();
  }

  #tell() {
    const key = document.visibilityState === 'visible' ? this.#key : null;
    if (key === this.#sent) return;
    const target = key ? parseKey(key) : { cmd: 0, dstid: 0 };
    if (this.#socket.send({ cmd: Cmd.LIVE, type: 'focus', dstcmd: target.cmd, dstid: target.dstid })) {
      this.#sent = key;
    }
  }
}
