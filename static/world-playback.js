// gama-vr-relay admin page: a kept session played back in the world view instead of the live one. The
// bar above the canvas (a recording, not live; back to live; play, pause, speed, the scrubber), the
// relay's playback clock, and seeking, following another player of the recording.

import { $, el, setAttr, setText, show } from './dom.js';
import { setIcon } from './icons.js';
import { finite } from './world-model.js';
import { TEXT, fmtSessionTime } from './world-words.js';
import { listeners, ui, view, wv } from './world-state.js';
import { closeSocket, connect, refreshStatus, renderSelect, resetModel, retarget } from './world-feed.js';
import { refreshAll } from './world-facts.js';
import { requestRender } from './world-draw.js';

const SPEEDS = [1, 4, 16];
// A held scrubber seeks at most this often.
const SCRUB_EVERY_MS = 150;
// The scrubber's keys: arrows, Shift+arrows, Page Up/Down.
const SCRUB_STEP_MS = 5000;
const SCRUB_FINE_MS = 1000;
const SCRUB_PAGE_MS = 60000;

export function buildPlaybackBar() {
  const root = $('playback');
  const titleText = el('span', { class: 'playback-title-text' });
  const title = el(
    'p',
    { class: 'playback-title', id: 'playback-title' },
    el('span', { class: 'status-icon' }),
    el('span', {}, titleText, el('span', { class: 'playback-note' })),
  );
  setIcon(title.querySelector('.status-icon'), 'replay');
  const live = el('button', { type: 'button', id: 'playback-live', class: 'primary' }, el('span'));
  setIcon(live, 'dot');
  const toggleText = el('span', { text: TEXT.play() });
  const toggle = el('button', { type: 'button', id: 'playback-toggle', class: 'playback-toggle' }, toggleText);
  setIcon(toggle, 'play');
  const speeds = el(
    'div',
    { class: 'playback-speed', role: 'group' },
    ...SPEEDS.map((speed) => el('button', { type: 'button', 'aria-pressed': String(speed === 1), dataset: { speed: String(speed) }, text: TEXT.speedLabel(speed) })),
  );
  const scrubber = el('input', { type: 'range', id: 'playback-scrubber', class: 'scrubber', min: '0', max: '0', step: '100', value: '0' });
  // The scrubber tells screen readers the time (aria-valuetext); this is for the eyes.
  const time = el('span', { id: 'playback-time', class: 'playback-time', 'aria-hidden': 'true' });
  root.replaceChildren(el('div', { class: 'playback-banner' }, title, live), el('div', { class: 'playback-controls' }, toggle, speeds, scrubber, time));
  root.setAttribute('role', 'region');
  root.setAttribute('aria-labelledby', 'playback-title');
  const parts = { root, titleText, note: title.querySelector('.playback-note'), live, toggle, toggleText, speeds, scrubber, time };
  labelBar(parts);
  return parts;
}

/** The playback bar's fixed words, in the page's language. */
export function labelBar(b) {
  setText(b.note, TEXT.notLive());
  setText(b.live.querySelector('span'), TEXT.backToLive());
  setAttr(b.speeds, 'aria-label', TEXT.speed());
  for (const button of b.speeds.querySelectorAll('button[data-speed]')) setAttr(button, 'aria-label', TEXT.speedAria(Number(button.dataset.speed)));
  setAttr(b.scrubber, 'aria-label', TEXT.scrubber());
}

export function playbackInfo() {
  if (!wv.playback) return null;
  const { id, title, player, t, duration, playing, speed, ended } = wv.playback;
  return { id, title, player, t, duration, playing, speed, ended, connected: wv.socketOpen };
}

function notify() {
  const info = playbackInfo();
  for (const listener of listeners) listener(info);
}

function send(message) {
  if (!wv.socket || !wv.socketOpen) return false;
  wv.socket.send(JSON.stringify(message));
  return true;
}

export function renderBar() {
  if (!wv.playback) return;
  setText(ui.bar.titleText, TEXT.playbackOf(wv.playback.title));
  const shape = wv.playback.playing ? 'pause' : wv.playback.ended ? 'replay' : 'play';
  setIcon(ui.bar.toggle, shape);
  setText(ui.bar.toggleText, wv.playback.playing ? TEXT.pause() : wv.playback.ended ? TEXT.playAgain() : TEXT.play());
  for (const b of ui.bar.speeds.querySelectorAll('button[data-speed]')) {
    setAttr(b, 'aria-pressed', String(Number(b.dataset.speed) === wv.playback.speed));
  }
  const duration = Math.max(0, Math.round(wv.playback.duration));
  setAttr(ui.bar.scrubber, 'max', String(duration));
  if (!wv.scrubbing) {
    const value = String(Math.round(Math.min(wv.playback.t, duration)));
    if (ui.bar.scrubber.value !== value) ui.bar.scrubber.value = value;
  }
  const now = fmtSessionTime(wv.playback.t);
  const end = fmtSessionTime(duration);
  setText(ui.bar.time, TEXT.time(now, end));
  setAttr(ui.bar.scrubber, 'aria-valuetext', TEXT.timeSpoken(now, end));
}

/** The relay's playback clock: where the recording stands, and whether it plays. */
export function applyClock(msg) {
  const duration = finite(msg.duration);
  if (duration != null) wv.playback.duration = duration;
  // Clocks sent before the relay took a seek in describe the moment left.
  if (wv.pendingSeeks === 0) {
    const t = finite(msg.t);
    if (t != null && !wv.scrubbing) wv.playback.t = t;
    wv.playback.playing = msg.playing === true;
    const speed = finite(msg.speed);
    if (speed != null && speed > 0) wv.playback.speed = speed;
    wv.playback.ended = !wv.playback.playing && wv.playback.duration > 0 && wv.playback.t >= wv.playback.duration;
  }
  renderBar();
  refreshStatus();
  notify();
  requestRender();
}

