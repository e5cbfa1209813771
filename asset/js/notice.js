// The composer's one-line notice (#composer-notice, a polite live region): upload and
// microphone problems, hints. Errors stay until the user tries again (a new send, photo or
// recording) or another notice replaces them; hints fade by themselves.
import { byId } from './dom.js';

const HINT_MS = 5_000;
let timer = null;

/** Shows `text`; kind 'error' (stays) or 'info' (clears itself after a few seconds). */
export function showNotice(text, kind = 'error') {
  const box = byId('composer-notice');
  clearTimeout(timer);
  box.textContent = text;
  box.dataset.kind = kind;
  if (kind !== 'error') timer = setTimeout(clearNotice, HINT_MS);
}

export function clearNotice() {
  clearTimeout(timer);
  const box = byId('composer-notice');
  box.textContent = '';
  delete box.dataset.kind;
}
