// The one side panel (a modal <dialog>) that friend menus, group info and the "Me" card open
// in, plus small helpers its contents share: action buttons, inline confirms, copy, QR.
import { byId, el } from './dom.js';

const dialog = () => byId('panel');

/** Shows `nodes` under `title`; `name` goes in data-panel (styling, tests). */
export function openPanel(name, title, ...nodes) {
  const box = dialog();
  box.dataset.panel = name;
  byId('panel-title').textContent = title;
  byId('panel-body').replaceChildren(...nodes.filter((n) => n != null));
  panelMessage('');
  if (!box.open) box.showModal();
}

/** Replaces the body of the panel `name` if it is still the one open. */
export function refillPanel(name, ...nodes) {
  if (!isPanelOpen(name)) return;
  byId('panel-body').replaceChildren(...nodes.filter((n) => n != null));
}

export function isPanelOpen(name) {
  return dialog().open && dialog().dataset.panel === name;
}

export function closePanel() {
  if (dialog().open) dialog().close();
}

/** The panel's one status line (role=alert): kind 'error' or 'ok'. */
export function panelMessage(text, kind = 'error') {
  const out = byId('panel-msg');
  out.textContent = text;
  if (text) out.dataset.kind = kind;
  else delete out.dataset.kind;
}

/**
 * A button running `action()`; disabled while it runs, a thrown error's message shown in the
 * panel, a returned string shown as success.
 */
export function actionButton(text, action, props = {}) {
  const button = el('button', { type: 'button', class: 'btn btn--small', ...props, text });
  button.addEventListener('click', async () => {
    button.disabled = true;
    panelMessage('');
    try {
      const note = await action();
      if (note) panelMessage(note, 'ok');
    } catch (err) {
      panelMessage(err.message || 'Something went wrong.');
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

/**
 * A button that first asks: it swaps itself for "question [Yes] [Cancel]" in place
 * (no window.confirm: it blocks the page and looks foreign on phones).
 */
export function confirmButton(text, question, action, props = {}) {
  const slot = el('span', { class: 'confirm' });
  const ask = el('button', { type: 'button', class: 'btn btn--small btn--danger', ...props, text });
  const reset = () => slot.replaceChildren(ask);
  ask.addEventListener('click', () => {
    const yes = actionButton(text, async () => {
      const note = await action();
      reset();
      return note;
    }, { class: 'btn btn--small btn--danger', 'data-confirm': 'yes' });
    const no = el('button', { type: 'button', class: 'btn btn--small', text: 'Cancel', onclick: reset });
    slot.replaceChildren(el('span', { class: 'confirm__q', role: 'alert', text: question }), yes, no);
    yes.focus();
  });
  reset();
  return slot;
}

/** A read-only link field with Copy and a QR code of it (made by the server). */
export function linkBox(id, url, label) {
  const input = el('input', { id, class: 'link-box__url', type: 'text', readonly: true, value: url, 'aria-label': label });
  const copy = actionButton('Copy', async () => {
    await copyText(input);
    return 'Copied to the clipboard.';
  }, { 'data-copy': id });
  const qr = el('img', { class: 'qr', src: `/qr.svg?text=${encodeURIComponent(url)}`, alt: `QR code: ${label}`,
    width: 160, height: 160 });
  return el('div', { class: 'link-box' }, el('div', { class: 'mini-form__row' }, input, copy), qr);
}

async function copyText(input) {
  input.select();
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    // No clipboard API (plain http on another host): the old way still works there.
    if (!document.execCommand('copy')) throw new Error('Could not copy: select the link and copy it.');
  }
}

/** A small labelled section of a panel. */
export function panelSection(title, ...nodes) {
  return el('section', { class: 'panel__section' }, el('h3', { text: title }), ...nodes);
}

export function bindPanel() {
  byId('panel-close').addEventListener('click', closePanel);
  // A click on the backdrop (outside the box) closes it, as people expect from sheets.
  dialog().addEventListener('click', (e) => e.target === dialog() && closePanel());
}