/** Goes to `t` (ms) in the recording, playing on if it was playing. */
export function seek(t) {
  if (!wv.playback) return;
  wv.playback.t = Math.max(0, Math.min(Math.round(t), Math.round(wv.playback.duration)));
  wv.playback.ended = false;
  if (send({ type: 'seek', t: wv.playback.t })) wv.pendingSeeks += 1;
  renderBar();
  refreshStatus();
  notify();
  requestRender();
}

export function togglePlay() {
  if (!wv.playback) return;
  if (wv.playback.playing) {
    wv.playback.playing = false;
    send({ type: 'pause' });
  } else {
    if (wv.playback.t >= wv.playback.duration - 100) seek(0);
    wv.playback.playing = true;
    wv.playback.ended = false;
    send({ type: 'play', speed: wv.playback.speed });
  }
  renderBar();
  refreshStatus();
  notify();
}

function setSpeed(speed) {
  if (!wv.playback) return;
  wv.playback.speed = speed;
  if (wv.playback.playing) send({ type: 'play', speed });
  renderBar();
  notify();
}

export function follow(player) {
  if (!wv.playback || !player || player === wv.playback.player) return;
  wv.playback.player = player;
  if (send({ type: 'follow', player })) wv.pendingSeeks += 1;
  else if (!wv.socket) connect();
  renderSelect();
  notify();
  requestRender();
}

/** The scrubber moved: the time shown follows at once, the recording at most every SCRUB_EVERY_MS. */
function scrubTo(t, final) {
  if (!wv.playback) return;
  clearTimeout(wv.scrubTimer);
  wv.scrubTimer = null;
  const wait = SCRUB_EVERY_MS - (performance.now() - wv.lastScrub);
  if (final || wait <= 0) {
    wv.lastScrub = performance.now();
    seek(t);
    return;
  }
  wv.playback.t = t;
  renderBar();
  notify();
  wv.scrubTimer = setTimeout(() => scrubTo(Number(ui.bar.scrubber.value), true), wait);
}

/**
 * Plays kept session `id` back in this view instead of the live one: `players` are the session's,
 * `player` the one to follow, `t` where to start (ms), `play` whether to play at once.
 */
export function startPlayback({ id, title, players: sessionPlayers, duration = 0, player = null, t = 0, play = false }) {
  const list = [...(sessionPlayers ?? [])];
  if (wv.playback?.id === id) {
    if (player && player !== wv.playback.player && list.includes(player)) follow(player);
    seek(t);
    if (play && !wv.playback.playing) togglePlay();
    return;
  }
  const pick = [player, wv.playback?.player, wv.target].find((p) => p && list.includes(p)) ?? list[0] ?? null;
  const speed = wv.playback?.speed ?? 1;
  wv.playback = { id, title, players: list, player: pick, t: Math.max(0, t), duration, playing: play, speed, ended: false };
  wv.pendingSeeks = 0;
  wv.attempt = 0;
  view.auto = true;
  show(ui.bar.root, true);
  ui.card.dataset.mode = 'playback';
  ui.canvas.dataset.mode = 'playback';
  renderSelect();
  renderBar();
  connect();
  notify();
}

/** Back to the live view. */
export function stopPlayback() {
  if (!wv.playback) return;
  wv.playback = null;
  clearTimeout(wv.scrubTimer);
  wv.scrubbing = false;
  closeSocket();
  show(ui.bar.root, false);
  delete ui.card.dataset.mode;
  delete ui.canvas.dataset.mode;
  wv.optionsKey = '';
  wv.target = null;
  resetModel();
  renderSelect();
  retarget();
  refreshAll();
  requestRender();
  notify();
}

/** The bar's buttons and scrubber. */
export function wirePlaybackBar() {
  ui.bar.live.addEventListener('click', () => stopPlayback());
  ui.bar.toggle.addEventListener('click', () => togglePlay());
  ui.bar.speeds.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-speed]');
    if (button) setSpeed(Number(button.dataset.speed));
  });
  ui.bar.scrubber.addEventListener('pointerdown', () => {
    wv.scrubbing = true;
  });
  const endScrub = () => {
    wv.scrubbing = false;
  };
  ui.bar.scrubber.addEventListener('pointerup', endScrub);
  ui.bar.scrubber.addEventListener('pointercancel', endScrub);
  ui.bar.scrubber.addEventListener('input', () => scrubTo(Number(ui.bar.scrubber.value), false));
  ui.bar.scrubber.addEventListener('change', () => {
    wv.scrubbing = false;
    scrubTo(Number(ui.bar.scrubber.value), true);
  });
  // Arrows step 5 s (1 s with Shift), Page Up and Down a minute, Home and End the ends; Space plays
  // or pauses.
  ui.bar.scrubber.addEventListener('keydown', (event) => {
    if (!wv.playback || event.altKey || event.ctrlKey || event.metaKey) return;
    const step = event.shiftKey ? SCRUB_FINE_MS : SCRUB_STEP_MS;
    const moves = {
      ArrowLeft: -step,
      ArrowDown: -step,
      ArrowRight: step,
      ArrowUp: step,
      PageDown: -SCRUB_PAGE_MS,
      PageUp: SCRUB_PAGE_MS,
    };
    let t = null;
    if (event.key in moves) t = wv.playback.t + moves[event.key];
    else if (event.key === 'Home') t = 0;
    else if (event.key === 'End') t = wv.playback.duration;
    else if (event.key === ' ') {
      event.preventDefault();
      togglePlay();
      return;
    } else return;
    event.preventDefault();
    seek(t);
  });
}
