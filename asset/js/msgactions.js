// What a person can do to a message: reply, react, edit (own text and captions, within
// `edit_window`) and recall (own, within `recall_window`; group admins any). Edits, recalls
// and reactions go out on the socket with a cmid like messages, are sent again with the same
// cmid after a reconnect (the server stores a cmid once), and show once they are acked.
import { byId, el } from './dom.js';
import { searchEmoji } from './emoji.js';
import { snippetOf } from './msgevents.js';
import { showNotice } from './notice.js';
import { registerBubblePart } from './render.js';
import { newCmid, parseKey } from './store.js';
import { Cmd, Media } from './wire.js';

const QUICK = ['👍', '❤️', '😂', '😮', '😢', '🙏'];
const EDITABLE = new Set([Media.TEXT, Media.VOICE, Media.IMAGE, 8, 9]); // text and captions

export class MessageActions {
  #store;
  #view;
  #events;
  #socket;
  #names;
  #limits;
  #roleIn;
  #me;
  #pending = new Map(); // cmid -> {frame, done(ack)}
  #replies = new Map(); // conversation key -> the message being replied to
  #menu = null;

  /** roleIn(key): our role in a group conversation ('owner' | 'admin' | 'member' | null). */
  constructor({ store, view, events, socket, names, limits, roleIn, me }) {
    this.#store = store;
    this.#view = view;
    this.#events = events;
    this.#socket = socket;
    this.#names = names;
    this.#limits = limits;
    this.#roleIn = roleIn;
    this.#me = me;
    this.bar = this.#replyBar();
    registerBubblePart((msg) => this.#button(msg));
    socket.addEventListener('ack', ({ detail }) => this.#settled(detail.cmid, detail));
    socket.addEventListener('refused', ({ detail }) => {
      if (this.#settled(detail.cmid, null)) showNotice(detail.msg || 'That did not work', 'error');
    });
    socket.addEventListener('online', () => this.#pending.forEach(({ frame }) => socket.send(frame)));
    document.addEventListener('keydown', (e) => e.key === 'Escape' && this.#menu && this.closeMenu());
    document.addEventListener('pointerdown', (e) => {
      if (this.#menu && !this.#menu.contains(e.target) && !e.target.closest?.('.msg__actions')) this.closeMenu();
    });
  }

  /** The composer's fields with `ref` added while replying in conversation `key`. */
  attach(key, fields) {
    const target = this.#replies.get(key);
    if (!target) return fields;
    this.#replies.delete(key);
    this.#showBar(key);
    return { ...fields, ref: target.id };
  }

  /** A conversation was opened: show its reply bar, if one was started there. */
  opened(key) {
    this.closeMenu();
    this.#showBar(key);
  }

  replyTo(msg) {
    const key = this.#store.keyOf(msg);
    this.#replies.set(key, msg);
    this.#showBar(key);
    byId('message-input')?.focus();
  }

  /** Adds our reaction, or takes it back. */
  react(msg, emoji) {
    const on = !this.#events.mine(msg, emoji);
    this.#sendEvent(msg, { media: Media.REACTION, content: emoji }, () =>
      this.#events.reacted(msg, this.#me, emoji, on),
    );
  }

  recall(msg) {
    this.#sendEvent(msg, { media: Media.RECALL }, () => this.#events.recalled(msg, this.#me));
  }

  /** Turns the bubble's body into a text box; Enter saves, Escape cancels. */
  edit(msg) {
    const li = this.#view.bubbleOf(msg.id);
    const body = li?.querySelector('.msg__body');
    if (!body) return;
    const input = el('textarea', { class: 'msg__edit-input', 'aria-label': 'Edit message', rows: '2' });
    input.value = msg.content ?? '';
    const cancel = () => this.#view.upsert(msg);
    const save = () => {
      const text = input.value.trim();
      if (msg.media === Media.TEXT && !text) return;
      if (text === (msg.content ?? '').trim()) return cancel();
      this.#sendEvent(msg, { media: Media.EDIT, content: text }, (ack) => this.#events.edited(msg, text, ack.id));
      cancel();
    };
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        save();
      } else if (e.key === 'Escape') {
        e.stopPropagation();
        cancel();
      }
    });
    const form = el(
      'form',
      { class: 'msg__edit', onsubmit: (e) => (e.preventDefault(), save()) },
      input,
      el('div', { class: 'msg__edit-buttons' },
        el('button', { type: 'button', class: 'btn btn--small', text: 'Cancel', onclick: cancel }),
        el('button', { type: 'submit', class: 'btn btn--small btn--primary', text: 'Save' })),
    );
    body.replaceChildren(form);
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  }

  canEdit(msg) {
    const windowMs = (this.#limits.edit_window ?? 172800) * 1000;
    return this.#store.isMine(msg) && EDITABLE.has(msg.media) && Date.now() - msg.createat < windowMs;
  }

  canRecall(msg) {
    const { cmd } = parseKey(this.#store.keyOf(msg));
    const role = cmd === Cmd.GROUP ? this.#roleIn(this.#store.keyOf(msg)) : null;
    if (role === 'owner' || role === 'admin') return true;
    const windowMs = (this.#limits.recall_window ?? 120) * 1000;
    return this.#store.isMine(msg) && Date.now() - msg.createat < windowMs;
  }

  closeMenu() {
    const menu = this.#menu;
    this.#menu = null;
    menu?.remove();
  }

  /** The ⋯ button on a stored message that is not recalled. */
  #button(msg) {
    if (msg.id == null || msg.recalled || msg.media >= Media.SYSTEM) return null;
    const node = el('button', {
      type: 'button',
      class: 'msg__actions',
      'aria-label': 'Message actions',
      'aria-haspopup': 'menu',
      onclick: (e) => this.#openMenu(msg, e.currentTarget),
    }, '⋯');
    return { slot: 'meta', node };
  }

  #openMenu(msg, anchor) {
    this.closeMenu();
    const act = (fn) => () => {
      this.closeMenu();
      fn();
    };
    const quick = el('div', { class: 'msg-menu__reactions', role: 'group', 'aria-label': 'React' },
      ...QUICK.map((emoji) => el('button', {
        type: 'button', class: 'msg-menu__emoji', 'aria-label': `React ${emoji}`, dataset: { emoji },
        onclick: act(() => this.react(msg, emoji)),
      }, emoji)));
    const search = el('input', { class: 'msg-menu__search', type: 'search', 'aria-label': 'Find an emoji',
      placeholder: 'Any emoji…' });
    const found = el('div', { class: 'msg-menu__found' });
    search.addEventListener('input', () => {
      found.replaceChildren(...searchEmoji(search.value, 24).map((e) => el('button', {
        type: 'button', class: 'msg-menu__emoji', title: e.code, dataset: { emoji: e.char },
        onclick: act(() => this.react(msg, e.char)),
      }, e.char)));
    });
    const item = (text, fn, cls = '') => el('button', { type: 'button', role: 'menuitem',
      class: `msg-menu__item ${cls}`.trim(), text, onclick: act(fn) });
    const menu = el('div', { class: 'msg-menu', role: 'menu', 'aria-label': 'Message actions' },
      quick, search, found,
      item('Reply', () => this.replyTo(msg)),
      this.canEdit(msg) ? item('Edit', () => this.edit(msg)) : null,
      this.canRecall(msg) ? item(this.#store.isMine(msg) ? 'Recall' : 'Remove', () => this.recall(msg),
        'msg-menu__item--danger') : null);
    document.body.append(menu);
    this.#menu = menu;
    this.#place(menu, anchor);
    quick.querySelector('button')?.focus();
  }

  #place(menu, anchor) {
    const r = anchor.getBoundingClientRect();
    const width = menu.offsetWidth;
    const height = menu.offsetHeight;
    const left = Math.max(8, Math.min(r.right - width, window.innerWidth - width - 8));
    const below = r.bottom + 4 + height <= window.innerHeight;
    const top = below ? r.bottom + 4 : Math.max(8, r.top - height - 4);
    menu.style.left = `${left + window.scrollX}px`;
    menu.style.top = `${top + window.scrollY}px`;
  }

  #sendEvent(msg, fields, done) {
    const { cmd, dstid } = parseKey(this.#store.keyOf(msg));
    const frame = { cmd, dstid, ref: msg.id, cmid: newCmid(), ...fields };
    this.#pending.set(frame.cmid, { frame, done });
    if (!this.#socket.send(frame)) showNotice('Offline: it goes out when the connection is back', 'info');
  }

  /** An ack (or, with null, a refusal) of one of ours; true if it was one. */
  #settled(cmid, ack) {
    const item = cmid && this.#pending.get(cmid);
    if (!item) return false;
    this.#pending.delete(cmid);
    if (ack) item.done(ack);
    return true;
  }

  #replyBar() {
    const text = el('span', { class: 'reply-bar__text' });
    const bar = el('div', { id: 'reply-bar', class: 'reply-bar', hidden: true },
      el('span', { class: 'reply-bar__label', text: 'Replying to' }),
      text,
      el('button', { type: 'button', class: 'icon-btn icon-btn--small reply-bar__cancel', 'aria-label': 'Cancel reply',
        onclick: () => {
          this.#replies.delete(this.#view.key);
          this.#showBar(this.#view.key);
        } }, el('span', { 'aria-hidden': 'true', text: '✕' })));
    bar.text = text;
    byId('composer')?.before(bar);
    return bar;
  }

  #showBar(key) {
    const target = key === this.#view.key ? this.#replies.get(key) : null;
    this.bar.hidden = !target;
    if (target) this.bar.text.textContent = `${this.#names.get(target.userid)}: ${snippetOf(target)}`;
  }
}
