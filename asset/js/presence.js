// Friends' presence: "online" / "last seen 5 min ago" under a 1:1 chat's title and a dot on
// online friends in the contact list. Pulled from /contact/presence (nothing is pushed to
// anyone): the open friend's when their chat opens and every OPEN_EVERY_MS while the page
// is visible, the whole list on load and every LIST_EVERY_MS while visible. A friend who
// hides their presence (or a user who hides their own) shows no dot and no line.
import { postRows } from './api.js';
import { parseKey } from './store.js';
import { Cmd } from './wire.js';

const OPEN_EVERY_MS = 30_000;
const LIST_EVERY_MS = 60_000;

/** "last seen just now" / "5 min ago" / "3 h ago" / "on Dec 7" for a time in ms. */
export function lastSeenText(ms, now = Date.now()) {
  const minutes = Math.floor((now - ms) / 60_000);
  if (minutes < 1) return 'last seen just now';
  if (minutes < 60) return `last seen ${minutes} min ago`;
  if (minutes < 24 * 60) return `last seen ${Math.floor(minutes / 60)} h ago`;
  return `last seen on ${new Date(ms).toLocaleDateString([], { month: 'short', day: 'numeric' })}`;
}

export class Presence {
  #rows = new Map(); // friend id -> {online, lastseen}
  #openKey = () => null;
  #onChange;

  /** openKey(): the conversation on screen; onChange(): something shown may differ now. */
  constructor({ openKey, onChange }) {
    this.#openKey = openKey;
    this.#onChange = onChange;
    setInterval(() => this.#visible() && this.refreshOpen(), OPEN_EVERY_MS);
    setInterval(() => this.#visible() && this.refreshAll(), LIST_EVERY_MS);
    document.addEventListener('visibilitychange', () => this.#visible() && this.refreshOpen());
  }

  #visible() {
    return document.visibilityState === 'visible';
  }

  /** Every friend's presence (the contact list). */
  refreshAll() {
    return this.#ask({});
  }

  /** The open 1:1 chat's friend (none for a group). */
  refreshOpen() {
    const key = this.#openKey();
    if (!key) return Promise.resolve();
    const { cmd, dstid } = parseKey(key);
    return cmd === Cmd.SINGLE ? this.#ask({ userid: dstid }) : Promise.resolve();
  }

  async #ask(body) {
    try {
      const rows = await postRows('/contact/presence', body);
      for (const row of rows) this.#rows.set(row.userid, row);
      this.#onChange();
    } catch {
      // Unknown for now; the next refresh asks again.
    }
  }

  isOnline(userId) {
    return this.#rows.get(userId)?.online === true;
  }

  /** The line under a 1:1 chat's title: "online", "last seen …", or '' (hidden or unknown). */
  textFor(key) {
    const { cmd, dstid } = parseKey(key);
    if (cmd !== Cmd.SINGLE) return '';
    const row = this.#rows.get(dstid);
    if (!row) return '';
    if (row.online) return 'online';
    return row.lastseen ? lastSeenText(row.lastseen) : '';
  }

  /** Puts the online dot on the contact list's friends (after every redraw of the list). */
  markList(list) {
    for (const button of list.querySelectorAll('.contact[data-kind="friend"]')) {
      const online = this.isOnline(Number(button.dataset.id));
      button.classList.toggle('contact--online', online);
      const avatar = button.querySelector('.contact__avatar');
      if (avatar) avatar.title = online ? 'online' : '';
    }
  }
}
