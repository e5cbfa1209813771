// System messages (media 10): membership changes stored in a group's stream, shown as one
// centred grey line ("Ann joined", "Bob was removed by Ann"). Content is a JSON object.
import { el } from './dom.js';

function parse(msg) {
  try {
    const event = JSON.parse(msg.content ?? '');
    return event && typeof event === 'object' ? event : {};
  } catch {
    return {};
  }
}

/** The user ids a system message names (to look their nicknames up). */
export function systemUserIds(msg) {
  const event = parse(msg);
  return [event.userid, event.by, event.owner, msg.userid].filter((id) => Number.isInteger(id) && id > 0);
}

function describeUpdate(event, who) {
  const parts = [];
  if (typeof event.open === 'boolean') parts.push(event.open ? 'made the group open' : 'made the group invite-only');
  if (event.history === 'all') parts.push('let new members see all history');
  if (event.history === 'joined') parts.push('showed new members only what follows their join');
  if (typeof event.memo === 'string') parts.push('changed the group notice');
  if (typeof event.icon === 'string') parts.push('changed the group icon');
  if (typeof event.name === 'string') parts.push(`renamed the group to ${event.name}`);
  const owner = Number.isInteger(event.owner) ? `${who(event.owner)} is now the owner` : '';
  if (!parts.length) return owner || `${who(event.by)} updated the group`;
  const line = `${who(event.by)} ${parts.join(', ')}`;
  return owner ? `${line}; ${owner}` : line;
}

/** The line's text; `who(id)` gives a user's name. */
export function systemText(msg, who) {
  const event = parse(msg);
  switch (event.event) {
    case 'joined':
      return `${who(event.userid)} joined`;
    case 'left':
      return `${who(event.userid)} left`;
    case 'removed':
      return `${who(event.userid)} was removed by ${who(event.by)}`;
    case 'renamed':
      return `${who(event.by)} renamed the group to ${event.name ?? ''}`;
    case 'updated':
      return describeUpdate(event, who);
    default:
      return 'The group changed';
  }
}

/** The <li> of a system line, in place of a bubble. */
export function renderSystem(msg, who) {
  return el(
    'li',
    { class: 'msg msg--system', dataset: { id: msg.id, media: msg.media, userid: msg.userid } },
    el('p', { class: 'msg__system', text: systemText(msg, who) }),
  );
}
