// The "Me" panel's switches for presence and read receipts (POST /user/settings). Both work
// both ways, as the server does it: hide your online status and you see nobody's; stop
// sending read receipts and you see nobody's.
import { postData } from './api.js';
import { el } from './dom.js';
import { panelMessage, panelSection } from './panel.js';

function toggle(me, field, id, label) {
  const box = el('input', { id, type: 'checkbox', checked: me[field] !== false });
  box.addEventListener('change', async () => {
    box.disabled = true;
    try {
      const settings = await postData('/user/settings', { [field]: box.checked });
      me[field] = settings?.[field] ?? box.checked;
    } catch (err) {
      box.checked = !box.checked; // the server kept the old value
      panelMessage(`Could not save: ${err.message}`);
    } finally {
      box.disabled = false;
    }
  });
  return el('label', { class: 'check' }, box, ` ${label}`);
}

/** The section; me: /user/me's answer (kept up to date as the switches change). */
export function liveSettings(me) {
  return panelSection(
    'Online status and read receipts',
    toggle(me, 'show_presence', 'show-presence', 'Friends see when I am online and when I was last seen'),
    toggle(me, 'send_receipts', 'send-receipts', 'Others see when I have read their messages'),
    el('p', { class: 'hint', text: 'Turn one off and you no longer see it for others either.' }),
  );
}
