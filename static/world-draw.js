// gama-vr-relay admin page: the world view drawn on its canvas, at most 20 frames a second and only when
// something changed (once a second off screen): the world's envelope and grid, the agents' shapes and
// markers with their names, GAMA's placement of the player, every player with its heading and trail,
// the playback's badge and the tooltip.

import { setText } from './dom.js';
import { cssColour, rad } from './world-model.js';
import { TEXT, fmtSessionTime } from './world-words.js';
import { flush, followedId, ui, view, wv } from './world-state.js';
import { canvasSize, describe, markerRadius, playerRadius, setHover, toScreen, transform } from './world-camera.js';
import { prefabColour, refreshAll } from './world-facts.js';

const FRAME_MS = 50; // at most 20 frames a second
const OFF_SCREEN_FRAME_MS = 1000;
const LABELLED_AGENTS_MAX = 60;
const OTHER_PLAYER = '#c026d3';

export function requestRender() {
  if (wv.renderQueued) return;
  wv.renderQueued = true;
  const wait = FRAME_MS - (performance.now() - wv.lastFrame);
  if (wait > 0) setTimeout(() => requestAnimationFrame(frame), wait);
  else requestAnimationFrame(frame);
}

function frame(now) {
  wv.renderQueued = false;
  wv.lastFrame = now;
  flush();
  if (wv.onScreen || now - wv.lastPaint >= OFF_SCREEN_FRAME_MS) {
    wv.lastPaint = now;
    draw();
  } else {
    // Not painted: come back when a second has passed, or when it scrolls into view.
    wv.paintLater ??= setTimeout(() => {
      wv.paintLater = null;
      requestRender();
    }, OFF_SCREEN_FRAME_MS - (now - wv.lastPaint));
  }
  refreshAll();
  // What is hovered may have moved or gone.
  const d = describe(wv.hover);
  if (wv.hover && !d) setHover(null);
  else if (d) setText(ui.hoverEl, `${d.title}: ${d.lines.join(', ')}`);
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
  ui.ctx.beginPath();
  points.forEach(([x, y], i) => {
    const [sx, sy] = toScreen(x, y);
    if (i === 0) ui.ctx.moveTo(sx, sy);
    else ui.ctx.lineTo(sx, sy);
  });
  if (closed) ui.ctx.closePath();
}

function drawShape(shape, fill, stroke, width = 1.5) {
  if (shape.points.length === 1) {
    const [sx, sy] = toScreen(shape.x, shape.y);
    ui.ctx.beginPath();
    ui.ctx.arc(sx, sy, 3, 0, Math.PI * 2);
    ui.ctx.fillStyle = stroke;
    ui.ctx.fill();
    return;
  }
  pathOf(shape.points, shape.closed);
  if (shape.closed && fill) {
    ui.ctx.fillStyle = fill;
    ui.ctx.fill();
  }
  ui.ctx.strokeStyle = stroke;
  ui.ctx.lineWidth = shape.closed ? width : Math.max(width, 2.5);
  ui.ctx.stroke();
}

function label(text, x, y, colours, { bold = false, size = 12, align = 'left' } = {}) {
  ui.ctx.font = `${bold ? 700 : 500} ${size}px ${colours.font}`;
  ui.ctx.textAlign = align;
  ui.ctx.textBaseline = 'middle';
  ui.ctx.lineJoin = 'round';
  ui.ctx.lineWidth = 4;
  ui.ctx.strokeStyle = colours.card;
  ui.ctx.strokeText(text, x, y);
  ui.ctx.fillStyle = colours.text;
  ui.ctx.fillText(text, x, y);
}

function drawArrowMarker(sx, sy, r, heading, fill, outline) {
  ui.ctx.save();
  ui.ctx.translate(sx, sy);
  ui.ctx.rotate(rad(heading));
  ui.ctx.beginPath();
  ui.ctx.moveTo(r * 1.15, 0);
  ui.ctx.lineTo(-r * 0.85, r * 0.75);
  ui.ctx.lineTo(-r * 0.4, 0);
  ui.ctx.lineTo(-r * 0.85, -r * 0.75);
  ui.ctx.closePath();
  ui.ctx.fillStyle = fill;
  ui.ctx.fill();
  ui.ctx.lineWidth = 1.5;
  ui.ctx.strokeStyle = outline;
  ui.ctx.stroke();
  ui.ctx.restore();
}

