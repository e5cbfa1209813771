// Events about an earlier message (edit 11, recall 12, reaction 13; `ref` names it), applied to
// the messages the page holds, and the parts of a bubble they show: a reply's quote, the
// reactions under it, "edited". Events are never bubbles of their own.
import { postRows } from './api.js';
import { el } from './dom.js';
import { findEmoji, replaceShortcodes } from './emoji.js';
import { registerBubblePart } from './render.js';
import { parseKey } from './store.js';
import { Media } from './wire.js';

const FETCH_DELAY_MS = 30; // edits and quotes arriving together are fetched in one call

/** A short text for a message in a quote or a preview. */
export function snippetOf(msg) {
  if (!msg) return 'Message not available';
  if (msg.recalled) return 'Message recalled';
  const words = { [Media.VOICE]: 'Voice message', [Media.IMAGE]: 'Photo', 8: 'Video', 9: 'File' };
  if (msg.media === Media.EMOJI) return findEmoji(msg.content)?.char ?? 'Sticker';
  const text = replaceShortcodes(msg.content ?? '').trim();
  if (msg.media !== Media.TEXT) return text ? `${words[msg.media] ?? 'Message'}: ${text}` : words[msg.media] ?? 'Message';
  return text.length > 120 ? `${text.slice(0, 120)}…` : text;
}

export class MessageEvents {
  #store;
  #view;
  #names;
  #me;
  #onReact;
  #onJump;
  #onChanged;
  #quotes = new Map(); // message id -> row fetched for a quote (not in the store)
  #wanted = new Map(); // conversation key -> Set of ids to fetch
  #timer = null;

