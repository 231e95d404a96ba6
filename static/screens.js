// gama-vr-relay projector page (/screens): every headset's screen, one enlarged.
//
// Made for the classroom's projector (1920×1080): what each student sees in the headset, so that the
// class follows and the teacher can help. The teacher picks the headset to enlarge from the admin
// page on a tablet (or clicks a screen here); the relay keeps the choice (`screens.focus`) and this
// page follows it within a push. Screens fill the page, keep the stream's aspect ratio, and the page
// never scrolls. Same access rules as the admin page: off this computer it needs the token, which a
// browser that opened the admin page already has.

import { $, el, keepOrder, setAttr, setText, show } from './dom.js';
import { initI18n, onLanguageChange, t } from './i18n.js';
import { ScreenPlayer, playbackProblem } from './screen-player.js';
import { byPlace, deviceDetail, deviceName, deviceProblem, streamText, unavailableText } from './screen-words.js';
import { LiveLink } from './live.js';
import { api } from './api.js';

// Room under each screen for its name, and between screens, in CSS pixels.
const CAPTION_PX = 44;
const GAP_PX = 12;
// The part of the width the enlarged screen takes when there are others.
const FOCUS_SHARE = 0.76;
// The shape of a screen before any headset said its size (Quest mirroring is about this wide).
const DEFAULT_ASPECT = 16 / 9;

const wall = $('screens');
const tiles = new Map(); // serial → { root, canvas, name, detail, overlay, overlayText, overlayDetail, player, device }
let screens = { devices: [], focus: null, unavailable: null, enabled: true };
// The link to the relay; `locked` while it asks for the token this page does not have.
const live = { link: 'connecting', locked: false };

// -------------------------------------------------------------------------------------------------
// The relay's state
// -------------------------------------------------------------------------------------------------

// The link to the relay, in the top bar.
const LINK = { connecting: 'screens.link.connecting', live: 'screens.link.live', down: 'screens.link.down', locked: 'screens.link.locked' };

function setLink(state) {
  live.link = state;
  const node = $('link');
  setAttr(node, 'data-state', state);
  setText(node, t(LINK[state]));
}

const relay = new LiveLink({
  // A reply that is not JSON (some proxy's page) fails like an unreachable relay: tried again later.
  fetchState: async () => (await api('GET', '/api/state')) ?? Promise.reject(new Error('no state document')),
  onFetchError: (e) => {
    live.locked = e.status === 401;
    renderBanner();
    return true;
  },
  onState: (state) => {
    live.locked = false;
    render(state.screens);
  },
  onLink: (state) => setLink(live.locked && state === 'down' ? 'locked' : state),
});

// -------------------------------------------------------------------------------------------------
// Screens
// -------------------------------------------------------------------------------------------------

function makeTile(serial) {
  const canvas = el('canvas', { class: 'picture', role: 'img' });
  const overlayText = el('span', { class: 'overlay-text' });
  const overlayDetail = el('span', { class: 'overlay-detail' });
  const overlay = el('p', { class: 'overlay' }, overlayText, overlayDetail);
  const name = el('span', { class: 'name' });
  const detail = el('span', { class: 'detail' });
  const root = el(
    'figure',
    { class: 'screen', dataset: { serial }, tabindex: '0' },
    el('div', { class: 'frame' }, canvas, overlay),
    el('figcaption', {}, name, detail),
  );
  const tile = { root, canvas, name, detail, overlay, overlayText, overlayDetail, player: null, device: null, status: null };
  // A click (or Enter) here enlarges this screen, or shows them all again.
  const choose = () => {
    const focus = screens.focus === serial ? null : serial;
    api('POST', '/api/screens/focus', { serial: focus }).catch(() => {});
  };
  root.addEventListener('click', choose);
  root.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      choose();
    }
  });
  wall.append(root);
  return tile;
}

function dropTile(serial) {
  const tile = tiles.get(serial);
  tile?.player?.stop();
  tile?.root.remove();
  tiles.delete(serial);
}

