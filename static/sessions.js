// gama-vr-relay admin page: the kept sessions, for the debriefing.
//
// The Sessions panel lists what the relay kept (GET /api/sessions): every experiment run, and the one
// being kept now. Opening one shows its timeline (GET /api/sessions/{id}): a lane per player with its
// states, drawn like the players' tiles, marks for what each player did, the experiment's states,
// GAMA's pace and the operator's changes; then a table per player. Clicking the timeline, or "Play
// back", plays the session in the world view (world.js), whose clock moves the timeline's cursor.
//
// Drawn as SVG, sized to the panel: actions are summed into bins a few pixels wide, so an hour with
// forty players stays a few hundred elements. Player ids and action names are untrusted: they only
// ever go through textContent and attributes.

import { fmtSessionTime } from './world.js';
import { auditAction } from './audit.js';
import { fmtNumber, fmtTime, onLanguageChange, t } from './i18n.js';

// Every word this panel puts on the page, in the page's language (i18n/*.json).
const TEXT = {
  title: () => t('sessions.title'),
  refresh: () => t('sessions.refresh'),
  intro: () => t('sessions.intro'),
  empty: () => t('sessions.empty'),
  disabled: () => t('sessions.disabled'),
  loading: () => t('sessions.loading'),
  listFailed: (why) => t('sessions.list_failed', { reason: why }),
  untitled: () => t('sessions.untitled'),
  inProgress: () => t('sessions.in_progress'),
  players: (n) => t('sessions.players', { count: n }),
  open: () => t('sessions.open'),
  openLabel: (name) => t('sessions.open_label', { session: name }),
  download: () => t('sessions.download'),
  downloadLabel: (name) => t('sessions.download_label', { session: name }),
  delete: () => t('sessions.delete'),
  deleteLabel: (name) => t('sessions.delete_label', { session: name }),
  cannotDelete: () => t('sessions.cannot_delete'),
  confirmDeleteTitle: () => t('sessions.delete_title'),
  confirmDeleteText: (name) => t('sessions.delete_text', { session: name }),
  deleted: (name) => t('sessions.deleted', { session: name }),
  deleteFailed: (why) => t('sessions.delete_failed', { reason: why }),
  showAll: (n) => t('common.show_all', { count: n }),
  showFewer: () => t('common.show_fewer'),
  // An open session
  opening: () => t('sessions.opening'),
  openFailed: (why) => t('sessions.open_failed', { reason: why }),
  playBack: () => t('sessions.play_back'),
  exportCsv: () => t('sessions.export_csv'),
  exportCsvLabel: (name) => t('sessions.export_csv_label', { session: name }),
  close: () => t('common.close'),
  meta: (length, players, size) => `${length} · ${players} · ${size}`,
  legend: () => t('timeline.legend'),
  marks: () => t('timeline.marks'),
  marksAll: () => t('timeline.marks_all'),
  marksNoMoves: () => t('timeline.marks_no_moves'),
  marksAsks: () => t('timeline.marks_asks'),
  marksExpressions: () => t('timeline.marks_expressions'),
  marksOne: (kind, name) => t(kind === 'expression' ? 'timeline.marks_expression' : 'timeline.marks_action', { name }),
  rowTime: () => t('timeline.row_time'),
  rowExperiment: () => t('timeline.row_experiment'),
  rowChanges: () => t('timeline.row_changes'),
  rowPace: () => t('timeline.row_pace'),
  paceUpTo: (v) => t('timeline.pace_up_to', { rate: v }),
  legendActions: () => t('timeline.legend_actions'),
  legendChange: () => t('timeline.legend_change'),
  legendPace: () => t('timeline.legend_pace'),
  timelineHelp: () => t('timeline.help'),
  headLabel: (length, changes) => t('timeline.head_label', { duration: length, changes }),
  changesSpoken: (list) => (list.length ? t('timeline.changes_spoken', { changes: list.join('; ') }) : t('timeline.no_change')),
  lanesRegion: () => t('timeline.lanes_region'),
  lanesLabel: (n) => t('timeline.lanes_label', { count: n }),
  at: (time, clock) => (clock ? `${time} (${clock})` : time),
  noAction: () => t('timeline.no_action'),
  actionsIn: (n, from, to) => t('timeline.actions_in', { count: n, from, to }),
  moreActions: (n) => t('timeline.more', { count: n }),
  paceAt: (v) => t('timeline.pace_at', { rate: v }),
  experimentLine: (word) => t('timeline.experiment_line', { state: word }),
  paceLine: (v) => t('timeline.pace_line', { pace: v }),
  none: () => '—',
  countOf: (n, name) => `${fmtNumber(n)} × ${name}`,
  laneTitle: (player, at) => `${player} · ${at}`,
  changeAt: (time, line, why) => (why ? `${time} ${line} — ${why}` : `${time} ${line}`),
  changeSpoken: (action, time) => t('timeline.change_spoken', { action, time }),
  changeLine: (e) => t(e.via === 'tool' ? 'timeline.change_line_tool' : 'timeline.change_line', { action: auditAction(e), source: e.source ?? '?' }),
  notDone: (why) => t('audit.not_done_why', { reason: why }),
  changesHere: (n) => t('timeline.changes_here', { count: n }),
  tableTitle: () => t('timeline.table_title'),
  colPlayer: () => t('timeline.col_player'),
  colInGame: () => t('timeline.col_in_game'),
  colAsks: () => t('timeline.col_asks'),
  colExpressions: () => t('timeline.col_expressions'),
  colDisconnections: () => t('timeline.col_disconnections'),
  allPlayers: () => t('timeline.all_players'),
  kindExpression: () => t('timeline.kind_expression'),
  noPlayers: () => t('timeline.no_players'),
};

