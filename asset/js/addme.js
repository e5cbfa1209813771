// The "Me" panel (click your name): the "Add me" card with id, mobile, link and QR; the
// "find me by my mobile number" setting, presence and read receipts (livesettings.js); people
// you blocked, to unblock; a sign-up link.
import { postData, postRows } from './api.js';
import { el } from './dom.js';
import { liveSettings } from './livesettings.js';
import { actionButton, isPanelOpen, linkBox, openPanel, panelSection, refillPanel } from './panel.js';

/** The link that offers "Send a friend request to ME" to whoever opens it. */
export function addMeUrl(me) {
  return `${location.origin}/chat.html?add=${me.id}`;
}

function card(me) {
  const facts = el(
    'dl',
    { class: 'facts' },
    el('dt', { text: 'User id' }),
    el('dd', { id: 'me-id', text: String(me.id) }),
    me.mobile ? el('dt', { text: 'Mobile' }) : null,
    me.mobile ? el('dd', { id: 'me-mobile', text: me.mobile }) : null,
  );
  return panelSection(
    'Add me',
    el('p', { class: 'hint', text: 'Share this link or let a friend scan the code: it offers to send you a friend request.' }),
    facts,
    linkBox('addme-url', addMeUrl(me), 'Your add-me link'),
  );
}

function findableSetting(me) {
  const box = el('input', { id: 'findable', type: 'checkbox', checked: me.findable !== false });
  box.addEventListener('change', async () => {
    box.disabled = true;
    try {
      const settings = await postData('/user/settings', { findable: box.checked });
      me.findable = settings?.findable ?? box.checked;
    } catch (err) {
      box.checked = !box.checked; // the server kept the old value
      refillStatus(`Could not save: ${err.message}`);
    } finally {
      box.disabled = false;
    }
  });
  return panelSection('Privacy', el('label', { class: 'check' }, box, ' Others can find me by my mobile number'));
}

function refillStatus(text) {
  const out = document.getElementById('panel-msg');
  out.textContent = text;
  out.dataset.kind = 'error';
}

async function blockedList(onChanged) {
  const list = el('ul', { id: 'blocked-list', class: 'plain-list' });
  let rows = [];
  try {
    rows = await postRows('/contact/blocked');
  } catch (err) {
    list.append(el('li', { class: 'contacts__empty', text: `Could not load: ${err.message}` }));
    return panelSection('Blocked', list);
  }
  const items = rows.map((user) => {
    const li = el('li', { class: 'row', dataset: { userid: user.id } },
      el('span', { class: 'row__name', text: `${user.nickname || 'User'} #${user.id}` }));
    li.append(actionButton('Unblock', async () => {
      await postData('/contact/unblock', { dstid: user.id });
      li.remove();
      onChanged();
      return `Unblocked ${user.nickname}.`;
    }, { 'aria-label': `Unblock ${user.nickname}` }));
    return li;
  });
  list.replaceChildren(...(items.length ? items : [el('li', { class: 'contacts__empty', text: 'Nobody.' })]));
  return panelSection('Blocked', list);
}

function signupInvite() {
  const slot = el('div');
  const make = actionButton('Make a sign-up link', async () => {
    const invite = await postData('/user/signupinvite', { uses: 1 });
    slot.replaceChildren(linkBox('signup-url', new URL(invite.url, location.origin).href, 'Sign-up link'));
    return 'One person can create an account with this link.';
  });
  slot.append(make);
  return panelSection('Invite someone to this server', slot);
}

const extraSections = []; // (me) -> Node: sections other modules add at the top (profile.js)

/** Adds a section to the top of the panel, built afresh each time it opens. */
export function addMeSection(build) {
  extraSections.push(build);
}

/** Opens the panel; me: /user/me's answer (plus the mobile kept from login). */
export async function openMePanel(me, { onChanged, registration }) {
  const head = [...extraSections.map((build) => build(me)), card(me), findableSetting(me), liveSettings(me)];
  openPanel('me', `${me.nickname} (#${me.id})`, ...head, panelSection('Blocked', el('p', { class: 'hint', text: 'Loading…' })));
  const blocked = await blockedList(onChanged);
  // Sign-up links: for anyone on an invite-only server, for server admins on any.
  const invites = registration === 'invite' ? signupInvite() : null;
  if (isPanelOpen('me')) refillPanel('me', ...head, blocked, invites);
}
