// The emoji catalog from GET /emoji.json: fetched once per page load and kept in memory.
// Lookups are synchronous and fall back to the raw code until the catalog has arrived, so
// renderers never wait; the page re-renders once when it lands (see onCatalog).

let catalog = null; // {emoji, stickers, groups, packs, byCode: Map, stickerByCode: Map}
let loading = null;
const waiting = [];

/** Starts the one fetch of the catalog; resolves to it (or null if it could not be had). */
export function loadCatalog() {
  loading ??= fetchCatalog();
  return loading;
}

async function fetchCatalog() {
  try {
    const res = await fetch('/emoji.json', { headers: { Accept: 'application/json' } });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const data = await res.json();
    const byCode = new Map();
    for (const e of data.emoji ?? []) {
      byCode.set(e.code, e);
      for (const alias of e.aliases ?? []) if (!byCode.has(alias)) byCode.set(alias, e);
    }
    const stickerByCode = new Map((data.stickers ?? []).map((s) => [s.code, s]));
    catalog = { emoji: data.emoji ?? [], stickers: data.stickers ?? [], groups: data.groups ?? [],
      packs: data.packs ?? [], byCode, stickerByCode };
    waiting.splice(0).forEach((fn) => fn(catalog));
    return catalog;
  } catch (err) {
    console.warn('chatd: emoji catalog unavailable:', err.message); // codes stay as text
    loading = null; // a later call may try again
    return null;
  }
}

/** The catalog if it has arrived, else null. */
export const currentCatalog = () => catalog;

/** Runs fn(catalog) once the catalog is there (at once if it already is). */
export function onCatalog(fn) {
  if (catalog) fn(catalog);
  else waiting.push(fn);
}

/** The emoji record for a code or alias (":smile:"), or null. */
export const findEmoji = (code) => catalog?.byCode.get(code) ?? null;

/** The sticker record for "pack/name", or null. */
export const findSticker = (code) => catalog?.stickerByCode.get(code) ?? null;

export const isStickerCode = (code) => typeof code === 'string' && code.includes('/');

/**
 * `text` with every known :shortcode: (a code or an alias) replaced by its character.
 * Scans colon to colon by hand: a failed candidate's closing colon may open the next one
 * ("10:30:smile:"), which a single regex pass would skip. Returns plain text for textContent.
 */
export function replaceShortcodes(text) {
  if (!catalog || !text || !text.includes(':')) return text ?? '';
  let out = '';
  let from = 0;
  let open = text.indexOf(':');
  while (open !== -1) {
    const close = text.indexOf(':', open + 1);
    if (close === -1) break;
    const candidate = text.slice(open, close + 1);
    const hit = close - open <= 64 && !/\s/.test(candidate) ? catalog.byCode.get(candidate) : null;
    if (hit) {
      out += text.slice(from, open) + hit.char;
      from = close + 1;
      open = text.indexOf(':', from);
    } else {
      open = close; // this colon may start the real code
    }
  }
  return out + text.slice(from);
}

const norm = (s) => s.toLowerCase().replace(/^:|:$/g, '').replace(/[\s-]+/g, '_');

/**
 * Emoji whose code or an alias matches `query` (colons optional, spaces as underscores):
 * exact names first, then names starting with it, then words starting with it, then any
 * substring. At most `limit` results.
 */
export function searchEmoji(query, limit = 160) {
  const q = norm(query.trim());
  if (!catalog || !q) return [];
  const ranked = [];
  for (const e of catalog.emoji) {
    let best = 9;
    for (const name of [e.code, ...(e.aliases ?? [])]) {
      const n = norm(name);
      const rank = n === q ? 0 : n.startsWith(q) ? 1 : n.includes(`_${q}`) ? 2 : n.includes(q) ? 3 : 9;
      best = Math.min(best, rank);
    }
    if (best < 9) ranked.push([best, ranked.length, e]);
  }
  ranked.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return ranked.slice(0, limit).map((r) => r[2]);
}

/** Stickers whose title or code contains `query`. */
export function searchStickers(query) {
  const q = query.trim().toLowerCase();
  if (!catalog || !q) return [];
  return catalog.stickers.filter((s) => s.title?.toLowerCase().includes(q) || s.code.includes(q));
}
