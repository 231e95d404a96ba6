// gama-vr-relay admin page: the world view's state, shared by its parts (world-feed.js, world-draw.js,
// world-camera.js, world-playback.js…): what the view follows and has decoded, its link to the relay,
// the pan and zoom, what is hovered, the playback. One object, so that every part says `wv.` for what
// it reads or changes.

import { emptyModel, applyWorld } from './world-model.js';

export const wv = {
  model: emptyModel(),
  pendingWorld: null, // the newest non-init world, decoded at the next frame
  target: null, // the player followed
  chosen: null, // the operator's choice; null = the first player in game
  players: [], // from the last state push
  socket: null,
  socketOpen: false,
  attempt: 0,
  timer: null,
  messages: 0,
  frames: 0,
  hover: null, // {kind, id}
  pinned: false, // a tap or keyboard choice keeps the tooltip
  pointerAt: null, // [x, y] on the canvas
  gesture: null,
  // A kept session played back instead of the live view: {id, title, players, player, t, duration,
  // playing, speed, ended}; null for the live view.
  playback: null,
  // Seeks sent whose reset has not come back: clocks before it describe the moment left.
  pendingSeeks: 0,
  scrubbing: false,
  lastScrub: 0,
  scrubTimer: null,
  optionsKey: '', // the selector's options, drawn again only when they change
  legendKey: '', // the legend, drawn again only when it changes
  languageGeneration: 0, // the legend is drawn again in another language
  renderQueued: false,
  lastFrame: 0,
  onScreen: true, // an off-screen canvas is painted once a second at most
  lastPaint: -Infinity,
  paintLater: null,
};

// The pan and zoom: auto fits the content.
export const view = { auto: true, scale: 1, tx: 0, ty: 0 };
// The pointers down on the canvas, by id.
export const pointers = new Map();
// Who is told when the playback starts, moves or stops.
export const listeners = new Set();

// The view's elements: the canvas, its context, the player selector, the status, the spoken
// description of what is hovered, the card, and the playback bar (made by setupWorldView).
export const ui = {};

/** The player whose view is shown: the live one followed, or the one followed in the recording. */
export function followedId() {
  return wv.playback ? wv.playback.player : wv.target;
}

/** Decodes the newest world waiting (only the newest is decoded, at the next frame). */
export function flush() {
  if (wv.pendingWorld) {
    const c = wv.pendingWorld;
    wv.pendingWorld = null;
    applyWorld(wv.model, c);
  }
}
