// The parts of a group's info panel only admins and the owner see: name, notice, open or
// invite-only, what new members see, and the invite links made so far (to revoke).
import { postData, postRows } from './api.js';
import { el, handleSubmit } from './dom.js';
import { actionButton, panelSection } from './panel.js';

function textForm(id, label, value, maxLength, save) {
  const input = el('input', { id, name: 'value', type: 'text', value: value ?? '', maxlength: maxLength, autocomplete: 'off' });
  const out = el('p', { class: 'form-msg', 'aria-live': 'polite' });
  const form = el('form', { class: 'mini-form' },
    el('label', { for: id, text: label }),
    el('div', { class: 'mini-form__row' }, input, el('button', { type: 'submit', class: 'btn btn--small', text: 'Save' })),
    out);
  handleSubmit(form, out, (data) => save(String(data.get('value') ?? '').trim()));
  return form;
}

function invitesList(group) {
  const list = el('ul', { id: 'invite-list', class: 'plain-list' }, el('li', { class: 'hint', text: 'Loading…' }));
  postRows('/contact/invites', { dstid: group.id }).then(
    (rows) => {
      const live = rows.filter((r) => !r.revoked);
      const items = live.map((invite) => {
        const uses = invite.maxuses ? `${invite.uses}/${invite.maxuses} uses` : `${invite.uses} uses`;
        const expiry = invite.expireat ? ` · until ${new Date(invite.expireat).toLocaleString()}` : '';
        const li = el('li', { class: 'row', dataset: { code: invite.code } },
          el('span', { class: 'row__name', text: `…${String(invite.code).slice(-6)} · ${uses}${expiry}` }));
        li.append(actionButton('Revoke', async () => {
          await postData('/contact/revokeinvite', { code: invite.code });
          li.remove();
          return 'Revoked: that link no longer lets anyone in.';
        }, { 'aria-label': `Revoke invite …${String(invite.code).slice(-6)}` }));
        return li;
      });
      list.replaceChildren(...(items.length ? items : [el('li', { class: 'contacts__empty', text: 'No active invite links.' })]));
    },
    (err) => list.replaceChildren(el('li', { class: 'contacts__empty', text: `Could not load: ${err.message}` })),
  );
  return list;
}

/** The admin sections for `group`; onChanged() after a saved change. */
export function adminSections(group, { onChanged }) {
  const update = async (fields, note) => {
    await postData('/contact/updatecommunity', { dstid: group.id, ...fields });
    await onChanged();
    return note;
  };
  const open = el('input', { id: 'group-open', type: 'checkbox', checked: Boolean(group.open) });
  const history = el('select', { id: 'group-history', 'aria-label': 'What new members see' },
    el('option', { value: 'joined', text: 'Messages from their join on', selected: group.history !== 'all' }),
    el('option', { value: 'all', text: 'All earlier messages too', selected: group.history === 'all' }));
  const status = el('p', { class: 'form-msg', 'aria-live': 'polite' });
  const save = async (fields) => {
    status.textContent = '';
    try {
      await update(fields);
    } catch (err) {
      status.textContent = err.message;
      status.dataset.kind = 'error';
    }
  };
  open.addEventListener('change', () => save({ open: open.checked }));
  history.addEventListener('change', () => save({ history: history.value }));
  return [
    panelSection(
      'Settings',
      textForm('group-name', 'Name', group.name, 64, (name) => {
        if (!name) throw new Error('Enter a name.');
        return update({ name }, 'Renamed.');
      }),
      textForm('group-notice', 'Notice (shown to every member)', group.memo, 500, (memo) => update({ memo }, 'Notice saved.')),
      el('label', { class: 'check' }, open, ' Open: anyone who knows the group id can join'),
      el('label', { class: 'stack-label', for: 'group-history', text: 'New members see' }),
      history,
      status,
    ),
    panelSection('Invite links', invitesList(group)),
  ];
}
