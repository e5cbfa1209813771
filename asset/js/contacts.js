// The sidebar: friends and groups with unread counts, and the add-friend / create / join forms.
import { postData, postRows } from './api.js';
import { byId, el, handleSubmit } from './dom.js';
import { convKey } from './store.js';
import { Cmd } from './wire.js';

function positiveId(text, what) {
  const id = Number(text);
  if (!Number.isInteger(id) || id <= 0) throw new Error(`Enter the ${what} as a number, like 42.`);
  return id;
}

export class Sidebar {
  #names;
  #onOpen;
  #friends = new Map(); // id -> public user
  #groups = new Map(); // id -> community
  #unread = new Map(); // conversation key -> count
  #current = null;
  #loading = null;
  #again = null;

  /** onOpen(key): the user picked a conversation. */
  constructor({ names, onOpen }) {
    this.#names = names;
    this.#onOpen = onOpen;
    this.friendList = byId('friend-list');
    this.groupList = byId('group-list');
    this.error = byId('sidebar-error');
    this.#bindForms();
  }

  /**
   * (Re)loads both lists; a failure shows in the sidebar and keeps the old lists. Calls made
   * during a load share one follow-up load (it sees changes the running one may have missed).
   */
  load() {
    if (!this.#loading) {
      this.#loading = this.#fetch().finally(() => (this.#loading = null));
      return this.#loading;
    }
    this.#again ??= this.#loading.then(() => {
      this.#again = null;
      return this.load();
    });
    return this.#again;
  }

  async #fetch() {
    try {
      const [friends, groups] = await Promise.all([
        postRows('/contact/loadfriend'),
        postRows('/contact/loadcommunity'),
      ]);
      this.#friends = new Map(friends.map((u) => [u.id, u]));
      this.#groups = new Map(groups.map((g) => [g.id, g]));
      this.#names.learn(friends);
      this.error.hidden = true;
    } catch (err) {
      this.error.textContent = `Could not load contacts: ${err.message}`;
      this.error.hidden = false;
    }
    this.#render();
  }

  knows(key) {
    const [cmd, id] = key.split(':').map(Number);
    return (cmd === Cmd.GROUP ? this.#groups : this.#friends).has(id);
  }

  /** The title of a conversation: the friend's nickname or the group's name and id. */
  titleOf(key) {
    const [cmd, id] = key.split(':').map(Number);
    if (cmd === Cmd.GROUP) {
      const group = this.#groups.get(id);
      return `${group ? group.name : 'Group'} (group #${id})`;
    }
    return this.#names.get(id);
  }

  select(key) {
    this.#current = key;
    this.#unread.delete(key);
    this.#render();
  }

  /** Counts one unread message for a conversation that is not open. */
  bump(key) {
    this.#unread.set(key, (this.#unread.get(key) ?? 0) + 1);
    this.#render();
  }

  totalUnread() {
    let total = 0;
    for (const n of this.#unread.values()) total += n;
    return total;
  }

  #render() {
    this.#fill(this.friendList, 'friend', [...this.#friends.values()], (u) => u.nickname, 'No friends yet.');
    this.#fill(this.groupList, 'group', [...this.#groups.values()], (g) => g.name, 'No groups yet.');
  }

  #fill(list, kind, rows, nameOf, emptyText) {
    const cmd = kind === 'group' ? Cmd.GROUP : Cmd.SINGLE;
    rows.sort((a, b) => String(nameOf(a)).localeCompare(String(nameOf(b))));
    const items = rows.map((row) => {
      const key = convKey(cmd, row.id);
      const unread = this.#unread.get(key) ?? 0;
      const name = nameOf(row) || `#${row.id}`;
      return el(
        'li',
        {},
        el(
          'button',
          {
            type: 'button',
            class: 'contact',
            dataset: { kind, id: row.id, key },
            'aria-current': key === this.#current ? 'true' : null,
            onclick: () => this.#onOpen(key),
          },
          el('span', { class: 'contact__avatar', 'aria-hidden': 'true', text: name.slice(0, 1).toUpperCase() }),
          el('span', { class: 'contact__name', text: name }),
          el('span', { class: 'contact__id', text: `#${row.id}` }),
          unread
            ? el('span', { class: 'unread', dataset: { count: unread } }, String(unread),
                el('span', { class: 'sr-only', text: ' unread' }))
            : null,
        ),
      );
    });
    list.replaceChildren(...(items.length ? items : [el('li', { class: 'contacts__empty', text: emptyText })]));
  }

  #bindForms() {
    handleSubmit(byId('add-friend-form'), byId('add-friend-msg'), async (data) => {
      const value = String(data.get('value') ?? '').trim();
      const byMobile = data.get('by') !== 'id';
      if (!value) throw new Error(byMobile ? 'Enter a mobile number.' : 'Enter a user id.');
      const body = byMobile ? { mobile: value } : { dstid: positiveId(value, 'user id') };
      const friend = await postData('/contact/addfriend', body);
      byId('add-friend-input').value = '';
      await this.load();
      const id = friend?.id ?? body.dstid;
      if (id) this.#onOpen(convKey(Cmd.SINGLE, id));
      return `Added ${friend?.nickname ?? (id ? this.#names.get(id) : value)}.`;
    });
    handleSubmit(byId('create-group-form'), byId('create-group-msg'), async (data) => {
      const name = String(data.get('name') ?? '').trim();
      if (!name) throw new Error('Enter a group name.');
      const group = await postData('/contact/createcommunity', { name });
      byId('create-group-input').value = '';
      await this.load();
      this.#onOpen(convKey(Cmd.GROUP, group.id));
      return `Created “${group.name}”: others join with id ${group.id}.`;
    });
    handleSubmit(byId('join-group-form'), byId('join-group-msg'), async (data) => {
      const id = positiveId(String(data.get('dstid') ?? '').trim(), 'group id');
      await postData('/contact/joincommunity', { dstid: id });
      byId('join-group-input').value = '';
      await this.load();
      this.#onOpen(convKey(Cmd.GROUP, id));
      return `Joined ${this.titleOf(convKey(Cmd.GROUP, id))}.`;
    });
  }
}
