// gama-vr-relay admin page: the Headset screens card, and a player's screen in its details.
//
// The card lists the headsets the relay's ADB knows (plugged in, or over Wi-Fi), each with the player
// connected from it, a button to watch its screen here and one to enlarge it on the projector page
// (/screens, opened on the computer that drives the projector). A headset's screen is streamed only
// while someone watches it. Without ADB or scrcpy the card says in one line what to install.
//
// The player's details (its dialog) show that player's screen while open, when a headset is matched
// to it (same network address).

import { $, el, keepOrder, setAttr, setText, show } from './dom.js';
import { onLanguageChange, t } from './i18n.js';
import { ScreenPlayer } from './screen-player.js';
import { byPlace, deviceDetail, deviceName, deviceProblem, streamText, unavailableText } from './screen-words.js';
import { icon } from './icons.js';
import { api } from './api.js';
import { errorText } from './said.js';
import { showMessage } from './messages.js';

// The card's elements, made by setupScreens (buildCard).
const ui = {};

// What the card shows: the relay's `state.screens`, and a row per headset listed.
const card = {
  view: { devices: [], focus: null, unavailable: null, enabled: true },
  rows: new Map(), // serial → { li, name, detail, problem, watch, project, preview, canvas, status, player, device, playerStatus }
};

// The screen in the player's dialog: its elements (set by setupScreens), the player whose dialog is
// open, the headset matched to it and its stream.
const dialogScreen = {
  box: null,
  canvas: null,
  status: null,
  project: null,
  playerId: null,
  serial: null,
  player: null,
  playerStatus: null,
};

// -------------------------------------------------------------------------------------------------
// Streams, and the projector's choice
// -------------------------------------------------------------------------------------------------

/** Plays headset `serial` on `canvas` for `holder` (a row or the dialog's screen), which keeps the
 *  player and its last status; `redraw` runs at each status. */
function startPlayer(holder, canvas, serial, redraw) {
  holder.player = new ScreenPlayer(canvas, serial, (status) => {
    holder.playerStatus = status;
    redraw();
  });
  holder.player.start();
}

/** Stops `holder`'s stream, if any. */
function stopPlayer(holder) {
  holder.player?.stop();
  holder.player = null;
  holder.playerStatus = null;
}

/** Says in `node` what a screen shows instead of its picture (nothing while it plays). */
function renderStreamStatus(node, playerStatus) {
  const words = streamText(playerStatus);
  setText(node, words ? [words.text, words.detail].filter(Boolean).join(' — ') : '');
  show(node, Boolean(words));
}

/** The preview takes the stream's shape once the relay knows it (16:9 until then). */
function fitPreview(box, device) {
  const aspect = device.width && device.height ? `${device.width} / ${device.height}` : '';
  if (box.style.aspectRatio !== aspect) box.style.aspectRatio = aspect;
}

/** Enlarges headset `serial` on the projector page (null: shows them all); `button` gets the
 *  keyboard focus back after the push redraws the card. */
async function setFocus(serial, button) {
  try {
    await api('POST', '/api/screens/focus', { serial });
    card.view = { ...card.view, focus: serial };
    render();
  } catch (e) {
    showMessage('error', () => t('screens.focus_failed', { reason: errorText(e) }));
  }
  button?.focus();
}

/** Enlarges `serial` on the projector, or shows them all again when it already is. */
function toggleFocus(serial, button) {
  setFocus(card.view.focus === serial ? null : serial, button);
}

// -------------------------------------------------------------------------------------------------
// The card
// -------------------------------------------------------------------------------------------------

/** Fills `#screens-card`: its title, the projector link, the notices and the list. */
function buildCard() {
  ui.title = el('h2', { id: 'screens-title', class: 'section-title' });
  ui.projectorLink = el('a', { id: 'screens-projector-link', class: 'button-link', href: '/screens', target: '_blank', rel: 'noopener' });
  ui.projectorLink.append(icon('eye'), el('span'));
  ui.unavailable = el('p', { id: 'screens-unavailable', class: 'reason notice', role: 'status' });
  ui.empty = el('p', { id: 'screens-empty', class: 'empty' });
  ui.projector = el('p', { id: 'screens-projector', class: 'screens-projector' });
  ui.projectorText = el('span');
  ui.showAll = el('button', { type: 'button', id: 'screens-show-all', class: 'quiet' });
  ui.projector.append(ui.projectorText, ui.showAll);
  ui.list = el('ul', { id: 'screens-list', class: 'screens-list', 'aria-labelledby': 'screens-title' });
  const head = el('div', { class: 'section-head' }, ui.title, ui.projectorLink);
  $('screens-card').append(head, ui.unavailable, ui.empty, ui.projector, ui.list);
  ui.showAll.addEventListener('click', () => setFocus(null, ui.showAll));
}

