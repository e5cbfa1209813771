// One reconnecting WebSocket to /chat: heartbeats, backoff, `since` resume, dedupe by id.
// A heartbeat carries a `seq` the server echoes; no frame at all within ANSWER_MS of one
// means the connection is dead (a browser sees no TCP or WebSocket-level failure for a
// long time when the network silently goes): it is dropped and reconnected.
// It authenticates with the HttpOnly cookie: the URL carries no token.
//
// Events (CustomEvent, payload in `detail`):
//   message  a stored message frame, each id once    ack      {cmid, id, createat}
//   refused  {cmid, code, msg} (cmd 13)               online   socket open
//   offline  {code, wasOpen} after any close (also failed connects)
//   ended    {code} after 4001 or 4008: the socket stays closed (after `offline`)
//   read     {dstcmd, dstid, readid, unread} (cmd 14: read on one of our devices)
//   notice   a cmd 15 frame: a friend request, friend or group added/removed, resync
//   live     a cmd 16 frame: someone typing, a read receipt (live.js)
import { CLOSE_SESSION_ENDED, CLOSE_TOO_MANY_SOCKETS, CLOSE_TOO_SLOW, Cmd } from './wire.js';

const HEARTBEAT_MS = 10_000; // below proxies' idle timeouts, and a dead link seen within seconds
const ANSWER_MS = 5_000; // the server answers a heartbeat in milliseconds; this means it is gone
export const CLOSE_NO_ANSWER = 4900; // our own code (never sent by the server): heartbeat unanswered
const BACKOFF_MIN_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;
const SEEN_MAX = 5_000; // ids remembered for dedupe; bounds memory in long-lived tabs

export class ChatSocket extends EventTarget {
  #userId;
  #ws = null;
  #retryTimer = null;
  #heartbeat = null;
  #deadline = null; // the timer that drops the socket when a heartbeat goes unanswered
  #seq = 0;
  #attempt = 0;
  #stopped = true;
  #seen = new Set();

  /**
   * The resume cursor, sent as `since` so a reconnect replays what we missed: the highest id
   * of a message frame this socket delivered (they come in id order, replay then live).
   * Nothing else may raise it: ids are global, so a history page or an ack of our own
   * message can be newer than another conversation's message we have not received yet.
   */
  lastId = null;
  online = false;

  constructor({ userId }) {
    super();
    this.#userId = userId;
  }

  start() {
    this.#stopped = false;
    this.#connect();
  }

  stop() {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    this.#ws?.close(1000);
  }

  /** Skip the backoff wait (e.g. the browser says the network is back). */
  reconnectNow() {
    if (this.#stopped || this.#ws) return;
    clearTimeout(this.#retryTimer);
    this.#connect();
  }

  /**
   * Asks the server for an answer now (the network may have changed): no frame within
   * ANSWER_MS and the socket is dropped and reconnected. Returns false when not open.
   */
  probe() {
    if (!this.online) return false;
    this.#seq = (this.#seq + 1) % 2 ** 31;
    this.send({ cmd: Cmd.HEARTBEAT, seq: this.#seq });
    this.#deadline ??= setTimeout(() => this.#dead(), ANSWER_MS);
    return true;
  }

  /** Sends a frame if the socket is open; returns false otherwise (the caller keeps it). */
  send(frame) {
    if (!this.online) return false;
    this.#ws.send(JSON.stringify(frame));
    return true;
  }

  /**
   * The first `since`, before any frame has arrived: the newest id of a snapshot of every
   * conversation (the conversation list), whose counts and previews cover what is older.
   * Ignored once the cursor is set.
   */
  startAfter(id) {
    if (Number.isInteger(id) && this.lastId === null) this.lastId = id;
  }

  #url() {
    const params = new URLSearchParams({ id: this.#userId });
    if (this.lastId !== null) params.set('since', this.lastId); // first connect: live only
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    return `${scheme}://${location.host}/chat?${params}`;
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #connect() {
    const ws = new WebSocket(this.#url());
    this.#ws = ws;
    ws.onopen = () => {
      this.online = true;
      this.#attempt = 0; // each outage starts again from the shortest wait
      this.#heartbeat = setInterval(() => this.probe(), HEARTBEAT_MS);
      this.#emit('online');
    };
    ws.onmessage = (event) => {
      clearTimeout(this.#deadline); // anything at all shows the connection is alive
      this.#deadline = null;
      this.#receive(event.data);
    };
    ws.onclose = (event) => this.#closed(ws, event.code);
    // onerror is always followed by onclose, which does the work.
  }

  /** No answer to a heartbeat: give the socket up at once (its close could take minutes). */
  #dead() {
    this.#deadline = null;
    const ws = this.#ws;
    if (!ws) return;
    ws.onclose = null;
    ws.onmessage = null;
    ws.close();
    this.#closed(ws, CLOSE_NO_ANSWER);
  }

  #closed(ws, code) {
    if (ws !== this.#ws) return;
    const wasOpen = this.online;
    this.#ws = null;
    this.online = false;
    clearInterval(this.#heartbeat);
    clearTimeout(this.#deadline);
    this.#deadline = null;
    this.#emit('offline', { code, wasOpen });
    if (this.#stopped) return;
    if (code === CLOSE_SESSION_ENDED || code === CLOSE_TOO_MANY_SOCKETS) {
      this.#stopped = true; // reconnecting would only be closed again (or close another tab)
      this.#emit('ended', { code });
      return;
    }
    if (code === CLOSE_TOO_SLOW) {
      this.#connect(); // we fell behind; `since` replays the rest, no need to wait
      return;
    }
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.#attempt);
    this.#attempt += 1;
    // Jitter spreads out the reconnects of every client after a server restart.
    const delay = base / 2 + (Math.random() * base) / 2;
    this.#retryTimer = setTimeout(() => this.#connect(), delay);
  }

  #receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      console.warn('chatd: ignoring a non-JSON frame');
      return;
    }
    if (frame.cmd === Cmd.HEARTBEAT) return; // the answer to a probe: it already counted
    if (frame.cmd === Cmd.ACK) this.#emit('ack', frame);
    else if (frame.cmd === Cmd.REFUSED) this.#emit('refused', frame);
    else if (frame.cmd === Cmd.READ) this.#emit('read', frame);
    else if (frame.cmd === Cmd.NOTICE) this.#emit('notice', frame);
    else if (frame.cmd === Cmd.LIVE) this.#emit('live', frame);
    else if ((frame.cmd === Cmd.SINGLE || frame.cmd === Cmd.GROUP) && Number.isInteger(frame.id)) {
      if (this.#seen.has(frame.id)) return; // replayed after a reconnect: already shown
      this.#remember(frame.id);
      if (this.lastId === null || frame.id > this.lastId) this.lastId = frame.id;
      this.#emit('message', frame);
    }
  }

  #remember(id) {
    this.#seen.add(id);
    if (this.#seen.size > SEEN_MAX) this.#seen.delete(this.#seen.values().next().value);
  }
}
