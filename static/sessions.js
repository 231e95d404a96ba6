// gama-vr-relay admin page: the kept sessions, for the debriefing.
//
// The Sessions panel lists what the relay kept (GET /api/sessions): every experiment run, and the one
// being kept now. Opening one shows its timeline (GET /api/sessions/{id}, drawn by
// session-timeline.js): a lane per player with its states, marks for what each player did, the
// experiment's states, GAMA's pace and the operator's changes; then a table per player. Clicking the
// timeline, or "Play back", plays the session in the world view (world.js), whose clock moves the
// timeline's cursor. Player ids and action names are untrusted: they only ever go through
// textContent and attributes.

import { $, el, setAttr, setText, show } from './dom.js';
import { onLanguageChange } from './i18n.js';
import { icon, setIcon } from './icons.js';
import { withToken } from './token.js';
import { fmtBytes, fmtClock, fmtDuration } from './format.js';
import { api } from './api.js';
import { errorText } from './said.js';
import { showMessage } from './messages.js';
import { confirmAction } from './confirm.js';
import { panels } from './panels.js';
import { TEXT } from './session-words.js';
import { draw, hoverAt, legend, patterns, placeCursor, prepare, summaryTable, svg, timeAt, tl } from './session-timeline.js';

// Sessions listed before "Show all".
const LIST_SHORT = 6;
// The list is read again at most this often when the page asks for it (a state change, a new
// operator change); a finished session is written a moment after its stop.
const LIST_MIN_MS = 1000;
const AFTER_STOP_MS = 2500;

// The panel's elements, made by setupSessions.
const ui = {};

// The list as the relay gave it, and its reading.
const kept = {
  sessions: [], // newest first, from the relay
  current: null, // the id of the session being kept
  enabled: true, // whether the relay keeps sessions
  key: '', // what the list shows, to draw it again only when that changes
  showAll: false,
  loading: false,
  again: false, // read again once the reading under way is done
  lastLoad: -Infinity,
  loadTimer: null,
  lastExperiment: null,
  statusText: () => '', // what the status line says (a function: it follows a change of language)
};

// The open session.
const opened = {
  id: null,
  info: null, // as listed, then with the timeline's summary
  generation: 0, // counts the openings, so that a late answer for an older one is dropped
  status: () => '', // what the open session's place says while it opens (or why it did not)
};

/** Makes the Sessions panel in its card and follows the world view's playback. */
export function setupSessions() {
  ui.card = $('sessions-card');
  ui.listEl = el('ul', { id: 'sessions-list', class: 'session-list', 'aria-labelledby': 'sessions-title' });
  ui.status = el('p', { id: 'sessions-status', class: 'empty', role: 'status' });
  ui.more = el('button', { type: 'button', id: 'sessions-more', class: 'quiet', 'aria-expanded': 'false', hidden: '' });
  ui.refreshText = el('span');
  ui.refreshButton = el('button', { type: 'button', id: 'sessions-refresh', class: 'quiet' }, ui.refreshText);
  setIcon(ui.refreshButton, 'refresh');
  ui.viewEl = el('section', { id: 'session-view', class: 'session-view', 'aria-labelledby': 'session-view-title', hidden: '' });
  ui.titleEl = el('h2', { id: 'sessions-title', class: 'section-title', tabindex: '-1' });
  ui.introEl = el('p', { class: 'sub sessions-intro' });
  ui.card.replaceChildren(el('div', { class: 'section-head' }, ui.titleEl, ui.refreshButton), ui.introEl, ui.status, ui.listEl, ui.more, ui.viewEl, patterns());
  labelPanel();
  ui.listEl.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-action]');
    const item = event.target.closest('[data-session]');
    if (!button || !item) return;
    const s = kept.sessions.find((x) => x.id === item.dataset.session);
    if (!s) return;
    if (button.dataset.action === 'open') {
      if (opened.id === s.id) closeSession();
      else openSession(s);
    } else if (button.dataset.action === 'delete') {
      deleteSession(s, button);
    }
  });

  ui.more.addEventListener('click', () => {
    kept.showAll = !kept.showAll;
    renderList();
  });

  ui.refreshButton.addEventListener('click', () => {
    kept.lastLoad = -Infinity;
    load();
  });
  panels.world.onPlayback(followPlayback);
  new ResizeObserver(() => {
    if (!tl.data || !tl.parts) return;
    const width = Math.floor(tl.parts.lanesBox.clientWidth);
    if (tl.layout && Math.abs(width - tl.layout.width) < 2) return;
    requestAnimationFrame(draw);
  }).observe(ui.viewEl);
  onLanguageChange(relabel);
  return { update, changed, snapshot };
}

