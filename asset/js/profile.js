// Your profile (nickname, picture, a line about you) edited in a panel, opened from the "Me"
// panel; the notification settings there too; and keeping names and pictures current when
// a cmd 15 `user_updated` frame says someone (a friend, or you elsewhere) changed theirs.
import { postData, session } from './api.js';
import { addMeSection } from './addme.js';
import { byId, el } from './dom.js';
import { askPermission, permission, setSoundMuted, soundMuted } from './notify.js';
import { actionButton, closePanel, openPanel, panelMessage, panelSection } from './panel.js';
import { renderAvatar } from './render.js';
import { uploadFile } from './uploads.js';

const NICKNAME_MAX = 32;
const MEMO_MAX = 200;
const OFFER_DISMISSED = 'chatd_notify_offer_dismissed';

const PERMISSION_TEXT = {
  granted: 'Notifications are on for this browser.',
  denied: 'Notifications are blocked: allow them in the browser’s site settings.',
  default: 'Get a notification when a message comes while this tab is in the background.',
  unsupported: 'This browser cannot show notifications.',
};

/** The "Allow notifications" control; `after()` runs once the user has decided. */
function allowButton(after) {
  return el('button', {
    type: 'button',
    class: 'btn btn--small btn--primary',
    id: 'notify-allow',
    text: 'Allow notifications',
    // Only from this click: browsers refuse (and some penalise) a prompt nobody asked for.
    onclick: async () => {
      await askPermission();
      after();
    },
  });
}

function notificationSection() {
  const status = el('p', { class: 'hint', id: 'notify-status' });
  const slot = el('div', { class: 'panel__actions' });
  const draw = () => {
    const state = permission();
    status.textContent = PERMISSION_TEXT[state];
    slot.replaceChildren(...(state === 'default' ? [allowButton(draw)] : []));
    byId('notify-offer')?.toggleAttribute('hidden', state !== 'default');
  };
  draw();
  const sound = el('input', { id: 'sound-on', type: 'checkbox', checked: !soundMuted() });
  sound.addEventListener('change', () => setSoundMuted(!sound.checked));
  return panelSection('Notifications', status, slot,
    el('label', { class: 'check' }, sound, ' Play a sound for new messages while this tab is in the background'));
}

/** The offer at the top of the contact list, until allowed, refused or dismissed. */
function notificationOffer() {
  let dismissed = false;
  try {
    dismissed = localStorage.getItem(OFFER_DISMISSED) === '1';
  } catch {
    // storage refused: offer again next time
  }
  if (dismissed || permission() !== 'default') return;
  const offer = el('div', { id: 'notify-offer', class: 'notify-offer', role: 'region', 'aria-label': 'Notifications' });
  const hide = () => offer.remove();
  offer.append(
    el('p', { text: PERMISSION_TEXT.default }),
    el('div', { class: 'notify-offer__actions' },
      allowButton(hide),
      el('button', { type: 'button', class: 'btn btn--small', text: 'Not now', onclick: () => {
        try {
          localStorage.setItem(OFFER_DISMISSED, '1');
        } catch {
          // shown again after a reload, no harm
        }
        hide();
      } })),
  );
  byId('sidebar').querySelector('.sidebar__head').after(offer);
}

export class Profile {
  #me;
  #names;
  #onChanged;

