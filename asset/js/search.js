// Message search: the field in the sidebar, the results in the side panel (conversation,
// sender, date, the snippet with the hit marked), a click opening the conversation there.
import { postRows } from './api.js';
import { byId, el } from './dom.js';
import { openAt } from './jump.js';
import { closePanel, isPanelOpen, openPanel, panelMessage } from './panel.js';
import { parseKey } from './store.js';
import { Media } from './wire.js';

const PAGE = 20;
const TRIGRAM = 3; // shorter words are looked for among the newest messages only (README)
const KIND = { [Media.VOICE]: 'Voice message', [Media.IMAGE]: 'Photo', 8: 'Video', 9: 'File' };

/**
 * The snippet as nodes: text, with each highlight (code point offsets [start, end)) in a
 * <mark>. Only Text nodes carry message text, never markup.
 */
export function snippetNodes({ snippet, highlights }) {
  const chars = Array.from(snippet);
  const nodes = [];
  let at = 0;
  for (const [start, end] of highlights) {
    if (start > at) nodes.push(chars.slice(at, start).join(''));
    nodes.push(el('mark', { text: chars.slice(start, end).join('') }));
    at = end;
  }
  if (at < chars.length) nodes.push(chars.slice(at).join(''));
  return nodes;
}

/**
 * Wires the sidebar's search form; `sidebar` names conversations, `names` people,
 * `currentKey()` is the open conversation (the panel offers to search only there).
 */
export function bindSearch({ sidebar, names, store, currentKey }) {
  const input = byId('search-input');
  let generation = 0; // answers to an older search are dropped

  byId('search-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const q = input.value.trim();
    if (q) show(q, null);
  });

  function show(q, scope) {
    const run = ++generation;
    const open = currentKey();
    const only = open ? el('input', { id: 'search-only', type: 'checkbox', checked: scope === open }) : null;
    const field = el('input', { id: 'search-again', type: 'search', value: q, maxlength: 100, autocomplete: 'off',
      'aria-label': 'Search messages' });
    const again = el('form', { class: 'mini-form__row', role: 'search' }, field,
      el('button', { type: 'submit', class: 'btn btn--small', text: 'Search' }));
    again.addEventListener('submit', (event) => {
      event.preventDefault();
      const next = field.value.trim();
      if (next) {
        input.value = next;
        show(next, only?.checked ? open : null);
      }
    });
    only?.addEventListener('change', () => field.value.trim() && again.requestSubmit());
    const onlyLabel = only ? el('label', { class: 'search-only' }, only, ` Only in ${sidebar.titleOf(open)}`) : null;
    const short = q.split(/\s+/).every((word) => Array.from(word).length < TRIGRAM);
    const note = short ? el('p', { class: 'panel__meta', text: 'Short words are looked for in your newest 5,000 messages only.' }) : null;
    const status = el('p', { id: 'search-status', class: 'panel__meta', role: 'status', text: 'Searching…' });
    const list = el('ol', { id: 'search-results', class: 'search-results', 'aria-label': 'Search results' });
    const more = el('button', { id: 'search-more', type: 'button', class: 'btn btn--small', hidden: true,
      text: 'More results' });
    let before = null;
    let count = 0;

    async function page() {
      more.disabled = true;
      try {
        const body = { q, limit: PAGE, ...(scope ? parseKey(scope) : {}), ...(before ? { before } : {}) };
        const hits = await postRows('/message/search', body);
        if (run !== generation || !isPanelOpen('search')) return;
        list.append(...hits.map(hitItem));
        count += hits.length;
        if (hits.length) before = hits[hits.length - 1].message.id;
        more.hidden = hits.length < PAGE;
        status.textContent = count ? `${count}${more.hidden ? '' : '+'} found` : 'No messages found.';
      } catch (err) {
        if (run === generation) {
          status.textContent = '';
          panelMessage(err.message || 'Search failed.');
        }
      } finally {
        more.disabled = false;
      }
    }
    more.addEventListener('click', page);
    openPanel('search', 'Search messages', again, onlyLabel, note, status, list, more);
    page();
  }

  function hitItem(hit) {
    const msg = hit.message;
    const key = store.keyOf(msg);
    const { cmd, dstid } = parseKey(key);
    const when = new Date(msg.createat);
    const conv = el('span', { class: 'search-hit__conv', text: sidebar.titleOf(key) });
    const from = el('span', { class: 'search-hit__from', text: names.get(msg.userid) });
    // Names not known yet (a past friend, a group member): asked once, then filled in.
    names.resolve(msg.userid).then((name) => name && (from.textContent = name));
    if (key.startsWith('10:') && !names.has(dstid)) {
      names.resolve(dstid).then((name) => name && (conv.textContent = sidebar.titleOf(key)));
    }
    const kind = KIND[msg.media];
    const button = el(
      'button',
      { type: 'button', class: 'search-hit', dataset: { id: msg.id } },
      el('span', { class: 'search-hit__top' }, conv,
        el('time', { class: 'search-hit__time', datetime: when.toISOString(),
          text: when.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' }) })),
      from,
      el('span', { class: 'search-hit__snippet' }, kind ? el('span', { class: 'search-hit__kind', text: `${kind}: ` }) : null,
        ...snippetNodes(hit)),
    );
    button.addEventListener('click', () => {
      closePanel();
      openAt(cmd, dstid, msg.id);
    });
    return el('li', {}, button);
  }
}
