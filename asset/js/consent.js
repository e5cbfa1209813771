// Who is let in: friend requests, friend menus, group info, the "Me" panel, live cmd 15
// frames, and what happens to the open conversation when a friendship or membership ends.
import { openMePanel } from './addme.js';
import { byId } from './dom.js';
import { openFriendMenu } from './friendmenu.js';
import { GroupInfo } from './groupinfo.js';
import { followLinks } from './links.js';
import { bindPanel } from './panel.js';
import { Requests } from './requests.js';
import { convKey, parseKey } from './store.js';
import { Cmd, Media } from './wire.js';

const ENDED = {
  [Cmd.GROUP]: 'You are no longer a member of this group: you can read what came before, not send.',
  [Cmd.SINGLE]: 'You are no longer friends: you can read your messages, not send new ones.',
};

/**
 * Wires it all to the page. reloadContacts(): reloads the sidebar (resolves to success);
 * openConversation(key); registration: the server's mode (open | invite | closed).
 * Returns {opened(), followLinks()} for chat.js.
 */
export function wireConsent({ me, socket, sidebar, names, view, composer, reloadContacts, openConversation, registration }) {
  bindPanel();
  const info = byId('conv-info');
  const reload = async () => {
    const ok = await reloadContacts();
    sync();
    return ok;
  };
  const requests = new Requests({ names, onFriend: () => reload() });
  const groupInfo = new GroupInfo({
    me: me.id,
    names,
    onChanged: async (groupId) => {
      await reload();
      return groupId ? sidebar.entryOf(convKey(Cmd.GROUP, groupId)) : null;
    },
  });

  /** The open conversation is still ours to write in, or not any more. */
  function sync() {
    const key = view.key;
    if (!key) return;
    const listed = sidebar.knows(key);
    info.hidden = !listed;
    if (listed) composer.enable();
    else composer.disable(ENDED[parseKey(key).cmd]);
  }

  info.addEventListener('click', () => {
    const entry = view.key && sidebar.entryOf(view.key);
    if (!entry) return;
    if (parseKey(view.key).cmd === Cmd.GROUP) groupInfo.open(entry);
    else openFriendMenu(entry, { onChanged: reload });
  });
  byId('me-name').addEventListener('click', () => openMePanel(me, { onChanged: reload, registration }));

  socket.addEventListener('notice', ({ detail: frame }) => {
    if (frame.type === 'resync') {
      // The server's bus was down a while: requests and group changes may not have come.
      requests.load();
      reload();
      return;
    }
    requests.onNotice(frame);
    if (frame.user) names.learn([frame.user]);
    if (['friend_added', 'friend_removed', 'group_added', 'group_removed'].includes(frame.type)) {
      reload().then(() => {
        const id = frame.group?.id ?? frame.dstid;
        if (id && groupInfo.isOpenFor(id)) groupInfo.refresh(sidebar.entryOf(convKey(Cmd.GROUP, id)) ?? undefined);
      });
    }
  });
  // A system line: members, the name or the settings changed; the list and panel follow.
  socket.addEventListener('message', ({ detail: frame }) => {
    if (frame.media !== Media.SYSTEM) return;
    reload().then(() => {
      if (groupInfo.isOpenFor(frame.dstid)) groupInfo.refresh(sidebar.entryOf(convKey(Cmd.GROUP, frame.dstid)) ?? undefined);
    });
  });
  // cmd 15 frames are not replayed: after a drop, ask again.
  let first = true;
  socket.addEventListener('online', () => {
    if (!first) requests.load();
    first = false;
  });
  requests.load();

  return {
    /** A conversation was opened from the list. */
    opened: sync,
    /** Once the contacts are first loaded: act on ?join= / ?add=. */
    followLinks: () => followLinks({ me, sidebar, reloadContacts: reload, openConversation }),
  };
}