function labelPanel() {
  setText(ui.refreshText, TEXT.refresh());
  setText(ui.titleEl, TEXT.title());
  setText(ui.introEl, TEXT.intro());
  setText(ui.status, kept.statusText());
}

function setStatus(text) {
  kept.statusText = text;
  setText(ui.status, text());
}

function nameOf(s) {
  return s.model ?? s.experiment ?? TEXT.untitled();
}

function titleOf(s) {
  return `${nameOf(s)} · ${fmtClock(s.started)}`;
}

/** Reads the list again now, or as soon as the last read is LIST_MIN_MS old. */
function load() {
  if (kept.loading) {
    kept.again = true;
    return;
  }
  const wait = LIST_MIN_MS - (performance.now() - kept.lastLoad);
  if (wait > 0) {
    kept.loadTimer ??= setTimeout(() => {
      kept.loadTimer = null;
      load();
    }, wait);
    return;
  }
  kept.loading = true;
  kept.lastLoad = performance.now();
  if (!kept.sessions.length) setStatus(TEXT.loading);
  api('GET', '/api/sessions')
    .then((body) => {
      kept.sessions = Array.isArray(body?.sessions) ? body.sessions : [];
      kept.current = body?.current ?? null;
      kept.enabled = body?.enabled !== false;
      renderList();
    })
    .catch((e) => {
      if (e.status !== 401) setStatus(() => TEXT.listFailed(errorText(e)));
    })
    .finally(() => {
      kept.loading = false;
      if (kept.again) {
        kept.again = false;
        load();
      }
    });
}

function renderList() {
  const key = JSON.stringify([kept.sessions, kept.current, kept.enabled, kept.showAll, opened.id]);
  if (key === kept.key) return;
  kept.key = key;
  const focusedId = ui.listEl.contains(document.activeElement) ? document.activeElement.closest('[data-session]')?.dataset.session : null;
  const focusedAction = document.activeElement?.dataset?.action;
  setStatus(kept.sessions.length ? () => '' : kept.enabled ? TEXT.empty : TEXT.disabled);
  show(ui.status, kept.sessions.length === 0);
  const shown = kept.showAll ? kept.sessions : kept.sessions.slice(0, LIST_SHORT);
  ui.listEl.replaceChildren(...shown.map(sessionItem));
  show(ui.more, kept.sessions.length > LIST_SHORT);
  setText(ui.more, kept.showAll ? TEXT.showFewer() : TEXT.showAll(kept.sessions.length));
  setAttr(ui.more, 'aria-expanded', String(kept.showAll));
  if (focusedId) {
    const item = ui.listEl.querySelector(`[data-session="${CSS.escape(focusedId)}"]`);
    (item?.querySelector(`[data-action="${CSS.escape(focusedAction ?? 'open')}"]`) ?? item?.querySelector('button'))?.focus();
  }
  // The open session, or the one played back, was removed (by this page or another).
  if (opened.id && !kept.sessions.some((s) => s.id === opened.id)) closeSession();
  const played = panels.world.playback()?.id;
  if (played && !kept.sessions.some((s) => s.id === played)) panels.world.stopPlayback();
}

