// The sidebar: friends and groups, newest activity first, each with its last message and
// unread count (from /message/conversations, then kept current by live messages and read
// marks), and the add-friend / create / join forms.
import { postData, postRows } from './api.js';
import { byId, el, handleSubmit } from './dom.js';
import { previewText } from './media.js';
import { withPicture } from './profile-view.js';
import { avatarHue } from './render.js';
import { requestError } from './requests.js';
import { convKey, parseKey } from './store.js';
import { systemText } from './system.js';
import { Cmd, Media } from './wire.js';

function positiveId(text, what) {
  const id = Number(text);
  if (!Number.isInteger(id) || id <= 0) throw new Error(`Enter the ${what} as a number, like 42.`);
  return id;
}

/** The short time of a preview: the clock today, else the date. */
function shortTime(ms) {
  const d = new Date(ms);
  return d.toDateString() === new Date().toDateString()
    ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleDateString([], { month: 'short', day: 'numeric' });
}

export class Sidebar {
  #names;
  #me;
  #onOpen;
  #friends = new Map(); // id -> public user
  #groups = new Map(); // id -> community
  #groupNames = new Map(); // id -> name, also of groups we have left (their chat stays open)
  #convs = new Map(); // conversation key -> {last, unread, readid, at}
  #current = null;
  #loading = null;
  #again = null;
  afterRender = () => {}; // after each redraw of the lists (presence dots)
  onConversations = () => {}; // each /message/conversations answer (read receipts)

  /** me: our user id; onOpen(key): the user picked a conversation. */
  constructor({ names, me, onOpen }) {
    this.#names = names;
    this.#me = me;
    this.#onOpen = onOpen;
    this.friendList = byId('friend-list');
    this.groupList = byId('group-list');
    this.error = byId('sidebar-error');
    this.#bindForms();
  }

