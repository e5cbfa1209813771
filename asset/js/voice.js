// Hold-to-record on the Voice button. Mouse, touch and pen through pointer events (captured,
// so release and slide-away are seen outside the button), keyboard through Space/Enter held
// down. Releasing sends; sliding away, Escape or a too-short hold cancels; the server's
// voice_max_seconds stops the recording by itself.
import { byId } from './dom.js';
import { formatSeconds } from './media-util.js';
import { clearNotice, showNotice } from './notice.js';

const CANCEL_PX = 80; // this far outside the button cancels ("slide away to cancel")
const MIN_MS = 500; // shorter is a tap, not a message
const END_MARGIN_MS = 300; // stop a little before the limit: the server refuses anything over it
// Opus in WebM (Chrome, Firefox), else MP4 (Safari), else whatever the browser does.
const TYPES = ['audio/webm;codecs=opus', 'audio/mp4'];
const HOLD_HINT = 'Hold the Voice button to record, release to send.';

function micError(err) {
  switch (err?.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return "Microphone access was denied. Allow it in your browser's site settings to send voice messages.";
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No microphone found. Connect one to send voice messages.';
    case 'NotReadableError':
      return 'The microphone could not be started; another app may be using it.';
    default:
      return `Could not start recording: ${err?.message || 'unknown error'}`;
  }
}

export class VoiceRecorder {
  #maxMs;
  #onRecorded;
  #state = 'idle'; // idle | starting | recording
  #release = false; // let go while the microphone was still starting
  #pointer = null; // the pointer id holding the button, or 'key'
  #gen = 0; // which press a getUserMedia answer belongs to
  #stopRecording = null; // (keep) => stops the MediaRecorder; it sends the clip if keep
  #startedAt = 0;
  #tick = null;
  #limit = null;

  /** maxSeconds: the server's voice_max_seconds; onRecorded(blob) gets each finished clip. */
  constructor({ button, maxSeconds, onRecorded }) {
    this.button = button;
    this.panel = byId('voice-recorder');
    this.timer = byId('voice-timer');
    this.#maxMs = Math.max(1, maxSeconds || 120) * 1000 - END_MARGIN_MS;
    this.#onRecorded = onRecorded;
    this.#bind();
  }

  #bind() {
    const b = this.button;
    b.addEventListener('pointerdown', (e) => {
      if (b.disabled || this.#pointer !== null || (e.pointerType === 'mouse' && e.button !== 0)) return;
      e.preventDefault(); // no text selection or touch scrolling while held
      b.setPointerCapture(e.pointerId);
      this.#pointer = e.pointerId;
      this.#start();
    });
    b.addEventListener('pointermove', (e) => {
      if (e.pointerId !== this.#pointer) return;
      const r = b.getBoundingClientRect();
      const dx = Math.max(r.left - e.clientX, 0, e.clientX - r.right);
      const dy = Math.max(r.top - e.clientY, 0, e.clientY - r.bottom);
      if (Math.hypot(dx, dy) > CANCEL_PX) this.cancel('Recording cancelled.');
    });
    b.addEventListener('pointerup', (e) => e.pointerId === this.#pointer && this.#finish());
    b.addEventListener('pointercancel', (e) => e.pointerId === this.#pointer && this.cancel());
    b.addEventListener('contextmenu', (e) => e.preventDefault()); // long-press menu on phones
    b.addEventListener('keydown', (e) => {
      if (e.key !== ' ' && e.key !== 'Enter') return;
      e.preventDefault(); // no click: holding is the gesture
      if (e.repeat || this.#pointer !== null) return;
      this.#pointer = 'key';
      this.#start();
    });
    b.addEventListener('keyup', (e) => {
      if ((e.key === ' ' || e.key === 'Enter') && this.#pointer === 'key') this.#finish();
    });
    b.addEventListener('blur', () => this.#pointer === 'key' && this.cancel('Recording cancelled.'));
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && this.#pointer !== null) {
        e.preventDefault();
        this.cancel('Recording cancelled.');
      }
    });
  }

  async #start() {
    clearNotice();
    if (!navigator.mediaDevices?.getUserMedia) {
      this.#reset();
      showNotice('No microphone found: this browser or an insecure (non-https) page gives no access to one.');
      return;
    }
    if (typeof MediaRecorder === 'undefined') {
      this.#reset();
      showNotice('This browser cannot record audio.');
      return;
    }
    const gen = ++this.#gen;
    this.#state = 'starting';
    this.#release = false;
    this.button.classList.add('is-recording');
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (err) {
      if (gen !== this.#gen) return;
      this.#reset();
      showNotice(micError(err));
      return;
    }
    if (gen !== this.#gen) {
      stream.getTracks().forEach((t) => t.stop()); // a newer press owns the recorder now
      return;
    }
    if (this.#state !== 'starting' || this.#release) {
      // Let go (or cancelled) before the microphone was ready, e.g. at the permission prompt.
      stream.getTracks().forEach((t) => t.stop());
      const released = this.#release;
      this.#reset();
      if (released) showNotice(HOLD_HINT, 'info');
      return;
    }
    this.#record(stream);
  }

  #record(stream) {
    const type = TYPES.find((t) => MediaRecorder.isTypeSupported(t));
    const recorder = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
    const chunks = [];
    let keep = false;
    recorder.ondataavailable = (e) => e.data.size && chunks.push(e.data);
    recorder.onstop = () => {
      stream.getTracks().forEach((t) => t.stop()); // the browser's "recording" light goes off
      if (keep) this.#onRecorded(new Blob(chunks, { type: recorder.mimeType || type || '' }));
    };
    this.#stopRecording = (send) => {
      keep = send;
      if (recorder.state !== 'inactive') recorder.stop(); // onstop follows with the last chunk
    };
    this.#state = 'recording';
    recorder.start(250); // timeslices: a crash mid-way still leaves the earlier chunks
    this.#startedAt = performance.now();
    this.timer.textContent = '0:00';
    this.panel.hidden = false;
    this.#tick = setInterval(() => (this.timer.textContent = formatSeconds(Math.floor(this.#elapsed() / 1000))), 200);
    this.#limit = setTimeout(() => {
      this.#finish();
      showNotice(`Voice messages stop at ${formatSeconds(this.#maxMs / 1000)}; this one was sent.`, 'info');
    }, this.#maxMs);
  }

  #elapsed() {
    return performance.now() - this.#startedAt;
  }

  /** Released: send if long enough. */
  #finish() {
    if (this.#state === 'starting') {
      this.#release = true;
      this.#pointer = null;
      return;
    }
    if (this.#state !== 'recording') return this.#reset();
    const long = this.#elapsed() >= MIN_MS;
    this.#stop(long);
    if (!long) showNotice(HOLD_HINT, 'info');
  }

  /** Stops without sending; `why` is shown when given. */
  cancel(why) {
    if (this.#state === 'idle') return;
    if (this.#state === 'recording') this.#stop(false);
    else this.#reset(); // starting: #start sees the state change and releases the microphone
    if (why) showNotice(why, 'info');
  }

  #stop(keep) {
    this.#stopRecording?.(keep);
    this.#reset();
  }

  #reset() {
    clearInterval(this.#tick);
    clearTimeout(this.#limit);
    if (this.#pointer !== null && this.#pointer !== 'key' && this.button.hasPointerCapture(this.#pointer)) {
      this.button.releasePointerCapture(this.#pointer);
    }
    this.#state = 'idle';
    this.#pointer = null;
    this.#stopRecording = null;
    this.button.classList.remove('is-recording');
    this.panel.hidden = true;
  }
}
