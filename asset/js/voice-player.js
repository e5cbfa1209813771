// Voice message bubbles (media 3): a play button, the waveform from memo (which fills in as
// the clip plays; a tap on it seeks), the duration from `amount`, and a plain <audio>.
// Only one clip plays at a time: starting one pauses whichever was playing.
import { el } from './dom.js';
import { formatSeconds, parseMemo, uploadUrl } from './media-util.js';

const BARS = 40; // the 80 peaks halved: fits a 360 px screen beside the button and time
const MIN_BAR = 0.12; // silence still shows as a short bar, so the clip has a visible shape

let current = null; // the <audio> playing now

/** Reduces `peaks` (0-255) to `count` bar heights in 0..1 (max of each slice). */
function bars(peaks, count) {
  if (!Array.isArray(peaks) || peaks.length === 0) return Array(count).fill(MIN_BAR);
  return Array.from({ length: count }, (_, i) => {
    const from = Math.floor((i * peaks.length) / count);
    const to = Math.max(from + 1, Math.floor(((i + 1) * peaks.length) / count));
    const peak = Math.max(...peaks.slice(from, to).map((p) => Number(p) || 0));
    return Math.max(MIN_BAR, Math.min(1, peak / 255));
  });
}

function play(audio) {
  if (current && current !== audio) current.pause();
  current = audio;
  // play() rejects when a pause() interrupts it or the file cannot be played; neither
  // is worth an unhandled rejection (the button just stays on "Play").
  audio.play().catch((err) => {
    if (err.name !== 'AbortError') console.warn('chatd: cannot play voice message:', err.message);
  });
}

/** The voice bubble body for `msg`, or null if its URL is not one of ours. */
export function renderVoice(msg) {
  const url = uploadUrl(msg.url);
  if (!url) return null;
  const seconds = Number(msg.amount) || 0;
  const memo = parseMemo(msg.memo);

  const audio = el('audio', { preload: 'metadata', src: url, class: 'msg__audio' });
  const button = el('button', { type: 'button', class: 'msg__play', 'aria-label': 'Play voice message' },
    el('span', { class: 'msg__play-icon', 'aria-hidden': 'true' }));
  const barNodes = bars(memo.waveform, BARS).map((h) => {
    const bar = el('span', { class: 'msg__bar' });
    bar.style.height = `${Math.round(h * 100)}%`;
    return bar;
  });
  const wave = el('div', { class: 'msg__wave', 'aria-hidden': 'true' }, ...barNodes);
  const duration = el('span', { class: 'msg__duration', text: formatSeconds(seconds) });

  // The file's own duration once known; `amount` until then (and if the metadata lies).
  const length = () => (Number.isFinite(audio.duration) && audio.duration > 0 ? audio.duration : seconds);
  let frame = 0;
  const paint = () => {
    const played = length() ? audio.currentTime / length() : 0;
    const upto = Math.round(played * BARS);
    barNodes.forEach((bar, i) => bar.classList.toggle('is-played', i < upto));
  };
  const tick = () => {
    paint();
    frame = audio.paused ? 0 : requestAnimationFrame(tick); // smoother than timeupdate's ~4 Hz
  };

  button.addEventListener('click', () => (audio.paused ? play(audio) : audio.pause()));
  wave.addEventListener('click', (e) => {
    const box = wave.getBoundingClientRect();
    const at = Math.min(1, Math.max(0, (e.clientX - box.left) / box.width));
    if (length()) audio.currentTime = at * length();
    paint();
    if (audio.paused) play(audio);
  });
  audio.addEventListener('play', () => {
    if (current && current !== audio) current.pause(); // also when started some other way
    current = audio;
    button.setAttribute('aria-label', 'Pause');
    button.classList.add('is-playing');
    if (!frame) frame = requestAnimationFrame(tick);
  });
  audio.addEventListener('pause', () => {
    button.setAttribute('aria-label', 'Play voice message');
    button.classList.remove('is-playing');
    paint();
  });
  audio.addEventListener('ended', () => {
    audio.currentTime = 0; // the next tap plays from the start
    paint();
  });

  return el('div', { class: 'msg__voice' }, button, wave, duration, audio);
}
