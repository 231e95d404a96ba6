// gama-vr-relay admin page: an open kept session's timeline, drawn as SVG sized to the panel. A lane
// per player with its states (drawn like the players' tiles) and marks for what it did, summed into
// bins a few pixels wide so that an hour with forty players stays a few hundred elements; the
// experiment's states, GAMA's pace and the operator's changes above; the playback's cursor; a table
// per player below; a tooltip that says what is under the pointer. Player ids and action names are
// untrusted: they only ever go through textContent and attributes.

import { $, el, setAttr, show } from './dom.js';
import { fmtTime } from './i18n.js';
import { icon } from './icons.js';
import { fmtDuration } from './format.js';
import { PLAYER_STATE, experimentWord, playerWord, shape } from './words.js';
import { fmtSessionTime } from './world-words.js';
import { TEXT } from './session-words.js';

// The players' states, in the tiles' order.
const PLAYER_STATES = Object.keys(PLAYER_STATE);

// The open session's timeline: the data as prepared, the marks chosen, the geometry of the last
// drawing, the playback's time (when this session plays back) and the elements it is drawn in.
export const tl = { data: null, marks: 'noMoves', layout: null, cursorT: null, parts: null };

// The actions headsets send all the time to say where they are: left out of the marks by default.
const MOVEMENT = new Set(['move_player_external']);

const LABEL_MIN_PX = 96;
const LABEL_MAX_PX = 150;
const RIGHT_PAD_PX = 14;
const BIN_PX = 2;
const LANE_PX = 24;
const AXIS_PX = 22;
const EXP_PX = 18;
const CHANGES_PX = 18;
const PACE_PX = 34;
const ROW_GAP_PX = 5;
const TICK_MIN_PX = 72;
const TICK_STEPS_S = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400];
const CHANGE_MERGE_PX = 16;
const CHAR_PX = 7.2; // an average character of the labels' font, for shortening ids

const SVG_NS = 'http://www.w3.org/2000/svg';

export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v != null) node.setAttribute(k, String(v));
  node.append(...children.filter((c) => c != null));
  return node;
}

function svgText(x, y, text, cls, attrs = {}) {
  const node = svg('text', { x, y, class: cls, ...attrs });
  node.textContent = text;
  return node;
}

/** The fills of the states that are drawn with a shape as well as a colour (CSS gives them their
 *  colours, light or dark): one hidden SVG the lanes and the legend refer to. */
export function patterns() {
  const pattern = (id, size, ...children) => svg('pattern', { id: `tl-pat-${id}`, width: size, height: size, patternUnits: 'userSpaceOnUse' }, ...children);
  const bg = (size, level) => svg('rect', { width: size, height: size, class: `tl-pf-${level}-bg` });
  const defs = svg(
    'defs',
    {},
    // Joining: half filled, like the tile's half disc.
    pattern('joining', 8, bg(8, 'info'), svg('rect', { width: 4, height: 8, class: 'tl-pf-info' })),
    // Waiting: dots; GAMA did not answer: dashes.
    pattern('waiting', 6, bg(6, 'warn'), svg('circle', { cx: 3, cy: 3, r: 1.5, class: 'tl-pf-warn' })),
    pattern('no_answer', 8, bg(8, 'warn'), svg('path', { d: 'M1 5h4', class: 'tl-ps-warn' })),
    // Refused: crossed; disconnected: slashed, like the tiles' cross and slash.
    pattern('refused', 8, bg(8, 'bad'), svg('path', { d: 'M0 0l8 8M8 0l-8 8', class: 'tl-ps-bad' })),
    pattern('disconnected', 6, bg(6, 'bad'), svg('path', { d: 'M0 6L6 0M-1 1L1 -1M5 7L7 5', class: 'tl-ps-bad' })),
    // The experiment paused: the pause sign's bars; loading: dots.
    pattern('PAUSED', 10, bg(10, 'warn'), svg('rect', { x: 2, width: 2, height: 10, class: 'tl-pf-warn' }), svg('rect', { x: 6, width: 2, height: 10, class: 'tl-pf-warn' })),
    pattern('NOTREADY', 6, bg(6, 'warn'), svg('circle', { cx: 3, cy: 3, r: 1.5, class: 'tl-pf-warn' })),
  );
  return svg('svg', { class: 'tl-defs', width: 0, height: 0, 'aria-hidden': 'true', focusable: 'false' }, defs);
}