function drawPlayer(id, p, colours) {
  const [sx, sy] = toScreen(p.x, p.y);
  const followed = id === followedId();
  const r = playerRadius(id);
  const colour = followed ? colours.primary : OTHER_PLAYER;
  // The direction the headset looks at: a wedge in front of the disc.
  ui.ctx.save();
  ui.ctx.translate(sx, sy);
  ui.ctx.rotate(rad(p.heading));
  ui.ctx.beginPath();
  ui.ctx.moveTo(r * 2.4, 0);
  ui.ctx.lineTo(r * 0.55, r * 0.9);
  ui.ctx.lineTo(r * 0.55, -r * 0.9);
  ui.ctx.closePath();
  ui.ctx.fillStyle = colour;
  ui.ctx.fill();
  ui.ctx.restore();
  ui.ctx.beginPath();
  ui.ctx.arc(sx, sy, r, 0, Math.PI * 2);
  ui.ctx.fillStyle = colour;
  ui.ctx.fill();
  ui.ctx.lineWidth = followed ? 3 : 2;
  ui.ctx.strokeStyle = colours.card;
  ui.ctx.stroke();
  if (followed) {
    ui.ctx.beginPath();
    ui.ctx.arc(sx, sy, r + 4, 0, Math.PI * 2);
    ui.ctx.lineWidth = 2;
    ui.ctx.strokeStyle = colour;
    ui.ctx.stroke();
  }
  label(followed ? TEXT.followed(id) : id, sx, sy + r + 14, colours, { bold: true, size: 13, align: 'center' });
}

function drawTooltip(colours) {
  const d = describe(wv.hover);
  if (!d) return;
  let ax;
  let ay;
  if (wv.hover.kind === 'player') [ax, ay] = toScreen(wv.model.positions.get(wv.hover.id).x, wv.model.positions.get(wv.hover.id).y);
  else if (wv.hover.kind === 'placed') [ax, ay] = toScreen(wv.model.placed.x, wv.model.placed.y);
  else {
    const a = wv.model.agents.get(wv.hover.id);
    [ax, ay] = wv.pointerAt && !wv.pinned && a.kind === 'geometry' ? wv.pointerAt : toScreen(a.x, a.y);
  }
  const lines = [d.title, ...d.lines];
  ui.ctx.font = `600 13px ${colours.font}`;
  const width = Math.max(...lines.map((t) => ui.ctx.measureText(t).width)) + 20;
  const height = lines.length * 18 + 12;
  const { w, h } = canvasSize();
  let x = ax + 16;
  let y = ay + 16;
  if (x + width > w - 4) x = ax - 16 - width;
  if (y + height > h - 4) y = ay - 16 - height;
  x = Math.max(4, x);
  y = Math.max(4, y);
  ui.ctx.beginPath();
  if (ui.ctx.roundRect) ui.ctx.roundRect(x, y, width, height, 8);
  else ui.ctx.rect(x, y, width, height);
  ui.ctx.fillStyle = colours.text;
  ui.ctx.fill();
  ui.ctx.textAlign = 'left';
  ui.ctx.textBaseline = 'top';
  lines.forEach((t, i) => {
    ui.ctx.font = `${i === 0 ? 700 : 500} 13px ${colours.font}`;
    ui.ctx.fillStyle = colours.card;
    ui.ctx.fillText(t, x + 10, y + 8 + i * 18);
  });
}

