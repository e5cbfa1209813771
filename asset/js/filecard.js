// Video (media 8) and file (media 9) messages: a <video> with its poster and length, and a
// download card (an icon by type, the name, the size, the type). Importing this module
// registers both with render.js. The server fills pic, amount and memo from the upload; the
// URLs still go through uploadUrl, and every name reaches the page as text only.
import { el } from './dom.js';
import { replaceShortcodes } from './emoji.js';
import { formatSeconds, parseMemo, uploadUrl } from './media-util.js';
import { registerMedia } from './render.js';
import { Media } from './wire.js';

const VIDEO_BOX = 280; // px: the widest a video is shown in a bubble (CSS shrinks it on phones)

/** Bytes as people read them: 512 B, 3.4 KB, 12 MB, 1.2 GB. */
export function humanSize(bytes) {
  const n = Number(bytes) || 0;
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value >= 10 ? Math.round(value) : Math.round(value * 10) / 10} ${units[unit]}`;
}

// [test, icon, label]: the first that matches a file's type (or, failing that, its name).
const FILE_TYPES = [
  [/pdf$/, '📕', 'PDF document'],
  [/^image\//, '🖼️', 'Image'],
  [/^video\//, '🎞️', 'Video'],
  [/^audio\//, '🎵', 'Audio'],
  [/(zip|x-tar|gzip|x-7z|x-rar|x-bzip2|x-xz)/, '🗜️', 'Archive'],
  [/(spreadsheet|excel|csv)/, '📊', 'Spreadsheet'],
  [/(presentation|powerpoint)/, '📽️', 'Presentation'],
  [/(wordprocessing|msword|opendocument\.text|rtf)/, '📝', 'Document'],
  [/^text\//, '📄', 'Text'],
];

/** {icon, label} for a file's MIME type. */
export function fileKind(mime) {
  const type = String(mime || '').toLowerCase();
  const found = FILE_TYPES.find(([test]) => test.test(type));
  return found ? { icon: found[1], label: found[2] } : { icon: '📎', label: 'File' };
}

function caption(msg) {
  return msg.content ? el('p', { class: 'msg__text msg__caption', text: replaceShortcodes(msg.content) }) : null;
}

function unavailable(what) {
  return el('p', { class: 'msg__text msg__text--muted', text: `${what} is not available.` });
}

function renderVideo(msg) {
  const src = uploadUrl(msg.url);
  if (!src) return unavailable('This video');
  const memo = parseMemo(msg.memo);
  const width = Number(memo.width) || 0;
  const height = Number(memo.height) || 0;
  const scale = width > 0 && height > 0 ? Math.min(1, VIDEO_BOX / width, VIDEO_BOX / height) : 0;
  const player = el('video', {
    class: 'msg__video',
    src,
    poster: uploadUrl(msg.pic),
    controls: true,
    preload: 'metadata',
    playsinline: true, // iOS would go full screen at once otherwise
    // Reserves the box before the metadata arrives, so the list does not jump.
    width: scale ? Math.round(width * scale) : null,
    height: scale ? Math.round(height * scale) : null,
    'aria-label': `Video, ${formatSeconds(msg.amount)}`,
  });
  const meta = el(
    'p',
    { class: 'msg__video-meta' },
    el('span', { class: 'msg__duration', text: formatSeconds(msg.amount) }),
    memo.size ? el('span', { text: ` · ${humanSize(memo.size)}` }) : null,
  );
  return el('div', { class: 'msg__media msg__media--video' }, player, meta, caption(msg));
}

function renderFile(msg) {
  const href = uploadUrl(msg.url);
  if (!href) return unavailable('This file');
  const memo = parseMemo(msg.memo);
  const name = typeof memo.name === 'string' && memo.name ? memo.name : 'file';
  const kind = fileKind(memo.mime);
  // `download` is a hint; the server serves every file as an attachment anyway.
  const card = el(
    'a',
    { class: 'filecard', href, download: name, rel: 'noopener', title: `Download ${name}` },
    el('span', { class: 'filecard__icon', 'aria-hidden': 'true', text: kind.icon }),
    el(
      'span',
      { class: 'filecard__text' },
      el('span', { class: 'filecard__name', text: name }),
      el('span', { class: 'filecard__info', text: `${humanSize(memo.size)} · ${kind.label}` }),
    ),
    el('span', { class: 'filecard__get', 'aria-hidden': 'true', text: '⬇' }),
  );
  return el('div', { class: 'msg__media msg__media--file' }, card, caption(msg));
}

/** The contact list's line for a video or file message, or null for other media. */
export function attachmentPreview(msg) {
  if (msg.media === Media.VIDEO) {
    const text = msg.content ? replaceShortcodes(msg.content) : 'Video';
    return `🎞️ ${text}${msg.amount ? ` (${formatSeconds(msg.amount)})` : ''}`;
  }
  if (msg.media === Media.FILE) {
    const name = parseMemo(msg.memo).name;
    return `📎 ${typeof name === 'string' && name ? name : 'File'}`;
  }
  return null;
}

registerMedia(Media.VIDEO, renderVideo);
registerMedia(Media.FILE, renderFile);
