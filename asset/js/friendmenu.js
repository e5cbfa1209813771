// A friend's menu (the ⓘ button of a 1:1 chat): who they are, unfriend, block.
import { postData } from './api.js';
import { el } from './dom.js';
import { closePanel, confirmButton, openPanel, panelSection } from './panel.js';

/** friend: the public user; onChanged(): the friend list needs a reload. */
export function openFriendMenu(friend, { onChanged }) {
  const name = friend.nickname || `User ${friend.id}`;
  const unfriend = confirmButton('Unfriend', `Remove ${name} from your friends?`, async () => {
    await postData('/contact/unfriend', { dstid: friend.id });
    closePanel();
    onChanged();
  }, { 'data-action': 'unfriend' });
  const block = confirmButton('Block', `Block ${name}? They will not be able to message you or send you requests.`,
    async () => {
      await postData('/contact/block', { dstid: friend.id });
      closePanel();
      onChanged();
    }, { 'data-action': 'block' });
  openPanel(
    'friend',
    name,
    el('p', { class: 'panel__meta', text: `User #${friend.id}` }),
    friend.memo ? el('p', { class: 'panel__memo', text: friend.memo }) : null,
    panelSection('Friendship', el('div', { class: 'panel__actions' }, unfriend, block)),
    el('p', { class: 'hint', text: 'Your messages stay readable after unfriending. You can unblock people from your own panel (your name at the top).' }),
  );
}
