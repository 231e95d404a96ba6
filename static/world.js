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

import { fmtNumber, onLanguageChange, t } from './i18n.js';
import { $, el, setAttr, setText, show } from './dom.js';
import { setIcon } from './icons.js';
import { withToken } from './token.js';
import { fmtAgo } from './format.js';
import { playerWord } from './words.js';
import { live } from './page-state.js';

// Every word the view puts on the page or the canvas, in the page's language (i18n/*.json).
const TEXT = {
  playbackOf: (title) => t('playback.of', { title }),
  notLive: () => t('playback.not_live'),
  backToLive: () => t('playback.back_to_live'),
  play: () => t('playback.play'),
  pause: () => t('playback.pause'),
  playAgain: () => t('playback.play_again'),
  speed: () => t('playback.speed'),
  speedLabel: (s) => `×${s}`,
  speedAria: (s) => (s === 1 ? t('playback.speed_normal') : t('playback.speed_times', { speed: s })),
  scrubber: () => t('playback.scrubber'),
  time: (now, end) => `${now} / ${end}`,
  timeSpoken: (now, end) => t('playback.time_spoken', { time: now, duration: end }),
  opening: () => t('playback.opening'),
  lost: () => t('playback.lost'),
  following: (player) => t('playback.following', { player }),
  nothingYet: (player) => t('playback.nothing_yet', { player }),
  ended: (player) => t('playback.ended', { player }),
  badge: (time) => t('playback.badge', { time }),
  agents: (count) => t('world.agents_count', { count }),
  players: (count) => t('world.players_count', { count }),
  label: (player, time, agents, players) => t('playback.label', { player, time, agents: TEXT.agents(agents), players: TEXT.players(players) }),
  // The live view
  noPlayerInGame: () => t('world.status_no_player_in_game'),
  noPlayer: () => t('world.status_no_player'),
  lostLive: (player) => t('world.status_lost', { player }),
  connecting: (player) => t('world.status_connecting', { player }),
  gameOver: (player, why) => t('world.status_game_over', { player, reason: why || t('world.status_game_ended') }),
  waiting: (player) => t('world.status_waiting', { player }),
  live: (player, ago) => t('world.status_live', { player, ago }),
  firstInGame: (player) => (player ? t('world.first_in_game', { player }) : t('world.first_in_game_none')),
  option: (player, state) => t('world.option', { player, state }),
  precisionDefault: (precision) => t('world.precision_default', { precision }),
  agentsWithBackground: (count, background) =>
    background ? t('world.agents_background', { count: String(count), background: String(background) }) : String(count),
  legendKind: (prefab) => t(prefab ? 'world.legend_marker' : 'world.legend_shape'),
  viewLabel: (player, agents, players) =>
    player ? t('world.canvas_label', { player, agents: TEXT.agents(agents), players: TEXT.players(players) }) : t('world.canvas_label_none'),
  hoverPlayer: (followed) => t(followed ? 'world.hover_player_followed' : 'world.hover_player'),
  hoverAtFacing: (x, y, angle) => t('world.hover_at_facing', { x, y, angle: String(angle) }),
  hoverStart: (player) => t('world.hover_start', { player }),
  hoverPlaced: () => t('world.hover_placed'),
  hoverAt: (x, y) => t('world.hover_at', { x, y }),
  hoverHeading: (x, y, angle) => t('world.hover_heading', { x, y, angle: String(angle) }),
  hoverProperty: (property, background) =>
    t(background ? 'world.hover_property_background' : 'world.hover_property', { property: property ?? t('world.hover_no_property') }),
  followed: (player) => t('world.followed', { player }),
  canvasNoPlayer: () => t('world.canvas_no_player'),
  canvasWaiting: () => t('world.canvas_waiting'),
  canvasConnecting: () => t('world.canvas_connecting'),
};

const SPEEDS = [1, 4, 16];
// A held scrubber seeks at most this often.
const SCRUB_EVERY_MS = 150;
// The scrubber's keys: arrows, Shift+arrows, Page Up/Down.
const SCRUB_STEP_MS = 5000;
const SCRUB_FINE_MS = 1000;
const SCRUB_PAGE_MS = 60000;