  /** me: the signed-in user (kept current here); onChanged(user, isMe): redraw what shows it. */
  constructor({ me, names, socket, onChanged }) {
    this.#me = me;
    this.#names = names;
    this.#onChanged = onChanged;
    addMeSection(() => this.#section());
    addMeSection(notificationSection);
    notificationOffer();
    socket.addEventListener('notice', ({ detail: frame }) => {
      if (frame.type === 'user_updated' && frame.user?.id != null) this.#learn(frame.user);
    });
    this.#showMe();
  }

  #learn(user) {
    this.#names.learn([user]);
    const isMe = user.id === this.#me.id;
    if (isMe) {
      Object.assign(this.#me, { nickname: user.nickname, avatar: user.avatar, memo: user.memo });
      session.save(this.#me);
      this.#showMe();
    }
    this.#onChanged(user, isMe);
  }

  #showMe() {
    const me = this.#me;
    byId('me-name').replaceChildren(
      renderAvatar(me.id, me.nickname, me.avatar),
      el('span', { class: 'me__name', text: `${me.nickname ?? 'Me'} (#${me.id})` }),
    );
  }

  #section() {
    const me = this.#me;
    return panelSection(
      'Profile',
      el('div', { class: 'profile-card' },
        renderAvatar(me.id, me.nickname, me.avatar),
        el('div', {},
          el('p', { class: 'profile-card__name', text: me.nickname }),
          me.memo ? el('p', { class: 'hint', text: me.memo }) : null)),
      el('div', { class: 'panel__actions' },
        el('button', { type: 'button', class: 'btn btn--small', id: 'profile-edit', text: 'Edit profile',
          onclick: () => this.open() })),
    );
  }

  /** The profile panel: picture (uploaded as an image, previewed), nickname, memo. */
  open() {
    const me = this.#me;
    let avatar = me.avatar || '';
    const preview = el('div', { class: 'profile-preview', id: 'profile-preview' });
    const drawPreview = () => preview.replaceChildren(renderAvatar(me.id, nickname.value || me.nickname, avatar));
    const nickname = el('input', { id: 'profile-nickname', type: 'text', maxlength: NICKNAME_MAX, value: me.nickname ?? '',
      autocomplete: 'nickname', required: true });
    const memo = el('textarea', { id: 'profile-memo', rows: 2, maxlength: MEMO_MAX, placeholder: 'A line about you' });
    memo.value = me.memo ?? '';
    const file = el('input', { id: 'profile-file', type: 'file', accept: 'image/*', hidden: true });
    const progress = el('progress', { id: 'profile-progress', max: 100, value: 0, hidden: true });
    const choose = el('button', { type: 'button', class: 'btn btn--small', text: 'Choose picture', onclick: () => file.click() });
    const remove = el('button', { type: 'button', class: 'btn btn--small', id: 'profile-remove', text: 'Remove picture',
      onclick: () => {
        avatar = '';
        drawPreview();
      } });
    file.addEventListener('change', async () => {
      const chosen = file.files?.[0];
      file.value = '';
      if (!chosen) return;
      panelMessage('');
      progress.hidden = false;
      choose.disabled = true;
      try {
        const media = await uploadFile(chosen, 'image', (f) => (progress.value = Math.round(f * 100))).done;
        avatar = media.pic || media.url; // the thumbnail: small enough for every list
        drawPreview();
      } catch (err) {
        panelMessage(`Could not upload the picture: ${err.message}`);
      } finally {
        progress.hidden = true;
        choose.disabled = false;
      }
    });
    nickname.addEventListener('input', drawPreview);
    const save = actionButton('Save', async () => {
      const user = await postData('/user/profile', { nickname: nickname.value, memo: memo.value, avatar });
      this.#learn(user);
      closePanel();
    }, { class: 'btn btn--small btn--primary', id: 'profile-save' });
    drawPreview();
    openPanel('profile', 'Your profile',
      panelSection('Picture', el('div', { class: 'profile-picture' }, preview,
        el('div', { class: 'panel__actions' }, choose, remove)), file, progress),
      panelSection('Nickname', el('label', { class: 'sr-only', for: 'profile-nickname', text: 'Nickname' }), nickname),
      panelSection('About you', el('label', { class: 'sr-only', for: 'profile-memo', text: 'About you' }), memo),
      el('div', { class: 'panel__actions' }, save));
  }
}

/** Puts a conversation's avatar (a node from sidebar.avatarOf) beside the header's title. */
export function showHeaderAvatar(node) {
  const slot = byId('conv-avatar');
  if (!slot) return;
  slot.replaceChildren(...(node ? [node] : []));
  slot.hidden = !node;
}