/** A headset's row: its name, what keeps it from showing, Watch and Project, and its preview. */
function makeRow(serial) {
  const name = el('span', { class: 'screen-name' });
  const detail = el('span', { class: 'screen-detail muted' });
  const problem = el('span', { class: 'screen-problem' });
  const watch = el('button', { type: 'button', class: 'quiet', 'aria-expanded': 'false', dataset: { action: 'watch' } });
  watch.append(icon('eye'), el('span'));
  const project = el('button', { type: 'button', class: 'quiet', 'aria-pressed': 'false', dataset: { action: 'project' } });
  project.append(el('span'));
  const canvas = el('canvas', { class: 'screen-canvas', role: 'img' });
  const status = el('p', { class: 'screen-status' });
  const preview = el('div', { class: 'screen-preview' }, canvas, status);
  preview.hidden = true;
  const li = el(
    'li',
    { class: 'screen-row', dataset: { serial } },
    el('div', { class: 'screen-head' }, el('span', { class: 'screen-who' }, name, detail), problem, el('span', { class: 'screen-buttons' }, watch, project)),
    preview,
  );
  const row = { li, name, detail, problem, watch, project, preview, canvas, status, player: null, device: null, playerStatus: null };
  watch.addEventListener('click', () => {
    if (row.player) stopPlayer(row);
    else startWatching(row);
    renderRow(row);
  });
  project.addEventListener('click', () => toggleFocus(serial, project));
  return row;
}

/** Streams a row's headset into its preview, when it can show its screen. */
function startWatching(row) {
  if (row.player || row.device?.state !== 'device') return;
  startPlayer(row, row.canvas, row.device.serial, () => renderRow(row));
}

function renderRow(row) {
  const d = row.device;
  setText(row.name, deviceName(d));
  setText(row.detail, deviceDetail(d));
  const problem = deviceProblem(d);
  setText(row.problem, problem);
  show(row.problem, Boolean(problem));
  const ready = d.state === 'device';
  if (!ready && row.player) stopPlayer(row);
  show(row.watch, ready);
  show(row.project, ready);
  const watching = Boolean(row.player);
  setText(row.watch.querySelector('span'), t(watching ? 'screens.hide' : 'screens.watch'));
  setAttr(row.watch, 'aria-expanded', String(watching));
  setAttr(row.watch, 'aria-label', t(watching ? 'screens.hide_label' : 'screens.watch_label', { name: deviceName(d) }));
  const focused = card.view.focus === d.serial;
  setText(row.project.querySelector('span'), t(focused ? 'screens.on_projector' : 'screens.project'));
  setAttr(row.project, 'aria-pressed', String(focused));
  setAttr(row.project, 'aria-label', t('screens.project_label', { name: deviceName(d) }));
  setAttr(row.li, 'data-focus', focused ? 'true' : null);
  show(row.preview, watching);
  fitPreview(row.preview, d);
  setAttr(row.canvas, 'aria-label', t('screens.picture_label', { name: deviceName(d) }));
  renderStreamStatus(row.status, row.playerStatus);
}

/** The card's head and notices: why no screen can show, none listed, what the projector shows. */
function renderHead(devices) {
  setText(ui.title, t('screens.title'));
  setText(ui.projectorLink.querySelector('span'), t('screens.open_projector'));
  const why = unavailableText(card.view.unavailable);
  setText(ui.unavailable, why);
  show(ui.unavailable, Boolean(why));
  show(ui.projectorLink, card.view.enabled !== false);
  setText(ui.empty, t('screens.none_short'));
  show(ui.empty, !why && devices.length === 0);
  const focused = devices.find((d) => d.serial === card.view.focus);
  setText(ui.projectorText, focused ? t('screens.projector_focus', { name: deviceName(focused) }) : t('screens.projector_all'));
  setText(ui.showAll, t('screens.show_all'));
  show(ui.showAll, Boolean(focused));
  show(ui.projector, devices.length > 0);
}

