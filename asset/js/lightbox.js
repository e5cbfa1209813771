// The full-size photo viewer: a modal <dialog id="lightbox"> over the page. Escape (the
// dialog's own cancel), a click anywhere or the close button closes it; focus then returns
// to the thumbnail that opened it (showModal/close do that for us).
import { byId } from './dom.js';

let bound = false;

function bind(dialog) {
  bound = true;
  // Any click closes: on the photo, the backdrop or the button. A viewer has nothing else to do.
  dialog.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => {
    dialog.querySelector('img').removeAttribute('src'); // stop a large download in progress
  });
}

/** Shows `src` (an already checked same-site URL) full size. */
export function openLightbox(src, alt) {
  const dialog = byId('lightbox');
  if (!dialog || !src) return;
  if (!bound) bind(dialog);
  const img = dialog.querySelector('img');
  img.alt = alt || 'Photo';
  img.src = src;
  if (!dialog.open) dialog.showModal();
}
