// What a link into the chat page asks for, once the user is signed in:
//   /chat.html?join=CODE  (where /invite/CODE leads) joins the group and opens it;
//   /chat.html?add=ID     (someone's "Add me" link) offers to send them a friend request.
// The query is dropped from the address first, so a reload does not do it again.
import { postData } from './api.js';
import { el } from './dom.js';
import { actionButton, closePanel, openPanel } from './panel.js';
import { convKey } from './store.js';
import { Cmd } from './wire.js';

/** The sign-in page's address, coming back here (with the invite or add link) afterwards. */
export function loginUrl() {
  const params = new URLSearchParams(location.search);
  const keep = params.has('join') || params.has('add');
  const next = keep ? encodeURIComponent(location.pathname + location.search) : '/chat.html';
  return `/login.html?next=${next}`;
}

function failure(name, title, text) {
  openPanel(name, title, el('p', { id: `${name}-error`, class: 'form-msg', dataset: { kind: 'error' }, text }));
}

/** The words for a refused invite code; the server says which (revoked, expired, used up). */
function joinError(err) {
  if (err.status === 404 || err.status === 403) return `This invite link does not work: ${err.message}`;
  return `Could not join the group: ${err.message}`;
}

async function join(code, { reloadContacts, openConversation }) {
  let group;
  try {
    group = await postData('/contact/joincommunity', { code });
  } catch (err) {
    failure('join', 'Invite link', joinError(err));
    return;
  }
  await reloadContacts();
  openConversation(convKey(Cmd.GROUP, group.id));
}

async function offerFriend(text, { me, sidebar, openConversation }) {
  const id = Number(text);
  if (!Number.isInteger(id) || id <= 0) {
    failure('add', 'Add friend', 'This add-me link is damaged: it names no user.');
    return;
  }
  if (id === me.id) {
    failure('add', 'Add friend', 'This is your own add-me link: share it with others.');
    return;
  }
  const key = convKey(Cmd.SINGLE, id);
  if (sidebar.knows(key)) {
    openConversation(key); // already friends
    return;
  }
  let user;
  try {
    user = await postData('/user/find', { id });
  } catch (err) {
    failure('add', 'Add friend', err.status === 404 ? 'No such user on this server.' : err.message);
    return;
  }
  const name = user.nickname || `User ${id}`;
  const send = actionButton('Send request', async () => {
    const note = await sidebar.requestFriend({ dstid: id });
    actions.replaceChildren(el('button', { type: 'button', class: 'btn btn--small', text: 'Close', onclick: closePanel }));
    return note;
  }, { class: 'btn btn--small btn--primary', id: 'add-send' });
  const actions = el('div', { class: 'panel__actions' }, send,
    el('button', { type: 'button', class: 'btn btn--small', text: 'Not now', onclick: closePanel }));
  openPanel('add', 'Add friend', el('p', { id: 'add-question', text: `Send a friend request to ${name}?` }),
    el('p', { class: 'panel__meta', text: `User #${id}` }), actions);
}

/** Acts on ?join= or ?add= in the address, if there. */
export async function followLinks(ctx) {
  const params = new URLSearchParams(location.search);
  const code = params.get('join');
  const add = params.get('add');
  if (!code && !add) return;
  history.replaceState(null, '', location.pathname);
  if (code) await join(code, ctx);
  else await offerFriend(add, ctx);
}
