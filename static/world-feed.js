// gama-vr-relay admin page: the world view's feed. Follows one player over /api/world?player=<id> (or a
// kept session's /api/sessions/{id}/play), reconnects with a capped backoff, decodes what arrives into
// the model (world-model.js), and says in the status line where the view stands. The selector chooses
// whom to follow: the operator's choice, kept for the tab, or the first player in game.

import { $, el, setAttr, setText } from './dom.js';
import { setIcon } from './icons.js';
import { withToken } from './token.js';
import { fmtAgo } from './format.js';
import { playerWord } from './words.js';
import { live } from './page-state.js';
import { applyPayload, applyPositions, emptyModel, isObject } from './world-model.js';
import { TEXT } from './world-words.js';
import { flush, ui, view, wv } from './world-state.js';
import { refreshAll } from './world-facts.js';
import { requestRender } from './world-draw.js';
import { applyClock, follow } from './world-playback.js';

const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 5000;
const FOLLOW_KEY = 'gama-vr-relay.world-player';

export function loadChosen() {
  try {
    return sessionStorage.getItem(FOLLOW_KEY) || null;
  } catch {
    return null;
  }
}

function storeChosen(value) {
  try {
    if (value) sessionStorage.setItem(FOLLOW_KEY, value);
    else sessionStorage.removeItem(FOLLOW_KEY);
  } catch {
    // storage disabled: the choice lasts as long as the page
  }
}

function setStatus(state, text, shape) {
  setAttr(ui.statusEl, 'data-state', state);
  setText($('world-status-text'), text);
  setIcon(ui.statusEl.querySelector('.status-icon'), shape);
}

export function refreshStatus() {
  if (wv.playback) {
    if (!wv.socketOpen) setStatus(wv.attempt > 0 ? 'down' : 'connecting', wv.attempt > 0 ? TEXT.lost() : TEXT.opening(), wv.attempt > 0 ? 'cross' : 'ring');
    else if (wv.playback.ended) setStatus('playback', TEXT.ended(wv.playback.player), 'flag');
    else if (wv.model.lastWorldAt == null) setStatus('playback', TEXT.nothingYet(wv.playback.player), 'replay');
    else setStatus('playback', TEXT.following(wv.playback.player), 'replay');
    return;
  }
  if (!wv.target) {
    setStatus('none', wv.players.length ? TEXT.noPlayerInGame() : TEXT.noPlayer(), 'none');
  } else if (!wv.socketOpen) {
    setStatus(wv.attempt > 0 ? 'down' : 'connecting', wv.attempt > 0 ? TEXT.lostLive(wv.target) : TEXT.connecting(wv.target), wv.attempt > 0 ? 'cross' : 'ring');
  } else if (wv.model.endOfGame != null) {
    setStatus('ended', TEXT.gameOver(wv.target, wv.model.endOfGame), 'flag');
  } else if (wv.model.lastWorldAt == null) {
    setStatus('waiting', TEXT.waiting(wv.target), 'hourglass');
  } else {
    setStatus('live', TEXT.live(wv.target, fmtAgo(Date.now() - wv.model.lastWorldAt)), 'check');
  }
}

export function closeSocket() {
  clearTimeout(wv.timer);
  wv.timer = null;
  const s = wv.socket;
  wv.socket = null;
  wv.socketOpen = false;
  if (s) {
    s.onopen = s.onmessage = s.onclose = s.onerror = null;
    try {
      s.close();
    } catch {
      // already closed
    }
  }
}

/** Starts from nothing; `keepView` keeps the pan and zoom (a seek in a recording). */
export function resetModel(keepView = false) {
  wv.model = emptyModel();
  wv.pendingWorld = null;
  wv.hover = null;
  wv.pinned = false;
  if (!keepView) view.auto = true;
  setText(ui.hoverEl, '');
}