  /**
   * (Re)loads the lists and the conversation rows; a failure shows in the sidebar and keeps
   * the old lists. Calls made during a load share one follow-up load (it sees changes the
   * running one may have missed). Resolves to true when everything loaded.
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
    let ok = false;
    try {
      const [friends, groups, convs] = await Promise.all([
        postRows('/contact/loadfriend'),
        postRows('/contact/loadcommunity'),
        postRows('/message/conversations'),
      ]);
      this.#friends = new Map(friends.map((u) => [u.id, u]));
      this.#groups = new Map(groups.map((g) => [g.id, g]));
      for (const g of groups) this.#groupNames.set(g.id, g.name);
      this.#names.learn(friends);
      for (const row of convs) {
        const key = convKey(row.cmd, row.dstid);
        const mine = this.#convs.get(key);
        // Keep a message of ours still being sent as the preview; the server has not got it.
        const last = mine?.last && mine.last.id == null ? mine.last : row.last;
        this.#convs.set(key, { last, unread: row.unread, readid: row.readid, at: last?.createat ?? mine?.at ?? 0 });
      }
      this.onConversations(convs);
      this.error.hidden = true;
      ok = true;
    } catch (err) {
      this.error.textContent = `Could not load contacts: ${err.message}`;
      this.error.hidden = false;
    }
    this.render();
    return ok;
  }

  /** The friend (public user) or the group (community row) behind a key, if listed. */
  entryOf(key) {
    const { cmd, dstid } = parseKey(key);
    return (cmd === Cmd.GROUP ? this.#groups : this.#friends).get(dstid) ?? null;
  }

  knows(key) {
    const { cmd, dstid } = parseKey(key);
    return (cmd === Cmd.GROUP ? this.#groups : this.#friends).has(dstid);
  }

  /** The title of a conversation: the friend's nickname or the group's name and id. */
  titleOf(key) {
    const { cmd, dstid } = parseKey(key);
    if (cmd === Cmd.GROUP) {
      return `${this.#groupNames.get(dstid) ?? 'Group'} (group #${dstid})`;
    }
    return this.#names.get(dstid);
  }

  /** Highest message id in any conversation row (a safe `since` for the socket), or null. */
  newestId() {
    let id = null;
    for (const c of this.#convs.values()) if (c.last?.id != null && (id === null || c.last.id > id)) id = c.last.id;
    return id;
  }

  select(key) {
    this.#current = key;
    this.#conv(key).unread = 0; // read as it opens; /message/read confirms
    this.render();
  }

  readIdOf(key) {
    return this.#convs.get(key)?.readid ?? 0;
  }

  /**
   * A live message (or one we just typed). It becomes the preview if newer; `count` adds
   * it to the unread badge unless it is at or below the read mark (a replay after reconnect).
   */
  noteMessage(key, msg, count) {
    const conv = this.#conv(key);
    const last = conv.last;
    if (!last || msg.id == null || last.id == null || msg.id >= last.id) {
      conv.last = msg;
      conv.at = msg.createat ?? Date.now();
    }
    if (count && msg.id > conv.readid && (!last || last.id == null || msg.id > last.id)) conv.unread += 1;
    this.render();
  }

  /** A message was edited or recalled: if it is the preview, show it as it is now. */
  changed(key, msg) {
    const conv = this.#convs.get(key);
    if (conv?.last?.id !== msg.id) return;
    conv.last = msg;
    this.render();
  }

  /** Message `id` was recalled: a preview showing it must not show its text any longer. */
  recalled(key, id, byUserId) {
    const conv = this.#convs.get(key);
    if (conv?.last?.id !== id) return;
    conv.last = { ...conv.last, recalled: byUserId, content: '', url: '', pic: '' };
    this.render();
  }

  /** A read mark from /message/read or a cmd 14 frame: {readid, unread}. */
  setRead(key, { readid, unread }) {
    const conv = this.#conv(key);
    if (readid < conv.readid) return; // marks only move forward; an older answer came late
    conv.readid = readid;
    conv.unread = unread;
    this.render();
  }

  totalUnread() {
    let total = 0;
    for (const c of this.#convs.values()) total += c.unread;
    return total;
  }

  #conv(key) {
    let conv = this.#convs.get(key);
    if (!conv) {
      conv = { last: null, unread: 0, readid: 0, at: 0 };
      this.#convs.set(key, conv);
    }
    return conv;
  }

  /** Redraws both lists (cheap at contact-list sizes; keeps the code free of diffing). */
  render() {
    this.#fill(this.friendList, 'friend', [...this.#friends.values()], (u) => u.nickname, 'No friends yet.');
    this.#fill(this.groupList, 'group', [...this.#groups.values()], (g) => g.name, 'No groups yet.');
    this.afterRender();
  }

  #avatar(kind, id, name, picture) {
    const avatar = el('span', { class: `contact__avatar contact__avatar--${kind}`, 'aria-hidden': 'true',
      text: name.slice(0, 1).toUpperCase() });
    // A friend has the colour of the avatar beside their messages; groups are shifted.
    avatar.style.setProperty('--hue', (avatarHue(id) + (kind === 'group' ? 180 : 0)) % 360);
    return withPicture(avatar, picture);
  }

  /** The avatar of a conversation (the friend's picture or the group's icon), for the header. */
  avatarOf(key) {
    const { cmd, dstid } = parseKey(key);
    const entry = this.entryOf(key);
    const kind = cmd === Cmd.GROUP ? 'group' : 'friend';
    const name = (cmd === Cmd.GROUP ? entry?.name : this.#names.get(dstid)) || '?';
    return this.#avatar(kind, dstid, name, cmd === Cmd.GROUP ? entry?.icon : this.#names.avatar(dstid));
  }

  /** How many unread messages conversation `key` has (before it is opened and marked). */
  unreadOf(key) {
    return this.#convs.get(key)?.unread ?? 0;
  }

  #preview(kind, last) {
    if (!last) return '';
    if (last.media === Media.SYSTEM) return systemText(last, (id) => this.#names.get(id));
    const text = previewText(last);
    if (last.userid === this.#me) return `You: ${text}`;
    if (kind !== 'group') return text;
    if (!this.#names.has(last.userid)) this.#names.resolve(last.userid).then((n) => n && this.render());
    return `${this.#names.get(last.userid)}: ${text}`;
  }

  #fill(list, kind, rows, nameOf, emptyText) {
    const cmd = kind === 'group' ? Cmd.GROUP : Cmd.SINGLE;
    const conv = (row) => this.#convs.get(convKey(cmd, row.id));
    rows.sort((a, b) => (conv(b)?.at ?? 0) - (conv(a)?.at ?? 0) || String(nameOf(a)).localeCompare(String(nameOf(b))));
    const items = rows.map((row) => {
      const key = convKey(cmd, row.id);
      const { last = null, unread = 0 } = conv(row) ?? {};
      const name = nameOf(row) || `#${row.id}`;
      const when = last?.createat;
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
          this.#avatar(kind, row.id, name, kind === 'group' ? row.icon : row.avatar),
          el(
            'span',
            { class: 'contact__main' },
            el(
              'span',
              { class: 'contact__top' },
              el('span', { class: 'contact__name', text: name }),
              el('span', { class: 'contact__id', text: `#${row.id}` }),
              when ? el('time', { class: 'contact__time', datetime: new Date(when).toISOString(), text: shortTime(when) }) : null,
            ),
            el('span', { class: 'contact__last', text: this.#preview(kind, last) }),
          ),
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
      const answer = await this.requestFriend(body);
      byId('add-friend-input').value = '';
      return answer;
    });
    handleSubmit(byId('create-group-form'), byId('create-group-msg'), async (data) => {
      const name = String(data.get('name') ?? '').trim();
      if (!name) throw new Error('Enter a group name.');
      const group = await postData('/contact/createcommunity', { name });
      byId('create-group-input').value = '';
      await this.load();
      this.#onOpen(convKey(Cmd.GROUP, group.id));
      return `Created “${group.name}”. Invite people with the (i) button above the chat.`;
    });
    handleSubmit(byId('join-group-form'), byId('join-group-msg'), async (data) => {
      const text = String(data.get('dstid') ?? '').trim();
      // An invite link (or its code), else the id of an open group.
      const code = text.match(/(?:\/invite\/|[?&]join=)([0-9a-fA-F]{16,64})/)?.[1] ?? text.match(/^[0-9a-fA-F]{32}$/)?.[0];
      const group = await postData('/contact/joincommunity', code ? { code } : { dstid: positiveId(text, 'group id') });
      byId('join-group-input').value = '';
      await this.load();
      this.#onOpen(convKey(Cmd.GROUP, group.id));
      return `Joined ${this.titleOf(convKey(Cmd.GROUP, group.id))}.`;
    });
  }

  /**
   * Sends a friend request ({dstid} or {mobile}); the answer's words for the form. Already
   * asked by them (or a server with direct adds): friends at once, and their chat opens.
   */
  async requestFriend(body) {
    let answer;
    try {
      answer = await postData('/contact/addfriend', body);
    } catch (err) {
      throw new Error(requestError(err));
    }
    const user = answer?.user ?? {};
    this.#names.learn([user]);
    const name = user.nickname ?? 'them';
    if (answer?.status !== 'friends') return `Request sent to ${name}.`;
    await this.load();
    this.#onOpen(convKey(Cmd.SINGLE, user.id));
    return `You and ${name} are now friends.`;
  }
}