/** Session time as m:ss, or h:mm:ss from an hour. */
export function fmtSessionTime(ms) {
  const s = Math.max(0, Math.floor((ms ?? 0) / 1000));
  const pad = (n) => String(n).padStart(2, '0');
  const h = Math.floor(s / 3600);
  const m = Math.floor(s / 60) % 60;
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

const DEFAULT_PRECISION = 10000;
const FRAME_MS = 50; // at most 20 frames a second
const OFF_SCREEN_FRAME_MS = 1000;
const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 5000;
const ZOOM_STEP = 1.5;
const WHEEL_ZOOM = 0.0015;
const PAN_STEP_PX = 60;
const FIT_PADDING_PX = 28;
const MIN_MARKER_PX = 7;
const PLAYER_RADIUS_PX = 9;
const LABELLED_AGENTS_MAX = 60;
const TAP_SLOP_PX = 6;
const HIT_SLOP_PX = 5;
const FOLLOW_KEY = 'gama-vr-relay.world-player';

// Prefab properties carry no colour: each gets one of these, by order of appearance. Players are
// blue (the followed one) and magenta, which no property uses.
const PREFAB_PALETTE = ['#0f766e', '#b45309', '#4d7c0f', '#9a3412', '#0e7490', '#854d0e', '#3f6212', '#57534e'];
const OTHER_PLAYER = '#c026d3';

const SVG_NS = 'http://www.w3.org/2000/svg';

// -------------------------------------------------------------------------------------------------
// Decoding (protocol.md §6.3)
// -------------------------------------------------------------------------------------------------

/** A finite number from a JSON number or numeric string, else null. */
function finite(v) {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : null;
}

const list = (v) => (Array.isArray(v) ? v : []);
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

function channel(v) {
  const n = finite(v);
  return n == null || n < 0 ? null : Math.min(255, Math.round(n));
}

/** red/green/blue/alpha of a property; −1 channels or alpha 0 mean "no colour" (null). */
function rgbaOf(raw) {
  const r = channel(raw.red);
  const g = channel(raw.green);
  const b = channel(raw.blue);
  const a = finite(raw.alpha);
  if (r == null || g == null || b == null || (a != null && a <= 0)) return null;
  return { r, g, b, a: a == null ? 1 : Math.min(1, a / 255) };
}

/** An agent's own colour from its attributes (`{"color":[r,g,b(,a)]}`), if any. */
function attributeColour(attr) {
  if (!isObject(attr)) return null;
  const c = attr.color ?? attr.colour;
  if (Array.isArray(c) && c.length >= 3) {
    return rgbaOf({ red: c[0], green: c[1], blue: c[2], alpha: c.length > 3 ? c[3] : 255 });
  }
  if (isObject(c)) return rgbaOf({ alpha: 255, ...c });
  return null;
}

function cssColour({ r, g, b, a }) {
  return `rgb(${r} ${g} ${b} / ${a})`;
}

function decodeProperty(raw, precision, index) {
  const size = finite(raw.size);
  return {
    id: String(raw.id ?? ''),
    tag: raw.tag == null ? null : String(raw.tag),
    prefab: raw.hasPrefab === true || raw.hasPrefab === 'true',
    size: size != null && size > 0 ? size / precision : null,
    colour: rgbaOf(raw),
    index,
  };
}

/** A flat [x0,y0,x1,y1,…] list as points in GAMA units. */
function decodeShape(coords, precision) {
  const points = [];
  for (let k = 0; k + 1 < coords.length; k += 2) {
    const x = finite(coords[k]);
    const y = finite(coords[k + 1]);
    if (x != null && y != null) points.push([x / precision, y / precision]);
  }
  const n = points.length;
  // GAMA polygons repeat their first point at the end; lines do not.
  const closed = n > 3 && points[0][0] === points[n - 1][0] && points[0][1] === points[n - 1][1];
  const ring = closed ? points.slice(0, -1) : points;
  let x = 0;
  let y = 0;
  for (const [px, py] of ring) {
    x += px;
    y += py;
  }
  return { points, closed, x: ring.length ? x / ring.length : 0, y: ring.length ? y / ring.length : 0 };
}

export function emptyModel() {
  return {
    precision: DEFAULT_PRECISION,
    precisionGiven: false, // false until the parameters message came
    world: null, // {width, height} in GAMA units
    properties: new Map(), // id → decoded property
    agents: new Map(), // name → agent
    walls: new Map(), // wallId → shapes
    teleports: new Map(), // teleportId → shapes
    placed: null, // where GAMA placed the followed player: {x, y, z}
    positions: new Map(), // player → {x, y, z, angle, heading}
    enableMove: null,
    endOfGame: null,
    worlds: 0,
    lastWorldAt: null,
    others: 0,
  };
}

/** A world payload (`pointsLoc` first): agents by names/propertyID/attributes, two cursors. */
function applyWorld(model, c) {
  const p = model.precision;
  const names = list(c.names);
  const propertyIds = list(c.propertyID);
  const attributes = list(c.attributes);
  const locations = list(c.pointsLoc);
  const geometries = list(c.pointsGeom);
  const offsets = list(c.offsetYGeom);
  const isInit = c.isInit === true;
  let li = 0;
  let gi = 0;
  const decoded = [];
  for (let i = 0; i < names.length; i += 1) {
    const name = String(names[i]);
    const property = propertyIds[i] == null ? null : String(propertyIds[i]);
    const prop = model.properties.get(property);
    const own = attributeColour(attributes[i]);
    if (prop?.prefab) {
      const coords = list(locations[li]?.c);
      li += 1;
      const x = finite(coords[0]);
      const y = finite(coords[1]);
      if (x == null || y == null) continue;
      const rawHeading = finite(coords[3]) ?? 0;
      decoded.push({
        name,
        property,
        kind: 'prefab',
        x: x / p,
        y: y / p,
        z: (finite(coords[2]) ?? 0) / p,
        heading: rawHeading / p,
        headingGiven: rawHeading !== 0,
        colour: own,
      });
    } else {
      const shape = decodeShape(list(geometries[gi]?.c), p);
      const offsetY = (finite(offsets[gi]) ?? 0) / p;
      gi += 1;
      if (!shape.points.length) continue;
      decoded.push({ name, property, kind: 'geometry', ...shape, offsetY, colour: own });
    }
  }
  if (isInit) {
    // A new background replaces the previous one.
    for (const [name, agent] of model.agents) if (agent.static) model.agents.delete(name);
  }
  const listed = new Set();
  for (const agent of decoded) {
    listed.add(agent.name);
    const before = model.agents.get(agent.name);
    // Unity infers a prefab's heading from its movement when GAMA sends 0.
    if (agent.kind === 'prefab' && !agent.headingGiven && before?.kind === 'prefab') {
      const dx = agent.x - before.x;
      const dy = agent.y - before.y;
      agent.heading = Math.hypot(dx, dy) > 1e-9 ? (Math.atan2(dy, dx) * 180) / Math.PI : before.heading;
    }
    agent.static = isInit;
    model.agents.set(agent.name, agent);
  }
  if (!isInit) {
    // A full snapshot of the dynamic agents: the others are gone, except those to keep (Unity
    // culls after two ticks; a view can do it at once). The static background stays.
    const keep = new Set(list(c.keepNames).map(String));
    for (const [name, agent] of model.agents) {
      if (!agent.static && !listed.has(name) && !keep.has(name)) model.agents.delete(name);
    }
  }
  const position = list(c.position);
  if (position.length >= 2 && finite(position[0]) != null && finite(position[1]) != null) {
    model.placed = { x: finite(position[0]) / p, y: finite(position[1]) / p, z: (finite(position[2]) ?? 0) / p };
  }
  model.worlds += 1;
  model.lastWorldAt = Date.now();
}

/** One `json_output` payload, routed on its first key as Unity does (protocol.md §6.2). */
export function applyPayload(model, c) {
  const p = model.precision;
  switch (Object.keys(c)[0]) {
    case 'precision': {
      const precision = finite(c.precision);
      model.precision = precision != null && precision > 0 ? precision : DEFAULT_PRECISION;
      model.precisionGiven = true;
      const [w, h] = list(c.world).map(finite);
      if (w > 0 && h > 0) model.world = { width: w / model.precision, height: h / model.precision };
      break;
    }
    case 'properties': {
      const props = list(c.properties).filter(isObject);
      let prefabs = 0;
      model.properties = new Map(
        props.map((raw) => {
          const prop = decodeProperty(raw, p, 0);
          if (prop.prefab) prop.index = prefabs++;
          return [prop.id, prop];
        }),
      );
      break;
    }
    case 'pointsLoc':
      applyWorld(model, c);
      break;
    case 'wallId':
      model.walls.set(String(c.wallId), list(c.pointsGeom).map((g) => decodeShape(list(g?.c), p)));
      break;
    case 'teleportId':
      model.teleports.set(String(c.teleportId), list(c.pointsGeom).map((g) => decodeShape(list(g?.c), p)));
      break;
    case 'enableMove':
      model.enableMove = c.enableMove === true;
      break;
    case 'endOfGame':
      model.endOfGame = String(c.endOfGame ?? '');
      break;
    default:
      model.others += 1;
  }
}

/**
 * Every player's own position (`move_player_external`), integers × precision. Unity's angle is
 * the camera's yaw from its +z (up on the screen), negative toward +x; `heading` is that direction
 * on the screen, in degrees clockwise from +x, like a GAMA heading.
 */
export function applyPositions(model, players) {
  const p = model.precision;
  model.positions = new Map();
  if (!isObject(players)) return;
  for (const [id, pos] of Object.entries(players)) {
    const x = finite(pos?.x);
    const y = finite(pos?.y);
    if (x == null || y == null) continue;
    const angle = (finite(pos.angle) ?? 0) / p;
    // A played-back session sends where the player walked over the last seconds.
    const trail = list(pos.trail)
      .map((point) => [finite(point?.[0]), finite(point?.[1])])
      .filter(([tx, ty]) => tx != null && ty != null)
      .map(([tx, ty]) => [tx / p, ty / p]);
    model.positions.set(id, { x: x / p, y: y / p, z: (finite(pos.z) ?? 0) / p, angle, heading: -90 - angle, trail });
  }
}

// -------------------------------------------------------------------------------------------------
// Geometry helpers
// -------------------------------------------------------------------------------------------------

const rad = (deg) => (deg * Math.PI) / 180;

function insidePolygon(x, y, points) {
  let inside = false;
  for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
    const [xi, yi] = points[i];
    const [xj, yj] = points[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function segmentDistance(px, py, [ax, ay], [bx, by]) {
  const dx = bx - ax;
  const dy = by - ay;
  const len = dx * dx + dy * dy;
  const t = len === 0 ? 0 : Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / len));
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

/** A coordinate in the page's language (25.5; 25,5 in French), whole from 1000 up. */
function fmtCoord(v) {
  const digits = Math.abs(v) >= 1000 ? 0 : 1;
  return fmtNumber(v, { minimumFractionDigits: digits, maximumFractionDigits: digits, useGrouping: false });
}

/** A length of the world: at most two decimals, none when whole. */
function fmtSize(v) {
  return fmtNumber(v, { maximumFractionDigits: 2, useGrouping: false });
}

// -------------------------------------------------------------------------------------------------
// The view
// -------------------------------------------------------------------------------------------------

/** Sets up the world view in the page. */
export function setupWorldView() {
  // While the page waits for an access token, the view does not connect.
  const blocked = () => live.waitingForToken;
  const canvas = $('world-canvas');
  const ctx = canvas.getContext('2d');
  const select = $('world-player');
  const statusEl = $('world-status');
  const hoverEl = $('world-hover');

  let model = emptyModel();
  let pendingWorld = null; // the newest non-init world, decoded at the next frame
  let target = null; // the player followed
  let chosen = loadChosen(); // the operator's choice; null = the first player in game
  let players = []; // from the last state push
  let socket = null;
  let socketOpen = false;
  let attempt = 0;
  let timer = null;
  let messages = 0;
  let frames = 0;

  const view = { auto: true, scale: 1, tx: 0, ty: 0 };
  let hover = null; // {kind, id}
  let pinned = false; // a tap or keyboard choice keeps the tooltip
  let pointerAt = null; // [x, y] on the canvas
  const pointers = new Map();
  let gesture = null;

  // A kept session played back instead of the live view: {id, title, players, player, t, duration,
  // playing, speed, ended}; null for the live view.
  let playback = null;
  const listeners = new Set();
  // Seeks sent whose reset has not come back: clocks before it describe the moment left.
  let pendingSeeks = 0;
  let scrubbing = false;
  let lastScrub = 0;
  let scrubTimer = null;
  const card = $('world-card');
  const bar = buildPlaybackBar();

  /** The player whose view is shown: the live one followed, or the one followed in the recording. */
  function followedId() {
    return playback ? playback.player : target;
  }

  function loadChosen() {
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

  // ----------------------------------------------------------------------------------- connection

  function setStatus(state, text, shape) {
    setAttr(statusEl, 'data-state', state);
    setText($('world-status-text'), text);
    setIcon(statusEl.querySelector('.status-icon'), shape);
  }

  function refreshStatus() {
    if (playback) {
      if (!socketOpen) setStatus(attempt > 0 ? 'down' : 'connecting', attempt > 0 ? TEXT.lost() : TEXT.opening(), attempt > 0 ? 'cross' : 'ring');
      else if (playback.ended) setStatus('playback', TEXT.ended(playback.player), 'flag');
      else if (model.lastWorldAt == null) setStatus('playback', TEXT.nothingYet(playback.player), 'replay');
      else setStatus('playback', TEXT.following(playback.player), 'replay');
      return;
    }
    if (!target) {
      setStatus('none', players.length ? TEXT.noPlayerInGame() : TEXT.noPlayer(), 'none');
    } else if (!socketOpen) {
      setStatus(attempt > 0 ? 'down' : 'connecting', attempt > 0 ? TEXT.lostLive(target) : TEXT.connecting(target), attempt > 0 ? 'cross' : 'ring');
    } else if (model.endOfGame != null) {
      setStatus('ended', TEXT.gameOver(target, model.endOfGame), 'flag');
    } else if (model.lastWorldAt == null) {
      setStatus('waiting', TEXT.waiting(target), 'hourglass');
    } else {
      setStatus('live', TEXT.live(target, fmtAgo(Date.now() - model.lastWorldAt)), 'check');
    }
  }

  function closeSocket() {
    clearTimeout(timer);
    timer = null;
    const s = socket;
    socket = null;
    socketOpen = false;
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
  function resetModel(keepView = false) {
    model = emptyModel();
    pendingWorld = null;
    hover = null;
    pinned = false;
    if (!keepView) view.auto = true;
    setText(hoverEl, '');
  }

  function connect() {
    closeSocket();
    resetModel(Boolean(playback));
    refreshAll();
    requestRender();
    if (document.visibilityState === 'hidden' || blocked()) return;
    let path;
    if (playback) {
      path = withToken(`/api/sessions/${encodeURIComponent(playback.id)}/play?player=${encodeURIComponent(playback.player ?? '')}`);
    } else if (target) {
      path = withToken(`/api/world?player=${encodeURIComponent(target)}`);
    } else {
      return;
    }
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const s = new WebSocket(`${scheme}//${location.host}${path}`);
    socket = s;
    s.onopen = () => {
      if (socket !== s) return;
      socketOpen = true;
      attempt = 0;
      if (playback) {
        // The recording starts at its beginning, paused: go where the page stands.
        pendingSeeks = 1;
        if (playback.t > 0) {
          s.send(JSON.stringify({ type: 'seek', t: Math.round(playback.t) }));
          pendingSeeks += 1;
        }
        if (playback.playing) s.send(JSON.stringify({ type: 'play', speed: playback.speed }));
      } else {
        // The relay sends the cached view first: start from nothing.
        resetModel();
      }
      refreshAll();
      requestRender();
    };
    s.onmessage = (event) => {
      if (socket !== s) return;
      receive(event.data);
    };
    s.onclose = () => {
      if (socket !== s) return;
      socket = null;
      socketOpen = false;
      const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** attempt);
      attempt += 1;
      refreshStatus();
      timer = setTimeout(connect, delay);
    };
    s.onerror = () => {
      // onclose follows and reconnects.
    };
  }

  function flush() {
    if (pendingWorld) {
      const c = pendingWorld;
      pendingWorld = null;
      applyWorld(model, c);
    }
  }

  function receive(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (!isObject(msg)) return;
    messages += 1;
    if (msg.type === 'json_output' && isObject(msg.contents)) {
      const c = msg.contents;
      if (Object.keys(c)[0] === 'pointsLoc' && c.isInit !== true) {
        // World updates can come faster than frames: only the newest one is decoded, but one
        // that was waiting is applied first (its keepNames and heading inference build on it).
        flush();
        pendingWorld = c;
      } else {
        flush();
        applyPayload(model, c);
        refreshAll();
      }
      requestRender();
    } else if (msg.type === 'positions') {
      flush();
      applyPositions(model, msg.players);
      requestRender();
    } else if (msg.type === 'reset') {
      if (playback && pendingSeeks > 0) pendingSeeks -= 1;
      resetModel(Boolean(playback));
      refreshAll();
      requestRender();
    } else if (msg.type === 'clock' && playback) {
      applyClock(msg);
    }
  }

  /** The player to follow: the operator's choice while it is listed, else the first in game. */
  function pickTarget() {
    if (chosen && players.some((p) => p.id === chosen)) return chosen;
    return players.find((p) => p.in_game)?.id ?? null;
  }

  function retarget() {
    const next = pickTarget();
    if (next === target && (socket || timer || !next)) return;
    target = next;
    attempt = 0;
    connect();
  }

  // ------------------------------------------------------------------------------------ selector

  let optionsKey = '';

  function renderSelect() {
    if (playback) {
      const key = JSON.stringify(['playback', playback.id, playback.players]);
      if (key !== optionsKey) {
        optionsKey = key;
        select.replaceChildren(...playback.players.map((id) => el('option', { value: id, text: id })));
      }
      if (select.value !== playback.player) select.value = playback.player ?? '';
      return;
    }
    const auto = players.find((p) => p.in_game)?.id;
    const key = JSON.stringify([auto, players.map((p) => [p.id, p.state])]);
    if (key !== optionsKey) {
      optionsKey = key;
      const options = [el('option', { value: '', text: TEXT.firstInGame(auto) })];
      for (const p of players) {
        options.push(el('option', { value: p.id, text: TEXT.option(p.id, playerWord(p.in_game ? 'in_game' : p.state)) }));
      }
      select.replaceChildren(...options);
    }
    const value = chosen && players.some((p) => p.id === chosen) ? chosen : '';
    if (select.value !== value) select.value = value;
  }

  select.addEventListener('change', () => {
    if (playback) {
      follow(select.value);
      return;
    }
    chosen = select.value || null;
    storeChosen(chosen);
    retarget();
  });

  // ------------------------------------------------------------------------------------- facts

  let legendKey = '';
  let languageGeneration = 0; // the legend is drawn again in another language

  function prefabColour(prop) {
    return PREFAB_PALETTE[(prop?.index ?? 0) % PREFAB_PALETTE.length];
  }

  function swatch(prop) {
    const svg = document.createElementNS(SVG_NS, 'svg');
    svg.setAttribute('viewBox', '0 0 20 20');
    svg.setAttribute('class', 'swatch');
    svg.setAttribute('aria-hidden', 'true');
    const shape = document.createElementNS(SVG_NS, 'path');
    if (prop.prefab) {
      shape.setAttribute('d', 'M18 10L3 2.5 7 10 3 17.5z');
      shape.setAttribute('fill', prefabColour(prop));
    } else {
      shape.setAttribute('d', 'M3 3h14v14H3z');
      shape.setAttribute('fill', prop.colour ? `rgb(${prop.colour.r} ${prop.colour.g} ${prop.colour.b})` : '#9aa5b4');
    }
    shape.setAttribute('stroke', 'currentColor');
    shape.setAttribute('stroke-width', '1');
    svg.append(shape);
    return svg;
  }

  function renderFacts() {
    const w = model.world;
    setText($('world-size'), w ? `${fmtSize(w.width)} × ${fmtSize(w.height)}` : '—');
    setText($('world-precision'), !followedId() || !socketOpen ? '—' : model.precisionGiven ? String(model.precision) : TEXT.precisionDefault(String(model.precision)));
    let background = 0;
    for (const a of model.agents.values()) if (a.static) background += 1;
    const n = model.agents.size;
    setText($('world-agents'), socketOpen ? TEXT.agentsWithBackground(n, background) : '—');
    setText($('world-players'), socketOpen ? String(model.positions.size) : '—');
    const counts = new Map();
    for (const a of model.agents.values()) counts.set(a.property, (counts.get(a.property) ?? 0) + 1);
    const props = [...model.properties.values()];
    const key = JSON.stringify([languageGeneration, props.map((p) => [p.id, p.prefab, p.colour, counts.get(p.id) ?? 0])]);
    if (key !== legendKey) {
      legendKey = key;
      $('world-legend').replaceChildren(
        ...props.map((p) => {
          const count = counts.get(p.id) ?? 0;
          return el(
            'li',
            { dataset: { property: p.id } },
            swatch(p),
            el('span', { class: 'legend-name', text: p.id }),
            el('span', { class: 'sub', text: `${TEXT.legendKind(p.prefab)} · ${TEXT.agents(count)}` }),
          );
        }),
      );
    }
    show($('world-legend'), props.length > 0);
    const label = playback ? TEXT.label(playback.player, fmtSessionTime(playback.t), n, model.positions.size) : TEXT.viewLabel(target, n, model.positions.size);
    setAttr(canvas, 'aria-label', label);
  }

  function refreshAll() {
    refreshStatus();
    renderFacts();
  }

  // ------------------------------------------------------------------------------- transform

  function canvasSize() {
    return { w: canvas.clientWidth, h: canvas.clientHeight };
  }

  function contentBounds() {
    let minX = Infinity;
    let minY = Infinity;
    let maxX = -Infinity;
    let maxY = -Infinity;
    const add = (x, y) => {
      minX = Math.min(minX, x);
      minY = Math.min(minY, y);
      maxX = Math.max(maxX, x);
      maxY = Math.max(maxY, y);
    };
    if (model.world) {
      add(0, 0);
      add(model.world.width, model.world.height);
    }
    for (const a of model.agents.values()) {
      if (a.kind === 'prefab') add(a.x, a.y);
      else for (const [x, y] of a.points) add(x, y);
    }
    for (const p of model.positions.values()) add(p.x, p.y);
    if (model.placed) add(model.placed.x, model.placed.y);
    if (minX === Infinity) return null;
    // A single point or a line still gets an area.
    const span = Math.max(maxX - minX, maxY - minY, 1);
    if (maxX - minX < span * 0.05) {
      minX -= span / 2;
      maxX += span / 2;
    }
    if (maxY - minY < span * 0.05) {
      minY -= span / 2;
      maxY += span / 2;
    }
    return { minX, minY, maxX, maxY };
  }

  function fitTransform() {
    const { w, h } = canvasSize();
    const b = contentBounds();
    if (!b || w <= 0 || h <= 0) return { scale: 1, tx: w / 2, ty: h / 2 };
    const bw = b.maxX - b.minX;
    const bh = b.maxY - b.minY;
    const scale = Math.max(1e-9, Math.min((w - 2 * FIT_PADDING_PX) / bw, (h - 2 * FIT_PADDING_PX) / bh));
    return { scale, tx: (w - bw * scale) / 2 - b.minX * scale, ty: (h - bh * scale) / 2 - b.minY * scale };
  }

  function transform() {
    if (view.auto) Object.assign(view, fitTransform());
    return view;
  }

  const toScreen = (x, y) => [x * view.scale + view.tx, y * view.scale + view.ty];
  const toWorld = (sx, sy) => [(sx - view.tx) / view.scale, (sy - view.ty) / view.scale];

  function zoomAt(factor, sx, sy) {
    transform();
    const fit = fitTransform().scale;
    const scale = Math.min(fit * 500, Math.max(fit / 20, view.scale * factor));
    const k = scale / view.scale;
    view.tx = sx - (sx - view.tx) * k;
    view.ty = sy - (sy - view.ty) * k;
    view.scale = scale;
    view.auto = false;
    requestRender();
  }

  function panBy(dx, dy) {
    transform();
    view.tx += dx;
    view.ty += dy;
    view.auto = false;
    requestRender();
  }

  function fit() {
    view.auto = true;
    requestRender();
  }

  // --------------------------------------------------------------------------------- hit test

  function markerRadius(agent) {
    const prop = model.properties.get(agent.property);
    const size = prop?.size;
    return Math.max(MIN_MARKER_PX, size ? (size * view.scale) / 2 : 0);
  }

  function playerRadius(id) {
    return id === followedId() ? PLAYER_RADIUS_PX + 2 : PLAYER_RADIUS_PX;
  }

  /** What is under (sx, sy): players first, then markers, then shapes (topmost first). */
  function hitTest(sx, sy) {
    flush();
    transform();
    let best = null;
    let bestD = Infinity;
    for (const [id, p] of model.positions) {
      const [x, y] = toScreen(p.x, p.y);
      const d = Math.hypot(sx - x, sy - y);
      if (d <= playerRadius(id) + HIT_SLOP_PX && d < bestD) {
        best = { kind: 'player', id };
        bestD = d;
      }
    }
    if (best) return best;
    for (const a of model.agents.values()) {
      if (a.kind !== 'prefab') continue;
      const [x, y] = toScreen(a.x, a.y);
      const d = Math.hypot(sx - x, sy - y);
      if (d <= markerRadius(a) + HIT_SLOP_PX && d < bestD) {
        best = { kind: 'agent', id: a.name };
        bestD = d;
      }
    }
    if (best) return best;
    if (model.placed) {
      const [x, y] = toScreen(model.placed.x, model.placed.y);
      if (Math.hypot(sx - x, sy - y) <= 12 + HIT_SLOP_PX) return { kind: 'placed', id: followedId() };
    }
    const [wx, wy] = toWorld(sx, sy);
    const shapes = [...model.agents.values()].filter((a) => a.kind === 'geometry');
    // Drawn background first, so the last drawn is on top.
    shapes.sort((a, b) => Number(b.static) - Number(a.static));
    for (let i = shapes.length - 1; i >= 0; i -= 1) {
      const a = shapes[i];
      if (a.closed && insidePolygon(wx, wy, a.points)) return { kind: 'agent', id: a.name };
      if (!a.closed) {
        for (let k = 0; k + 1 < a.points.length; k += 1) {
          if (segmentDistance(wx, wy, a.points[k], a.points[k + 1]) * view.scale <= HIT_SLOP_PX) return { kind: 'agent', id: a.name };
        }
        if (a.points.length === 1 && Math.hypot(wx - a.x, wy - a.y) * view.scale <= HIT_SLOP_PX + 3) return { kind: 'agent', id: a.name };
      }
    }
    return null;
  }

  /** Tooltip lines for what is hovered, or null if it is gone. */
  function describe(h) {
    if (!h) return null;
    if (h.kind === 'player') {
      const p = model.positions.get(h.id);
      if (!p) return null;
      return {
        title: h.id,
        lines: [TEXT.hoverPlayer(h.id === followedId()), TEXT.hoverAtFacing(fmtCoord(p.x), fmtCoord(p.y), Math.round(p.angle))],
      };
    }
    if (h.kind === 'placed') {
      if (!model.placed) return null;
      return { title: TEXT.hoverStart(followedId()), lines: [TEXT.hoverPlaced(), TEXT.hoverAt(fmtCoord(model.placed.x), fmtCoord(model.placed.y))] };
    }
    const a = model.agents.get(h.id);
    if (!a) return null;
    const where = a.kind === 'prefab' ? TEXT.hoverHeading(fmtCoord(a.x), fmtCoord(a.y), Math.round(a.heading)) : TEXT.hoverAt(fmtCoord(a.x), fmtCoord(a.y));
    return { title: a.name, lines: [TEXT.hoverProperty(a.property, a.static), where] };
  }

  function setHover(h, pin = false) {
    const same = h?.kind === hover?.kind && h?.id === hover?.id;
    hover = h;
    pinned = Boolean(h) && pin;
    const d = describe(h);
    setText(hoverEl, d ? `${d.title}: ${d.lines.join(', ')}` : '');
    if (!same) requestRender();
  }

  // ---------------------------------------------------------------------------------- drawing

  let renderQueued = false;
  let lastFrame = 0;
  let onScreen = true; // an off-screen canvas is painted once a second at most
  let lastPaint = -Infinity;
  let paintLater = null;

  function requestRender() {
    if (renderQueued) return;
    renderQueued = true;
    const wait = FRAME_MS - (performance.now() - lastFrame);
    if (wait > 0) setTimeout(() => requestAnimationFrame(frame), wait);
    else requestAnimationFrame(frame);
  }

  function frame(now) {
    renderQueued = false;
    lastFrame = now;
    flush();
    if (onScreen || now - lastPaint >= OFF_SCREEN_FRAME_MS) {
      lastPaint = now;
      draw();
    } else {
      // Not painted: come back when a second has passed, or when it scrolls into view.
      paintLater ??= setTimeout(() => {
        paintLater = null;
        requestRender();
      }, OFF_SCREEN_FRAME_MS - (now - lastPaint));
    }
    refreshAll();
    // What is hovered may have moved or gone.
    const d = describe(hover);
    if (hover && !d) setHover(null);
    else if (d) setText(hoverEl, `${d.title}: ${d.lines.join(', ')}`);
  }

  function palette() {
    const s = getComputedStyle(document.documentElement);
    const v = (name, fallback) => s.getPropertyValue(name).trim() || fallback;
    return {
      card: v('--card', '#ffffff'),
      text: v('--text', '#162033'),
      muted: v('--muted', '#536074'),
      border: v('--border', '#d3dae4'),
      primary: v('--primary', '#1d4ed8'),
      info: v('--info', '#1d4ed8'),
      infoBg: v('--info-bg', '#e2eaff'),
      ground: v('--world-ground', '#f6f8fb'),
      grid: v('--world-grid', '#e3e8ef'),
      neutral: v('--world-neutral', '#9aa5b4'),
      font: getComputedStyle(document.body).getPropertyValue('font-family') || 'sans-serif',
    };
  }

  function gridStep(scale) {
    // Lines at least 60 px apart, on 1, 2, 5 × 10^k.
    const raw = 60 / scale;
    const pow = 10 ** Math.floor(Math.log10(raw));
    for (const m of [1, 2, 5, 10]) if (m * pow >= raw) return m * pow;
    return 10 * pow;
  }

  function pathOf(points, closed) {
    ctx.beginPath();
    points.forEach(([x, y], i) => {
      const [sx, sy] = toScreen(x, y);
      if (i === 0) ctx.moveTo(sx, sy);
      else ctx.lineTo(sx, sy);
    });
    if (closed) ctx.closePath();
  }

  function drawShape(shape, fill, stroke, width = 1.5) {
    if (shape.points.length === 1) {
      const [sx, sy] = toScreen(shape.x, shape.y);
      ctx.beginPath();
      ctx.arc(sx, sy, 3, 0, Math.PI * 2);
      ctx.fillStyle = stroke;
      ctx.fill();
      return;
    }
    pathOf(shape.points, shape.closed);
    if (shape.closed && fill) {
      ctx.fillStyle = fill;
      ctx.fill();
    }
    ctx.strokeStyle = stroke;
    ctx.lineWidth = shape.closed ? width : Math.max(width, 2.5);
    ctx.stroke();
  }

  function label(text, x, y, colours, { bold = false, size = 12, align = 'left' } = {}) {
    ctx.font = `${bold ? 700 : 500} ${size}px ${colours.font}`;
    ctx.textAlign = align;
    ctx.textBaseline = 'middle';
    ctx.lineJoin = 'round';
    ctx.lineWidth = 4;
    ctx.strokeStyle = colours.card;
    ctx.strokeText(text, x, y);
    ctx.fillStyle = colours.text;
    ctx.fillText(text, x, y);
  }

  function drawArrowMarker(sx, sy, r, heading, fill, outline) {
    ctx.save();
    ctx.translate(sx, sy);
    ctx.rotate(rad(heading));
    ctx.beginPath();
    ctx.moveTo(r * 1.15, 0);
    ctx.lineTo(-r * 0.85, r * 0.75);
    ctx.lineTo(-r * 0.4, 0);
    ctx.lineTo(-r * 0.85, -r * 0.75);
    ctx.closePath();
    ctx.fillStyle = fill;
    ctx.fill();
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = outline;
    ctx.stroke();
    ctx.restore();
  }

  function drawPlayer(id, p, colours) {
    const [sx, sy] = toScreen(p.x, p.y);
    const followed = id === followedId();
    const r = playerRadius(id);
    const colour = followed ? colours.primary : OTHER_PLAYER;
    // The direction the headset looks at: a wedge in front of the disc.
    ctx.save();
    ctx.translate(sx, sy);
    ctx.rotate(rad(p.heading));
    ctx.beginPath();
    ctx.moveTo(r * 2.4, 0);
    ctx.lineTo(r * 0.55, r * 0.9);
    ctx.lineTo(r * 0.55, -r * 0.9);
    ctx.closePath();
    ctx.fillStyle = colour;
    ctx.fill();
    ctx.restore();
    ctx.beginPath();
    ctx.arc(sx, sy, r, 0, Math.PI * 2);
    ctx.fillStyle = colour;
    ctx.fill();
    ctx.lineWidth = followed ? 3 : 2;
    ctx.strokeStyle = colours.card;
    ctx.stroke();
    if (followed) {
      ctx.beginPath();
      ctx.arc(sx, sy, r + 4, 0, Math.PI * 2);
      ctx.lineWidth = 2;
      ctx.strokeStyle = colour;
      ctx.stroke();
    }
    label(followed ? TEXT.followed(id) : id, sx, sy + r + 14, colours, { bold: true, size: 13, align: 'center' });
  }

  function drawTooltip(colours) {
    const d = describe(hover);
    if (!d) return;
    let ax;
    let ay;
    if (hover.kind === 'player') [ax, ay] = toScreen(model.positions.get(hover.id).x, model.positions.get(hover.id).y);
    else if (hover.kind === 'placed') [ax, ay] = toScreen(model.placed.x, model.placed.y);
    else {
      const a = model.agents.get(hover.id);
      [ax, ay] = pointerAt && !pinned && a.kind === 'geometry' ? pointerAt : toScreen(a.x, a.y);
    }
    const lines = [d.title, ...d.lines];
    ctx.font = `600 13px ${colours.font}`;
    const width = Math.max(...lines.map((t) => ctx.measureText(t).width)) + 20;
    const height = lines.length * 18 + 12;
    const { w, h } = canvasSize();
    let x = ax + 16;
    let y = ay + 16;
    if (x + width > w - 4) x = ax - 16 - width;
    if (y + height > h - 4) y = ay - 16 - height;
    x = Math.max(4, x);
    y = Math.max(4, y);
    ctx.beginPath();
    if (ctx.roundRect) ctx.roundRect(x, y, width, height, 8);
    else ctx.rect(x, y, width, height);
    ctx.fillStyle = colours.text;
    ctx.fill();
    ctx.textAlign = 'left';
    ctx.textBaseline = 'top';
    lines.forEach((t, i) => {
      ctx.font = `${i === 0 ? 700 : 500} 13px ${colours.font}`;
      ctx.fillStyle = colours.card;
      ctx.fillText(t, x + 10, y + 8 + i * 18);
    });
  }

  function draw() {
    const dpr = window.devicePixelRatio || 1;
    const { w, h } = canvasSize();
    const bw = Math.max(1, Math.round(w * dpr));
    const bh = Math.max(1, Math.round(h * dpr));
    if (canvas.width !== bw || canvas.height !== bh) {
      canvas.width = bw;
      canvas.height = bh;
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const colours = palette();
    ctx.fillStyle = colours.card;
    ctx.fillRect(0, 0, w, h);
    transform();
    frames += 1;
    if (!followedId() || (!model.world && model.agents.size === 0 && model.positions.size === 0)) {
      const text = !followedId() ? TEXT.canvasNoPlayer() : socketOpen ? TEXT.canvasWaiting() : TEXT.canvasConnecting();
      ctx.font = `600 16px ${colours.font}`;
      ctx.fillStyle = colours.muted;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText(text, w / 2, h / 2);
      drawBadge(colours);
      return;
    }

    // The world's envelope, with a grid to read distances.
    if (model.world) {
      const [x0, y0] = toScreen(0, 0);
      const [x1, y1] = toScreen(model.world.width, model.world.height);
      ctx.fillStyle = colours.ground;
      ctx.fillRect(x0, y0, x1 - x0, y1 - y0);
      const step = gridStep(view.scale);
      ctx.beginPath();
      for (let gx = step; gx < model.world.width; gx += step) {
        const sx = Math.round(toScreen(gx, 0)[0]) + 0.5;
        ctx.moveTo(sx, y0);
        ctx.lineTo(sx, y1);
      }
      for (let gy = step; gy < model.world.height; gy += step) {
        const sy = Math.round(toScreen(0, gy)[1]) + 0.5;
        ctx.moveTo(x0, sy);
        ctx.lineTo(x1, sy);
      }
      ctx.lineWidth = 1;
      ctx.strokeStyle = colours.grid;
      ctx.stroke();
      ctx.lineWidth = 2;
      ctx.strokeStyle = colours.border;
      ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    }

    const agents = [...model.agents.values()];
    // Shapes: the background first, then the dynamic ones.
    const shapes = agents.filter((a) => a.kind === 'geometry').sort((a, b) => Number(b.static) - Number(a.static));
    for (const a of shapes) {
      const colour = a.colour ?? model.properties.get(a.property)?.colour;
      const fill = colour ? cssColour(colour) : colours.neutral;
      drawShape(a, fill, a.closed ? 'rgb(0 0 0 / 0.45)' : colour ? cssColour(colour) : colours.muted);
      if (hover?.kind === 'agent' && hover.id === a.name) drawShape(a, null, colours.primary, 3);
    }
    for (const shapes of model.teleports.values()) {
      ctx.setLineDash([6, 4]);
      for (const s of shapes) drawShape(s, null, colours.muted, 2);
      ctx.setLineDash([]);
    }
    for (const shapes of model.walls.values()) for (const s of shapes) drawShape(s, null, colours.text, 3);

    const markers = agents.filter((a) => a.kind === 'prefab');
    for (const a of markers) {
      const [sx, sy] = toScreen(a.x, a.y);
      const r = markerRadius(a);
      if (sx < -r || sy < -r || sx > w + r || sy > h + r) continue;
      const prop = model.properties.get(a.property);
      const fill = a.colour ? cssColour(a.colour) : prefabColour(prop);
      drawArrowMarker(sx, sy, r, a.heading, fill, hover?.kind === 'agent' && hover.id === a.name ? colours.primary : colours.card);
    }
    if (markers.length <= LABELLED_AGENTS_MAX) {
      for (const a of markers) {
        const [sx, sy] = toScreen(a.x, a.y);
        label(a.name, sx + markerRadius(a) + 5, sy, colours, { size: 12 });
      }
    }

    if (model.placed) {
      const [sx, sy] = toScreen(model.placed.x, model.placed.y);
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      ctx.arc(sx, sy, 12, 0, Math.PI * 2);
      ctx.lineWidth = 2;
      ctx.strokeStyle = colours.primary;
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.beginPath();
      ctx.moveTo(sx - 5, sy);
      ctx.lineTo(sx + 5, sy);
      ctx.moveTo(sx, sy - 5);
      ctx.lineTo(sx, sy + 5);
      ctx.stroke();
    }

    // Players on top: the followed one last.
    const who = followedId();
    const ids = [...model.positions.keys()].sort((a, b) => Number(a === who) - Number(b === who));
    for (const id of ids) drawTrail(id, model.positions.get(id), colours);
    for (const id of ids) drawPlayer(id, model.positions.get(id), colours);

    drawBadge(colours);
    drawTooltip(colours);
  }

  /** Where a player walked over the last seconds (a played-back session sends it). */
  function drawTrail(id, p, colours) {
    if (!p.trail || p.trail.length < 2) return;
    const colour = id === followedId() ? colours.primary : OTHER_PLAYER;
    ctx.save();
    ctx.globalAlpha = 0.55;
    ctx.beginPath();
    p.trail.forEach(([x, y], i) => {
      const [sx, sy] = toScreen(x, y);
      if (i === 0) ctx.moveTo(sx, sy);
      else ctx.lineTo(sx, sy);
    });
    const [ex, ey] = toScreen(p.x, p.y);
    ctx.lineTo(ex, ey);
    ctx.lineWidth = 3;
    ctx.lineJoin = 'round';
    ctx.lineCap = 'round';
    ctx.strokeStyle = colour;
    ctx.stroke();
    // Where the trail starts: an open ring.
    const [bx, by] = toScreen(p.trail[0][0], p.trail[0][1]);
    ctx.beginPath();
    ctx.arc(bx, by, 3.5, 0, Math.PI * 2);
    ctx.lineWidth = 2;
    ctx.stroke();
    ctx.restore();
  }

  /** A played-back session says so on the canvas itself, with the time in the recording. */
  function drawBadge(colours) {
    if (!playback) return;
    const text = TEXT.badge(fmtSessionTime(playback.t));
    ctx.font = `700 13px ${colours.font}`;
    const width = ctx.measureText(text).width + 20;
    ctx.beginPath();
    if (ctx.roundRect) ctx.roundRect(8, 8, width, 26, 13);
    else ctx.rect(8, 8, width, 26);
    ctx.fillStyle = colours.infoBg;
    ctx.fill();
    ctx.lineWidth = 2;
    ctx.strokeStyle = colours.info;
    ctx.stroke();
    ctx.fillStyle = colours.info;
    ctx.textAlign = 'left';
    ctx.textBaseline = 'middle';
    ctx.fillText(text, 18, 21);
  }

  // ------------------------------------------------------------------------------------ input

  function local(event) {
    const r = canvas.getBoundingClientRect();
    return [event.clientX - r.left, event.clientY - r.top];
  }

  canvas.addEventListener('pointerdown', (event) => {
    if (event.button !== 0 && event.pointerType === 'mouse') return;
    canvas.focus({ preventScroll: true });
    try {
      canvas.setPointerCapture(event.pointerId);
    } catch {
      // a synthetic pointer cannot be captured
    }
    pointers.set(event.pointerId, local(event));
    if (pointers.size === 1) {
      gesture = { kind: 'pan', start: local(event), last: local(event), moved: false };
    } else if (pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      gesture = { kind: 'pinch', distance: Math.hypot(a[0] - b[0], a[1] - b[1]), mid: [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2], moved: true };
    }
    event.preventDefault();
  });

  canvas.addEventListener('pointermove', (event) => {
    const at = local(event);
    pointerAt = at;
    if (!pointers.has(event.pointerId)) {
      // Hovering with a mouse or a pen.
      if (!pinned) setHover(hitTest(at[0], at[1]));
      else requestRender();
      return;
    }
    pointers.set(event.pointerId, at);
    if (gesture?.kind === 'pan' && pointers.size === 1) {
      const [sx, sy] = gesture.start;
      if (!gesture.moved && Math.hypot(at[0] - sx, at[1] - sy) > TAP_SLOP_PX) {
        gesture.moved = true;
        canvas.dataset.dragging = 'true';
        if (!pinned) setHover(null);
      }
      if (gesture.moved) panBy(at[0] - gesture.last[0], at[1] - gesture.last[1]);
      gesture.last = at;
    } else if (gesture?.kind === 'pinch' && pointers.size >= 2) {
      const [a, b] = [...pointers.values()];
      const distance = Math.hypot(a[0] - b[0], a[1] - b[1]);
      const mid = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
      panBy(mid[0] - gesture.mid[0], mid[1] - gesture.mid[1]);
      if (gesture.distance > 0 && distance > 0) zoomAt(distance / gesture.distance, mid[0], mid[1]);
      gesture.distance = distance;
      gesture.mid = mid;
    }
  });

  function endPointer(event) {
    if (!pointers.has(event.pointerId)) return;
    pointers.delete(event.pointerId);
    if (gesture?.kind === 'pan' && !gesture.moved && event.type === 'pointerup') {
      // A tap shows what is there until the next tap (a mouse shows it on hover anyway).
      const at = local(event);
      setHover(hitTest(at[0], at[1]), event.pointerType !== 'mouse');
    }
    if (pointers.size === 1) {
      const [only] = pointers.values();
      gesture = { kind: 'pan', start: only, last: only, moved: true };
    } else if (pointers.size === 0) {
      gesture = null;
      delete canvas.dataset.dragging;
    }
  }

  canvas.addEventListener('pointerup', endPointer);
  canvas.addEventListener('pointercancel', endPointer);
  canvas.addEventListener('pointerleave', (event) => {
    if (event.pointerType === 'mouse' && !pointers.size) {
      pointerAt = null;
      if (!pinned) setHover(null);
    }
  });

  canvas.addEventListener(
    'wheel',
    (event) => {
      event.preventDefault();
      const [sx, sy] = local(event);
      const lines = event.deltaMode === 1 ? 16 : event.deltaMode === 2 ? canvas.clientHeight : 1;
      zoomAt(Math.exp(-event.deltaY * lines * WHEEL_ZOOM), sx, sy);
    },
    { passive: false },
  );

  /** Keyboard: arrows pan, + and − zoom, 0 fits, N and P go through agents and players. */
  function cycle(direction) {
    const items = [
      ...[...model.positions.keys()].map((id) => ({ kind: 'player', id })),
      ...[...model.agents.keys()].map((id) => ({ kind: 'agent', id })),
    ];
    if (!items.length) return;
    const at = hover ? items.findIndex((i) => i.kind === hover.kind && i.id === hover.id) : -1;
    const next = items[(at + direction + items.length) % items.length] ?? items[0];
    setHover(next, true);
  }

  canvas.addEventListener('keydown', (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const { w, h } = canvasSize();
    const keys = {
      ArrowLeft: () => panBy(PAN_STEP_PX, 0),
      ArrowRight: () => panBy(-PAN_STEP_PX, 0),
      ArrowUp: () => panBy(0, PAN_STEP_PX),
      ArrowDown: () => panBy(0, -PAN_STEP_PX),
      '+': () => zoomAt(ZOOM_STEP, w / 2, h / 2),
      '=': () => zoomAt(ZOOM_STEP, w / 2, h / 2),
      '-': () => zoomAt(1 / ZOOM_STEP, w / 2, h / 2),
      _: () => zoomAt(1 / ZOOM_STEP, w / 2, h / 2),
      0: fit,
      f: fit,
      n: () => cycle(1),
      p: () => cycle(-1),
      Escape: () => setHover(null),
    };
    const action = keys[event.key.length === 1 ? event.key.toLowerCase() : event.key];
    if (!action) return;
    event.preventDefault();
    action();
  });

  canvas.addEventListener('blur', () => {
    if (pinned) setHover(null);
  });

  $('world-zoom-in').addEventListener('click', () => {
    const { w, h } = canvasSize();
    zoomAt(ZOOM_STEP, w / 2, h / 2);
  });
  $('world-zoom-out').addEventListener('click', () => {
    const { w, h } = canvasSize();
    zoomAt(1 / ZOOM_STEP, w / 2, h / 2);
  });
  $('world-fit').addEventListener('click', fit);

  new ResizeObserver(() => requestRender()).observe(canvas);
  new IntersectionObserver((entries) => {
    onScreen = entries.some((e) => e.isIntersecting);
    if (onScreen) requestRender();
  }).observe(canvas);
  window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => requestRender());

  document.addEventListener('visibilitychange', () => {
    // A hidden tab costs the relay nothing: the view starts again from the relay's cache.
    if (document.visibilityState === 'hidden') {
      closeSocket();
      refreshStatus();
    } else if ((playback || target) && !socket) {
      attempt = 0;
      connect();
    }
  });

  // --------------------------------------------------------------------------------- playback

  function buildPlaybackBar() {
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
  function labelBar(b) {
    setText(b.note, TEXT.notLive());
    setText(b.live.querySelector('span'), TEXT.backToLive());
    setAttr(b.speeds, 'aria-label', TEXT.speed());
    for (const button of b.speeds.querySelectorAll('button[data-speed]')) setAttr(button, 'aria-label', TEXT.speedAria(Number(button.dataset.speed)));
    setAttr(b.scrubber, 'aria-label', TEXT.scrubber());
  }

  function playbackInfo() {
    if (!playback) return null;
    const { id, title, player, t, duration, playing, speed, ended } = playback;
    return { id, title, player, t, duration, playing, speed, ended, connected: socketOpen };
  }

  function notify() {
    const info = playbackInfo();
    for (const listener of listeners) listener(info);
  }

  function send(message) {
    if (!socket || !socketOpen) return false;
    socket.send(JSON.stringify(message));
    return true;
  }

  function renderBar() {
    if (!playback) return;
    setText(bar.titleText, TEXT.playbackOf(playback.title));
    const shape = playback.playing ? 'pause' : playback.ended ? 'replay' : 'play';
    setIcon(bar.toggle, shape);
    setText(bar.toggleText, playback.playing ? TEXT.pause() : playback.ended ? TEXT.playAgain() : TEXT.play());
    for (const b of bar.speeds.querySelectorAll('button[data-speed]')) {
      setAttr(b, 'aria-pressed', String(Number(b.dataset.speed) === playback.speed));
    }
    const duration = Math.max(0, Math.round(playback.duration));
    setAttr(bar.scrubber, 'max', String(duration));
    if (!scrubbing) {
      const value = String(Math.round(Math.min(playback.t, duration)));
      if (bar.scrubber.value !== value) bar.scrubber.value = value;
    }
    const now = fmtSessionTime(playback.t);
    const end = fmtSessionTime(duration);
    setText(bar.time, TEXT.time(now, end));
    setAttr(bar.scrubber, 'aria-valuetext', TEXT.timeSpoken(now, end));
  }

  /** The relay's playback clock: where the recording stands, and whether it plays. */
  function applyClock(msg) {
    const duration = finite(msg.duration);
    if (duration != null) playback.duration = duration;
    // Clocks sent before the relay took a seek in describe the moment left.
    if (pendingSeeks === 0) {
      const t = finite(msg.t);
      if (t != null && !scrubbing) playback.t = t;
      playback.playing = msg.playing === true;
      const speed = finite(msg.speed);
      if (speed != null && speed > 0) playback.speed = speed;
      playback.ended = !playback.playing && playback.duration > 0 && playback.t >= playback.duration;
    }
    renderBar();
    refreshStatus();
    notify();
    requestRender();
  }

  /** Goes to `t` (ms) in the recording, playing on if it was playing. */
  function seek(t) {
    if (!playback) return;
    playback.t = Math.max(0, Math.min(Math.round(t), Math.round(playback.duration)));
    playback.ended = false;
    if (send({ type: 'seek', t: playback.t })) pendingSeeks += 1;
    renderBar();
    refreshStatus();
    notify();
    requestRender();
  }

  function togglePlay() {
    if (!playback) return;
    if (playback.playing) {
      playback.playing = false;
      send({ type: 'pause' });
    } else {
      if (playback.t >= playback.duration - 100) seek(0);
      playback.playing = true;
      playback.ended = false;
      send({ type: 'play', speed: playback.speed });
    }
    renderBar();
    refreshStatus();
    notify();
  }

  function setSpeed(speed) {
    if (!playback) return;
    playback.speed = speed;
    if (playback.playing) send({ type: 'play', speed });
    renderBar();
    notify();
  }

  function follow(player) {
    if (!playback || !player || player === playback.player) return;
    playback.player = player;
    if (send({ type: 'follow', player })) pendingSeeks += 1;
    else if (!socket) connect();
    renderSelect();
    notify();
    requestRender();
  }

  /** The scrubber moved: the time shown follows at once, the recording at most every SCRUB_EVERY_MS. */
  function scrubTo(t, final) {
    if (!playback) return;
    clearTimeout(scrubTimer);
    scrubTimer = null;
    const wait = SCRUB_EVERY_MS - (performance.now() - lastScrub);
    if (final || wait <= 0) {
      lastScrub = performance.now();
      seek(t);
      return;
    }
    playback.t = t;
    renderBar();
    notify();
    scrubTimer = setTimeout(() => scrubTo(Number(bar.scrubber.value), true), wait);
  }

  bar.live.addEventListener('click', () => stopPlayback());
  bar.toggle.addEventListener('click', () => togglePlay());
  bar.speeds.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-speed]');
    if (button) setSpeed(Number(button.dataset.speed));
  });
  bar.scrubber.addEventListener('pointerdown', () => {
    scrubbing = true;
  });
  const endScrub = () => {
    scrubbing = false;
  };
  bar.scrubber.addEventListener('pointerup', endScrub);
  bar.scrubber.addEventListener('pointercancel', endScrub);
  bar.scrubber.addEventListener('input', () => scrubTo(Number(bar.scrubber.value), false));
  bar.scrubber.addEventListener('change', () => {
    scrubbing = false;
    scrubTo(Number(bar.scrubber.value), true);
  });
  // Arrows step 5 s (1 s with Shift), Page Up and Down a minute, Home and End the ends; Space plays
  // or pauses.
  bar.scrubber.addEventListener('keydown', (event) => {
    if (!playback || event.altKey || event.ctrlKey || event.metaKey) return;
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
    if (event.key in moves) t = playback.t + moves[event.key];
    else if (event.key === 'Home') t = 0;
    else if (event.key === 'End') t = playback.duration;
    else if (event.key === ' ') {
      event.preventDefault();
      togglePlay();
      return;
    } else return;
    event.preventDefault();
    seek(t);
  });

  /**
   * Plays kept session `id` back in this view instead of the live one: `players` are the session's,
   * `player` the one to follow, `t` where to start (ms), `play` whether to play at once.
   */
  function startPlayback({ id, title, players: sessionPlayers, duration = 0, player = null, t = 0, play = false }) {
    const list = [...(sessionPlayers ?? [])];
    if (playback?.id === id) {
      if (player && player !== playback.player && list.includes(player)) follow(player);
      seek(t);
      if (play && !playback.playing) togglePlay();
      return;
    }
    const pick = [player, playback?.player, target].find((p) => p && list.includes(p)) ?? list[0] ?? null;
    const speed = playback?.speed ?? 1;
    playback = { id, title, players: list, player: pick, t: Math.max(0, t), duration, playing: play, speed, ended: false };
    pendingSeeks = 0;
    attempt = 0;
    view.auto = true;
    show(bar.root, true);
    card.dataset.mode = 'playback';
    canvas.dataset.mode = 'playback';
    renderSelect();
    renderBar();
    connect();
    notify();
  }

  /** Back to the live view. */
  function stopPlayback() {
    if (!playback) return;
    playback = null;
    clearTimeout(scrubTimer);
    scrubbing = false;
    closeSocket();
    show(bar.root, false);
    delete card.dataset.mode;
    delete canvas.dataset.mode;
    optionsKey = '';
    target = null;
    resetModel();
    renderSelect();
    retarget();
    refreshAll();
    requestRender();
    notify();
  }

  // ------------------------------------------------------------------------------------ API

  /** Decoded agents and players with their positions in the world and on the canvas (tests). */
  function snapshot() {
    flush();
    transform();
    const r = canvas.getBoundingClientRect();
    const at = (x, y) => {
      const [px, py] = toScreen(x, y);
      return { px, py };
    };
    return {
      player: followedId(),
      mode: playback ? 'playback' : 'live',
      playback: playbackInfo(),
      connected: socketOpen,
      status: statusEl.dataset.state,
      precision: model.precision,
      world: model.world ? { ...model.world } : null,
      view: { scale: view.scale, tx: view.tx, ty: view.ty, auto: view.auto },
      canvas: { left: r.left, top: r.top, width: r.width, height: r.height },
      properties: [...model.properties.values()].map((p) => ({ id: p.id, prefab: p.prefab, size: p.size, colour: p.colour })),
      agents: [...model.agents.values()].map((a) => ({
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
      players: [...model.positions].map(([id, p]) => ({
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
      placed: model.placed ? { ...model.placed, ...at(model.placed.x, model.placed.y) } : null,
      hover: describe(hover),
      endOfGame: model.endOfGame,
      frames,
      messages,
    };
  }

  // Another language: every word again (the selector's options, the legend, the bar, the canvas).
  onLanguageChange(() => {
    languageGeneration += 1;
    optionsKey = '';
    labelBar(bar);
    renderSelect();
    renderBar();
    refreshAll();
    requestRender();
  });

  requestRender();
  refreshAll();

  return {
    /** A state push: the players to choose from, and the page's link to the relay. */
    update(state) {
      players = state.players ?? [];
      if (playback) {
        // The live view waits; a playback cut off (a tab put aside, a token asked for) comes back.
        if (!socket && !timer && document.visibilityState !== 'hidden' && !blocked()) connect();
        refreshAll();
        return;
      }
      renderSelect();
      retarget();
      refreshAll();
    },
    /** The page lost its access token: stop following until it has one again. */
    stop() {
      closeSocket();
      refreshStatus();
    },
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
