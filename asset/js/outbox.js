// Our messages on their way: send, wait for the ack (cmd 12), fail on a refusal (cmd 13) or
// when no ack comes in time while online, retry with the same cmid (the server stores a
// cmid once, so a retry after a lost ack cannot double a message).
import { outgoingFrame } from './wire.js';

const ACK_TIMEOUT_MS = 10_000; // acks normally take milliseconds; 10 s means something is wrong

export class Outbox {
  #socket;
  #store;
  #onChange;
  #timers = new Map(); // cmid -> timeout

  /** onChange(msg): a message's state changed (draw it again). */
  constructor({ socket, store, onChange }) {
    this.#socket = socket;
    this.#store = store;
    this.#onChange = onChange;
    socket.addEventListener('ack', ({ detail }) => {
      this.#clear(detail.cmid);
      const msg = store.ack(detail);
      if (msg) onChange(msg);
    });
    socket.addEventListener('refused', ({ detail }) => {
      this.#clear(detail.cmid);
      const msg = store.fail(detail);
      if (msg) onChange(msg);
      else if (!detail.cmid) console.warn('chatd: frame refused:', detail.msg);
    });
    // Anything unacked may have been lost with the old socket: send it again.
    socket.addEventListener('online', () => store.pending().forEach((m) => this.send(m)));
    // Offline: pending messages wait for the reconnect instead of timing out.
    socket.addEventListener('offline', () => {
      this.#timers.forEach((t) => clearTimeout(t));
      this.#timers.clear();
    });
  }

  /** Sends a pending message now if online (else it goes out on reconnect). */
  send(msg) {
    if (!this.#socket.send(outgoingFrame(msg))) return;
    this.#clear(msg.cmid);
    this.#timers.set(msg.cmid, setTimeout(() => this.#timedOut(msg), ACK_TIMEOUT_MS));
  }

  /** A failed message, again: pending with the same cmid. */
  retry(msg) {
    this.#onChange(this.#store.retry(msg));
    this.send(msg);
  }

  #timedOut(msg) {
    this.#timers.delete(msg.cmid);
    if (msg.state !== 'pending') return;
    msg.state = 'failed';
    msg.error = 'no answer from the server';
    this.#onChange(msg); // a late ack still turns it into "sent" (store.ack accepts any state)
  }

  #clear(cmid) {
    clearTimeout(this.#timers.get(cmid));
    this.#timers.delete(cmid);
  }
}
