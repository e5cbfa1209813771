// Renderers for the media messages: image (4), emoji and sticker (6); voice (3) lives in
// voice-player.js. Importing this module registers them with render.js.
// Every URL taken from a message goes through uploadUrl/assetUrl before it reaches a src.
import { el } from './dom.js';
import { attachmentPreview } from './filecard.js'; // also registers the video and file renderers
import { findEmoji, findSticker, isStickerCode, replaceShortcodes } from './emoji.js';
import { openLightbox } from './lightbox.js';
import { linkify } from './linkify.js';
import { assetUrl, formatSeconds, originalStickerUrl, parseMemo, uploadUrl } from './media-util.js';
import { registerMedia } from './render.js';
import { renderVoice } from './voice-player.js';
import { Media } from './wire.js';

const THUMB_BOX = 240; // px: the largest a thumbnail is shown in a bubble (it is <= 320)
const STICKER_PX = 128;

/** width x height scaled down to fit a box x box square; null when unknown. */
function fit(width, height, box) {
  if (!(width > 0 && height > 0)) return null;
  const scale = Math.min(1, box / width, box / height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

function unavailable(what) {
  return el('p', { class: 'msg__text msg__text--muted', text: `${what} is not available.` });
}

function caption(msg) {
  return msg.content ? el('p', { class: 'msg__text msg__caption' }, ...linkify(msg.content, replaceShortcodes)) : null;
}

function renderImage(msg) {
  const sticker = originalStickerUrl(msg.url); // sent from the original client's sticker panel
  if (sticker) return el('img', { class: 'msg__sticker', src: sticker, alt: 'Sticker', width: STICKER_PX, height: STICKER_PX });
  const full = uploadUrl(msg.url);
  const thumb = uploadUrl(msg.pic) ?? full;
  if (!thumb) return unavailable('This photo');
  const memo = parseMemo(msg.memo);
  // width/height reserve the box before the thumbnail arrives, so nothing jumps while
  // scrolling; CSS scales it down further on narrow screens (same aspect ratio).
  const size = fit(memo.width, memo.height, THUMB_BOX);
  const img = el('img', {
    class: 'msg__thumb',
    src: thumb,
    alt: 'Photo',
    width: size?.width,
    height: size?.height,
    decoding: 'async',
  });
  const open = el(
    'button',
    { type: 'button', class: 'msg__image', 'aria-label': 'Open photo', onclick: () => openLightbox(full ?? thumb, 'Photo') },
    img,
  );
  return el('div', { class: 'msg__media' }, open, caption(msg));
}

function renderSticker(code) {
  const sticker = findSticker(code);
  const src = sticker && assetUrl(sticker.url);
  if (!src) return el('span', { class: 'msg__sticker-missing', text: `[${code}]` }); // catalog not here (yet)
  return el('img', {
    class: 'msg__sticker',
    src,
    alt: `Sticker: ${sticker.title || code}`,
    title: sticker.title || code,
    width: STICKER_PX,
    height: STICKER_PX,
  });
}

function renderEmoji(msg) {
  const code = msg.content ?? '';
  if (isStickerCode(code)) return renderSticker(code);
  const emoji = findEmoji(code);
  return el('p', { class: 'msg__emoji', title: code, text: emoji ? emoji.char : code });
}

/** A one-line summary of a message for the contact list ("📷 Photo", the text...). */
export function previewText(msg) {
  if (!msg) return '';
  if (msg.recalled) return 'Message recalled';
  switch (msg.media) {
    case Media.TEXT:
      return replaceShortcodes(msg.content ?? '').replace(/\s+/g, ' ');
    case Media.IMAGE:
      return msg.content ? `📷 ${replaceShortcodes(msg.content)}` : '📷 Photo';
    case Media.VOICE:
      return `🎤 Voice message${msg.amount ? ` (${formatSeconds(msg.amount)})` : ''}`;
    case Media.EMOJI: {
      const code = msg.content ?? '';
      if (isStickerCode(code)) return `Sticker${findSticker(code)?.title ? `: ${findSticker(code).title}` : ''}`;
      return findEmoji(code)?.char ?? code;
    }
    default:
      return attachmentPreview(msg) ?? 'Message';
  }
}

registerMedia(Media.IMAGE, renderImage);
registerMedia(Media.EMOJI, renderEmoji);
registerMedia(Media.VOICE, (msg) => renderVoice(msg) ?? unavailable('This voice message'));
