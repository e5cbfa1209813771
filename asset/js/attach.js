// Photos and voice clips: where they come from (the Image button's file chooser, paste,
// drag and drop; the recorder), the checks before upload, the upload, and then the media
// message. The message goes to the conversation that was open when the file was chosen.
import { byId } from './dom.js';
import { formatBytes } from './media-util.js';
import { clearNotice, showNotice } from './notice.js';
import { UploadQueue } from './uploads.js';
import { Media } from './wire.js';

// Some browsers give iPhone photos (HEIC) no type; the server sniffs the bytes anyway.
const imageFiles = (list) => [...(list ?? [])].filter((f) => f.type.startsWith('image/') || /\.hei[cf]$/i.test(f.name));

export class Attachments {
  #limits;
  #currentKey;
  #sendMedia;
  #uploads = new UploadQueue();

  /**
   * limits: the page's data-limits; currentKey(): the open conversation or null;
   * sendMedia(key, fields): makes and sends the message.
   */
  constructor({ limits, currentKey, sendMedia }) {
    this.#limits = limits;
    this.#currentKey = currentKey;
    this.#sendMedia = sendMedia;
    this.#bindImageSources();
  }

  /** Uploads a photo and sends it as a media 4 message. */
  async sendImage(file, key = this.#currentKey()) {
    if (!key) return;
    clearNotice(); // the last problem is over once the user tries again
    const max = this.#limits.image_max_bytes;
    if (max && file.size > max) {
      showNotice(`That photo is too large (${formatBytes(file.size)}); the limit is ${formatBytes(max)}.`);
      return;
    }
    const media = await this.#upload(file, 'image', 'photo');
    if (!media) return;
    const memo = { mime: media.mime, width: media.width, height: media.height, size: media.size };
    this.#sendMedia(key, { media: Media.IMAGE, url: media.url, pic: media.pic, memo: JSON.stringify(memo) });
  }

  /** Uploads a recorded clip and sends it as a media 3 message. */
  async sendVoice(blob, key = this.#currentKey()) {
    if (!key) return;
    const max = this.#limits.voice_max_bytes;
    if (max && blob.size > max) {
      showNotice(`That recording is too large (${formatBytes(blob.size)}); the limit is ${formatBytes(max)}.`);
      return;
    }
    const ext = blob.type.includes('mp4') ? 'm4a' : blob.type.includes('ogg') ? 'ogg' : 'webm';
    const file = new File([blob], `voice.${ext}`, { type: blob.type || 'application/octet-stream' });
    const media = await this.#upload(file, 'voice', 'voice message');
    if (!media) return;
    const memo = { mime: media.mime, waveform: media.waveform, size: media.size };
    this.#sendMedia(key, { media: Media.VOICE, url: media.url, amount: media.amount, memo: JSON.stringify(memo) });
  }

  /** The media object, or null after showing why not. */
  async #upload(file, kind, what) {
    try {
      return await this.#uploads.enqueue(file, kind, what);
    } catch (err) {
      if (err.code !== 'aborted') {
        const why = err.status === 413 ? `the ${what} is too large` : err.status === 415 ? `this kind of file cannot be sent` : err.message;
        showNotice(`Could not send the ${what}: ${why}`);
      }
      return null;
    }
  }

  #sendAll(files) {
    const key = this.#currentKey();
    if (!key || !files.length) return false;
    files.forEach((f) => this.sendImage(f, key));
    return true;
  }

  #bindImageSources() {
    const button = byId('image-btn');
    const input = byId('image-input');
    button.addEventListener('click', () => input.click());
    input.addEventListener('change', () => {
      const files = imageFiles(input.files);
      if (input.files.length && !files.length) showNotice('Only photos can be sent with the Image button.');
      this.#sendAll(files);
      input.value = ''; // choosing the same photo again must fire change again
    });

    // Paste a screenshot or copied photo anywhere while a conversation is open.
    document.addEventListener('paste', (e) => {
      const files = imageFiles(e.clipboardData?.files);
      if (files.length && this.#sendAll(files)) e.preventDefault();
    });

    // Drop onto the conversation; elsewhere a dropped file must not replace the page.
    const zone = byId('conversation');
    const hasFiles = (e) => [...(e.dataTransfer?.types ?? [])].includes('Files');
    let depth = 0; // dragenter/leave fire for every child crossed
    zone.addEventListener('dragenter', (e) => {
      if (!hasFiles(e) || !this.#currentKey()) return;
      depth += 1;
      zone.classList.add('is-drop-target');
    });
    zone.addEventListener('dragleave', () => {
      depth = Math.max(0, depth - 1);
      if (!depth) zone.classList.remove('is-drop-target');
    });
    window.addEventListener('dragover', (e) => hasFiles(e) && e.preventDefault());
    window.addEventListener('drop', (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0;
      zone.classList.remove('is-drop-target');
      if (!zone.contains(e.target)) return;
      const files = imageFiles(e.dataTransfer.files);
      if (!files.length) showNotice('Only photos can be dropped here.');
      else this.#sendAll(files);
    });
  }
}