function draw() {
  const dpr = window.devicePixelRatio || 1;
  const { w, h } = canvasSize();
  const bw = Math.max(1, Math.round(w * dpr));
  const bh = Math.max(1, Math.round(h * dpr));
  if (ui.canvas.width !== bw || ui.canvas.height !== bh) {
    ui.canvas.width = bw;
    ui.canvas.height = bh;
  }
  ui.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  const colours = palette();
  ui.ctx.fillStyle = colours.card;
  ui.ctx.fillRect(0, 0, w, h);
  transform();
  wv.frames += 1;
  if (!followedId() || (!wv.model.world && wv.model.agents.size === 0 && wv.model.positions.size === 0)) {
    const text = !followedId() ? TEXT.canvasNoPlayer() : wv.socketOpen ? TEXT.canvasWaiting() : TEXT.canvasConnecting();
    ui.ctx.font = `600 16px ${colours.font}`;
    ui.ctx.fillStyle = colours.muted;
    ui.ctx.textAlign = 'center';
    ui.ctx.textBaseline = 'middle';
    ui.ctx.fillText(text, w / 2, h / 2);
    drawBadge(colours);
    return;
  }

  drawGround(colours);
  drawAgents(colours, w, h);
  drawPlaced(colours);

  // Players on top: the followed one last.
  const who = followedId();
  const ids = [...wv.model.positions.keys()].sort((a, b) => Number(a === who) - Number(b === who));
  for (const id of ids) drawTrail(id, wv.model.positions.get(id), colours);
  for (const id of ids) drawPlayer(id, wv.model.positions.get(id), colours);

  drawBadge(colours);
  drawTooltip(colours);
}

/** The world's envelope, with a grid to read distances. */
function drawGround(colours) {
  if (!wv.model.world) return;
  const [x0, y0] = toScreen(0, 0);
  const [x1, y1] = toScreen(wv.model.world.width, wv.model.world.height);
  ui.ctx.fillStyle = colours.ground;
  ui.ctx.fillRect(x0, y0, x1 - x0, y1 - y0);
  const step = gridStep(view.scale);
  ui.ctx.beginPath();
  for (let gx = step; gx < wv.model.world.width; gx += step) {
    const sx = Math.round(toScreen(gx, 0)[0]) + 0.5;
    ui.ctx.moveTo(sx, y0);
    ui.ctx.lineTo(sx, y1);
  }
  for (let gy = step; gy < wv.model.world.height; gy += step) {
    const sy = Math.round(toScreen(0, gy)[1]) + 0.5;
    ui.ctx.moveTo(x0, sy);
    ui.ctx.lineTo(x1, sy);
  }
  ui.ctx.lineWidth = 1;
  ui.ctx.strokeStyle = colours.grid;
  ui.ctx.stroke();
  ui.ctx.lineWidth = 2;
  ui.ctx.strokeStyle = colours.border;
  ui.ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
}

/** The agents: shapes (the background first), teleport areas and walls, then markers and their names
 *  (`w`, `h`: the canvas's size, outside which markers are not drawn). */
function drawAgents(colours, w, h) {
  const agents = [...wv.model.agents.values()];
  // Shapes: the background first, then the dynamic ones.
  const shapes = agents.filter((a) => a.kind === 'geometry').sort((a, b) => Number(b.static) - Number(a.static));
  for (const a of shapes) {
    const colour = a.colour ?? wv.model.properties.get(a.property)?.colour;
    const fill = colour ? cssColour(colour) : colours.neutral;
    drawShape(a, fill, a.closed ? 'rgb(0 0 0 / 0.45)' : colour ? cssColour(colour) : colours.muted);
    if (wv.hover?.kind === 'agent' && wv.hover.id === a.name) drawShape(a, null, colours.primary, 3);
  }
  for (const shapes of wv.model.teleports.values()) {
    ui.ctx.setLineDash([6, 4]);
    for (const s of shapes) drawShape(s, null, colours.muted, 2);
    ui.ctx.setLineDash([]);
  }
  for (const shapes of wv.model.walls.values()) for (const s of shapes) drawShape(s, null, colours.text, 3);

  const markers = agents.filter((a) => a.kind === 'prefab');
  for (const a of markers) {
    const [sx, sy] = toScreen(a.x, a.y);
    const r = markerRadius(a);
    if (sx < -r || sy < -r || sx > w + r || sy > h + r) continue;
    const prop = wv.model.properties.get(a.property);
    const fill = a.colour ? cssColour(a.colour) : prefabColour(prop);
    drawArrowMarker(sx, sy, r, a.heading, fill, wv.hover?.kind === 'agent' && wv.hover.id === a.name ? colours.primary : colours.card);
  }
  if (markers.length <= LABELLED_AGENTS_MAX) {
    for (const a of markers) {
      const [sx, sy] = toScreen(a.x, a.y);
      label(a.name, sx + markerRadius(a) + 5, sy, colours, { size: 12 });
    }
  }
}