function renderTile(tile) {
  const d = tile.device;
  setText(tile.name, deviceName(d));
  setText(tile.detail, deviceDetail(d));
  setAttr(tile.canvas, 'aria-label', t('screens.picture_label', { name: deviceName(d) }));
  setAttr(tile.root, 'data-focus', screens.focus === d.serial ? 'true' : null);
  const problem = deviceProblem(d);
  const words = problem ? { text: problem, detail: '' } : streamText(tile.status);
  show(tile.overlay, Boolean(words));
  setText(tile.overlayText, words?.text ?? '');
  setText(tile.overlayDetail, words?.detail ?? '');
  setAttr(tile.root, 'data-state', problem ? 'problem' : tile.status?.state ?? 'connecting');
}

function render(view) {
  screens = view ?? screens;
  const devices = screens.devices ?? [];
  const seen = new Set();
  for (const d of devices) {
    seen.add(d.serial);
    let tile = tiles.get(d.serial);
    if (!tile) {
      tile = makeTile(d.serial);
      tiles.set(d.serial, tile);
    }
    tile.device = d;
    const ready = d.state === 'device';
    if (ready && !tile.player) {
      tile.player = new ScreenPlayer(tile.canvas, d.serial, (status) => {
        tile.status = status;
        renderTile(tile);
      });
      tile.player.start();
    } else if (!ready && tile.player) {
      tile.player.stop();
      tile.player = null;
      tile.status = null;
    }
    renderTile(tile);
  }
  for (const serial of [...tiles.keys()]) if (!seen.has(serial)) dropTile(serial);
  // The admin page's order: players first, by name.
  keepOrder(wall, orderOf(devices).map((serial) => tiles.get(serial).root));
  const ready = devices.filter((d) => d.state === 'device').length;
  setText($('count'), devices.length ? t('screens.count', { count: devices.length, ready }) : '');
  renderEmpty(devices.length === 0);
  renderBanner();
  layout();
}

function orderOf(devices) {
  return [...devices].sort(byPlace).map((d) => d.serial);
}

function renderEmpty(empty) {
  show($('empty'), empty);
  if (!empty) return;
  const why = unavailableText(screens.unavailable);
  setText($('empty-text'), why || t('screens.none'));
  setText($('empty-help'), why ? t('screens.help_readme') : t('screens.none_help'));
}

function renderBanner() {
  const problem = playbackProblem();
  let text = '';
  if (live.locked) text = t('screens.token');
  else if (problem) text = t(problem === 'insecure' ? 'screens.unsupported.insecure' : 'screens.unsupported.no_webcodecs');
  else if (screens.unavailable && (screens.devices ?? []).length) text = unavailableText(screens.unavailable);
  setText($('banner'), text);
  show($('banner'), Boolean(text));
}

// -------------------------------------------------------------------------------------------------
// Layout: every screen as large as it can be, the enlarged one larger still
// -------------------------------------------------------------------------------------------------

/** The grid of `n` screens of shape `aspect` that gives each the largest picture in `w`×`h`. */
function bestGrid(n, w, h, aspect) {
  let best = null;
  for (let cols = 1; cols <= n; cols += 1) {
    const rows = Math.ceil(n / cols);
    const cellW = (w - GAP_PX * (cols - 1)) / cols;
    const cellH = (h - GAP_PX * (rows - 1)) / rows;
    const pictureH = Math.min(cellW / aspect, cellH - CAPTION_PX);
    if (pictureH <= 0) continue;
    if (!best || pictureH > best.pictureH) best = { cols, rows, cellW, cellH, pictureH };
  }
  return best ?? { cols: n, rows: 1, cellW: w / n, cellH: h, pictureH: 1 };
}

function place(root, x, y, width, height) {
  const style = root.style;
  const values = { left: `${Math.round(x)}px`, top: `${Math.round(y)}px`, width: `${Math.round(width)}px`, height: `${Math.round(height)}px` };
  for (const [k, v] of Object.entries(values)) if (style[k] !== v) style[k] = v;
}

