// While the tab is hidden: a system notification for each new message from someone else
// (after the user allowed them with a click), a short sound that can be muted, and the
// total unread count in the title ("(3) chatd") and on the favicon.
import { replaceShortcodes } from './emoji.js';
import { previewText } from './media.js';
import { Media } from './wire.js';

const MUTE_KEY = 'chatd_sound_muted'; // '1' = no sound, per browser
const TITLE = 'chatd';

export const notificationsSupported = () => typeof window.Notification === 'function';

/** 'granted' | 'denied' | 'default' | 'unsupported'. */
export function permission() {
  return notificationsSupported() ? Notification.permission : 'unsupported';
}

/** Asks the browser for permission; call only from a click (browsers ignore it otherwise). */
export async function askPermission() {
  if (!notificationsSupported()) return 'unsupported';
  try {
    return await Notification.requestPermission();
  } catch {
    return Notification.permission;
  }
}

export function soundMuted() {
  try {
    return localStorage.getItem(MUTE_KEY) === '1';
  } catch {
    return false;
  }
}

export function setSoundMuted(muted) {
  try {
    if (muted) localStorage.setItem(MUTE_KEY, '1');
    else localStorage.removeItem(MUTE_KEY);
  } catch {
    // storage refused: the choice lasts until the page goes
  }
}

let audio = null;
// Browsers start an AudioContext only after a user gesture: make it on the first one.
function unlockAudio() {
  if (audio || typeof AudioContext !== 'function') return;
  audio = new AudioContext();
}
window.addEventListener('pointerdown', unlockAudio, { once: true, capture: true });
window.addEventListener('keydown', unlockAudio, { once: true, capture: true });

/** Two short soft tones (WebAudio, nothing to download). */
export function playChime() {
  if (soundMuted() || !audio) return;
  if (audio.state === 'suspended') audio.resume().catch(() => {});
  const start = audio.currentTime + 0.01;
  [880, 1320].forEach((freq, i) => {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    const t = start + i * 0.12;
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, t);
    gain.gain.exponentialRampToValueAtTime(0.15, t + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.18);
    osc.connect(gain).connect(audio.destination);
    osc.start(t);
    osc.stop(t + 0.2);
  });
}

/** The favicon: a speech bubble, with a red badge and the count when there is unread. */
function drawFavicon(count) {
  const canvas = document.createElement('canvas');
  canvas.width = 64;
  canvas.height = 64;
  const g = canvas.getContext('2d');
  if (!g) return null;
  g.fillStyle = '#1d5bbf';
  g.beginPath();
  g.roundRect(4, 8, 48, 38, 12);
  g.moveTo(14, 44);
  g.lineTo(10, 58);
  g.lineTo(28, 44);
  g.fill();
  if (count > 0) {
    const text = count > 99 ? '99+' : String(count);
    g.fillStyle = '#d93025';
    g.beginPath();
    g.arc(44, 22, 20, 0, Math.PI * 2);
    g.fill();
    g.fillStyle = '#fff';
    g.font = `bold ${text.length > 2 ? 18 : 26}px sans-serif`;
    g.textAlign = 'center';
    g.textBaseline = 'middle';
    g.fillText(text, 44, 23);
  }
  return canvas.toDataURL('image/png');
}

let shownCount = -1;
/** Puts the total unread count in the title and on the favicon. */
export function showUnread(count) {
  document.title = count ? `(${count}) ${TITLE}` : TITLE;
  if (count === shownCount) return;
  shownCount = count;
  const url = drawFavicon(count);
  const link = document.querySelector('link[rel="icon"]');
  if (url && link) {
    link.href = url;
    link.dataset.unread = String(count);
  }
}

/** What a notification says about a message: its text, or what kind of media it is. */
export function notificationBody(msg) {
  if (msg.media === Media.TEXT) return replaceShortcodes(msg.content ?? '').slice(0, 200);
  if (msg.media === Media.IMAGE) return msg.content ? `Photo: ${msg.content.slice(0, 180)}` : 'Photo';
  if (msg.media === Media.VOICE) return 'Voice message';
  return previewText(msg);
}

/**
 * Listens to the socket; for a new message from someone else while the page is hidden,
 * shows a notification (clicking it brings the page forward and opens that chat) and chimes.
 * titleOf(key), readIdOf(key): from the sidebar; openConversation(key).
 */
export class Notifier {
  #me;
  #names;
  #titleOf;
  #readIdOf;
  #open;
  #shown = new Map(); // conversation key -> its latest notification (replaced, not stacked)

  constructor({ me, names, socket, store, titleOf, readIdOf, openConversation }) {
    this.#me = me;
    this.#names = names;
    this.#titleOf = titleOf;
    this.#readIdOf = readIdOf;
    this.#open = openConversation;
    socket.addEventListener('message', ({ detail: frame }) => this.#onMessage(store.keyOf(frame), frame));
    // Back on the page: the notifications have done their job.
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState !== 'visible') return;
      for (const n of this.#shown.values()) n.close();
      this.#shown.clear();
    });
  }

  #onMessage(key, msg) {
    if (document.visibilityState !== 'hidden') return;
    // Not ours, not a system line (10) or an event row (11-13: edit, recall, reaction), and
    // not a replayed one already read elsewhere.
    if (msg.userid === this.#me || msg.media >= Media.SYSTEM || msg.id <= this.#readIdOf(key)) return;
    playChime();
    if (permission() !== 'granted') return;
    const sender = this.#names.get(msg.userid);
    const title = msg.cmd === 11 ? `${sender} in ${this.#titleOf(key)}` : sender;
    let note;
    try {
      note = new Notification(title, { body: notificationBody(msg), tag: key, icon: this.#names.avatar(msg.userid) || undefined });
    } catch {
      return; // some mobile browsers allow notifications only from a service worker
    }
    this.#shown.get(key)?.close();
    this.#shown.set(key, note);
    note.onclick = () => {
      window.focus();
      this.#open(key);
      note.close();
    };
  }
}
