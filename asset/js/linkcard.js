// The preview card under a message that links somewhere, when this server fetches previews
// (the option link_previews, in <body data-limits>). A card is asked for once its bubble is
// near the screen, and each URL once per page. Everything in it comes from our server (the
// image is a thumbnail under /upload/), so the reader's browser never contacts that site.
import { postData } from './api.js';
import { el } from './dom.js';
import { externalLink, firstLink } from './linkify.js';
import { uploadUrl } from './media-util.js';

const answers = new Map(); // url -> Promise of its preview, or of null when there is none
const waiting = new WeakMap(); // slot -> what to do once it is near the screen
let observer = null;
let enabled = null;

function previewsOn() {
  if (enabled === null) {
    try {
      enabled = JSON.parse(document.body.dataset.limits || '{}').link_previews === true;
    } catch {
      enabled = false;
    }
  }
  return enabled;
}

function lookup(url) {
  let answer = answers.get(url);
  if (!answer) {
    answer = postData('/link/preview', { url }).catch((err) => {
      // None (404) or previews off (403) stay so for this page; anything else (429, offline) is asked again later.
      if (err.status !== 404 && err.status !== 403) answers.delete(url);
      return null;
    });
    answers.set(url, answer);
  }
  return answer;
}

function whenNearScreen(slot, action) {
  if (!('IntersectionObserver' in window)) {
    action();
    return;
  }
  observer ??= new IntersectionObserver(
    (entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting) {
          if (!entry.target.isConnected) observer.unobserve(entry.target); // its bubble was redrawn
          continue;
        }
        observer.unobserve(entry.target);
        waiting.get(entry.target)?.();
        waiting.delete(entry.target);
      }
    },
    { rootMargin: '300px 0px' },
  );
  waiting.set(slot, action);
  observer.observe(slot);
}

function renderCard(href, preview) {
  const image = uploadUrl(preview.image);
  return externalLink(
    href,
    { class: 'link-card' },
    image ? el('img', { class: 'link-card__image', src: image, alt: '', decoding: 'async' }) : null,
    el(
      'span',
      { class: 'link-card__text' },
      preview.site ? el('span', { class: 'link-card__site', text: preview.site }) : null,
      preview.title ? el('span', { class: 'link-card__title', text: preview.title }) : null,
      preview.description ? el('span', { class: 'link-card__desc', text: preview.description }) : null,
    ),
  );
}

/** A slot that becomes the preview card of the first link in `text`; null when there is
 * no link or the server does not fetch previews. */
export function linkCard(text) {
  if (!previewsOn()) return null;
  const href = firstLink(text);
  if (!href) return null;
  const slot = el('div', { class: 'link-card-slot' });
  whenNearScreen(slot, async () => {
    const preview = await lookup(href);
    if (!preview || !slot.isConnected) return;
    // A reader at the bottom of the conversation stays there as the card appears.
    const pane = slot.closest('.message-pane');
    const atBottom = pane && pane.scrollHeight - pane.scrollTop - pane.clientHeight < 80;
    slot.replaceChildren(renderCard(href, preview));
    if (atBottom) pane.scrollTop = pane.scrollHeight;
  });
  return slot;
}
