// Friend requests in the sidebar: incoming (accept / decline) and outgoing (cancel), with a
// badge counting the incoming ones, kept current by cmd 15 frames.
import { postData, postRows } from './api.js';
import { byId, el } from './dom.js';
import { avatarHue } from './render.js';

/** The clear words for a refused request; the server's own message otherwise. */
export function requestError(err) {
  switch (err.status) {
    case 403:
      return 'You cannot add this user.';
    case 404:
      return 'No one with that mobile number or id can be found.';
    case 409:
      return 'You are already friends.';
    case 429:
      return 'Too many look-ups. Wait a minute and try again.';
    default:
      return err.message;
  }
}

export class Requests {
  #names;
  #onFriend;
  #rows = [];
  #chain = Promise.resolve();

  /** onFriend(user): a request of ours or theirs became a friendship here. */
  constructor({ names, onFriend }) {
    this.#names = names;
    this.#onFriend = onFriend;
    this.list = byId('request-list');
    this.badge = byId('requests-badge');
    this.toggleBadge = byId('toggle-badge');
    this.error = byId('requests-msg');
  }

  /** (Re)fetches the pending requests; calls queue up so the last answer wins. */
  load() {
    this.#chain = this.#chain.then(() => this.#fetch());
    return this.#chain;
  }

  async #fetch() {
    try {
      this.#rows = await postRows('/contact/requests');
      this.#names.learn(this.#rows.map((r) => r.user));
      this.#show('');
    } catch (err) {
      this.#show(`Could not load requests: ${err.message}`);
    }
    this.render();
  }

  /** A cmd 15 frame: anything about requests or friends changes the list. */
  onNotice(frame) {
    if (['friend_request', 'request_sent', 'request_removed', 'friend_added', 'friend_removed'].includes(frame.type)) {
      this.load();
    }
  }

  incoming() {
    return this.#rows.filter((r) => r.direction === 'in').length;
  }

  render() {
    const count = this.incoming();
    for (const badge of [this.badge, this.toggleBadge]) {
      badge.textContent = String(count);
      badge.hidden = count === 0;
    }
    this.badge.setAttribute('aria-label', `${count} incoming`);
    const rows = [...this.#rows].sort((a, b) => (a.direction === b.direction ? 0 : a.direction === 'in' ? -1 : 1));
    const items = rows.map((row) => this.#item(row));
    this.list.replaceChildren(...(items.length ? items : [el('li', { class: 'contacts__empty', text: 'No pending requests.' })]));
  }

  #item({ direction, user }) {
    const name = user.nickname || `User ${user.id}`;
    const avatar = el('span', { class: 'contact__avatar', 'aria-hidden': 'true', text: name.slice(0, 1).toUpperCase() });
    avatar.style.setProperty('--hue', avatarHue(user.id));
    const incoming = direction === 'in';
    const buttons = incoming
      ? [
          this.#button('Accept', 'btn--primary', `Accept ${name}`, () => this.#answer('/contact/accept', user, true)),
          this.#button('Decline', '', `Decline ${name}`, () => this.#answer('/contact/decline', user, false)),
        ]
      : [this.#button('Cancel', '', `Cancel the request to ${name}`, () => this.#answer('/contact/cancelrequest', user, false))];
    return el(
      'li',
      { class: 'request', dataset: { userid: user.id, direction } },
      avatar,
      el(
        'span',
        { class: 'contact__main' },
        el('span', { class: 'contact__top' },
          el('span', { class: 'contact__name', text: name }),
          el('span', { class: 'contact__id', text: `#${user.id}` })),
        el('span', { class: 'contact__last', text: incoming ? 'wants to be your friend' : 'Request sent' }),
      ),
      el('span', { class: 'request__actions' }, ...buttons),
    );
  }

  #button(text, kind, label, action) {
    const button = el('button', { type: 'button', class: `btn btn--small ${kind}`, 'aria-label': label, text });
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        await action();
      } catch (err) {
        this.#show(err.status === 404 ? 'That request is no longer pending.' : err.message);
        this.load();
      } finally {
        button.disabled = false;
      }
    });
    return button;
  }

  async #answer(path, user, accepted) {
    await postData(path, { dstid: user.id });
    this.#rows = this.#rows.filter((r) => r.user.id !== user.id);
    this.render();
    if (accepted) this.#onFriend(user);
  }

  #show(text) {
    this.error.textContent = text;
    if (text) this.error.dataset.kind = 'error';
    this.error.hidden = !text;
  }
}
