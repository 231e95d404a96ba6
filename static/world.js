// gama-vr-relay admin page: the live world view.
//
// Draws, seen from above, what one headset receives. The relay forwards that player's json_output
// frames untouched over /api/world?player=<id>, with every player's own reported position at most
// ten times a second; all decoding happens here (protocol.md §6), never on the relay's hot path.
// The canvas is drawn only when something changed, at most 20 frames a second.
//
// Coordinates stay in GAMA's plane (protocol.md §6.1): x to the right, y downward, lengths divided
// by the precision. Unity's z is −y, so what Unity calls "forward" (+z) is up on the screen.
//
// The same view plays a kept session back (/api/sessions/{id}/play?player=<id>): the recorded frames
// of one player, every player's position with its trail over the last seconds, and a clock. A bar
// above the canvas says it is a recording and leads back to the live view.
//
// The view's parts, one module each: decoding (world-model.js), its state (world-state.js), the feed
// and the player selector (world-feed.js), the facts and legend (world-facts.js), the camera and input
// (world-camera.js), drawing (world-draw.js), the playback bar (world-playback.js) and its words
// (world-words.js). This module makes the view and is what the rest of the page talks to.

import { $ } from './dom.js';
import { onLanguageChange } from './i18n.js';
import { live } from './page-state.js';
import { rad } from './world-model.js';
import { flush, followedId, listeners, ui, view, wv } from './world-state.js';
import { closeSocket, connect, loadChosen, refreshStatus, renderSelect, retarget, wireSelect } from './world-feed.js';
import { refreshAll } from './world-facts.js';
import { describe, toScreen, transform, wireInput } from './world-camera.js';
import { requestRender, wireDrawing } from './world-draw.js';
import { buildPlaybackBar, labelBar, playbackInfo, renderBar, seek, startPlayback, stopPlayback, togglePlay, wirePlaybackBar } from './world-playback.js';

/** Sets up the world view in the page; what the rest of the page calls it with. */
export function setupWorldView() {
  ui.canvas = $('world-canvas');
  ui.ctx = ui.canvas.getContext('2d');
  ui.select = $('world-player');
  ui.statusEl = $('world-status');
  ui.hoverEl = $('world-hover');
  ui.card = $('world-card');
  wv.chosen = loadChosen();
  ui.bar = buildPlaybackBar();
  wireSelect();
  wireInput();
  wireDrawing();
  document.addEventListener('visibilitychange', () => {
    // A hidden tab costs the relay nothing: the view starts again from the relay's cache.
    if (document.visibilityState === 'hidden') {
      closeSocket();
      refreshStatus();
    } else if ((wv.playback || wv.target) && !wv.socket) {
      wv.attempt = 0;
      connect();
    }
  });
  wirePlaybackBar();
  // Another language: every word again (the selector's options, the legend, the bar, the canvas).
  onLanguageChange(() => {
    wv.languageGeneration += 1;
    wv.optionsKey = '';
    labelBar(ui.bar);
    renderSelect();
    renderBar();
    refreshAll();
    requestRender();
  });

  requestRender();
  refreshAll();

  return {
    update,
    stop,
    snapshot,
    startPlayback,
    stopPlayback,
    seek,
    togglePlay,
    /** The playback now ({id, t, duration, playing, speed, player…}), or null in the live view. */
    playback: playbackInfo,
    /** Calls `listener(playback or null)` whenever the playback starts, moves or stops. */
    onPlayback(listener) {
      listeners.add(listener);
    },
  };
}

/** A state push: the players to choose from, and the page's link to the relay. */
function update(state) {
  wv.players = state.players ?? [];
  if (wv.playback) {
    // The live view waits; a playback cut off (a tab put aside, a token asked for) comes back.
    if (!wv.socket && !wv.timer && document.visibilityState !== 'hidden' && !live.waitingForToken) connect();
    refreshAll();
    return;
  }
  renderSelect();
  retarget();
  refreshAll();
}

/** The page lost its access token: stop following until it has one again. */
function stop() {
  closeSocket();
  refreshStatus();
}

/** Decoded agents and players with their positions in the world and on the canvas (tests). */
function snapshot() {
  flush();
  transform();
  const r = ui.canvas.getBoundingClientRect();
  const at = (x, y) => {
    const [px, py] = toScreen(x, y);
    return { px, py };
  };
  return {
    player: followedId(),
    mode: wv.playback ? 'playback' : 'live',
    playback: playbackInfo(),
    connected: wv.socketOpen,
    status: ui.statusEl.dataset.state,
    precision: wv.model.precision,
    world: wv.model.world ? { ...wv.model.world } : null,
    view: { scale: view.scale, tx: view.tx, ty: view.ty, auto: view.auto },
    canvas: { left: r.left, top: r.top, width: r.width, height: r.height },
    properties: [...wv.model.properties.values()].map((p) => ({ id: p.id, prefab: p.prefab, size: p.size, colour: p.colour })),
    agents: [...wv.model.agents.values()].map((a) => ({
      name: a.name,
      property: a.property,
      kind: a.kind,
      static: a.static,
      x: a.x,
      y: a.y,
      heading: a.kind === 'prefab' ? a.heading : null,
      points: a.kind === 'geometry' ? a.points.map((p) => [...p]) : null,
      ...at(a.x, a.y),
    })),
    players: [...wv.model.positions].map(([id, p]) => ({
      id,
      x: p.x,
      y: p.y,
      z: p.z,
      angle: p.angle,
      facing: [Math.cos(rad(p.heading)), Math.sin(rad(p.heading))],
      followed: id === followedId(),
      trail: (p.trail ?? []).map((point) => [...point]),
      ...at(p.x, p.y),
    })),
    placed: wv.model.placed ? { ...wv.model.placed, ...at(wv.model.placed.x, wv.model.placed.y) } : null,
    hover: describe(wv.hover),
    endOfGame: wv.model.endOfGame,
    frames: wv.frames,
    messages: wv.messages,
  };
}
