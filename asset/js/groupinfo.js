// A group's info panel (the ⓘ button of a group chat): members with roles, an invite link
// with copy and QR, leave; for admins and the owner the settings in groupadmin.js, kick,
// and for the owner making or unmaking admins.
import { postData, postRows } from './api.js';
import { el } from './dom.js';
import { adminSections } from './groupadmin.js';
import { actionButton, closePanel, confirmButton, isPanelOpen, linkBox, openPanel, panelSection, refillPanel } from './panel.js';

const ROLES = ['member', 'admin', 'owner'];
/** A role as a word, whether the server sends it as a word or as Contact.role's number. */
export const roleName = (role) => (typeof role === 'number' ? ROLES[role] ?? 'member' : role || 'member');
const RANK = { member: 0, admin: 1, owner: 2 };

export class GroupInfo {
  #me;
  #names;
  #onChanged;
  #group = null;

  /** me: our user id; onChanged(): the group list needs a reload (renamed, left...). */
  constructor({ me, names, onChanged }) {
    this.#me = me;
    this.#names = names;
    this.#onChanged = onChanged;
  }

  /** Opens the panel for `group` (a community row with `role`, `open`, `history`). */
  async open(group) {
    this.#group = group;
    openPanel('group', group.name || `Group #${group.id}`, el('p', { class: 'hint', text: 'Loading members…' }));
    await this.refresh();
  }

  /** Draws the panel again from fresh member rows (after any change, or a live one). */
  async refresh(group = this.#group) {
    if (!group) return;
    this.#group = group;
    let members;
    try {
      members = await postRows('/contact/members', { dstid: group.id });
    } catch (err) {
      refillPanel('group', el('p', { class: 'form-msg', dataset: { kind: 'error' }, text: `Could not load the group: ${err.message}` }));
      return;
    }
    this.#names.learn(members.map((m) => m.user));
    const mine = members.find((m) => m.user.id === this.#me);
    const role = roleName(mine?.role ?? group.role);
    const after = () => this.#changed();
    refillPanel(
      'group',
      this.#summary(group, role),
      this.#memberSection(group, members, role),
      this.#inviteSection(group),
      ...(RANK[role] >= 1 ? adminSections(group, { onChanged: after }) : []),
      panelSection('Leave', confirmButton('Leave group', `Leave ${group.name}? You will need a new invite to come back.`, async () => {
        await postData('/contact/leavecommunity', { dstid: group.id });
        closePanel();
        this.#onChanged();
      }, { 'data-action': 'leave' })),
    );
  }

  isOpenFor(groupId) {
    return isPanelOpen('group') && this.#group?.id === groupId;
  }

  async #changed() {
    const group = await this.#onChanged(this.#group.id);
    if (isPanelOpen('group')) await this.refresh(group ?? this.#group);
  }

  #summary(group, role) {
    const kind = group.open ? 'Open: anyone with the id can join' : 'Invite only';
    const history = group.history === 'all' ? 'new members see all history' : 'new members see messages from their join on';
    return el(
      'div',
      { class: 'panel__summary' },
      el('p', { class: 'panel__meta', text: `Group #${group.id} · ${kind} · ${history} · you are ${role === 'owner' ? 'the owner' : `a${role === 'admin' ? 'n admin' : ' member'}`}` }),
      group.memo ? el('p', { class: 'panel__memo', id: 'group-memo', text: group.memo }) : null,
    );
  }

  #memberSection(group, members, role) {
    const rows = [...members].sort((a, b) => RANK[roleName(b.role)] - RANK[roleName(a.role)]
      || String(a.user.nickname).localeCompare(String(b.user.nickname)));
    const items = rows.map((m) => {
      const theirs = roleName(m.role);
      const name = m.user.nickname || `User ${m.user.id}`;
      const li = el('li', { class: 'row member', dataset: { userid: m.user.id, role: theirs } },
        el('span', { class: 'row__name', text: m.user.id === this.#me ? `${name} (you)` : name }),
        theirs === 'member' ? null : el('span', { class: `role role--${theirs}`, text: theirs }));
      if (m.user.id === this.#me) return li;
      if (role === 'owner') {
        const next = theirs === 'admin' ? 'member' : 'admin';
        if (theirs !== 'owner') {
          li.append(actionButton(next === 'admin' ? 'Make admin' : 'Remove admin', async () => {
            await postData('/contact/setrole', { dstid: group.id, userid: m.user.id, role: next });
            await this.#changed();
          }, { 'data-action': 'setrole', 'aria-label': `${next === 'admin' ? 'Make admin' : 'Remove admin'}: ${name}` }));
        }
      }
      if (RANK[role] > RANK[theirs]) {
        li.append(confirmButton('Remove', `Remove ${name} from the group?`, async () => {
          await postData('/contact/kick', { dstid: group.id, userid: m.user.id });
          await this.#changed();
        }, { 'data-action': 'kick', 'aria-label': `Remove ${name}` }));
      }
      return li;
    });
    return panelSection(`Members (${members.length})`, el('ul', { id: 'member-list', class: 'plain-list' }, ...items));
  }

  #inviteSection(group) {
    const slot = el('div', { class: 'invite-slot' });
    const make = actionButton('Create invite link', async () => {
      const invite = await postData('/contact/invite', { dstid: group.id });
      slot.replaceChildren(linkBox('invite-url', new URL(invite.url, location.origin).href, 'Invite link'));
      return 'Anyone with this link can join until it is revoked.';
    }, { id: 'make-invite' });
    slot.append(make);
    return panelSection('Invite', slot);
  }
}
