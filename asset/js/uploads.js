// POST /attach/upload with progress, one file at a time, behind the composer's progress bar.
// XMLHttpRequest rather than fetch: fetch has no upload progress events.
import { ApiError, xsrfToken } from './api.js';
import { byId } from './dom.js';

const MIN_SHOWN_MS = 600; // a fast upload still shows its bar long enough to be seen

/**
 * Uploads `file` as `kind` ('image' | 'voice' | 'video' | 'file'); onProgress(fraction). Resolves to the media
 * object ({media, url, pic, ...}); rejects with ApiError (status 0: no answer, or aborted).
 * Returns {done, abort}.
 */
export function uploadFile(file, kind, onProgress) {
  const xhr = new XMLHttpRequest();
  const done = new Promise((resolve, reject) => {
    // The kind also goes in the query: the server picks the size limit before reading the body.
    xhr.open('POST', `/attach/upload?kind=${encodeURIComponent(kind)}`);
    xhr.setRequestHeader('X-XSRFToken', xsrfToken()); // the cookie authenticates the upload
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.responseType = 'json';
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress?.(e.loaded / e.total);
    xhr.onload = () => {
      const env = xhr.response;
      if (xhr.status === 200 && env && env.code === 0) resolve(env.data);
      else reject(new ApiError(env?.msg || `Upload failed (HTTP ${xhr.status})`, xhr.status));
    };
    // A 413 sent while the body is still streaming makes the server drop the connection,
    // which the browser reports as a network error.
    xhr.onerror = () => reject(new ApiError('The upload failed: the connection was lost or the file is too large.', 0));
    xhr.onabort = () => reject(new ApiError('Upload cancelled.', 0, 'aborted'));
    const form = new FormData();
    form.append('kind', kind);
    form.append('file', file, file.name || `${kind}`);
    xhr.send(form);
  });
  return { done, abort: () => xhr.abort() };
}

/**
 * Runs uploads one after another behind the bar `.upload-progress` (label, <progress
 * id="upload-progress">, cancel button). `enqueue(file, kind, what)` resolves to the media
 * object, or rejects (ApiError; code 'aborted' when the user cancelled).
 */
export class UploadQueue {
  #queue = [];
  #running = null;
  #shownAt = 0;
  #hideTimer = null;

  constructor() {
    this.bar = byId('upload-bar');
    this.label = byId('upload-label');
    this.progress = byId('upload-progress');
    byId('upload-cancel').addEventListener('click', () => this.cancelAll());
  }

  enqueue(file, kind, what) {
    return new Promise((resolve, reject) => {
      this.#queue.push({ file, kind, what, resolve, reject });
      if (!this.#running) this.#next();
    });
  }

  get busy() {
    return this.#running !== null;
  }

  /** Cancels the running upload and drops the queued ones. */
  cancelAll() {
    for (const job of this.#queue.splice(0)) job.reject(new ApiError('Upload cancelled.', 0, 'aborted'));
    this.#running?.abort();
  }

  async #next() {
    const job = this.#queue.shift();
    if (!job) {
      this.#running = null;
      this.#hide();
      return;
    }
    this.#show(job.what);
    const upload = uploadFile(job.file, job.kind, (f) => this.#set(f));
    this.#running = upload;
    try {
      const media = await upload.done;
      this.#set(1);
      job.resolve(media);
    } catch (err) {
      job.reject(err);
    }
    this.#next();
  }

  #show(what) {
    clearTimeout(this.#hideTimer);
    const left = this.#queue.length;
    this.label.textContent = left ? `Uploading ${what} (${left} more waiting)…` : `Uploading ${what}…`;
    this.progress.value = 0;
    if (this.bar.hidden) this.#shownAt = performance.now();
    this.bar.hidden = false;
  }

  #set(fraction) {
    this.progress.value = Math.round(fraction * 100);
  }

  #hide() {
    const wait = Math.max(0, MIN_SHOWN_MS - (performance.now() - this.#shownAt));
    this.#hideTimer = setTimeout(() => (this.bar.hidden = true), wait);
  }
}
