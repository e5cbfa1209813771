// The composer under the conversation: the text box (Enter sends, Shift+Enter is a new
// line), the Emoji, Image and Voice buttons and what hangs off them.
import { Attachments } from './attach.js';
import { byId } from './dom.js';
import { EmojiPicker } from './emoji-picker.js';
import { clearNotice, showNotice } from './notice.js';
import { VoiceRecorder } from './voice.js';
import { Media } from './wire.js';

export class Composer {
  #currentKey;
  #send;
  #closed = false;

  /**
   * limits: the page's data-limits; currentKey(): the open conversation or null;
   * send(key, fields): makes a message ({media, content | url, ...}) and sends it.
   */
  constructor({ limits, currentKey, send }) {
    this.#currentKey = currentKey;
    this.#send = send;
    this.form = byId('composer');
    this.input = byId('message-input');
    this.buttons = [byId('send-btn'), byId('emoji-btn'), byId('image-btn'), byId('file-btn'), byId('voice-btn')];
    if (limits.max_text) this.input.maxLength = limits.max_text;

    const attachments = new Attachments({ limits, currentKey, sendMedia: send });
    this.picker = new EmojiPicker({
      button: byId('emoji-btn'),
      input: this.input,
      onSticker: (code) => this.#sendNow({ media: Media.EMOJI, content: code }),
    });
    this.recorder = new VoiceRecorder({
      button: byId('voice-btn'),
      maxSeconds: limits.voice_max_seconds,
      onRecorded: (blob) => attachments.sendVoice(blob),
    });
    this.#bindText();
  }

  /** A conversation is open: everything becomes usable. */
  enable() {
    this.input.disabled = false;
    this.buttons.forEach((b) => (b.disabled = false));
    if (this.#closed) clearNotice();
    this.#closed = false;
  }

  /** The open conversation no longer takes messages from us: say why, lock the controls. */
  disable(reason) {
    this.picker.close(false);
    this.input.disabled = true;
    this.buttons.forEach((b) => (b.disabled = true));
    showNotice(reason, 'error');
    this.#closed = true;
  }

  focus() {
    this.input.focus();
  }

  /** Puts `text` in the text box (a conversation's draft), sized to fit. */
  setText(text) {
    this.input.value = text;
    this.#fit();
  }

  #sendNow(fields) {
    const key = this.#currentKey();
    if (!key) return;
    clearNotice();
    this.#send(key, fields);
  }

  #fit() {
    // Grow the text box with its content (up to the CSS max-height).
    this.input.style.height = 'auto';
    this.input.style.height = `${this.input.scrollHeight + 2}px`;
  }

  #bindText() {
    const input = this.input;
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.form.requestSubmit();
      }
    });
    input.addEventListener('input', () => this.#fit());
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      this.picker.close(false);
      this.#sendNow({ media: Media.TEXT, content: text });
      input.value = '';
      this.#fit();
      input.focus();
    });
  }
}
