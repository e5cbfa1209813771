// Wire numbers and frame shapes from PROTOCOL.md, named once for every module.

export const Cmd = Object.freeze({
  HEARTBEAT: 0,
  SINGLE: 10, // 1:1 message
  GROUP: 11, // group message
  ACK: 12, // our message is stored
  REFUSED: 13, // our frame was refused; the socket stays open
  READ: 14, // a conversation was marked read on one of our devices: {dstcmd, dstid, readid, unread}
  NOTICE: 15, // a contact or membership change: {type, user | userid | group | dstid}; never stored
});

// SYSTEM: a membership change stored in a group's stream (content: a JSON object).
// EDIT, RECALL, REACTION: events about the message their `ref` names (not shown as bubbles).
export const Media = Object.freeze({
  TEXT: 1, VOICE: 3, IMAGE: 4, EMOJI: 6, SYSTEM: 10, EDIT: 11, RECALL: 12, REACTION: 13,
});

/** An edit, recall or reaction: it changes an earlier message instead of being one. */
export const isEvent = (frame) => frame.media >= Media.EDIT && frame.media <= Media.REACTION;

// Close code the server uses for a socket whose backlog grew too big: resume at once.
export const CLOSE_TOO_SLOW = 1013;
// Close codes after which reconnecting would not help: the session ended (logout, password
// change, expiry) or this account has too many sockets open (the server closed the oldest).
export const CLOSE_SESSION_ENDED = 4001;
export const CLOSE_TOO_MANY_SOCKETS = 4008;

export const MAX_TEXT = 4000; // characters, per PROTOCOL.md

/** The frame we send for a message typed here; the server fills id, userid and createat. */
export function outgoingFrame(msg) {
  const frame = { cmd: msg.cmd, dstid: msg.dstid, media: msg.media, cmid: msg.cmid };
  if (msg.content) frame.content = msg.content;
  if (msg.url) frame.url = msg.url; // image/voice: server fills pic, amount, memo itself
  if (msg.ref) frame.ref = msg.ref; // a reply: the quoted message's id
  return frame;
}
