// One bubble per message. Each media type has a renderer in RENDERERS, so emoji (6), image (4)
// and voice (3) slot in with registerMedia() without touching the bubble around them.
// Renderers build nodes with el()/textContent only; a URL from a message must be checked to be
// a same-site /upload/ path before it goes into src/href.
import { el } from './dom.js';
import { replaceShortcodes } from './emoji.js';
import { linkCard } from './linkcard.js';
import { linkify } from './linkify.js';
import { withPicture } from './profile-view.js';
import { Media } from './wire.js';

// Text: :smile: and the other catalog codes show as their character (the stored text is unchanged).
const RENDERERS = new Map([
  [Media.TEXT, renderText],
]);

// Emoji only (with their joiners, variation selectors and skin tones), nothing else.
const ONLY_EMOJI = /^(?:\p{Extended_Pictographic}|\p{Emoji_Modifier}|\p{Regional_Indicator}|\u200d|\ufe0f|\s)+$/u;

function renderText(msg) {
  const content = msg.content ?? '';
  const text = replaceShortcodes(content);
  // One to three emoji alone are shown big, as people expect from other chat apps.
  const jumbo = ONLY_EMOJI.test(text) && [...new Intl.Segmenter().segment(text.trim())].length <= 3;
  // URLs become links (linkify.js); a link's preview card, if the server fetches them, goes below.
  const body = el('p', { class: jumbo ? 'msg__text msg__text--jumbo' : 'msg__text' }, ...linkify(content, replaceShortcodes));
  const card = linkCard(content);
  return card ? el('div', { class: 'msg__linked' }, body, card) : body;
}

// Extra parts of a bubble (a reply's quote, reactions, "edited", the actions button), each
// `part(msg, who) -> {slot: 'top' | 'bottom' | 'meta', node} | null`, in registration order.
const PARTS = [];

/** Registers a bubble part (see PARTS). */
export function registerBubblePart(part) {
  PARTS.push(part);
}

function partsOf(msg, who) {
  const slots = { top: [], bottom: [], meta: [] };
  for (const part of PARTS) {
    const got = part(msg, who);
    if (got?.node) slots[got.slot].push(got.node);
  }
  return slots;
}

/** What a recalled message shows instead of itself. */
function renderRecalled(msg, who) {
  let text = who.mine ? 'You recalled a message' : `${who.name} recalled a message`;
  if (msg.recalled !== msg.userid) text = 'Message removed by a group admin';
  return el('p', { class: 'msg__text msg__text--muted msg__recalled', text });
}

/** Registers `render(msg) -> Node` for a media number. */
export function registerMedia(media, render) {
  RENDERERS.set(media, render);
}

function renderUnsupported() {
  return el('p', { class: 'msg__text msg__text--muted', text: 'This message type cannot be shown here yet.' });
}

function sameDay(a, b) {
  return a.toDateString() === b.toDateString();
}

/** createat (ms since the epoch) as a <time>: the clock today, date and clock before. */
function renderTime(ms) {
  const date = new Date(ms);
  const clock = { hour: '2-digit', minute: '2-digit' };
  const text = sameDay(date, new Date())
    ? date.toLocaleTimeString([], clock)
    : date.toLocaleString([], { ...clock, month: 'short', day: 'numeric' });
  return el('time', { class: 'msg__time', datetime: date.toISOString(), title: date.toLocaleString(), text });
}

function renderStatus(msg, onRetry) {
  if (msg.state === 'pending') return el('p', { class: 'msg__status', text: 'Sending…' });
  if (msg.state !== 'failed') return null;
  return el(
    'p',
    { class: 'msg__status msg__status--failed', role: 'alert' },
    el('span', { class: 'msg__error', text: `Not sent: ${msg.error}` }),
    el('button', { type: 'button', class: 'msg__retry', text: 'Retry', onclick: () => onRetry(msg) }),
  );
}

/** A stable colour per user for the initial-letter avatar (dark enough for white text). */
export function avatarHue(userId) {
  return (Number(userId) * 137) % 360; // golden-angle steps keep neighbours apart
}

/** The initial-letter circle, with the user's picture over it when they have one. */
export function renderAvatar(userId, name, picture) {
  const avatar = el('span', { class: 'msg__avatar', 'aria-hidden': 'true', text: (name || '?').slice(0, 1).toUpperCase() });
  avatar.style.setProperty('--hue', avatarHue(userId));
  return withPicture(avatar, picture);
}

/**
 * The <li> for `msg`: avatar, then the bubble (name and time, body, send status); ours on
 * the right. `who`: {mine, name, avatar} of the sender; `onRetry(msg)` for failed sends.
 * data-id / data-cmid / data-state / data-media are there for styling and tests.
 */
export function renderBubble(msg, who, onRetry) {
  const render = msg.recalled ? () => renderRecalled(msg, who) : RENDERERS.get(msg.media) ?? renderUnsupported;
  const parts = partsOf(msg, who);
  return el(
    'li',
    {
      class: who.mine ? 'msg msg--mine' : 'msg',
      dataset: {
        id: msg.id, cmid: msg.cmid || null, state: msg.state, media: msg.media, userid: msg.userid,
        recalled: msg.recalled ? '1' : null,
      },
    },
    renderAvatar(msg.userid, who.name, who.avatar),
    el(
      'div',
      { class: 'msg__bubble' },
      el(
        'div',
        { class: 'msg__meta' },
        el('span', { class: 'msg__from', dataset: { userid: msg.userid }, text: who.name }),
        msg.createat ? renderTime(msg.createat) : null,
        ...parts.meta,
      ),
      ...parts.top,
      el('div', { class: 'msg__body' }, render(msg)),
      ...parts.bottom,
      renderStatus(msg, onRetry),
    ),
  );
}
