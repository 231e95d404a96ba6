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
import { byPlace, deviceDetail, deviceName, deviceProblem, statusText, unavailableText } from './screen-words.js';
import { icon } from './icons.js';
import { api } from './api.js';
import { errorText } from './said.js';
import { showMessage } from './messages.js';

/**
 * Sets up the card (`#screens-card`) and the screen in the player's dialog (`#detail-screen`).
 */
export function setupScreens() {
  const card = $('screens-card');
  const title = el('h2', { id: 'screens-title', class: 'section-title' });
  const projectorLink = el('a', { id: 'screens-projector-link', class: 'button-link', href: '/screens', target: '_blank', rel: 'noopener' });
  projectorLink.append(icon('eye'), el('span'));
  const unavailable = el('p', { id: 'screens-unavailable', class: 'reason notice', role: 'status' });
  const empty = el('p', { id: 'screens-empty', class: 'empty' });
  const projector = el('p', { id: 'screens-projector', class: 'screens-projector' });
  const projectorText = el('span');
  const showAll = el('button', { type: 'button', id: 'screens-show-all', class: 'quiet' });
  projector.append(projectorText, showAll);
  const list = el('ul', { id: 'screens-list', class: 'screens-list', 'aria-labelledby': 'screens-title' });
  card.append(el('div', { class: 'section-head' }, title, projectorLink), unavailable, empty, projector, list);

  const rows = new Map(); // serial → { li, name, detail, problem, watch, project, preview, canvas, status, player }
  let view = { devices: [], focus: null, unavailable: null, enabled: true };

  async function setFocus(serial, button) {
    try {
      await api('POST', '/api/screens/focus', { serial });
      view = { ...view, focus: serial };
      render();
    } catch (e) {
      showMessage('error', () => t('screens.focus_failed', { reason: errorText(e) }));
    }
    button?.focus();
  }

  showAll.addEventListener('click', () => setFocus(null, showAll));

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
      if (row.player) stopWatching(row);
      else startWatching(row);
      renderRow(row);
    });
    project.addEventListener('click', () => setFocus(view.focus === serial ? null : serial, project));
    return row;
  }

  function startWatching(row) {
    if (row.player || row.device?.state !== 'device') return;
    row.player = new ScreenPlayer(row.canvas, row.device.serial, (status) => {
      row.playerStatus = status;
      renderRow(row);
    });
    row.player.start();
  }

  function stopWatching(row) {
    row.player?.stop();
    row.player = null;
    row.playerStatus = null;
  }

  function renderRow(row) {
    const d = row.device;
    setText(row.name, deviceName(d));
    setText(row.detail, deviceDetail(d));
    const problem = deviceProblem(d);
    setText(row.problem, problem);
    show(row.problem, Boolean(problem));
    const ready = d.state === 'device';
    if (!ready && row.player) stopWatching(row);
    show(row.watch, ready);
    show(row.project, ready);
    const watching = Boolean(row.player);
    setText(row.watch.querySelector('span'), t(watching ? 'screens.hide' : 'screens.watch'));
    setAttr(row.watch, 'aria-expanded', String(watching));
    setAttr(row.watch, 'aria-label', t(watching ? 'screens.hide_label' : 'screens.watch_label', { name: deviceName(d) }));
    const focused = view.focus === d.serial;
    setText(row.project.querySelector('span'), t(focused ? 'screens.on_projector' : 'screens.project'));
    setAttr(row.project, 'aria-pressed', String(focused));
    setAttr(row.project, 'aria-label', t('screens.project_label', { name: deviceName(d) }));
    setAttr(row.li, 'data-focus', focused ? 'true' : null);
    show(row.preview, watching);
    fitPreview(row.preview, d);
    setAttr(row.canvas, 'aria-label', t('screens.picture_label', { name: deviceName(d) }));
    const words = statusText(row.playerStatus ?? { state: 'connecting', code: 'connecting' });
    setText(row.status, words ? [words.text, words.detail].filter(Boolean).join(' — ') : '');
    show(row.status, Boolean(words));
  }

  function render() {
    setText(title, t('screens.title'));
    setText(projectorLink.querySelector('span'), t('screens.open_projector'));
    const devices = view.devices ?? [];
    const why = unavailableText(view.unavailable);
    setText(unavailable, why);
    show(unavailable, Boolean(why));
    show(projectorLink, view.enabled !== false);
    setText(empty, t('screens.none_short'));
    show(empty, !why && devices.length === 0);
    const focused = devices.find((d) => d.serial === view.focus);
    setText(projectorText, focused ? t('screens.projector_focus', { name: deviceName(focused) }) : t('screens.projector_all'));
    setText(showAll, t('screens.show_all'));
    show(showAll, Boolean(focused));
    show(projector, devices.length > 0);
    const seen = new Set();
    for (const d of devices) {
      seen.add(d.serial);
      let row = rows.get(d.serial);
      if (!row) {
        row = makeRow(d.serial);
        rows.set(d.serial, row);
      }
      row.device = d;
      renderRow(row);
    }
    for (const [serial, row] of rows) {
      if (seen.has(serial)) continue;
      stopWatching(row);
      row.li.remove();
      rows.delete(serial);
    }
    keepOrder(list, [...devices].sort(byPlace).map((d) => rows.get(d.serial).li));
    show(list, devices.length > 0);
    renderDetailScreen();
  }

  /** The preview takes the stream's shape once the relay knows it (16:9 until then). */
  function fitPreview(box, device) {
    const aspect = device.width && device.height ? `${device.width} / ${device.height}` : '';
    if (box.style.aspectRatio !== aspect) box.style.aspectRatio = aspect;
  }

  // ---------------------------------------------------------------------------------------------
  // The player's dialog
  // ---------------------------------------------------------------------------------------------

  const dialogScreen = {
    box: $('detail-screen'),
    canvas: $('detail-screen-canvas'),
    status: $('detail-screen-status'),
    project: $('detail-project'),
    playerId: null,
    serial: null,
    player: null,
    playerStatus: null,
  };

  dialogScreen.project.addEventListener('click', () => {
    const serial = dialogScreen.serial;
    if (serial) setFocus(view.focus === serial ? null : serial, dialogScreen.project);
  });

  function renderDetailScreen() {
    const s = dialogScreen;
    const device = s.playerId == null ? null : (view.devices ?? []).find((d) => d.player === s.playerId && d.state === 'device');
    if (!device || device.serial !== s.serial) {
      s.player?.stop();
      s.player = null;
      s.playerStatus = null;
      s.serial = device?.serial ?? null;
      if (device) {
        s.player = new ScreenPlayer(s.canvas, device.serial, (status) => {
          s.playerStatus = status;
          renderDetailScreen();
        });
        s.player.start();
      }
    }
    show(s.box, Boolean(device));
    if (!device) return;
    fitPreview(s.canvas.parentElement, device);
    const words = statusText(s.playerStatus ?? { state: 'connecting', code: 'connecting' });
    setText(s.status, words ? [words.text, words.detail].filter(Boolean).join(' — ') : '');
    show(s.status, Boolean(words));
    setAttr(s.canvas, 'aria-label', t('screens.picture_label', { name: deviceName(device) }));
    const focused = view.focus === device.serial;
    setText(s.project.querySelector('span'), t(focused ? 'screens.on_projector' : 'screens.project'));
    setAttr(s.project, 'aria-pressed', String(focused));
  }

  onLanguageChange(() => render());

  return {
    /** The relay's state document changed. */
    update(state) {
      if (!state.screens) return;
      view = state.screens;
      render();
    },
    /** The player whose dialog is open (null: none): its screen plays there while it is open. */
    showPlayer(id) {
      dialogScreen.playerId = id;
      renderDetailScreen();
    },
    /** For tests: what the card and the dialog show. */
    snapshot() {
      return {
        unavailable: unavailable.hidden ? '' : unavailable.textContent,
        empty: empty.hidden ? '' : empty.textContent,
        projector: projector.hidden ? '' : projectorText.textContent,
        rows: [...rows.values()].map((r) => ({
          serial: r.device.serial,
          name: r.name.textContent,
          problem: r.problem.hidden ? '' : r.problem.textContent,
          watching: Boolean(r.player),
          frames: r.player?.frames ?? 0,
          focus: r.li.dataset.focus === 'true',
          width: r.canvas.width,
          height: r.canvas.height,
        })),
        dialog: dialogScreen.box.hidden ? null : { serial: dialogScreen.serial, frames: dialogScreen.player?.frames ?? 0, status: dialogScreen.status.hidden ? '' : dialogScreen.status.textContent },
      };
    },
  };
}