export function connect() {
  closeSocket();
  resetModel(Boolean(wv.playback));
  refreshAll();
  requestRender();
  if (document.visibilityState === 'hidden' || live.waitingForToken) return;
  let path;
  if (wv.playback) {
    path = withToken(`/api/sessions/${encodeURIComponent(wv.playback.id)}/play?player=${encodeURIComponent(wv.playback.player ?? '')}`);
  } else if (wv.target) {
    path = withToken(`/api/world?player=${encodeURIComponent(wv.target)}`);
  } else {
    return;
  }
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const s = new WebSocket(`${scheme}//${location.host}${path}`);
  wv.socket = s;
  s.onopen = () => {
    if (wv.socket !== s) return;
    wv.socketOpen = true;
    wv.attempt = 0;
    if (wv.playback) {
      // The recording starts at its beginning, paused: go where the page stands.
      wv.pendingSeeks = 1;
      if (wv.playback.t > 0) {
        s.send(JSON.stringify({ type: 'seek', t: Math.round(wv.playback.t) }));
        wv.pendingSeeks += 1;
      }
      if (wv.playback.playing) s.send(JSON.stringify({ type: 'play', speed: wv.playback.speed }));
    } else {
      // The relay sends the cached view first: start from nothing.
      resetModel();
    }
    refreshAll();
    requestRender();
  };
  s.onmessage = (event) => {
    if (wv.socket !== s) return;
    receive(event.data);
  };
  s.onclose = () => {
    if (wv.socket !== s) return;
    wv.socket = null;
    wv.socketOpen = false;
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** wv.attempt);
    wv.attempt += 1;
    refreshStatus();
    wv.timer = setTimeout(connect, delay);
  };
  s.onerror = () => {
    // onclose follows and reconnects.
  };
}

function receive(data) {
  let msg;
  try {
    msg = JSON.parse(data);
  } catch {
    return;
  }
  if (!isObject(msg)) return;
  wv.messages += 1;
  if (msg.type === 'json_output' && isObject(msg.contents)) {
    const c = msg.contents;
    if (Object.keys(c)[0] === 'pointsLoc' && c.isInit !== true) {
      // World updates can come faster than frames: only the newest one is decoded, but one
      // that was waiting is applied first (its keepNames and heading inference build on it).
      flush();
      wv.pendingWorld = c;
    } else {
      flush();
      applyPayload(wv.model, c);
      refreshAll();
    }
    requestRender();
  } else if (msg.type === 'positions') {
    flush();
    applyPositions(wv.model, msg.players);
    requestRender();
  } else if (msg.type === 'reset') {
    if (wv.playback && wv.pendingSeeks > 0) wv.pendingSeeks -= 1;
    resetModel(Boolean(wv.playback));
    refreshAll();
    requestRender();
  } else if (msg.type === 'clock' && wv.playback) {
    applyClock(msg);
  }
}

/** The player to follow: the operator's choice while it is listed, else the first in game. */
function pickTarget() {
  if (wv.chosen && wv.players.some((p) => p.id === wv.chosen)) return wv.chosen;
  return wv.players.find((p) => p.in_game)?.id ?? null;
}

export function retarget() {
  const next = pickTarget();
  if (next === wv.target && (wv.socket || wv.timer || !next)) return;
  wv.target = next;
  wv.attempt = 0;
  connect();
}

export function renderSelect() {
  if (wv.playback) {
    const key = JSON.stringify(['playback', wv.playback.id, wv.playback.players]);
    if (key !== wv.optionsKey) {
      wv.optionsKey = key;
      ui.select.replaceChildren(...wv.playback.players.map((id) => el('option', { value: id, text: id })));
    }
    if (ui.select.value !== wv.playback.player) ui.select.value = wv.playback.player ?? '';
    return;
  }
  const auto = wv.players.find((p) => p.in_game)?.id;
  const key = JSON.stringify([auto, wv.players.map((p) => [p.id, p.state])]);
  if (key !== wv.optionsKey) {
    wv.optionsKey = key;
    const options = [el('option', { value: '', text: TEXT.firstInGame(auto) })];
    for (const p of wv.players) {
      options.push(el('option', { value: p.id, text: TEXT.option(p.id, playerWord(p.in_game ? 'in_game' : p.state)) }));
    }
    ui.select.replaceChildren(...options);
  }
  const value = wv.chosen && wv.players.some((p) => p.id === wv.chosen) ? wv.chosen : '';
  if (ui.select.value !== value) ui.select.value = value;
}

/** The player selector: follow another player (live) or another of the recording's players. */
export function wireSelect() {
  ui.select.addEventListener('change', () => {
    if (wv.playback) {
      follow(ui.select.value);
      return;
    }
    wv.chosen = ui.select.value || null;
    storeChosen(wv.chosen);
    retarget();
  });
}
