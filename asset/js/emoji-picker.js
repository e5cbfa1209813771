// The emoji picker (#emoji-picker): search, recent picks, every catalog group and the sticker
// packs in one scrolling list whose tabs jump to a section. Picking an emoji inserts its
// character at the text box's cursor and leaves the picker open for more; picking a
// sticker sends it at once and closes the picker. Built on first open.
import { byId, el } from './dom.js';
import { loadCatalog, searchEmoji, searchStickers } from './emoji.js';
import { assetUrl } from './media-util.js';

const RECENT_KEY = 'chatd_recent_emoji';
const COARSE = window.matchMedia('(pointer: coarse)');
const RECENT_MAX = 24;
// A tab icon per Unicode group; a group the server adds later shows its first emoji.
const GROUP_ICONS = {
  'Smileys & Emotion': '😀', 'People & Body': '👋', 'Animals & Nature': '🐻', 'Food & Drink': '🍔',
  'Travel & Places': '🚗', Activities: '⚽', Objects: '💡', Symbols: '💕', Flags: '🏁',
};

function loadRecent() {
  try {
    const list = JSON.parse(localStorage.getItem(RECENT_KEY) || '[]');
    return Array.isArray(list) ? list.filter((c) => typeof c === 'string') : [];
  } catch {
    return [];
  }
}

function saveRecent(code) {
  const list = [code, ...loadRecent().filter((c) => c !== code)].slice(0, RECENT_MAX);
  localStorage.setItem(RECENT_KEY, JSON.stringify(list));
}

const emojiButton = (e) =>
  el('button', { type: 'button', class: 'emoji-item', tabindex: -1, dataset: { code: e.code }, title: e.code, text: e.char });

function stickerButton(s) {
  const src = assetUrl(s.url);
  return el('button', { type: 'button', class: 'sticker-item', tabindex: -1, dataset: { sticker: s.code }, title: s.title || s.code,
    'aria-label': `Sticker: ${s.title || s.code}` },
  src ? el('img', { src, alt: '', width: 64, height: 64, loading: 'lazy' }) : null);
}

const section = (id, title, grid) =>
  el('section', { class: 'picker__section', dataset: { section: id } },
    el('h3', { class: 'picker__heading', text: title }), grid);

export class EmojiPicker {
  #catalog = null;
  #groupSections = []; // built once; swapped out while a search shows its results
  #recent = null;

