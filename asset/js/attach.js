// Photos, voice clips, videos and other files: where they come from (the Image and Attach
// file buttons' choosers, paste, drag and drop; the recorder), the checks before upload, the
// upload, and then the media message. The message goes to the conversation that was open
// when the file was chosen. Photos go as photos and MP4/WebM/QuickTime as videos whichever
// way they came; anything else is a file (a download card).
import { byId } from './dom.js';
import { formatBytes } from './media-util.js';
import { clearNotice, showNotice } from './notice.js';
import { UploadQueue } from './uploads.js';
import { Media } from './wire.js';

// Some browsers give iPhone photos (HEIC) no type; the server sniffs the bytes anyway.
const isImage = (f) => /^image\/(jpeg|png|gif|webp|hei[cf])$/.test(f.type) || /\.hei[cf]$/i.test(f.name);
const imageFiles = (list) => [...(list ?? [])].filter((f) => f.type.startsWith('image/') || /\.hei[cf]$/i.test(f.name));
const isVideo = (f) => /^video\/(mp4|webm|quicktime)$/.test(f.type);

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

  /** Uploads a video and sends it as a media 8 message; one the server cannot read as a
   * video (an unusual codec or container) goes as a file instead. */
  async sendVideo(file, key = this.#currentKey()) {
    if (!key || !this.#fits(file, this.#limits.video_max_bytes, 'video')) return;
    const media = await this.#upload(file, 'video', 'video', [415]);
    if (media?.fallback) return this.sendFile(file, key);
    if (!media) return;
    const memo = { mime: media.mime, width: media.width, height: media.height, size: media.size };
    this.#sendMedia(key, { media: Media.VIDEO, url: media.url, pic: media.pic, amount: media.amount, memo: JSON.stringify(memo) });
  }

  /** Uploads any file as it is and sends it as a media 9 message (a download card). */
  async sendFile(file, key = this.#currentKey()) {
    if (!key || !this.#fits(file, this.#limits.file_max_bytes, 'file')) return;
    const media = await this.#upload(file, 'file', 'file');
    if (!media) return;
    const memo = { mime: media.mime, name: media.name, size: media.size };
    this.#sendMedia(key, { media: Media.FILE, url: media.url, memo: JSON.stringify(memo) });
  }

  /** A photo as a photo, a video as a video, anything else as a file. */
  sendAny(file, key = this.#currentKey()) {
    if (isImage(file)) return this.sendImage(file, key);
    if (isVideo(file)) return this.sendVideo(file, key);
    return this.sendFile(file, key);
  }

  #fits(file, max, what) {
    clearNotice();
    if (!max || file.size <= max) return true;
    showNotice(`That ${what} is too large (${formatBytes(file.size)}); the limit is ${formatBytes(max)}.`);
    return false;
  }

  /** The media object, or null after showing why not ({fallback: true} for a status in `fallback`). */
  async #upload(file, kind, what, fallback = []) {
    try {
      return await this.#uploads.enqueue(file, kind, what);
    } catch (err) {
      if (fallback.includes(err.status)) return { fallback: true };
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
    const fileInput = byId('file-input');
    byId('file-btn').addEventListener('click', () => fileInput.click());
    fileInput.addEventListener('change', () => {
      const key = this.#currentKey();
      if (key) [...fileInput.files].forEach((f) => this.sendAny(f, key));
      fileInput.value = '';
    });
    const button = byId('image-btn');
    const input = byId('image-input');
    button.addEventListener('click', () => input.click());
    input.addEventListener('change', () => {
      const files = imageFiles(input.files);
      if (input.files.length && !files.length) showNotice('Only photos can be sent with the Image button.');
      this.#sendAll(files);
      input.value = ''; // choosing the same photo again must fire change again
    });

    // Paste a screenshot, a copied photo or file anywhere while a conversation is open.
    document.addEventListener('paste', (e) => {
      const files = [...(e.clipboardData?.files ?? [])];
      const key = this.#currentKey();
      if (!files.length || !key) return;
      e.preventDefault();
      files.forEach((f) => this.sendAny(f, key));
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
      const key = this.#currentKey();
      if (key) [...e.dataTransfer.files].forEach((f) => this.sendAny(f, key));
    });
  }
}