/** Lays `serials` out in the box (x, y, w, h), each centred in its cell. */
function layGrid(serials, x, y, w, h, aspect) {
  if (!serials.length) return;
  const g = bestGrid(serials.length, w, h, aspect);
  const pictureW = g.pictureH * aspect;
  const usedH = g.rows * g.cellH + (g.rows - 1) * GAP_PX;
  serials.forEach((serial, i) => {
    const col = i % g.cols;
    const row = Math.floor(i / g.cols);
    const cx = x + col * (g.cellW + GAP_PX) + (g.cellW - pictureW) / 2;
    const cy = y + (h - usedH) / 2 + row * (g.cellH + GAP_PX) + (g.cellH - g.pictureH - CAPTION_PX) / 2;
    place(tiles.get(serial).root, cx, cy, pictureW, g.pictureH + CAPTION_PX);
  });
}

/** The shape most of `devices` have (their stream's width over height), 16:9 until known. */
function aspectOf(devices) {
  const counts = new Map();
  for (const d of devices) {
    if (!d?.width || !d?.height) continue;
    const aspect = Math.round((d.width / d.height) * 100) / 100;
    counts.set(aspect, (counts.get(aspect) ?? 0) + 1);
  }
  let best = DEFAULT_ASPECT;
  let most = 0;
  for (const [aspect, n] of counts) {
    if (n > most) [best, most] = [aspect, n];
  }
  return best;
}

function layout() {
  const devices = screens.devices ?? [];
  const serials = orderOf(devices);
  const w = wall.clientWidth;
  const h = wall.clientHeight;
  if (!serials.length || !w || !h) return;
  const bySerial = new Map(devices.map((d) => [d.serial, d]));
  const focus = serials.includes(screens.focus) ? screens.focus : null;
  wall.dataset.focus = focus ? 'true' : 'false';
  if (!focus || serials.length === 1) {
    layGrid(serials, 0, 0, w, h, aspectOf(devices));
    return;
  }
  const others = serials.filter((s) => s !== focus);
  const bigAspect = aspectOf([bySerial.get(focus)]);
  const othersAspect = aspectOf(others.map((s) => bySerial.get(s)));
  if (w >= h) {
    const bigW = Math.floor(w * FOCUS_SHARE);
    layGrid([focus], 0, 0, bigW, h, bigAspect);
    layGrid(others, bigW + GAP_PX, 0, w - bigW - GAP_PX, h, othersAspect);
  } else {
    const bigH = Math.floor(h * FOCUS_SHARE);
    layGrid([focus], 0, 0, w, bigH, bigAspect);
    layGrid(others, 0, bigH + GAP_PX, w, h - bigH - GAP_PX, othersAspect);
  }
}

new ResizeObserver(() => layout()).observe(wall);

// -------------------------------------------------------------------------------------------------
// Start
// -------------------------------------------------------------------------------------------------

await initI18n();
onLanguageChange(() => {
  document.title = t('screens.page_title');
  setLink(live.link);
  render(screens);
});
document.title = t('screens.page_title');
setLink('connecting');
// For tests and the curious: each screen as shown, and where.
window.screensView = {
  snapshot: () => ({
    focus: screens.focus,
    link: $('link').dataset.state,
    banner: $('banner').hidden ? '' : $('banner').textContent,
    empty: $('empty').hidden ? '' : $('empty-text').textContent,
    screens: [...tiles.entries()].map(([serial, tile]) => {
      const r = tile.root.getBoundingClientRect();
      return {
        serial,
        name: tile.name.textContent,
        state: tile.root.dataset.state,
        overlay: tile.overlay.hidden ? '' : tile.overlayText.textContent,
        frames: tile.player?.frames ?? 0,
        width: tile.canvas.width,
        height: tile.canvas.height,
        focus: tile.root.dataset.focus === 'true',
        rect: { x: r.x, y: r.y, width: r.width, height: r.height },
      };
    }),
  }),
};
relay.start();
