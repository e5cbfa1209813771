// "Open this conversation at message id": search hits and reply quotes jump with openAt. The
// chat page registers how a conversation opens (sidebar, composer, read marks) once.
import { convKey } from './store.js';

let opener = null;

/** Called once by the chat page: `open(key, id)` opens conversation `key` at message `id`. */
export function setOpener(open) {
  opener = open;
}

/**
 * Opens conversation (cmd, dstid) with the page around message `id` loaded, scrolled to it
 * and marked a moment; scrolling from there loads older and newer pages. For a 1:1, dstid is
 * the other person. Resolves once it is shown.
 */
export async function openAt(cmd, dstid, id) {
  if (!opener) throw new Error('openAt before the chat page started');
  await opener(convKey(cmd, dstid), id);
}