/** `text` cut to `px` pixels (roughly), with an ellipsis. */
function clip(text, px) {
  const max = Math.max(3, Math.floor(px / CHAR_PX));
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function fmtPace(v) {
  return v < 10 ? v.toFixed(1) : String(Math.round(v));
}

/** Index of the first item of `list` (sorted by `key`) whose key is >= `value`. */
function lowerBound(list, value, key) {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (key(list[mid]) < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The timeline, ready to draw: lanes, actions per player in time order, totals. */
export function prepare(t) {
  const duration = Math.max(1, t.duration_ms ?? t.info?.duration_ms ?? 1);
  const lanes = (t.lanes ?? []).map(([player, spans]) => ({ player, spans: spans ?? [] }));
  const acts = new Map(lanes.map((l) => [l.player, []]));
  const totals = new Map(); // "kind:name" → count
  for (const [at, list] of t.acts ?? []) {
    for (const [player, kind, name, n] of list ?? []) {
      if (!acts.has(player)) {
        acts.set(player, []);
        lanes.push({ player, spans: [] });
      }
      acts.get(player).push({ t: at, kind, name, n });
      const key = `${kind}:${name}`;
      totals.set(key, (totals.get(key) ?? 0) + n);
    }
  }
  const actions = [...totals.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([key, total]) => {
      const kind = key.slice(0, key.indexOf(':'));
      return { key, kind, name: key.slice(kind.length + 1), total };
    });
  const audit = (t.audit ?? []).map(([at, entry]) => ({ t: at, entry: entry ?? {} }));
  return {
    id: t.info?.id,
    duration,
    started: t.info?.started,
    lanes,
    experiment: t.experiment ?? [],
    acts,
    actions,
    counts: t.counts ?? {},
    pace: t.pace ?? [],
    audit,
    summary: t.summary ?? [],
  };
}

/** Whether action `a` ({kind, name}) is shown with the marks chosen. */
function shownMark(a) {
  if (tl.marks === 'all') return true;
  if (tl.marks === 'noMoves') return !(a.kind === 'ask' && MOVEMENT.has(a.name));
  if (tl.marks === 'ask' || tl.marks === 'expression') return a.kind === tl.marks;
  return `${a.kind}:${a.name}` === tl.marks;
}

/** The states in this session, drawn as in the lanes, with the tile's word and shape. */
export function legend() {
  const list = el('ul', { class: 'tl-legend', 'aria-label': TEXT.legend() });
  const seen = new Set();
  for (const lane of tl.data.lanes) for (const span of lane.spans) seen.add(span.state);
  for (const state of PLAYER_STATES) {
    if (!seen.has(state)) continue;
    const word = playerWord(state);
    const look = shape(PLAYER_STATE, state);
    const swatch = svg('svg', { class: 'tl-swatch', viewBox: '0 0 28 14', 'aria-hidden': 'true' }, svg('rect', { x: 0.5, y: 0.5, width: 27, height: 13, rx: 3, class: 'tl-span', 'data-state': state }));
    list.append(el('li', { dataset: { state } }, swatch, icon(look), el('span', { text: word })));
  }
  const mark = svg('svg', { class: 'tl-swatch', viewBox: '0 0 28 14', 'aria-hidden': 'true' }, svg('path', { d: 'M4 14v-5M8 14v-9M12 14v-3M16 14v-12M20 14v-6', class: 'tl-marks' }));
  list.append(el('li', { dataset: { legend: 'actions' } }, mark, el('span', { text: TEXT.legendActions() })));
  const flag = svg('svg', { class: 'tl-swatch', viewBox: '0 0 28 14', 'aria-hidden': 'true' }, svg('path', { d: 'M10 1h8l-4 7z', class: 'tl-change' }), svg('path', { d: 'M14 8v6', class: 'tl-change-stem' }));
  list.append(el('li', { dataset: { legend: 'change' } }, flag, el('span', { text: TEXT.legendChange() })));
  const line = svg('svg', { class: 'tl-swatch', viewBox: '0 0 28 14', 'aria-hidden': 'true' }, svg('path', { d: 'M1 11l6-5 6 3 6-7 8 4', class: 'tl-pace' }));
  list.append(el('li', { dataset: { legend: 'pace' } }, line, el('span', { text: TEXT.legendPace() })));
  return list;
}

export function summaryTable() {
  const wrap = el('div', { class: 'tl-table-wrap', role: 'region', 'aria-labelledby': 'session-table-title', tabindex: '0' });
  if (!tl.data.summary.length) {
    wrap.append(el('p', { class: 'empty', text: TEXT.noPlayers() }));
    return wrap;
  }
  const table = el('table', { class: 'tl-table', id: 'session-table' });
  const headRow = el('tr');
  const th = (text, attrs = {}) => el('th', { scope: 'col', ...attrs }, ...(Array.isArray(text) ? text : [document.createTextNode(text)]));
  headRow.append(th(TEXT.colPlayer()), th(TEXT.colInGame()), th(TEXT.colAsks()), th(TEXT.colExpressions()), th(TEXT.colDisconnections()));
  for (const a of tl.data.actions) {
    // Expressions are said to be so; an action is an ask by name.
    const kind = a.kind === 'expression' ? el('span', { class: 'tl-kind', text: TEXT.kindExpression() }) : null;
    headRow.append(th([kind, el('span', { class: a.kind === 'expression' ? 'tl-expr' : '', text: clip(a.name, 150) })].filter(Boolean), { title: a.name, dataset: { action: a.key } }));
  }
  const body = el('tbody');
  const totals = { in_game_ms: 0, asks: 0, expressions: 0, disconnections: 0 };
  for (const p of tl.data.summary) {
    const row = el('tr', { dataset: { player: p.player } });
    row.append(el('th', { scope: 'row', text: p.player }));
    row.append(
      el('td', { dataset: { col: 'in_game' }, text: fmtDuration(p.in_game_ms ?? 0) }),
      el('td', { dataset: { col: 'asks' }, text: String(p.asks ?? 0) }),
      el('td', { dataset: { col: 'expressions' }, text: String(p.expressions ?? 0) }),
      el('td', { dataset: { col: 'disconnections' }, text: String(p.disconnections ?? 0) }),
    );
    for (const a of tl.data.actions) {
      const n = tl.data.counts[p.player]?.[a.key] ?? 0;
      row.append(el('td', { dataset: { action: a.key }, class: n ? null : 'tl-zero', text: String(n) }));
    }
    for (const k of Object.keys(totals)) totals[k] += p[k] ?? 0;
    body.append(row);
  }
  const foot = el('tr', { class: 'tl-total', dataset: { player: '' } });
  foot.append(
    el('th', { scope: 'row', text: TEXT.allPlayers() }),
    el('td', { text: fmtDuration(totals.in_game_ms) }),
    el('td', { text: String(totals.asks) }),
    el('td', { text: String(totals.expressions) }),
    el('td', { text: String(totals.disconnections) }),
  );
  for (const a of tl.data.actions) foot.append(el('td', { dataset: { action: a.key }, text: String(a.total) }));
  table.append(el('thead', {}, headRow), body, el('tfoot', {}, foot));
  wrap.append(table);
  return wrap;
}

// -------------------------------------------------------------------------------------------------
// Drawing
// -------------------------------------------------------------------------------------------------

function ticks(duration, plotPx) {
  const msPerPx = duration / plotPx;
  const stepS = TICK_STEPS_S.find((s) => (s * 1000) / msPerPx >= TICK_MIN_PX) ?? TICK_STEPS_S[TICK_STEPS_S.length - 1];
  const out = [];
  for (let t = 0; t <= duration; t += stepS * 1000) out.push(t);
  return out;
}

/** Draws the open session's timeline at the panel's width. */
export function draw() {
  if (!tl.data || !tl.parts) return;
  // The lanes' box keeps room for its scroll bar (CSS), so the head and the lanes line up.
  const width = Math.max(320, Math.floor(tl.parts.lanesBox.clientWidth || $('session-view').clientWidth || 800));
  const labelPx = Math.round(Math.min(LABEL_MAX_PX, Math.max(LABEL_MIN_PX, width * 0.14)));
  const plotPx = width - labelPx - RIGHT_PAD_PX;
  const D = tl.data.duration;
  const x = (t) => labelPx + (Math.max(0, Math.min(D, t)) / D) * plotPx;
  const bins = Math.max(1, Math.floor(plotPx / BIN_PX));
  const binMs = D / bins;
  const tickList = ticks(D, plotPx);
  tl.layout = { width, labelPx, plotPx, bins, binMs, rows: [] };
  // The geometry every row is drawn with.
  const g = { width, labelPx, plotPx, D, x, bins, binMs, tickList };
  drawHead(g);
  drawLanes(g);
  tl.layout.x = x;
  placeCursor();
}

/** The head: time, experiment, operator changes, pace. */
function drawHead({ width, D, x, tickList, ...g }) {
  const head = tl.parts.headSvg;
  const headNodes = [];
  const grid = svg('g', { class: 'tl-grid' });
  const axis = svg('g', { class: 'tl-axis' });
  headNodes.push(svgText(6, AXIS_PX - 7, TEXT.rowTime(), 'tl-row-label'));
  for (const t of tickList) {
    const tx = x(t);
    axis.append(svg('line', { x1: tx, x2: tx, y1: AXIS_PX - 5, y2: AXIS_PX }));
    // The last label would leave the drawing: it stays off.
    if (tx + 24 <= width) axis.append(svgText(tx, AXIS_PX - 8, fmtSessionTime(t), 'tl-tick', { 'text-anchor': t === 0 ? 'start' : 'middle' }));
  }
  headNodes.push(axis);
  tl.layout.rows.push({ kind: 'time', top: 0, bottom: AXIS_PX });
  let y = AXIS_PX + 2;
  headNodes.push(experimentRow(x, y));
  y += EXP_PX + ROW_GAP_PX;
  headNodes.push(changesRow(x, y));
  y += CHANGES_PX + ROW_GAP_PX;
  headNodes.push(paceRow({ ...g, x }, y));
  y += PACE_PX + 4;
  const headHeight = y;

  for (const t of tickList) grid.append(svg('line', { x1: x(t), x2: x(t), y1: AXIS_PX, y2: headHeight }));
  const headCursor = cursorNodes(headHeight, true);
  head.replaceChildren(grid, ...headNodes, headCursor);
  setAttr(head, 'width', width);
  setAttr(head, 'height', headHeight);
  setAttr(head, 'viewBox', `0 0 ${width} ${headHeight}`);
  const spoken = tl.data.audit.slice(0, 12).map((a) => TEXT.changeSpoken(a.entry.action ?? '', fmtSessionTime(a.t)));
  setAttr(head, 'aria-label', TEXT.headLabel(fmtDuration(D), TEXT.changesSpoken(spoken)));
}

/** The experiment's states, as bands with their words where they fit. */
function experimentRow(x, y) {
  const exp = svg('g', { class: 'tl-exp' });
  exp.append(svgText(6, y + EXP_PX / 2, TEXT.rowExperiment(), 'tl-row-label', { 'dominant-baseline': 'central' }));
  for (const span of tl.data.experiment) {
    const x0 = x(span.from);
    const w = Math.max(1, x(span.to) - x0);
    const word = experimentWord(span.state);
    exp.append(svg('rect', { x: x0, y, width: w, height: EXP_PX, class: 'tl-exp-span', 'data-state': span.state, 'data-from': span.from, 'data-to': span.to }));
    if (w > word.length * CHAR_PX + 10) exp.append(svgText(x0 + 5, y + EXP_PX / 2, word, 'tl-span-word', { 'dominant-baseline': 'central' }));
  }
  tl.layout.rows.push({ kind: 'experiment', top: y, bottom: y + EXP_PX });
  return exp;
}

/** Operator changes closer than a few pixels share one mark (its tooltip lists them). */
function changesRow(x, y) {
  const changes = svg('g', { class: 'tl-changes' });
  changes.append(svgText(6, y + CHANGES_PX / 2, TEXT.rowChanges(), 'tl-row-label', { 'dominant-baseline': 'central' }));
  const groups = [];
  for (const a of tl.data.audit) {
    const ax = x(a.t);
    const last = groups[groups.length - 1];
    if (last && ax - last.x < CHANGE_MERGE_PX) last.items.push(a);
    else groups.push({ x: ax, items: [a] });
  }
  for (const g of groups) {
    const failed = g.items.some((a) => a.entry.ok === false);
    const mark = svg('g', { class: 'tl-change-mark', 'data-count': g.items.length, 'data-failed': String(failed), 'data-t': g.items[0].t });
    mark.append(svg('path', { d: `M${g.x - 5} ${y + 1}h10l-5 9z`, class: 'tl-change' }), svg('path', { d: `M${g.x} ${y + 10}V${y + CHANGES_PX}`, class: 'tl-change-stem' }));
    if (g.items.length > 1) mark.append(svgText(g.x + 7, y + 6, String(g.items.length), 'tl-change-count', { 'dominant-baseline': 'central' }));
    changes.append(mark);
  }
  tl.layout.rows.push({ kind: 'changes', top: y, bottom: y + CHANGES_PX, groups });
  return changes;
}

/** GAMA's pace: the highest of each bin, as a line. */
function paceRow({ labelPx, plotPx, bins, binMs }, y) {
  const paceG = svg('g', { class: 'tl-pace-row' });
  let paceMax = 0;
  for (const [, v] of tl.data.pace) paceMax = Math.max(paceMax, v);
  const top = Math.max(1, Math.ceil(paceMax));
  paceG.append(svgText(6, y + 11, TEXT.rowPace(), 'tl-row-label', { 'dominant-baseline': 'central' }));
  paceG.append(svgText(6, y + 26, TEXT.paceUpTo(fmtPace(paceMax)), 'tl-row-sub', { 'dominant-baseline': 'central' }));
  paceG.append(svg('line', { x1: labelPx, x2: labelPx + plotPx, y1: y + PACE_PX, y2: y + PACE_PX, class: 'tl-baseline' }));
  const paceBins = new Map();
  for (const [at, v] of tl.data.pace) {
    const b = Math.min(bins - 1, Math.floor(at / binMs));
    paceBins.set(b, Math.max(paceBins.get(b) ?? 0, v));
  }
  const points = [...paceBins.entries()].sort((a, b) => a[0] - b[0]).map(([b, v]) => [labelPx + (b + 0.5) * BIN_PX, y + PACE_PX - (v / top) * (PACE_PX - 3)]);
  if (points.length) paceG.append(svg('path', { d: `M${points.map(([px, py]) => `${px.toFixed(1)} ${py.toFixed(1)}`).join('L')}`, class: 'tl-pace' }));
  tl.layout.rows.push({ kind: 'pace', top: y, bottom: y + PACE_PX, bins: paceBins });
  return paceG;
}

/** The lanes: states as bands, actions summed into bins below them. */
function drawLanes({ width, labelPx, x, bins, binMs, tickList }) {
  const body = tl.parts.bodySvg;
  const lanes = [];
  const bodyGrid = svg('g', { class: 'tl-grid' });
  const laneNodes = [];
  const drawn = [];
  tl.data.lanes.forEach((lane, i) => {
    const top = i * LANE_PX;
    const g = svg('g', { class: 'tl-lane', 'data-player': lane.player });
    if (i % 2 === 1) g.append(svg('rect', { x: 0, y: top, width, height: LANE_PX, class: 'tl-stripe' }));
    const label = svgText(6, top + LANE_PX / 2, clip(lane.player, labelPx - 12), 'tl-lane-label', { 'dominant-baseline': 'central' });
    label.append(svg('title', {}, document.createTextNode(lane.player)));
    g.append(label);
    for (const span of lane.spans) {
      if (span.state === 'gone') continue;
      const x0 = x(span.from);
      g.append(svg('rect', { x: x0, y: top + 3, width: Math.max(1, x(span.to) - x0), height: 10, rx: 2, class: 'tl-span', 'data-state': span.state, 'data-from': span.from, 'data-to': span.to }));
    }
    const counts = new Map();
    let total = 0;
    for (const a of tl.data.acts.get(lane.player) ?? []) {
      if (!shownMark(a)) continue;
      const b = Math.min(bins - 1, Math.floor(a.t / binMs));
      counts.set(b, (counts.get(b) ?? 0) + a.n);
      total += a.n;
    }
    const base = top + LANE_PX - 2;
    let d = '';
    for (const [b, n] of counts) {
      const h = Math.min(9, 4 + 1.5 * Math.log2(n));
      d += `M${(labelPx + (b + 0.5) * BIN_PX).toFixed(1)} ${base}v${(-h).toFixed(1)}`;
    }
    if (d) g.append(svg('path', { d, class: 'tl-marks', 'data-count': total }));
    laneNodes.push(g);
    lanes.push({ player: lane.player, top, bins: counts });
    drawn.push({ player: lane.player, marks: total, bins: counts.size });
  });
  const bodyHeight = Math.max(LANE_PX, tl.data.lanes.length * LANE_PX);
  for (const t of tickList) bodyGrid.append(svg('line', { x1: x(t), x2: x(t), y1: 0, y2: bodyHeight }));
  body.replaceChildren(bodyGrid, ...laneNodes, cursorNodes(bodyHeight, false));
  setAttr(body, 'width', width);
  setAttr(body, 'height', bodyHeight);
  setAttr(body, 'viewBox', `0 0 ${width} ${bodyHeight}`);
  setAttr(body, 'aria-label', TEXT.lanesLabel(tl.data.lanes.length));
  tl.layout.lanes = lanes;
  tl.layout.drawn = drawn;
}

function cursorNodes(height, labelled) {
  const g = svg('g', { class: 'tl-cursor', visibility: 'hidden' });
  g.append(svg('line', { x1: 0, x2: 0, y1: 0, y2: height }));
  if (labelled) {
    g.append(svg('rect', { x: -22, y: 0, width: 44, height: AXIS_PX - 4, rx: 4, class: 'tl-cursor-label-bg' }));
    g.append(svgText(0, AXIS_PX - 8, '', 'tl-cursor-label', { 'text-anchor': 'middle' }));
  }
  return g;
}

/** Moves the cursor to the playback's time (hidden when this session is not played back). */
export function placeCursor() {
  if (!tl.parts || !tl.layout) return;
  for (const g of tl.parts.timeline.querySelectorAll('.tl-cursor')) {
    if (tl.cursorT == null) {
      setAttr(g, 'visibility', 'hidden');
      continue;
    }
    setAttr(g, 'visibility', 'visible');
    const cx = tl.layout.x(tl.cursorT);
    setAttr(g, 'transform', `translate(${cx.toFixed(1)} 0)`);
    setAttr(g, 'data-t', String(Math.round(tl.cursorT)));
    const label = g.querySelector('.tl-cursor-label');
    if (label) label.textContent = fmtSessionTime(tl.cursorT);
  }
}

// -------------------------------------------------------------------------------------------------
// The pointer: what is under it, in words
// -------------------------------------------------------------------------------------------------

export function timeAt(event) {
  if (!tl.layout || !tl.data) return null;
  const r = event.currentTarget.getBoundingClientRect();
  const px = event.clientX - r.left;
  if (px < tl.layout.labelPx - 2) return null;
  return Math.max(0, Math.min(tl.data.duration, ((px - tl.layout.labelPx) / tl.layout.plotPx) * tl.data.duration));
}

function clockAt(t) {
  const start = tl.data.started ? new Date(tl.data.started) : null;
  if (!start || Number.isNaN(start.getTime())) return '';
  return fmtTime(new Date(start.getTime() + t));
}

function stateAt(spans, t) {
  for (let i = spans.length - 1; i >= 0; i -= 1) if (spans[i].from <= t) return spans[i].state;
  return null;
}

/** What is under the pointer, in words, in the tooltip. */
export function hoverAt(event) {
  const t = timeAt(event);
  if (t == null) {
    show(tl.parts.tip, false);
    return;
  }
  const r = event.currentTarget.getBoundingClientRect();
  const py = event.clientY - r.top;
  const lines = [TEXT.at(fmtSessionTime(t), clockAt(t))];
  if (event.currentTarget === tl.parts.headSvg) {
    const row = tl.layout.rows.find((w) => py >= w.top - 2 && py <= w.bottom + 2);
    if (row?.kind === 'experiment') {
      const state = stateAt(tl.data.experiment, t);
      lines.push(TEXT.experimentLine(state ? experimentWord(state) : TEXT.none()));
    } else if (row?.kind === 'changes') {
      const px = event.clientX - r.left;
      const near = row.groups.reduce((best, g) => (Math.abs(g.x - px) < Math.abs((best?.x ?? Infinity) - px) ? g : best), null);
      if (near && Math.abs(near.x - px) <= CHANGE_MERGE_PX) {
        if (near.items.length > 1) lines.push(TEXT.changesHere(near.items.length));
        for (const a of near.items.slice(0, 6)) {
          const e = a.entry;
          lines.push(TEXT.changeAt(fmtSessionTime(a.t), TEXT.changeLine(e), e.ok === false ? TEXT.notDone(e.detail ?? '') : null));
        }
        if (near.items.length > 6) lines.push(TEXT.moreActions(near.items.length - 6));
      }
    } else if (row?.kind === 'pace') {
      const b = Math.min(tl.layout.bins - 1, Math.floor(t / tl.layout.binMs));
      const v = row.bins.get(b);
      lines.push(TEXT.paceLine(v == null ? TEXT.none() : TEXT.paceAt(fmtPace(v))));
    }
  } else {
    const lane = tl.layout.lanes[Math.floor(py / LANE_PX)];
    if (lane) {
      const spans = tl.data.lanes.find((l) => l.player === lane.player)?.spans ?? [];
      const state = stateAt(spans, t);
      lines[0] = TEXT.laneTitle(lane.player, lines[0]);
      lines.push(state ? playerWord(state) : TEXT.none());
      // The actions of the bin under the pointer, the most frequent first.
      const b = Math.min(tl.layout.bins - 1, Math.floor(t / tl.layout.binMs));
      const from = b * tl.layout.binMs;
      const to = (b + 1) * tl.layout.binMs;
      // Actions are counted per second: a bin narrower than a second shows its second.
      const lo = Math.floor(from / 1000) * 1000;
      const hi = Math.max(lo + 1000, to);
      const acts = tl.data.acts.get(lane.player) ?? [];
      const byName = new Map();
      let n = 0;
      for (let i = lowerBound(acts, lo, (a) => a.t); i < acts.length && acts[i].t < hi; i += 1) {
        const a = acts[i];
        if (!shownMark(a)) continue;
        byName.set(a.name, (byName.get(a.name) ?? 0) + a.n);
        n += a.n;
      }
      if (!n) lines.push(TEXT.noAction());
      else {
        lines.push(TEXT.actionsIn(n, fmtSessionTime(lo), fmtSessionTime(hi)));
        const sorted = [...byName.entries()].sort((p, q) => q[1] - p[1]);
        for (const [name, count] of sorted.slice(0, 4)) lines.push(TEXT.countOf(count, name));
        if (sorted.length > 4) lines.push(TEXT.moreActions(sorted.length - 4));
      }
    }
  }
  const tip = tl.parts.tip;
  tip.replaceChildren(...lines.map((line, i) => el('div', { class: i === 0 ? 'tl-tip-title' : null, text: line })));
  show(tip, true);
  const box = tl.parts.timeline.getBoundingClientRect();
  const px = event.clientX - box.left;
  const pyBox = event.clientY - box.top;
  const tipW = tip.offsetWidth;
  tip.style.left = `${Math.max(4, Math.min(px + 14 + tipW > box.width ? px - 14 - tipW : px + 14, box.width - tipW - 4))}px`;
  tip.style.top = `${pyBox + 16}px`;
}