  /** button: the Emoji button; input: the text box; onSticker(code): send that sticker. */
  constructor({ button, input, onSticker }) {
    this.button = button;
    this.input = input;
    this.onSticker = onSticker;
    this.root = byId('emoji-picker');
    button.addEventListener('click', () => (this.root.hidden ? this.open() : this.close()));
    // A press anywhere else closes it (the Send button, the message list, the sidebar...).
    document.addEventListener('pointerdown', (e) => {
      if (!this.root.hidden && !this.root.contains(e.target) && !button.contains(e.target)) this.close(false);
    });
    this.root.addEventListener('keydown', (e) => this.#onKey(e));
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && !this.root.hidden && !e.defaultPrevented) {
        e.preventDefault();
        this.close(this.root.contains(document.activeElement) || document.activeElement === button);
      }
    });
  }

  async open() {
    this.root.hidden = false;
    this.button.setAttribute('aria-expanded', 'true');
    if (!this.#catalog) {
      this.root.replaceChildren(el('p', { class: 'picker__status', text: 'Loading emoji…' }));
      const catalog = await loadCatalog(); // the page usually has it already
      if (!catalog) {
        this.root.replaceChildren(el('p', { class: 'picker__status', text: 'Emoji could not be loaded. Try again later.' }));
        return;
      }
      if (!this.#catalog) {
        this.#catalog = catalog;
        this.#build();
      }
      if (this.root.hidden) return; // closed while loading
    }
    this.#fillRecent(); // only on open: the list must not shift under the pointer while picking
    this.search.value = '';
    this.#showSections(this.#groupSections);
    this.body.scrollTop = 0;
    // Focus goes into the picker; on a touch screen not into the search box, whose
    // on-screen keyboard would cover the emoji.
    (COARSE.matches ? this.tabs.firstElementChild : this.search).focus();
  }

  /** Closes; focus goes back to the Emoji button unless the user clicked elsewhere. */
  close(refocus = true) {
    if (this.root.hidden) return;
    this.root.hidden = true;
    this.button.setAttribute('aria-expanded', 'false');
    if (refocus) this.button.focus();
  }

  #build() {
    const c = this.#catalog;
    this.search = el('input', { id: 'emoji-search', type: 'search', 'aria-label': 'Search emoji',
      placeholder: 'Search emoji', autocomplete: 'off', spellcheck: 'false' });
    this.search.addEventListener('input', () => this.#onSearch());
    const groups = c.groups.length ? c.groups : [...new Set(c.emoji.map((e) => e.group))];
    this.#recent = el('div', { class: 'picker__grid' });
    this.#groupSections = [section('recent', 'Recently used', this.#recent)];
    this.#groupSections[0].id = 'emoji-recent';
    const tabs = [this.#tab('recent', 'Recently used', '🕘')];
    for (const group of groups) {
      const items = c.emoji.filter((e) => e.group === group);
      if (!items.length) continue;
      this.#groupSections.push(section(group, group, el('div', { class: 'picker__grid' }, ...items.map(emojiButton))));
      tabs.push(this.#tab(group, group, GROUP_ICONS[group] ?? items[0].char));
    }
    if (c.stickers.length) {
      const packs = c.packs.length ? c.packs : [...new Set(c.stickers.map((s) => s.pack))].map((id) => ({ id, name: id }));
      for (const pack of packs) {
        const items = c.stickers.filter((s) => s.pack === pack.id);
        if (items.length) this.#groupSections.push(section(`stickers:${pack.id}`, pack.name || pack.id,
          el('div', { class: 'picker__grid picker__grid--stickers' }, ...items.map(stickerButton))));
      }
      const first = c.stickers[0];
      tabs.push(this.#tab(`stickers:${first.pack}`, 'Stickers', '', assetUrl(first.url)));
    }
    this.body = el('div', { class: 'picker__body' });
    this.body.addEventListener('click', (e) => this.#onPick(e));
    this.body.addEventListener('scroll', () => this.#trackScroll(), { passive: true });
    this.tabs = el('div', { class: 'picker__tabs', role: 'toolbar', 'aria-label': 'Emoji groups' }, ...tabs);
    this.root.replaceChildren(el('div', { class: 'picker__search' }, this.search), this.tabs, this.body);
  }

  #tab(id, label, icon, img) {
    return el('button', { type: 'button', class: 'picker__tab', dataset: { group: id }, title: label, 'aria-label': label,
      onclick: () => this.#jump(id) },
    img ? el('img', { src: img, alt: '', width: 22, height: 22 }) : el('span', { 'aria-hidden': 'true', text: icon }));
  }

  #jump(id) {
    if (this.search.value) {
      this.search.value = '';
      this.#showSections(this.#groupSections);
    }
    const target = this.#groupSections.find((s) => s.dataset.section === id);
    if (target && !target.hidden) this.body.scrollTop = target.offsetTop; // .picker__body is its offsetParent
    this.#press(id);
  }

  #press(id) {
    for (const t of this.tabs.children) t.setAttribute('aria-pressed', String(t.dataset.group === id));
  }

  /** While scrolling, the tab of the section at the top shows as the current one. */
  #trackScroll() {
    if (this.body.firstChild !== this.#groupSections[0]) return; // search results
    const top = this.body.scrollTop + 8;
    let current = null;
    for (const s of this.#groupSections) if (!s.hidden && s.offsetTop <= top) current = s.dataset.section;
    this.#press(current?.startsWith('stickers:') ? this.tabs.lastElementChild.dataset.group : current);
  }

  #fillRecent() {
    const items = loadRecent().map((code) => this.#catalog.byCode.get(code)).filter(Boolean);
    this.#recent.replaceChildren(...items.map(emojiButton));
    this.#groupSections[0].hidden = items.length === 0;
  }

  #showSections(sections) {
    if (sections === this.#groupSections && this.body.firstChild === sections[0]) return; // already there
    this.body.replaceChildren(...sections);
  }

  #onSearch() {
    const q = this.search.value;
    if (!q.trim()) return this.#showSections(this.#groupSections);
    const emoji = searchEmoji(q);
    const stickers = searchStickers(q);
    const found = [];
    if (emoji.length) found.push(section('results', 'Search results', el('div', { class: 'picker__grid' }, ...emoji.map(emojiButton))));
    if (stickers.length) found.push(section('sticker-results', 'Stickers',
      el('div', { class: 'picker__grid picker__grid--stickers' }, ...stickers.map(stickerButton))));
    if (!found.length) found.push(el('p', { class: 'picker__status', text: `No emoji found for “${q.trim()}”.` }));
    this.#showSections(found);
    this.body.scrollTop = 0;
  }

  #onPick(e) {
    const emoji = e.target.closest('.emoji-item');
    const sticker = e.target.closest('.sticker-item');
    if (emoji) this.#insert(emoji.dataset.code, emoji.textContent);
    else if (sticker) {
      this.close();
      this.onSticker(sticker.dataset.sticker);
    }
  }

  /** Puts `char` where the text box's cursor (or selection) was; it keeps it while blurred. */
  #insert(code, char) {
    const input = this.input;
    if (input.value.length + char.length > input.maxLength && input.maxLength > 0) return;
    const start = input.selectionStart ?? input.value.length;
    const end = input.selectionEnd ?? start;
    input.setRangeText(char, start, end, 'end');
    input.dispatchEvent(new Event('input', { bubbles: true })); // resizes the box, enables Send
    saveRecent(code);
  }

  /**
   * Arrow keys move between items, which are out of the Tab order (1,900 tab stops would
   * trap a keyboard user): Down from the search box or a group tab enters the grid.
   */
  #onKey(e) {
    const items = [...this.body.querySelectorAll('.emoji-item, .sticker-item')].filter((b) => b.offsetParent);
    if (!items.length) return;
    if (e.key === 'Enter' && e.target === this.search) {
      e.preventDefault();
      items[0].click();
      return;
    }
    const moves = { ArrowRight: [1, 0], ArrowLeft: [-1, 0], ArrowDown: [0, 1], ArrowUp: [0, -1] };
    if (!(e.key in moves)) return;
    const from = items.indexOf(document.activeElement);
    if (from === -1) {
      if (e.key !== 'ArrowDown') return;
      e.preventDefault();
      const tab = e.target.closest('.picker__tab');
      const start = tab && this.#groupSections.find((s) => s.dataset.section === tab.dataset.group);
      (start?.querySelector('.emoji-item, .sticker-item') ?? items[0]).focus();
      return;
    }
    e.preventDefault();
    const [dx, dy] = moves[e.key];
    const next = dx ? items[from + dx] : this.#vertical(items, items[from], dy);
    if (next) next.focus({ preventScroll: false });
    else if (dy < 0) this.search.focus();
  }

  /** The item in the next row up or down nearest in x (rows differ between sections). */
  #vertical(items, from, dy) {
    const a = from.getBoundingClientRect();
    let best = null;
    let bestScore = Infinity;
    for (const item of items) {
      const b = item.getBoundingClientRect();
      const gap = dy > 0 ? b.top - a.bottom : a.top - b.bottom;
      if (gap < -2) continue;
      const score = gap * 1000 + Math.abs(b.left - a.left);
      if (score < bestScore) {
        bestScore = score;
        best = item;
      }
    }
    return best;
  }
}