// The actions headsets send all the time to say where they are: left out of the marks by default.
const MOVEMENT = new Set(['move_player_external']);
// Sessions listed before "Show all".
const LIST_SHORT = 6;
// The list is read again at most this often when the page asks for it (a state change, a new
// operator change); a finished session is written a moment after its stop.
const LIST_MIN_MS = 1000;
const AFTER_STOP_MS = 2500;

// Drawing, in CSS pixels.
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

function svg(tag, attrs = {}, ...children) {
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
function patterns() {
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

/**
 * Sets up the Sessions panel. `deps`: the page's helpers (el, setText, setAttr, show, setIcon, icon,
 * api, withToken, confirmAction, showMessage, errorText, fmtDuration, fmtBytes, fmtClock), the
 * players' states (`playerStates`: their names in the tiles' order) with their words and shapes
 * (`playerWord`, `playerShape`), the experiment's states' words (`experimentWord`) and the world
 * view (`worldView`).
 */
export function setupSessions(deps) {
  const { el, setText, setAttr, show, setIcon, icon, api, withToken, confirmAction, showMessage, errorText } = deps;
  const { fmtDuration, fmtBytes, fmtClock, playerStates, playerWord, playerShape, experimentWord, worldView } = deps;
  const $ = (id) => document.getElementById(id);

  // ------------------------------------------------------------------------------- the panel

  const card = $('sessions-card');
  const listEl = el('ul', { id: 'sessions-list', class: 'session-list', 'aria-labelledby': 'sessions-title' });
  const status = el('p', { id: 'sessions-status', class: 'empty', role: 'status' });
  const more = el('button', { type: 'button', id: 'sessions-more', class: 'quiet', 'aria-expanded': 'false', hidden: '' });
  const refreshText = el('span');
  const refreshButton = el('button', { type: 'button', id: 'sessions-refresh', class: 'quiet' }, refreshText);
  setIcon(refreshButton, 'refresh');
  const viewEl = el('section', { id: 'session-view', class: 'session-view', 'aria-labelledby': 'session-view-title', hidden: '' });
  const titleEl = el('h2', { id: 'sessions-title', class: 'section-title', tabindex: '-1' });
  const introEl = el('p', { class: 'sub sessions-intro' });
  card.replaceChildren(el('div', { class: 'section-head' }, titleEl, refreshButton), introEl, status, listEl, more, viewEl, patterns());
  // What the status line says (a function: it follows a change of language).
  let statusText = () => '';

  function labelPanel() {
    setText(refreshText, TEXT.refresh());
    setText(titleEl, TEXT.title());
    setText(introEl, TEXT.intro());
    setText(status, statusText());
  }

  function setStatus(text) {
    statusText = text;
    setText(status, text());
  }

  labelPanel();

  let sessions = []; // newest first, from the relay
  let current = null; // the id of the session being kept
  let enabled = true; // whether the relay keeps sessions
  let listKey = '';
  let showAll = false;
  let loading = false;
  let again = false;
  let lastLoad = -Infinity;
  let loadTimer = null;
  let lastExperiment = null;
  // The open session.
  let openId = null;
  let openInfo = null; // as listed, then with the timeline's summary
  let data = null; // the prepared timeline
  let marks = 'noMoves';
  let layout = null; // the geometry of the last drawing
  let cursorT = null; // the playback's time, when this session plays back
  let openGeneration = 0;
  let parts = null; // the open session's elements
  let openStatus = () => ''; // what the open session's place says while it opens (or why it did not)

  function nameOf(s) {
    return s.model ?? s.experiment ?? TEXT.untitled();
  }

  function titleOf(s) {
    return `${nameOf(s)} · ${fmtClock(s.started)}`;
  }

  /** Reads the list again now, or as soon as the last read is LIST_MIN_MS old. */
  function load() {
    if (loading) {
      again = true;
      return;
    }
    const wait = LIST_MIN_MS - (performance.now() - lastLoad);
    if (wait > 0) {
      loadTimer ??= setTimeout(() => {
        loadTimer = null;
        load();
      }, wait);
      return;
    }
    loading = true;
    lastLoad = performance.now();
    if (!sessions.length) setStatus(TEXT.loading);
    api('GET', '/api/sessions')
      .then((body) => {
        sessions = Array.isArray(body?.sessions) ? body.sessions : [];
        current = body?.current ?? null;
        enabled = body?.enabled !== false;
        renderList();
      })
      .catch((e) => {
        if (e.status !== 401) setStatus(() => TEXT.listFailed(errorText(e)));
      })
      .finally(() => {
        loading = false;
        if (again) {
          again = false;
          load();
        }
      });
  }

  function renderList() {
    const key = JSON.stringify([sessions, current, enabled, showAll, openId]);
    if (key === listKey) return;
    listKey = key;
    const focusedId = listEl.contains(document.activeElement) ? document.activeElement.closest('[data-session]')?.dataset.session : null;
    const focusedAction = document.activeElement?.dataset?.action;
    setStatus(sessions.length ? () => '' : enabled ? TEXT.empty : TEXT.disabled);
    show(status, sessions.length === 0);
    const shown = showAll ? sessions : sessions.slice(0, LIST_SHORT);
    listEl.replaceChildren(...shown.map(sessionItem));
    show(more, sessions.length > LIST_SHORT);
    setText(more, showAll ? TEXT.showFewer() : TEXT.showAll(sessions.length));
    setAttr(more, 'aria-expanded', String(showAll));
    if (focusedId) {
      const item = listEl.querySelector(`[data-session="${CSS.escape(focusedId)}"]`);
      (item?.querySelector(`[data-action="${CSS.escape(focusedAction ?? 'open')}"]`) ?? item?.querySelector('button'))?.focus();
    }
    // The open session, or the one played back, was removed (by this page or another).
    if (openId && !sessions.some((s) => s.id === openId)) closeSession();
    const played = worldView.playback()?.id;
    if (played && !sessions.some((s) => s.id === played)) worldView.stopPlayback();
  }

  function sessionItem(s) {
    const inProgress = s.in_progress === true || s.id === current;
    const name = nameOf(s);
    const li = el('li', { class: 'session-item', dataset: { session: s.id, inProgress: String(inProgress), open: String(s.id === openId) } });
    const players = Array.isArray(s.players) ? s.players : [];
    const meta = TEXT.meta(fmtDuration(s.duration_ms ?? 0), TEXT.players(players.length), fmtBytes(s.bytes ?? 0));
    const main = el(
      'div',
      { class: 'session-main' },
      el('span', { class: 'session-name', text: name }),
      el('span', { class: 'session-when', text: fmtClock(s.started) }),
      el('span', { class: 'sub', text: meta, title: players.join(', ') || null }),
    );
    if (inProgress) {
      const badge = el('span', { class: 'session-live' }, el('span', { text: TEXT.inProgress() }));
      setIcon(badge, 'dot');
      main.append(badge);
    }
    const open = el('button', { type: 'button', dataset: { action: 'open' }, 'aria-label': TEXT.openLabel(titleOf(s)), 'aria-controls': 'session-view' });
    open.append(icon('timeline'), el('span', { text: TEXT.open() }));
    setAttr(open, 'aria-pressed', String(s.id === openId));
    const download = el('a', {
      class: 'button-link',
      href: withToken(`/api/sessions/${encodeURIComponent(s.id)}/download`),
      download: `${s.id}.tar`,
      'aria-label': TEXT.downloadLabel(titleOf(s)),
      dataset: { action: 'download' },
    });
    download.append(icon('download'), el('span', { text: TEXT.download() }));
    const remove = el('button', {
      type: 'button',
      class: 'danger-outline',
      dataset: { action: 'delete' },
      'aria-label': TEXT.deleteLabel(titleOf(s)),
      title: inProgress ? TEXT.cannotDelete() : null,
      'aria-disabled': String(inProgress),
    });
    remove.append(icon('trash'), el('span', { text: TEXT.delete() }));
    li.append(main, el('div', { class: 'session-actions' }, open, download, remove));
    return li;
  }

  listEl.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-action]');
    const item = event.target.closest('[data-session]');
    if (!button || !item) return;
    const s = sessions.find((x) => x.id === item.dataset.session);
    if (!s) return;
    if (button.dataset.action === 'open') {
      if (openId === s.id) closeSession();
      else openSession(s);
    } else if (button.dataset.action === 'delete') {
      deleteSession(s, button);
    }
  });

  more.addEventListener('click', () => {
    showAll = !showAll;
    renderList();
  });

  refreshButton.addEventListener('click', () => {
    lastLoad = -Infinity;
    load();
  });

  async function deleteSession(s, button) {
    if (button.getAttribute('aria-disabled') === 'true' || s.id === current) {
      showMessage('error', TEXT.cannotDelete);
      return;
    }
    const name = titleOf(s);
    const yes = await confirmAction({ title: TEXT.confirmDeleteTitle, text: () => TEXT.confirmDeleteText(name), ok: TEXT.delete });
    if (!yes) return;
    setAttr(button, 'aria-busy', 'true');
    try {
      if (worldView.playback()?.id === s.id) worldView.stopPlayback();
      await api('DELETE', `/api/sessions/${encodeURIComponent(s.id)}`);
      showMessage('info', () => TEXT.deleted(name));
      if (openId === s.id) closeSession();
      sessions = sessions.filter((x) => x.id !== s.id);
      renderList();
      $('sessions-title').focus();
    } catch (e) {
      if (e.status !== 401) showMessage('error', e.code === 'session_in_progress' ? TEXT.cannotDelete : () => TEXT.deleteFailed(errorText(e)));
    } finally {
      setAttr(button, 'aria-busy', null);
      lastLoad = -Infinity;
      load();
    }
  }

  // ----------------------------------------------------------------------------- an open session

  async function openSession(s) {
    const generation = ++openGeneration;
    openId = s.id;
    openInfo = s;
    data = null;
    marks = 'noMoves';
    cursorT = null;
    listKey = '';
    renderList();
    show(viewEl, true);
    openStatus = TEXT.opening;
    viewEl.replaceChildren(el('h3', { id: 'session-view-title', class: 'session-view-title', text: titleOf(s) }), el('p', { class: 'empty', role: 'status', text: openStatus() }));
    viewEl.scrollIntoView({ block: 'start' });
    let timeline;
    try {
      timeline = await api('GET', `/api/sessions/${encodeURIComponent(s.id)}`);
    } catch (e) {
      if (generation !== openGeneration) return;
      openStatus = e.status === 401 ? () => '' : () => TEXT.openFailed(errorText(e));
      viewEl.querySelector('[role="status"]').textContent = openStatus();
      return;
    }
    if (generation !== openGeneration) return;
    data = prepare(timeline);
    openInfo = { ...s, ...timeline.info, duration_ms: data.duration };
    buildView();
    const playing = worldView.playback();
    cursorT = playing?.id === s.id ? playing.t : null;
    draw();
  }

  /** Closes the open session; its playback, if it plays, gives way to the live view. */
  function closeSession() {
    openGeneration += 1;
    const had = openId;
    if (had && worldView.playback()?.id === had) worldView.stopPlayback();
    openId = null;
    openInfo = null;
    data = null;
    layout = null;
    show(viewEl, false);
    viewEl.replaceChildren();
    listKey = '';
    renderList();
    if (had) listEl.querySelector(`[data-session="${CSS.escape(had)}"] [data-action="open"]`)?.focus();
  }

  /** The timeline, ready to draw: lanes, actions per player in time order, totals. */
  function prepare(t) {
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
    if (marks === 'all') return true;
    if (marks === 'noMoves') return !(a.kind === 'ask' && MOVEMENT.has(a.name));
    if (marks === 'ask' || marks === 'expression') return a.kind === marks;
    return `${a.kind}:${a.name}` === marks;
  }

  function buildView() {
    const s = openInfo;
    const name = titleOf(s);
    const play = el('button', { type: 'button', id: 'session-play', class: 'primary' }, el('span', { text: TEXT.playBack() }));
    setIcon(play, 'replay');
    const csv = el('a', {
      class: 'button-link',
      id: 'session-csv',
      href: withToken(`/api/sessions/${encodeURIComponent(s.id)}/summary.csv`),
      download: `${s.id}-players.csv`,
      'aria-label': TEXT.exportCsvLabel(name),
    });
    csv.append(icon('download'), el('span', { text: TEXT.exportCsv() }));
    const download = el('a', {
      class: 'button-link',
      id: 'session-download',
      href: withToken(`/api/sessions/${encodeURIComponent(s.id)}/download`),
      download: `${s.id}.tar`,
      'aria-label': TEXT.downloadLabel(name),
    });
    download.append(icon('download'), el('span', { text: TEXT.download() }));
    const close = el('button', { type: 'button', id: 'session-close', class: 'quiet', text: TEXT.close() });
    const players = Array.isArray(s.players) ? s.players.length : data.lanes.length;
    const head = el(
      'div',
      { class: 'session-view-head' },
      el(
        'div',
        { class: 'session-view-names' },
        el('h3', { id: 'session-view-title', class: 'session-view-title', text: name }),
        el('p', { class: 'sub', text: TEXT.meta(fmtDuration(data.duration), TEXT.players(players), fmtBytes(s.bytes ?? 0)) }),
      ),
      close,
      el('div', { class: 'session-view-buttons' }, play, csv, download),
    );

    const filter = el('select', { id: 'timeline-marks' });
    const option = (value, text) => el('option', { value, text });
    filter.append(option('noMoves', TEXT.marksNoMoves()), option('all', TEXT.marksAll()), option('ask', TEXT.marksAsks()), option('expression', TEXT.marksExpressions()));
    for (const a of data.actions) filter.append(option(a.key, TEXT.marksOne(a.kind, a.name)));
    filter.value = marks;
    const toolbar = el(
      'div',
      { class: 'tl-toolbar' },
      legend(),
      el('div', { class: 'tl-filter' }, el('label', { for: 'timeline-marks', text: TEXT.marks() }), filter),
    );

    const headSvg = svg('svg', { class: 'tl-svg tl-head', role: 'img' });
    const bodySvg = svg('svg', { class: 'tl-svg tl-body', role: 'img' });
    // Forty players or more scroll here, under the time and the experiment's states.
    const lanesBox = el('div', { class: 'tl-lanes', role: 'region', tabindex: '0', 'aria-label': TEXT.lanesRegion() }, bodySvg);
    const tip = el('div', { class: 'tl-tip', 'aria-hidden': 'true', hidden: '' });
    const timeline = el('div', { class: 'timeline', id: 'timeline' }, headSvg, lanesBox, tip);
    const help = el('p', { class: 'sub tl-help', text: TEXT.timelineHelp() });
    const table = summaryTable();

    viewEl.replaceChildren(head, toolbar, timeline, help, el('h4', { class: 'tl-table-title', id: 'session-table-title', text: TEXT.tableTitle() }), table);
    parts = { head, filter, headSvg, bodySvg, lanesBox, tip, timeline };

    play.addEventListener('click', () => {
      startPlayback(cursorT ?? 0, true);
      $('world-card').scrollIntoView({ block: 'start' });
      $('playback-toggle')?.focus({ preventScroll: true });
    });
    close.addEventListener('click', () => closeSession());
    filter.addEventListener('change', () => {
      marks = filter.value;
      draw();
    });
    for (const target of [headSvg, bodySvg]) {
      target.addEventListener('pointermove', (event) => hoverAt(event));
      target.addEventListener('pointerdown', (event) => hoverAt(event));
      target.addEventListener('pointerleave', () => show(tip, false));
      target.addEventListener('click', (event) => {
        const t = timeAt(event);
        if (t != null) startPlayback(t, false);
      });
    }
  }

  /** The states in this session, drawn as in the lanes, with the tile's word and shape. */
  function legend() {
    const list = el('ul', { class: 'tl-legend', 'aria-label': TEXT.legend() });
    const seen = new Set();
    for (const lane of data.lanes) for (const span of lane.spans) seen.add(span.state);
    for (const state of playerStates) {
      if (!seen.has(state)) continue;
      const word = playerWord(state);
      const shape = playerShape(state);
      const swatch = svg('svg', { class: 'tl-swatch', viewBox: '0 0 28 14', 'aria-hidden': 'true' }, svg('rect', { x: 0.5, y: 0.5, width: 27, height: 13, rx: 3, class: 'tl-span', 'data-state': state }));
      list.append(el('li', { dataset: { state } }, swatch, icon(shape), el('span', { text: word })));
    }
    const mark = svg('svg', { class: 'tl-swatch', viewBox: '0 0 28 14', 'aria-hidden': 'true' }, svg('path', { d: 'M4 14v-5M8 14v-9M12 14v-3M16 14v-12M20 14v-6', class: 'tl-marks' }));
    list.append(el('li', { dataset: { legend: 'actions' } }, mark, el('span', { text: TEXT.legendActions() })));
    const flag = svg('svg', { class: 'tl-swatch', viewBox: '0 0 28 14', 'aria-hidden': 'true' }, svg('path', { d: 'M10 1h8l-4 7z', class: 'tl-change' }), svg('path', { d: 'M14 8v6', class: 'tl-change-stem' }));
    list.append(el('li', { dataset: { legend: 'change' } }, flag, el('span', { text: TEXT.legendChange() })));
    const line = svg('svg', { class: 'tl-swatch', viewBox: '0 0 28 14', 'aria-hidden': 'true' }, svg('path', { d: 'M1 11l6-5 6 3 6-7 8 4', class: 'tl-pace' }));
    list.append(el('li', { dataset: { legend: 'pace' } }, line, el('span', { text: TEXT.legendPace() })));
    return list;
  }

  function summaryTable() {
    const wrap = el('div', { class: 'tl-table-wrap', role: 'region', 'aria-labelledby': 'session-table-title', tabindex: '0' });
    if (!data.summary.length) {
      wrap.append(el('p', { class: 'empty', text: TEXT.noPlayers() }));
      return wrap;
    }
    const table = el('table', { class: 'tl-table', id: 'session-table' });
    const headRow = el('tr');
    const th = (text, attrs = {}) => el('th', { scope: 'col', ...attrs }, ...(Array.isArray(text) ? text : [document.createTextNode(text)]));
    headRow.append(th(TEXT.colPlayer()), th(TEXT.colInGame()), th(TEXT.colAsks()), th(TEXT.colExpressions()), th(TEXT.colDisconnections()));
    for (const a of data.actions) {
      // Expressions are said to be so; an action is an ask by name.
      const kind = a.kind === 'expression' ? el('span', { class: 'tl-kind', text: TEXT.kindExpression() }) : null;
      headRow.append(th([kind, el('span', { class: a.kind === 'expression' ? 'tl-expr' : '', text: clip(a.name, 150) })].filter(Boolean), { title: a.name, dataset: { action: a.key } }));
    }
    const body = el('tbody');
    const totals = { in_game_ms: 0, asks: 0, expressions: 0, disconnections: 0 };
    for (const p of data.summary) {
      const row = el('tr', { dataset: { player: p.player } });
      row.append(el('th', { scope: 'row', text: p.player }));
      row.append(
        el('td', { dataset: { col: 'in_game' }, text: fmtDuration(p.in_game_ms ?? 0) }),
        el('td', { dataset: { col: 'asks' }, text: String(p.asks ?? 0) }),
        el('td', { dataset: { col: 'expressions' }, text: String(p.expressions ?? 0) }),
        el('td', { dataset: { col: 'disconnections' }, text: String(p.disconnections ?? 0) }),
      );
      for (const a of data.actions) {
        const n = data.counts[p.player]?.[a.key] ?? 0;
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
    for (const a of data.actions) foot.append(el('td', { dataset: { action: a.key }, text: String(a.total) }));
    table.append(el('thead', {}, headRow), body, el('tfoot', {}, foot));
    wrap.append(table);
    return wrap;
  }

  // ---------------------------------------------------------------------------------- drawing

  function ticks(duration, plotPx) {
    const msPerPx = duration / plotPx;
    const stepS = TICK_STEPS_S.find((s) => (s * 1000) / msPerPx >= TICK_MIN_PX) ?? TICK_STEPS_S[TICK_STEPS_S.length - 1];
    const out = [];
    for (let t = 0; t <= duration; t += stepS * 1000) out.push(t);
    return out;
  }

  /** Draws the open session's timeline at the panel's width. */
  function draw() {
    if (!data || !parts) return;
    // The lanes' box keeps room for its scroll bar (CSS), so the head and the lanes line up.
    const width = Math.max(320, Math.floor(parts.lanesBox.clientWidth || viewEl.clientWidth || 800));
    const labelPx = Math.round(Math.min(LABEL_MAX_PX, Math.max(LABEL_MIN_PX, width * 0.14)));
    const plotPx = width - labelPx - RIGHT_PAD_PX;
    const D = data.duration;
    const x = (t) => labelPx + (Math.max(0, Math.min(D, t)) / D) * plotPx;
    const bins = Math.max(1, Math.floor(plotPx / BIN_PX));
    const binMs = D / bins;
    const tickList = ticks(D, plotPx);
    layout = { width, labelPx, plotPx, bins, binMs, rows: [] };

    // ---- the head: time, experiment, operator changes, pace
    const head = parts.headSvg;
    let y = 0;
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
    layout.rows.push({ kind: 'time', top: 0, bottom: AXIS_PX });
    y = AXIS_PX + 2;

    const exp = svg('g', { class: 'tl-exp' });
    exp.append(svgText(6, y + EXP_PX / 2, TEXT.rowExperiment(), 'tl-row-label', { 'dominant-baseline': 'central' }));
    for (const span of data.experiment) {
      const x0 = x(span.from);
      const w = Math.max(1, x(span.to) - x0);
      const word = experimentWord(span.state);
      exp.append(svg('rect', { x: x0, y, width: w, height: EXP_PX, class: 'tl-exp-span', 'data-state': span.state, 'data-from': span.from, 'data-to': span.to }));
      if (w > word.length * CHAR_PX + 10) exp.append(svgText(x0 + 5, y + EXP_PX / 2, word, 'tl-span-word', { 'dominant-baseline': 'central' }));
    }
    headNodes.push(exp);
    layout.rows.push({ kind: 'experiment', top: y, bottom: y + EXP_PX });
    y += EXP_PX + ROW_GAP_PX;

    // Operator changes closer than a few pixels share one mark (its tooltip lists them).
    const changes = svg('g', { class: 'tl-changes' });
    changes.append(svgText(6, y + CHANGES_PX / 2, TEXT.rowChanges(), 'tl-row-label', { 'dominant-baseline': 'central' }));
    const groups = [];
    for (const a of data.audit) {
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
    headNodes.push(changes);
    layout.rows.push({ kind: 'changes', top: y, bottom: y + CHANGES_PX, groups });
    y += CHANGES_PX + ROW_GAP_PX;

    // GAMA's pace: the highest of each bin, as a line.
    const paceG = svg('g', { class: 'tl-pace-row' });
    let paceMax = 0;
    for (const [, v] of data.pace) paceMax = Math.max(paceMax, v);
    const top = Math.max(1, Math.ceil(paceMax));
    paceG.append(svgText(6, y + 11, TEXT.rowPace(), 'tl-row-label', { 'dominant-baseline': 'central' }));
    paceG.append(svgText(6, y + 26, TEXT.paceUpTo(fmtPace(paceMax)), 'tl-row-sub', { 'dominant-baseline': 'central' }));
    paceG.append(svg('line', { x1: labelPx, x2: labelPx + plotPx, y1: y + PACE_PX, y2: y + PACE_PX, class: 'tl-baseline' }));
    const paceBins = new Map();
    for (const [at, v] of data.pace) {
      const b = Math.min(bins - 1, Math.floor(at / binMs));
      paceBins.set(b, Math.max(paceBins.get(b) ?? 0, v));
    }
    const points = [...paceBins.entries()].sort((a, b) => a[0] - b[0]).map(([b, v]) => [labelPx + (b + 0.5) * BIN_PX, y + PACE_PX - (v / top) * (PACE_PX - 3)]);
    if (points.length) paceG.append(svg('path', { d: `M${points.map(([px, py]) => `${px.toFixed(1)} ${py.toFixed(1)}`).join('L')}`, class: 'tl-pace' }));
    headNodes.push(paceG);
    layout.rows.push({ kind: 'pace', top: y, bottom: y + PACE_PX, bins: paceBins });
    y += PACE_PX + 4;
    const headHeight = y;

    for (const t of tickList) grid.append(svg('line', { x1: x(t), x2: x(t), y1: AXIS_PX, y2: headHeight }));
    const headCursor = cursorNodes(headHeight, true);
    head.replaceChildren(grid, ...headNodes, headCursor);
    setAttr(head, 'width', width);
    setAttr(head, 'height', headHeight);
    setAttr(head, 'viewBox', `0 0 ${width} ${headHeight}`);
    const spoken = data.audit.slice(0, 12).map((a) => TEXT.changeSpoken(a.entry.action ?? '', fmtSessionTime(a.t)));
    setAttr(head, 'aria-label', TEXT.headLabel(fmtDuration(D), TEXT.changesSpoken(spoken)));

    // ---- the lanes: states as bands, actions summed into bins below them
    const body = parts.bodySvg;
    const lanes = [];
    const bodyGrid = svg('g', { class: 'tl-grid' });
    const laneNodes = [];
    const drawn = [];
    data.lanes.forEach((lane, i) => {
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
      for (const a of data.acts.get(lane.player) ?? []) {
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
    const bodyHeight = Math.max(LANE_PX, data.lanes.length * LANE_PX);
    for (const t of tickList) bodyGrid.append(svg('line', { x1: x(t), x2: x(t), y1: 0, y2: bodyHeight }));
    body.replaceChildren(bodyGrid, ...laneNodes, cursorNodes(bodyHeight, false));
    setAttr(body, 'width', width);
    setAttr(body, 'height', bodyHeight);
    setAttr(body, 'viewBox', `0 0 ${width} ${bodyHeight}`);
    setAttr(body, 'aria-label', TEXT.lanesLabel(data.lanes.length));
    layout.lanes = lanes;
    layout.drawn = drawn;
    layout.x = x;
    placeCursor();
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
  function placeCursor() {
    if (!parts || !layout) return;
    for (const g of parts.timeline.querySelectorAll('.tl-cursor')) {
      if (cursorT == null) {
        setAttr(g, 'visibility', 'hidden');
        continue;
      }
      setAttr(g, 'visibility', 'visible');
      const cx = layout.x(cursorT);
      setAttr(g, 'transform', `translate(${cx.toFixed(1)} 0)`);
      setAttr(g, 'data-t', String(Math.round(cursorT)));
      const label = g.querySelector('.tl-cursor-label');
      if (label) label.textContent = fmtSessionTime(cursorT);
    }
  }

  // ---------------------------------------------------------------------------- pointer

  function timeAt(event) {
    if (!layout || !data) return null;
    const r = event.currentTarget.getBoundingClientRect();
    const px = event.clientX - r.left;
    if (px < layout.labelPx - 2) return null;
    return Math.max(0, Math.min(data.duration, ((px - layout.labelPx) / layout.plotPx) * data.duration));
  }

  function clockAt(t) {
    const start = data.started ? new Date(data.started) : null;
    if (!start || Number.isNaN(start.getTime())) return '';
    return fmtTime(new Date(start.getTime() + t));
  }

  function stateAt(spans, t) {
    for (let i = spans.length - 1; i >= 0; i -= 1) if (spans[i].from <= t) return spans[i].state;
    return null;
  }

  /** What is under the pointer, in words, in the tooltip. */
  function hoverAt(event) {
    const t = timeAt(event);
    if (t == null) {
      show(parts.tip, false);
      return;
    }
    const r = event.currentTarget.getBoundingClientRect();
    const py = event.clientY - r.top;
    const lines = [TEXT.at(fmtSessionTime(t), clockAt(t))];
    if (event.currentTarget === parts.headSvg) {
      const row = layout.rows.find((w) => py >= w.top - 2 && py <= w.bottom + 2);
      if (row?.kind === 'experiment') {
        const state = stateAt(data.experiment, t);
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
        const b = Math.min(layout.bins - 1, Math.floor(t / layout.binMs));
        const v = row.bins.get(b);
        lines.push(TEXT.paceLine(v == null ? TEXT.none() : TEXT.paceAt(fmtPace(v))));
      }
    } else {
      const lane = layout.lanes[Math.floor(py / LANE_PX)];
      if (lane) {
        const spans = data.lanes.find((l) => l.player === lane.player)?.spans ?? [];
        const state = stateAt(spans, t);
        lines[0] = TEXT.laneTitle(lane.player, lines[0]);
        lines.push(state ? playerWord(state) : TEXT.none());
        // The actions of the bin under the pointer, the most frequent first.
        const b = Math.min(layout.bins - 1, Math.floor(t / layout.binMs));
        const from = b * layout.binMs;
        const to = (b + 1) * layout.binMs;
        // Actions are counted per second: a bin narrower than a second shows its second.
        const lo = Math.floor(from / 1000) * 1000;
        const hi = Math.max(lo + 1000, to);
        const acts = data.acts.get(lane.player) ?? [];
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
    const tip = parts.tip;
    tip.replaceChildren(...lines.map((line, i) => el('div', { class: i === 0 ? 'tl-tip-title' : null, text: line })));
    show(tip, true);
    const box = parts.timeline.getBoundingClientRect();
    const px = event.clientX - box.left;
    const pyBox = event.clientY - box.top;
    const tipW = tip.offsetWidth;
    tip.style.left = `${Math.max(4, Math.min(px + 14 + tipW > box.width ? px - 14 - tipW : px + 14, box.width - tipW - 4))}px`;
    tip.style.top = `${pyBox + 16}px`;
  }

  // ---------------------------------------------------------------------------- playback

  function startPlayback(t, play) {
    if (!openInfo || !data) return;
    const players = Array.isArray(openInfo.players) && openInfo.players.length ? openInfo.players : data.lanes.map((l) => l.player);
    worldView.startPlayback({ id: openInfo.id, title: titleOf(openInfo), players, duration: data.duration, t, play });
  }

  worldView.onPlayback((p) => {
    const t = p && p.id === openId ? p.t : null;
    if (t !== cursorT) {
      cursorT = t;
      placeCursor();
    }
    for (const item of listEl.querySelectorAll('[data-session]')) setAttr(item, 'data-playing', String(p?.id === item.dataset.session));
  });

  new ResizeObserver(() => {
    if (!data || !parts) return;
    const width = Math.floor(parts.lanesBox.clientWidth);
    if (layout && Math.abs(width - layout.width) < 2) return;
    requestAnimationFrame(draw);
  }).observe(viewEl);

  // Another language: the panel, the list and the open session again, where the keyboard and the
  // scrolling were.
  onLanguageChange(() => {
    labelPanel();
    listKey = '';
    renderList();
    setText(more, showAll ? TEXT.showFewer() : TEXT.showAll(sessions.length));
    if (!openId) return;
    if (!data || !parts) {
      const title = viewEl.querySelector('#session-view-title');
      if (title) setText(title, titleOf(openInfo));
      const waiting = viewEl.querySelector('[role="status"]');
      if (waiting) setText(waiting, openStatus());
      return;
    }
    const focused = viewEl.contains(document.activeElement) ? document.activeElement : null;
    const focusId = focused?.id || null;
    const focusAction = focused?.closest('[data-action]')?.dataset.action ?? null;
    const scroll = { lanes: parts.lanesBox.scrollTop, table: viewEl.querySelector('.tl-table-wrap')?.scrollLeft ?? 0 };
    buildView();
    draw();
    parts.lanesBox.scrollTop = scroll.lanes;
    const wrap = viewEl.querySelector('.tl-table-wrap');
    if (wrap) wrap.scrollLeft = scroll.table;
    if (focused) {
      const again = (focusId && viewEl.querySelector(`#${CSS.escape(focusId)}`)) || (focusAction && viewEl.querySelector(`[data-action="${CSS.escape(focusAction)}"]`));
      (again ?? (focused.classList.contains('tl-lanes') ? parts.lanesBox : viewEl.querySelector('.tl-table-wrap')))?.focus({ preventScroll: true });
    }
  });

  // ------------------------------------------------------------------------------------ API

  /** What the panel shows (for tests): the list, and the open session as drawn. */
  function snapshot() {
    return {
      sessions: sessions.map((s) => ({ id: s.id, model: s.model, in_progress: s.in_progress, players: s.players })),
      current,
      open: openId,
      timeline: data
        ? {
            duration: data.duration,
            lanes: data.lanes.map((l) => ({ player: l.player, spans: l.spans.map((s) => ({ ...s })) })),
            experiment: data.experiment.map((s) => ({ ...s })),
            counts: data.counts,
            summary: data.summary,
            audit: data.audit.map((a) => ({ t: a.t, action: a.entry.action, ok: a.entry.ok, source: a.entry.source })),
            marks,
            drawn: layout?.drawn ?? [],
            width: layout?.width ?? 0,
            labelPx: layout?.labelPx ?? 0,
            plotPx: layout?.plotPx ?? 0,
            cursor: cursorT,
          }
        : null,
    };
  }

  return {
    /** A state push: the list is read again when the experiment changes (a session starts or ends). */
    update(state) {
      const exp = state?.gama?.experiment_state ?? null;
      if (lastExperiment === null || exp !== lastExperiment) {
        lastExperiment = exp;
        load();
        // A finished session is written a moment after the stop.
        setTimeout(load, AFTER_STOP_MS);
      }
    },
    /** Something changed that may have added or removed a session (an operator's change). */
    changed() {
      load();
    },
    snapshot,
  };
}
