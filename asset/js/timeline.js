// What goes between and around the bubbles of the open conversation: a line for each new
// day, runs of messages from one sender shown with the name once (first) and the avatar
// once (last), the "New messages" line above the first unread one, and the jump-to-latest
// button. conversation.js draws the bubbles; decorate() runs after each change.
import { byId, el } from './dom.js';
import { Media } from './wire.js';

const RUN_GAP_MS = 5 * 60_000; // a pause this long starts a new run (name and avatar again)
const SHOW_JUMP_PX = 300; // this far above the bottom, offer to jump down

/** Messages that are lines of their own, never part of a run (system lines, events). */
const standsAlone = (msg) => msg.media >= Media.SYSTEM;

function dayOf(ms) {
  return new Date(ms).toDateString();
}

/** "Today", "Yesterday", a weekday within the week, else the date (with the year if not this one). */
export function dayLabel(ms, now = new Date()) {
  const date = new Date(ms);
  const midnight = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((midnight(now) - midnight(date)) / 86_400_000);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  if (days > 1 && days < 7) return date.toLocaleDateString([], { weekday: 'long' });
  const sameYear = date.getFullYear() === now.getFullYear();
  return date.toLocaleDateString([], { day: 'numeric', month: 'long', ...(sameYear ? {} : { year: 'numeric' }) });
}

function daySeparator(ms) {
  return el('li', { class: 'day-sep', dataset: { day: dayOf(ms) }, role: 'separator' },
    el('span', { class: 'day-sep__label', text: dayLabel(ms) }));
}

function newLine() {
  return el('li', { class: 'new-line', id: 'new-messages', role: 'separator' },
    el('span', { class: 'new-line__label', text: 'New messages' }));
}

/** Whether `msg` continues the run of `prev` (same sender, same day, within a few minutes). */
function continues(prev, msg) {
  if (!prev || standsAlone(prev) || standsAlone(msg) || prev.userid !== msg.userid) return false;
  if (prev.state === 'failed' || msg.state === 'failed') return false;
  const a = prev.createat ?? Date.now();
  const b = msg.createat ?? Date.now();
  return b - a < RUN_GAP_MS && dayOf(a) === dayOf(b);
}

/**
 * Puts the separators and run classes into `list` for `rows` ([msg, li] in order, every li
 * already in the list). `newFrom`: the id after which messages are new (the read mark when
 * the conversation opened), or null for no line; `isMine(msg)`.
 */
export function decorate(list, rows, { newFrom, isMine }) {
  for (const node of list.querySelectorAll(':scope > .day-sep, :scope > .new-line')) node.remove();
  const at = (msg) => msg.createat ?? Date.now(); // ours being sent: today
  // First where the lines go (a new day, the first unread), then the runs they cut.
  let lineAt = -1;
  if (newFrom != null) {
    lineAt = rows.findIndex(([msg]) => msg.id != null && msg.id > newFrom && !isMine(msg) && !standsAlone(msg));
  }
  const newDay = rows.map(([msg], i) => i === 0 || dayOf(at(rows[i - 1][0])) !== dayOf(at(msg)));
  const cut = (i) => i >= rows.length || newDay[i] || i === lineAt;
  rows.forEach(([msg, li], i) => {
    if (newDay[i]) list.insertBefore(daySeparator(at(msg)), li);
    if (i === lineAt) list.insertBefore(newLine(), li);
    const first = cut(i) || !continues(rows[i - 1][0], msg);
    const last = cut(i + 1) || !continues(msg, rows[i + 1][0]);
    li.classList.toggle('msg--cont', !first); // the name is shown on a run's first message
    li.classList.toggle('msg--more', !last); // the avatar beside its last
  });
}

/**
 * The round "jump to the latest" button over the bottom of the message pane: shown while the
 * reader is scrolled up, with the number of messages that came meanwhile.
 */
export class JumpButton {
  #pane;
  #unseen = 0;

  constructor({ pane, onJump }) {
    this.#pane = pane;
    this.button = byId('jump-latest');
    this.count = byId('jump-count');
    this.button.addEventListener('click', () => {
      onJump();
      this.update();
    });
    pane.addEventListener('scroll', () => this.update(), { passive: true });
  }

  /** Far enough from the bottom to offer the jump. */
  get scrolledUp() {
    const pane = this.#pane;
    return pane.scrollHeight - pane.scrollTop - pane.clientHeight > SHOW_JUMP_PX;
  }

  /** A message arrived below what the reader sees. */
  noteUnseen() {
    if (this.scrolledUp) this.#unseen += 1;
    this.update();
  }

  update() {
    const up = this.scrolledUp;
    if (!up) this.#unseen = 0;
    this.button.hidden = !up;
    this.count.textContent = this.#unseen ? String(this.#unseen) : '';
    this.count.hidden = !this.#unseen;
    this.button.setAttribute('aria-label', this.#unseen ? `Jump to the latest message (${this.#unseen} new)` : 'Jump to the latest message');
  }

  reset() {
    this.#unseen = 0;
    this.update();
  }
}
