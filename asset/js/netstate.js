// The offline banner (#offline): shown within seconds of the network going (the browser's
// `offline` event at once; a heartbeat left unanswered, see socket.js, when the browser does
// not notice), hidden again once the socket is back (which resumes with `since`).
import { byId } from './dom.js';

const NO_NETWORK = 'You are offline. Messages you write are sent when the connection is back.';
const RECONNECTING = 'Connection lost: reconnecting…';

export function watchNetwork({ socket }) {
  const banner = byId('offline');
  let ended = false; // the session ended or too many windows: chat.js says why, keep it
  let connected = false; // once connected, a drop is a lost connection, not a first connect

  const show = () => {
    if (ended) return;
    const down = !navigator.onLine || !socket.online;
    if (down) banner.textContent = navigator.onLine ? (connected ? RECONNECTING : 'Connecting…') : NO_NETWORK;
    banner.hidden = !down;
  };

  socket.addEventListener('online', () => {
    connected = true;
    show();
  });
  socket.addEventListener('offline', show);
  socket.addEventListener('ended', () => (ended = true));
  window.addEventListener('offline', () => {
    show();
    socket.probe(); // an open socket that cannot answer is dropped within seconds
  });
  window.addEventListener('online', () => {
    show();
    socket.reconnectNow();
    socket.probe();
  });
  // A phone waking up or a laptop opened again: find out at once whether the link survived.
  document.addEventListener('visibilitychange', () => document.visibilityState === 'visible' && socket.probe());
  show();
}
