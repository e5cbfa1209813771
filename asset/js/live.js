// The conversation's live side, wired in one place: which chat this tab shows (focus.js),
// who is typing (typing.js), friends' presence (presence.js) and read receipts
// (receipts.js). The line under the chat's title shows typing first, else presence.
import { byId } from './dom.js';
import { Focus } from './focus.js';
import { Presence } from './presence.js';
import { Receipts } from './receipts.js';
import { Typing } from './typing.js';

export function wireLive({ socket, store, names, view, sidebar }) {
  const status = byId('conv-status');
  const input = byId('message-input');
  const focus = new Focus({ socket });
  const receipts = new Receipts({ store, view, names });

  function showStatus() {
    const key = view.key;
    const typingText = key ? typing.textFor(key) : '';
    const text = typingText || (key ? presence.textFor(key) : '');
    status.textContent = text;
    status.dataset.kind = typingText ? 'typing' : 'presence';
    status.hidden = !text;
  }
  const typing = new Typing({ socket, names, onChange: (key) => key === view.key && showStatus() });
  const presence = new Presence({
    openKey: () => view.key,
    onChange: () => {
      showStatus();
      presence.markList(sidebar.friendList);
    },
  });

  input.addEventListener('input', () => typing.input(view.key, input.value));
  byId('composer').addEventListener('submit', () => typing.stop(view.key));
  socket.addEventListener('live', ({ detail: frame }) => {
    if (frame.type === 'typing') typing.heard(frame);
    else if (frame.type === 'read') receipts.heard(frame);
  });
  // A message from someone ends their "typing…" at once.
  socket.addEventListener('message', ({ detail: frame }) => typing.clear(store.keyOf(frame), frame.userid));
  sidebar.afterRender = () => presence.markList(sidebar.friendList);
  sidebar.onConversations = (rows) => receipts.setRows(rows);
  presence.refreshAll();

  let openKey = null;
  return {
    /** ConversationView's hook for each bubble it draws. */
    decorate: (li, msg) => receipts.decorate(li, msg),
    /** Conversation `key` opens; `loading` settles once its latest history is in. */
    opened(key, loading) {
      if (openKey && openKey !== key) typing.stop(openKey);
      openKey = key;
      focus.set(key);
      showStatus();
      presence.refreshOpen();
      loading.then(() => view.key === key && receipts.opened(key));
    },
  };
}