/** A row per headset listed, in the page's order; a headset gone takes its row (and stream) along. */
function renderRows(devices) {
  const seen = new Set();
  for (const d of devices) {
    seen.add(d.serial);
    let row = card.rows.get(d.serial);
    if (!row) {
      row = makeRow(d.serial);
      card.rows.set(d.serial, row);
    }
    row.device = d;
    renderRow(row);
  }
  for (const [serial, row] of card.rows) {
    if (seen.has(serial)) continue;
    stopPlayer(row);
    row.li.remove();
    card.rows.delete(serial);
  }
  keepOrder(ui.list, [...devices].sort(byPlace).map((d) => card.rows.get(d.serial).li));
  show(ui.list, devices.length > 0);
}

function render() {
  const devices = card.view.devices ?? [];
  renderHead(devices);
  renderRows(devices);
  renderDetailScreen();
}

// -------------------------------------------------------------------------------------------------
// The player's dialog
// -------------------------------------------------------------------------------------------------

/** The dialog's stream follows the headset matched to its player (`device`, or none). */
function followDevice(device) {
  const s = dialogScreen;
  if (device && device.serial === s.serial) return;
  stopPlayer(s);
  s.serial = device?.serial ?? null;
  if (device) startPlayer(s, s.canvas, device.serial, renderDetailScreen);
}

function renderDetailScreen() {
  const s = dialogScreen;
  const device = s.playerId == null ? null : (card.view.devices ?? []).find((d) => d.player === s.playerId && d.state === 'device');
  followDevice(device);
  show(s.box, Boolean(device));
  if (!device) return;
  fitPreview(s.canvas.parentElement, device);
  renderStreamStatus(s.status, s.playerStatus);
  setAttr(s.canvas, 'aria-label', t('screens.picture_label', { name: deviceName(device) }));
  const focused = card.view.focus === device.serial;
  setText(s.project.querySelector('span'), t(focused ? 'screens.on_projector' : 'screens.project'));
  setAttr(s.project, 'aria-pressed', String(focused));
}

// -------------------------------------------------------------------------------------------------
// Setup
// -------------------------------------------------------------------------------------------------

/** For tests: what the card and the dialog show. */
function snapshot() {
  const s = dialogScreen;
  return {
    unavailable: ui.unavailable.hidden ? '' : ui.unavailable.textContent,
    empty: ui.empty.hidden ? '' : ui.empty.textContent,
    projector: ui.projector.hidden ? '' : ui.projectorText.textContent,
    rows: [...card.rows.values()].map((r) => ({
      serial: r.device.serial,
      name: r.name.textContent,
      problem: r.problem.hidden ? '' : r.problem.textContent,
      watching: Boolean(r.player),
      frames: r.player?.frames ?? 0,
      focus: r.li.dataset.focus === 'true',
      width: r.canvas.width,
      height: r.canvas.height,
    })),
    dialog: s.box.hidden ? null : { serial: s.serial, frames: s.player?.frames ?? 0, status: s.status.hidden ? '' : s.status.textContent },
  };
}

/**
 * Sets up the card (`#screens-card`) and the screen in the player's dialog (`#detail-screen`).
 */
export function setupScreens() {
  buildCard();
  Object.assign(dialogScreen, {
    box: $('detail-screen'),
    canvas: $('detail-screen-canvas'),
    status: $('detail-screen-status'),
    project: $('detail-project'),
  });
  dialogScreen.project.addEventListener('click', () => {
    if (dialogScreen.serial) toggleFocus(dialogScreen.serial, dialogScreen.project);
  });
  onLanguageChange(() => render());
  return {
    /** The relay's state document changed. */
    update(state) {
      if (!state.screens) return;
      card.view = state.screens;
      render();
    },
    /** The player whose dialog is open (null: none): its screen plays there while it is open. */
    showPlayer(id) {
      dialogScreen.playerId = id;
      renderDetailScreen();
    },
    snapshot,
  };
}
