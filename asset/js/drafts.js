// Drafts: what was typed but not sent, one per conversation, kept in localStorage under the
// signed-in user's id (the next person on a shared computer does not see them) so they
// survive a reload; and the conversation that was open, restored after a reload.
//
// Keys: chatd_draft:<user id>:<conversation key> (the text),
//       chatd_open:<user id> (sessionStorage: this tab's open conversation; localStorage:
//       the last one opened in any tab, for a new tab).

const DRAFT_PREFIX = 'chatd_draft:';
const OPEN_PREFIX = 'chatd_open:';
const MAX_DRAFT = 20_000; // characters kept; the text box itself allows max_text

function read(store, key) {
  try {
    return store.getItem(key);
  } catch {
    return null; // storage disabled (private mode on some browsers): drafts live in memory only
  }
}

function write(store, key, value) {
  try {
    if (value) store.setItem(key, value);
    else store.removeItem(key);
  } catch {
    // Full or disabled: the draft stays in the text box until the page goes.
  }
}

export class Drafts {
  #user;
  #memory = new Map(); // key -> text, so drafts still swap when storage refuses

  constructor(userId) {
    this.#user = userId;
  }

  #draftKey(convKey) {
    return `${DRAFT_PREFIX}${this.#user}:${convKey}`;
  }

  /** The draft of conversation `convKey` ('' when none). */
  get(convKey) {
    return read(localStorage, this.#draftKey(convKey)) ?? this.#memory.get(convKey) ?? '';
  }

  /** Keeps `text` as the draft of `convKey`; empty or blank text removes it. */
  set(convKey, text) {
    const value = text.trim() ? text.slice(0, MAX_DRAFT) : '';
    if (value) this.#memory.set(convKey, value);
    else this.#memory.delete(convKey);
    write(localStorage, this.#draftKey(convKey), value);
  }

  /** The conversation open before the reload: this tab's, else the last opened anywhere. */
  openKey() {
    const key = `${OPEN_PREFIX}${this.#user}`;
    return read(sessionStorage, key) ?? read(localStorage, key);
  }

  rememberOpen(convKey) {
    const key = `${OPEN_PREFIX}${this.#user}`;
    write(sessionStorage, key, convKey);
    write(localStorage, key, convKey);
  }

  /** Forgets every draft and the open conversation of this user (on logout). */
  forgetAll() {
    this.#memory.clear();
    try {
      const mine = `${DRAFT_PREFIX}${this.#user}:`;
      for (let i = localStorage.length - 1; i >= 0; i -= 1) {
        const key = localStorage.key(i);
        if (key?.startsWith(mine)) localStorage.removeItem(key);
      }
    } catch {
      // nothing stored then
    }
    write(localStorage, `${OPEN_PREFIX}${this.#user}`, '');
    write(sessionStorage, `${OPEN_PREFIX}${this.#user}`, '');
  }
}

/**
 * Ties the composer's text box to the drafts: every edit is kept for the open conversation,
 * `swap(key)` (before a conversation opens) puts that conversation's draft in the box, and a
 * sent text clears its draft. currentKey(): the open conversation or null.
 */
export function bindDrafts({ drafts, composer, currentKey }) {
  const input = composer.input;
  const keep = () => {
    const key = currentKey();
    if (key) drafts.set(key, input.value);
  };
  input.addEventListener('input', keep);
  // The composer empties the box on submit (its own listener ran first): keep that too.
  composer.form.addEventListener('submit', keep);
  return {
    swap(key) {
      composer.setText(drafts.get(key));
    },
  };
}