/** GAMA's placement of the player: a dashed ring with a cross. */
function drawPlaced(colours) {
  if (!wv.model.placed) return;
  const [sx, sy] = toScreen(wv.model.placed.x, wv.model.placed.y);
  ui.ctx.setLineDash([4, 3]);
  ui.ctx.beginPath();
  ui.ctx.arc(sx, sy, 12, 0, Math.PI * 2);
  ui.ctx.lineWidth = 2;
  ui.ctx.strokeStyle = colours.primary;
  ui.ctx.stroke();
  ui.ctx.setLineDash([]);
  ui.ctx.beginPath();
  ui.ctx.moveTo(sx - 5, sy);
  ui.ctx.lineTo(sx + 5, sy);
  ui.ctx.moveTo(sx, sy - 5);
  ui.ctx.lineTo(sx, sy + 5);
  ui.ctx.stroke();
}

/** Where a player walked over the last seconds (a played-back session sends it). */
function drawTrail(id, p, colours) {
  if (!p.trail || p.trail.length < 2) return;
  const colour = id === followedId() ? colours.primary : OTHER_PLAYER;
  ui.ctx.save();
  ui.ctx.globalAlpha = 0.55;
  ui.ctx.beginPath();
  p.trail.forEach(([x, y], i) => {
    const [sx, sy] = toScreen(x, y);
    if (i === 0) ui.ctx.moveTo(sx, sy);
    else ui.ctx.lineTo(sx, sy);
  });
  const [ex, ey] = toScreen(p.x, p.y);
  ui.ctx.lineTo(ex, ey);
  ui.ctx.lineWidth = 3;
  ui.ctx.lineJoin = 'round';
  ui.ctx.lineCap = 'round';
  ui.ctx.strokeStyle = colour;
  ui.ctx.stroke();
  // Where the trail starts: an open ring.
  const [bx, by] = toScreen(p.trail[0][0], p.trail[0][1]);
  ui.ctx.beginPath();
  ui.ctx.arc(bx, by, 3.5, 0, Math.PI * 2);
  ui.ctx.lineWidth = 2;
  ui.ctx.stroke();
  ui.ctx.restore();
}

/** A played-back session says so on the canvas itself, with the time in the recording. */
function drawBadge(colours) {
  if (!wv.playback) return;
  const text = TEXT.badge(fmtSessionTime(wv.playback.t));
  ui.ctx.font = `700 13px ${colours.font}`;
  const width = ui.ctx.measureText(text).width + 20;
  ui.ctx.beginPath();
  if (ui.ctx.roundRect) ui.ctx.roundRect(8, 8, width, 26, 13);
  else ui.ctx.rect(8, 8, width, 26);
  ui.ctx.fillStyle = colours.infoBg;
  ui.ctx.fill();
  ui.ctx.lineWidth = 2;
  ui.ctx.strokeStyle = colours.info;
  ui.ctx.stroke();
  ui.ctx.fillStyle = colours.info;
  ui.ctx.textAlign = 'left';
  ui.ctx.textBaseline = 'middle';
  ui.ctx.fillText(text, 18, 21);
}

/** Draws again when the canvas changes size, scrolls into view, or the colours change. */
export function wireDrawing() {
  new ResizeObserver(() => requestRender()).observe(ui.canvas);
  new IntersectionObserver((entries) => {
    wv.onScreen = entries.some((e) => e.isIntersecting);
    if (wv.onScreen) requestRender();
  }).observe(ui.canvas);
  window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => requestRender());
}
