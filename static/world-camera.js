// gama-vr-relay admin page: the world view's camera and input. The transform from GAMA's plane to the
// canvas (fitted to the content until the operator pans or zooms), what is under the pointer, and the
// gestures: drag to pan, pinch or wheel to zoom, tap or hover for an agent's name, keys to pan, zoom
// and go through agents and players.

import { $, setText } from './dom.js';
import { insidePolygon, segmentDistance } from './world-model.js';
import { TEXT, fmtCoord } from './world-words.js';
import { flush, followedId, pointers, ui, view, wv } from './world-state.js';
import { requestRender } from './world-draw.js';

const ZOOM_STEP = 1.5;
const WHEEL_ZOOM = 0.0015;
const PAN_STEP_PX = 60;
const FIT_PADDING_PX = 28;
const MIN_MARKER_PX = 7;
const PLAYER_RADIUS_PX = 9;
const TAP_SLOP_PX = 6;
const HIT_SLOP_PX = 5;

export function canvasSize() {
  return { w: ui.canvas.clientWidth, h: ui.canvas.clientHeight };
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
  if (wv.model.world) {
    add(0, 0);
    add(wv.model.world.width, wv.model.world.height);
  }
  for (const a of wv.model.agents.values()) {
    if (a.kind === 'prefab') add(a.x, a.y);
    else for (const [x, y] of a.points) add(x, y);
  }
  for (const p of wv.model.positions.values()) add(p.x, p.y);
  if (wv.model.placed) add(wv.model.placed.x, wv.model.placed.y);
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

export function transform() {
  if (view.auto) Object.assign(view, fitTransform());
  return view;
}

export const toScreen = (x, y) => [x * view.scale + view.tx, y * view.scale + view.ty];
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

export function markerRadius(agent) {
  const prop = wv.model.properties.get(agent.property);
  const size = prop?.size;
  return Math.max(MIN_MARKER_PX, size ? (size * view.scale) / 2 : 0);
}

export function playerRadius(id) {
  return id === followedId() ? PLAYER_RADIUS_PX + 2 : PLAYER_RADIUS_PX;
}

/** What is under (sx, sy): players first, then markers, then shapes (topmost first). */
function hitTest(sx, sy) {
  flush();
  transform();
  let best = null;
  let bestD = Infinity;
  for (const [id, p] of wv.model.positions) {
    const [x, y] = toScreen(p.x, p.y);
    const d = Math.hypot(sx - x, sy - y);
    if (d <= playerRadius(id) + HIT_SLOP_PX && d < bestD) {
      best = { kind: 'player', id };
      bestD = d;
    }
  }
  if (best) return best;
  for (const a of wv.model.agents.values()) {
    if (a.kind !== 'prefab') continue;
    const [x, y] = toScreen(a.x, a.y);
    const d = Math.hypot(sx - x, sy - y);
    if (d <= markerRadius(a) + HIT_SLOP_PX && d < bestD) {
      best = { kind: 'agent', id: a.name };
      bestD = d;
    }
  }
  if (best) return best;
  if (wv.model.placed) {
    const [x, y] = toScreen(wv.model.placed.x, wv.model.placed.y);
    if (Math.hypot(sx - x, sy - y) <= 12 + HIT_SLOP_PX) return { kind: 'placed', id: followedId() };
  }
  const [wx, wy] = toWorld(sx, sy);
  const shapes = [...wv.model.agents.values()].filter((a) => a.kind === 'geometry');
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
export function describe(h) {
  if (!h) return null;
  if (h.kind === 'player') {
    const p = wv.model.positions.get(h.id);
    if (!p) return null;
    return {
      title: h.id,
      lines: [TEXT.hoverPlayer(h.id === followedId()), TEXT.hoverAtFacing(fmtCoord(p.x), fmtCoord(p.y), Math.round(p.angle))],
    };
  }
  if (h.kind === 'placed') {
    if (!wv.model.placed) return null;
    return { title: TEXT.hoverStart(followedId()), lines: [TEXT.hoverPlaced(), TEXT.hoverAt(fmtCoord(wv.model.placed.x), fmtCoord(wv.model.placed.y))] };
  }
  const a = wv.model.agents.get(h.id);
  if (!a) return null;
  const where = a.kind === 'prefab' ? TEXT.hoverHeading(fmtCoord(a.x), fmtCoord(a.y), Math.round(a.heading)) : TEXT.hoverAt(fmtCoord(a.x), fmtCoord(a.y));
  return { title: a.name, lines: [TEXT.hoverProperty(a.property, a.static), where] };
}

export function setHover(h, pin = false) {
  const same = h?.kind === wv.hover?.kind && h?.id === wv.hover?.id;
  wv.hover = h;
  wv.pinned = Boolean(h) && pin;
  const d = describe(h);
  setText(ui.hoverEl, d ? `${d.title}: ${d.lines.join(', ')}` : '');
  if (!same) requestRender();
}

// -------------------------------------------------------------------------------------------------
// Input
// -------------------------------------------------------------------------------------------------

/** The pointer's place on the canvas. */
function local(event) {
  const r = ui.canvas.getBoundingClientRect();
  return [event.clientX - r.left, event.clientY - r.top];
}

/** Points at the next (N) or previous (P) player or agent, and keeps its tooltip. */
function cycle(direction) {
  const items = [
    ...[...wv.model.positions.keys()].map((id) => ({ kind: 'player', id })),
    ...[...wv.model.agents.keys()].map((id) => ({ kind: 'agent', id })),
  ];
  if (!items.length) return;
  const at = wv.hover ? items.findIndex((i) => i.kind === wv.hover.kind && i.id === wv.hover.id) : -1;
  const next = items[(at + direction + items.length) % items.length] ?? items[0];
  setHover(next, true);
}

function endPointer(event) {
  if (!pointers.has(event.pointerId)) return;
  pointers.delete(event.pointerId);
  if (wv.gesture?.kind === 'pan' && !wv.gesture.moved && event.type === 'pointerup') {
    // A tap shows what is there until the next tap (a mouse shows it on hover anyway).
    const at = local(event);
    setHover(hitTest(at[0], at[1]), event.pointerType !== 'mouse');
  }
  if (pointers.size === 1) {
    const [only] = pointers.values();
    wv.gesture = { kind: 'pan', start: only, last: only, moved: true };
  } else if (pointers.size === 0) {
    wv.gesture = null;
    delete ui.canvas.dataset.dragging;
  }
}

/** The canvas's pointer, wheel and keys, and the zoom buttons. */
export function wireInput() {
  wirePointer();
  wireKeys();
}

/** Drag to pan, pinch or wheel to zoom, tap or hover for what is there. */
function wirePointer() {
  ui.canvas.addEventListener('pointerdown', (event) => {
    if (event.button !== 0 && event.pointerType === 'mouse') return;
    ui.canvas.focus({ preventScroll: true });
    try {
      ui.canvas.setPointerCapture(event.pointerId);
    } catch {
      // a synthetic pointer cannot be captured
    }
    pointers.set(event.pointerId, local(event));
    if (pointers.size === 1) {
      wv.gesture = { kind: 'pan', start: local(event), last: local(event), moved: false };
    } else if (pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      wv.gesture = { kind: 'pinch', distance: Math.hypot(a[0] - b[0], a[1] - b[1]), mid: [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2], moved: true };
    }
    event.preventDefault();
  });

  ui.canvas.addEventListener('pointermove', (event) => {
    const at = local(event);
    wv.pointerAt = at;
    if (!pointers.has(event.pointerId)) {
      // Hovering with a mouse or a pen.
      if (!wv.pinned) setHover(hitTest(at[0], at[1]));
      else requestRender();
      return;
    }
    pointers.set(event.pointerId, at);
    if (wv.gesture?.kind === 'pan' && pointers.size === 1) {
      const [sx, sy] = wv.gesture.start;
      if (!wv.gesture.moved && Math.hypot(at[0] - sx, at[1] - sy) > TAP_SLOP_PX) {
        wv.gesture.moved = true;
        ui.canvas.dataset.dragging = 'true';
        if (!wv.pinned) setHover(null);
      }
      if (wv.gesture.moved) panBy(at[0] - wv.gesture.last[0], at[1] - wv.gesture.last[1]);
      wv.gesture.last = at;
    } else if (wv.gesture?.kind === 'pinch' && pointers.size >= 2) {
      const [a, b] = [...pointers.values()];
      const distance = Math.hypot(a[0] - b[0], a[1] - b[1]);
      const mid = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
      panBy(mid[0] - wv.gesture.mid[0], mid[1] - wv.gesture.mid[1]);
      if (wv.gesture.distance > 0 && distance > 0) zoomAt(distance / wv.gesture.distance, mid[0], mid[1]);
      wv.gesture.distance = distance;
      wv.gesture.mid = mid;
    }
  });

  ui.canvas.addEventListener('pointerup', endPointer);
  ui.canvas.addEventListener('pointercancel', endPointer);
  ui.canvas.addEventListener('pointerleave', (event) => {
    if (event.pointerType === 'mouse' && !pointers.size) {
      wv.pointerAt = null;
      if (!wv.pinned) setHover(null);
    }
  });

  ui.canvas.addEventListener(
    'wheel',
    (event) => {
      event.preventDefault();
      const [sx, sy] = local(event);
      const lines = event.deltaMode === 1 ? 16 : event.deltaMode === 2 ? ui.canvas.clientHeight : 1;
      zoomAt(Math.exp(-event.deltaY * lines * WHEEL_ZOOM), sx, sy);
    },
    { passive: false },
  );

}

/** Keys on the canvas (arrows pan, + and − zoom, 0 fits, N and P go through agents and players), and
 *  the zoom buttons. */
function wireKeys() {
  ui.canvas.addEventListener('keydown', (event) => {
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

  ui.canvas.addEventListener('blur', () => {
    if (wv.pinned) setHover(null);
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
}