  /**
   * onReact(msg, emoji): toggle our reaction; onJump(msg, id): go to the quoted message;
   * onChanged(key, msg): a message was edited or recalled (the conversation list's preview).
   */
  constructor({ store, view, names, me, onReact, onJump, onChanged }) {
    this.#store = store;
    this.#view = view;
    this.#names = names;
    this.#me = me;
    this.#onReact = onReact;
    this.#onJump = onJump;
    this.#onChanged = onChanged;
    registerBubblePart((msg, who) => this.#quotePart(msg, who));
    registerBubblePart((msg) => this.#reactionsPart(msg));
    registerBubblePart((msg) => this.#editedPart(msg));
  }

  /** Applies an event frame (live or replayed) to the message it names, if the page holds it. */
  apply(frame) {
    const target = this.#target(frame);
    if (!target) return; // not loaded: history brings it as it is now
    if (frame.media === Media.EDIT) this.#want(this.#store.keyOf(frame), target.id);
    else if (frame.media === Media.RECALL) this.recalled(target, frame.userid);
    else if (frame.media === Media.REACTION) this.reacted(target, frame.userid, frame.content, frame.amount === 1);
  }

  recalled(target, byUserId) {
    Object.assign(target, { recalled: byUserId, content: '', url: '', pic: '', memo: '', reactions: undefined });
    this.#changed(target);
  }

  reacted(target, userId, emoji, on) {
    const reactions = { ...(target.reactions ?? {}) };
    const users = (reactions[emoji] ?? []).filter((u) => u !== userId);
    if (on) users.push(userId);
    if (users.length) reactions[emoji] = users;
    else delete reactions[emoji];
    target.reactions = reactions;
    this.#changed(target);
  }

  edited(target, content, editId) {
    if ((target.editid ?? 0) >= editId) return;
    Object.assign(target, { content, editid: editId });
    this.#changed(target);
  }

  /** Whether we reacted to `msg` with `emoji`. */
  mine(msg, emoji) {
    return (msg.reactions?.[emoji] ?? []).includes(this.#me);
  }

  #target(frame) {
    return this.#store.conv(this.#store.keyOf(frame)).byId.get(frame.ref) ?? null;
  }

  #changed(msg) {
    msg.rev = (msg.rev ?? 0) + 1;
    this.#view.upsert(msg);
    this.#onChanged?.(this.#store.keyOf(msg), msg);
    // Replies quoting it show the change too.
    for (const other of this.#store.conv(this.#store.keyOf(msg)).items) {
      if (other.ref === msg.id && other.media < Media.SYSTEM) this.#bump(other);
    }
  }

  #bump(msg) {
    msg.rev = (msg.rev ?? 0) + 1;
    this.#view.upsert(msg);
  }

  /** Fetch these messages as they are now (batched per conversation), then redraw. */
  #want(key, id) {
    if (!this.#wanted.has(key)) this.#wanted.set(key, new Set());
    this.#wanted.get(key).add(id);
    this.#timer ??= setTimeout(() => this.#fetch(), FETCH_DELAY_MS);
  }

  async #fetch() {
    this.#timer = null;
    const batches = [...this.#wanted.entries()];
    this.#wanted.clear();
    for (const [key, ids] of batches) {
      let rows;
      try {
        rows = await postRows('/message/get', { ...parseKey(key), ids: [...ids] });
      } catch (err) {
        console.warn('chatd: could not fetch messages:', err.message);
        continue;
      }
      const conv = this.#store.conv(key);
      for (const row of rows) {
        const held = conv.byId.get(row.id);
        if (held) {
          if (row.recalled && !held.recalled) this.recalled(held, row.recalled);
          else if (row.editid) this.edited(held, row.content, row.editid);
        } else {
          this.#quotes.set(row.id, row);
        }
      }
      // Quotes that were missing: those now known, or known to be unreadable.
      for (const id of ids) {
        if (!this.#quotes.has(id) && !conv.byId.has(id)) this.#quotes.set(id, null);
      }
      for (const msg of conv.items) if (msg.ref && ids.has(msg.ref) && msg.media < Media.SYSTEM) this.#bump(msg);
    }
  }

  #quoted(msg) {
    const key = this.#store.keyOf(msg);
    const held = this.#store.conv(key).byId.get(msg.ref);
    if (held) return { found: true, target: held };
    if (this.#quotes.has(msg.ref)) return { found: true, target: this.#quotes.get(msg.ref) };
    this.#want(key, msg.ref);
    return { found: false, target: null };
  }

  #quotePart(msg) {
    if (!msg.ref || msg.recalled || msg.media >= Media.SYSTEM) return null;
    const { found, target } = this.#quoted(msg);
    const name = target ? this.#names.get(target.userid) : '';
    const node = el(
      'button',
      {
        type: 'button',
        class: 'msg__quote',
        dataset: { ref: msg.ref },
        title: 'Show the quoted message',
        onclick: () => this.#onJump(msg, msg.ref),
      },
      name ? el('span', { class: 'msg__quote-from', text: name }) : null,
      el('span', { class: 'msg__quote-text', text: found ? snippetOf(target) : '…' }),
    );
    return { slot: 'top', node };
  }

  #reactionsPart(msg) {
    const entries = Object.entries(msg.reactions ?? {});
    if (!entries.length || msg.recalled) return null;
    const node = el(
      'div',
      { class: 'msg__reactions', role: 'group', 'aria-label': 'Reactions' },
      ...entries.map(([emoji, users]) =>
        el(
          'button',
          {
            type: 'button',
            class: users.includes(this.#me) ? 'reaction reaction--mine' : 'reaction',
            dataset: { emoji, count: users.length },
            'aria-pressed': String(users.includes(this.#me)),
            title: users.map((u) => this.#names.get(u)).join(', '),
            onclick: () => this.#onReact(msg, emoji),
          },
          el('span', { class: 'reaction__emoji', text: emoji }),
          el('span', { class: 'reaction__count', text: String(users.length) }),
        ),
      ),
    );
    return { slot: 'bottom', node };
  }

  #editedPart(msg) {
    if (!msg.editid || msg.recalled) return null;
    return { slot: 'meta', node: el('span', { class: 'msg__edited', text: 'edited' }) };
  }
}