function sessionItem(s) {
  const inProgress = s.in_progress === true || s.id === kept.current;
  const name = nameOf(s);
  const li = el('li', { class: 'session-item', dataset: { session: s.id, inProgress: String(inProgress), open: String(s.id === opened.id) } });
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
  setAttr(open, 'aria-pressed', String(s.id === opened.id));
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

async function deleteSession(s, button) {
  if (button.getAttribute('aria-disabled') === 'true' || s.id === kept.current) {
    showMessage('error', TEXT.cannotDelete);
    return;
  }
  const name = titleOf(s);
  const yes = await confirmAction({ title: TEXT.confirmDeleteTitle, text: () => TEXT.confirmDeleteText(name), ok: TEXT.delete });
  if (!yes) return;
  setAttr(button, 'aria-busy', 'true');
  try {
    if (panels.world.playback()?.id === s.id) panels.world.stopPlayback();
    await api('DELETE', `/api/sessions/${encodeURIComponent(s.id)}`);
    showMessage('info', () => TEXT.deleted(name));
    if (opened.id === s.id) closeSession();
    kept.sessions = kept.sessions.filter((x) => x.id !== s.id);
    renderList();
    $('sessions-title').focus();
  } catch (e) {
    if (e.status !== 401) showMessage('error', e.code === 'session_in_progress' ? TEXT.cannotDelete : () => TEXT.deleteFailed(errorText(e)));
  } finally {
    setAttr(button, 'aria-busy', null);
    kept.lastLoad = -Infinity;
    load();
  }
}

// ----------------------------------------------------------------------------- an open session

async function openSession(s) {
  const generation = ++opened.generation;
  opened.id = s.id;
  opened.info = s;
  tl.data = null;
  tl.marks = 'noMoves';
  tl.cursorT = null;
  kept.key = '';
  renderList();
  show(ui.viewEl, true);
  opened.status = TEXT.opening;
  ui.viewEl.replaceChildren(el('h3', { id: 'session-view-title', class: 'session-view-title', text: titleOf(s) }), el('p', { class: 'empty', role: 'status', text: opened.status() }));
  ui.viewEl.scrollIntoView({ block: 'start' });
  let timeline;
  try {
    timeline = await api('GET', `/api/sessions/${encodeURIComponent(s.id)}`);
  } catch (e) {
    if (generation !== opened.generation) return;
    opened.status = e.status === 401 ? () => '' : () => TEXT.openFailed(errorText(e));
    ui.viewEl.querySelector('[role="status"]').textContent = opened.status();
    return;
  }
  if (generation !== opened.generation) return;
  tl.data = prepare(timeline);
  opened.info = { ...s, ...timeline.info, duration_ms: tl.data.duration };
  buildView();
  const playing = panels.world.playback();
  tl.cursorT = playing?.id === s.id ? playing.t : null;
  draw();
}

/** Closes the open session; its playback, if it plays, gives way to the live view. */
function closeSession() {
  opened.generation += 1;
  const had = opened.id;
  if (had && panels.world.playback()?.id === had) panels.world.stopPlayback();
  opened.id = null;
  opened.info = null;
  tl.data = null;
  tl.layout = null;
  show(ui.viewEl, false);
  ui.viewEl.replaceChildren();
  kept.key = '';
  renderList();
  if (had) ui.listEl.querySelector(`[data-session="${CSS.escape(had)}"] [data-action="open"]`)?.focus();
}

function buildView() {
  const s = opened.info;
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
  const players = Array.isArray(s.players) ? s.players.length : tl.data.lanes.length;
  const head = el(
    'div',
    { class: 'session-view-head' },
    el(
      'div',
      { class: 'session-view-names' },
      el('h3', { id: 'session-view-title', class: 'session-view-title', text: name }),
      el('p', { class: 'sub', text: TEXT.meta(fmtDuration(tl.data.duration), TEXT.players(players), fmtBytes(s.bytes ?? 0)) }),
    ),
    close,
    el('div', { class: 'session-view-buttons' }, play, csv, download),
  );

  const filter = el('select', { id: 'timeline-marks' });
  const option = (value, text) => el('option', { value, text });
  filter.append(option('noMoves', TEXT.marksNoMoves()), option('all', TEXT.marksAll()), option('ask', TEXT.marksAsks()), option('expression', TEXT.marksExpressions()));
  for (const a of tl.data.actions) filter.append(option(a.key, TEXT.marksOne(a.kind, a.name)));
  filter.value = tl.marks;
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

  ui.viewEl.replaceChildren(head, toolbar, timeline, help, el('h4', { class: 'tl-table-title', id: 'session-table-title', text: TEXT.tableTitle() }), table);
  tl.parts = { head, filter, headSvg, bodySvg, lanesBox, tip, timeline };

  play.addEventListener('click', () => {
    startPlayback(tl.cursorT ?? 0, true);
    $('world-card').scrollIntoView({ block: 'start' });
    $('playback-toggle')?.focus({ preventScroll: true });
  });
  close.addEventListener('click', () => closeSession());
  filter.addEventListener('change', () => {
    tl.marks = filter.value;
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

// ---------------------------------------------------------------------------- playback

function startPlayback(t, play) {
  if (!opened.info || !tl.data) return;
  const players = Array.isArray(opened.info.players) && opened.info.players.length ? opened.info.players : tl.data.lanes.map((l) => l.player);
  panels.world.startPlayback({ id: opened.info.id, title: titleOf(opened.info), players, duration: tl.data.duration, t, play });
}

/** The playback moved or stopped: the cursor follows it, the list marks what plays. */
function followPlayback(p) {
  const t = p && p.id === opened.id ? p.t : null;
  if (t !== tl.cursorT) {
    tl.cursorT = t;
    placeCursor();
  }
  for (const item of ui.listEl.querySelectorAll('[data-session]')) setAttr(item, 'data-playing', String(p?.id === item.dataset.session));
}

/** Another language: the panel, the list and the open session again, where the keyboard and the
 *  scrolling were. */
function relabel() {
  labelPanel();
  kept.key = '';
  renderList();
  setText(ui.more, kept.showAll ? TEXT.showFewer() : TEXT.showAll(kept.sessions.length));
  if (!opened.id) return;
  if (!tl.data || !tl.parts) {
    const title = ui.viewEl.querySelector('#session-view-title');
    if (title) setText(title, titleOf(opened.info));
    const waiting = ui.viewEl.querySelector('[role="status"]');
    if (waiting) setText(waiting, opened.status());
    return;
  }
  const focused = ui.viewEl.contains(document.activeElement) ? document.activeElement : null;
  const focusId = focused?.id || null;
  const focusAction = focused?.closest('[data-action]')?.dataset.action ?? null;
  const scroll = { lanes: tl.parts.lanesBox.scrollTop, table: ui.viewEl.querySelector('.tl-table-wrap')?.scrollLeft ?? 0 };
  buildView();
  draw();
  tl.parts.lanesBox.scrollTop = scroll.lanes;
  const wrap = ui.viewEl.querySelector('.tl-table-wrap');
  if (wrap) wrap.scrollLeft = scroll.table;
  if (focused) {
    const back = (focusId && ui.viewEl.querySelector(`#${CSS.escape(focusId)}`)) || (focusAction && ui.viewEl.querySelector(`[data-action="${CSS.escape(focusAction)}"]`));
    (back ?? (focused.classList.contains('tl-lanes') ? tl.parts.lanesBox : ui.viewEl.querySelector('.tl-table-wrap')))?.focus({ preventScroll: true });
  }
}

// ------------------------------------------------------------------------------------ API

/** What the panel shows (for tests): the list, and the open session as drawn. */
function snapshot() {
  return {
    sessions: kept.sessions.map((s) => ({ id: s.id, model: s.model, in_progress: s.in_progress, players: s.players })),
    current: kept.current,
    open: opened.id,
    timeline: tl.data
      ? {
          duration: tl.data.duration,
          lanes: tl.data.lanes.map((l) => ({ player: l.player, spans: l.spans.map((s) => ({ ...s })) })),
          experiment: tl.data.experiment.map((s) => ({ ...s })),
          counts: tl.data.counts,
          summary: tl.data.summary,
          audit: tl.data.audit.map((a) => ({ t: a.t, action: a.entry.action, ok: a.entry.ok, source: a.entry.source })),
          marks: tl.marks,
          drawn: tl.layout?.drawn ?? [],
          width: tl.layout?.width ?? 0,
          labelPx: tl.layout?.labelPx ?? 0,
          plotPx: tl.layout?.plotPx ?? 0,
          cursor: tl.cursorT,
        }
      : null,
  };
}

/** A state push: the list is read again when the experiment changes (a session starts or ends). */
function update(state) {
  const exp = state?.gama?.experiment_state ?? null;
  if (kept.lastExperiment === null || exp !== kept.lastExperiment) {
    kept.lastExperiment = exp;
    load();
    // A finished session is written a moment after the stop.
    setTimeout(load, AFTER_STOP_MS);
  }
}

/** Something changed that may have added or removed a session (a new change in Recent changes). */
export function changed() {
  load();
}
