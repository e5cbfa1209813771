// Links in message text: http(s) URLs and bare www. hosts become <a> elements, built as nodes
// (never markup), opening in a new tab without telling the site where they came from. Only
// http and https ever become links: "javascript:" or "data:" text stays text.
// (asset/js/links.js is something else: the invite and add-me links into this page.)
import { el } from './dom.js';

// A candidate starts with http://, https:// or www., not glued to the word before it.
const CANDIDATE = /(?<![\p{L}\p{N}_@.\/:-])(?:https?:\/\/|www\.)[^\s<>"'`]+/giu;
// Sentence punctuation right after a link is not part of it ("see https://x.org.").
const TRAILING = /[.,;:!?\u2019\u201d\u00bb\u2026*_~]+$/u;
const OPENERS = { ')': '(', ']': '[', '}': '{' };

function count(text, ch) {
  let n = 0;
  for (const c of text) if (c === ch) n += 1;
  return n;
}

/** The candidate without what follows a link in prose: punctuation, and closing brackets
 * that close something opened before the link ("(see https://x.org/a)") rather than in it
 * ("https://en.wikipedia.org/wiki/Tor_(network)"). */
function trimEnd(candidate) {
  let text = candidate;
  for (;;) {
    const before = text;
    text = text.replace(TRAILING, '');
    const last = text.at(-1);
    if (last in OPENERS && count(text, OPENERS[last]) < count(text, last)) text = text.slice(0, -1);
    if (text === before) return text;
  }
}

/** The http(s) URL a piece of text names, or null. Bare www. hosts get https://. */
export function hrefFor(text) {
  const withScheme = /^https?:\/\//i.test(text) ? text : `https://${text}`;
  let url;
  try {
    url = new URL(withScheme);
  } catch {
    return null;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) return null;
  // "www." alone, or "www.x." with nothing after the dot, names no site.
  if (!/^https?:\/\//i.test(text) && url.hostname.split('.').filter(Boolean).length < 2) return null;
  return url.href;
}

/** `text` cut into parts: {text} plain, {text, href} a link. */
export function findLinks(text) {
  const parts = [];
  let at = 0;
  for (const match of text.matchAll(CANDIDATE)) {
    const shown = trimEnd(match[0]);
    const href = hrefFor(shown);
    if (!href) continue;
    if (match.index > at) parts.push({ text: text.slice(at, match.index) });
    parts.push({ text: shown, href });
    at = match.index + shown.length;
  }
  if (at < text.length) parts.push({ text: text.slice(at) });
  return parts;
}

/** The first link's URL in `text`, or null. */
export function firstLink(text) {
  return findLinks(text || '').find((part) => part.href)?.href ?? null;
}

/** An <a> to an http(s) URL, in a new tab, sending neither the opener nor a Referer. */
export function externalLink(href, props = {}, ...children) {
  return el('a', { ...props, href, rel: 'noopener noreferrer', target: '_blank' }, ...children);
}

/**
 * Nodes for `text` with its links as <a class="msg__link">; `mapText` is applied to the
 * plain parts only (emoji shortcodes), so a URL is shown and followed exactly as written.
 */
export function linkify(text, mapText = (t) => t) {
  return findLinks(text).map((part) =>
    part.href ? externalLink(part.href, { class: 'msg__link', text: part.text }) : document.createTextNode(mapText(part.text)),
  );
}
