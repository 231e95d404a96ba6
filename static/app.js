// gama-vr-relay admin page.
//
// Follows the relay live over /api/events (one full state document per push), drives it through the
// JSON API and never puts data into the page as HTML: player ids and GAMA's messages are untrusted,
// so everything goes through textContent. No inline scripts or styles (the relay's CSP forbids them).
// The world view (world.js) decodes and draws what a headset receives; the GAML console and the
// simulation clock are here. Every word comes from i18n.js (static/i18n/<language>.json), the relay's
// refusals included (from their code and params, README "Admin API"): nothing here is written in one
// language only.

import { setupWorldView } from './world.js';
import { setupSessions } from './sessions.js';
import { setupAudit } from './audit.js';
import { setupScreens } from './screens-card.js';
import { $, el, setAttr, setText, show } from './dom.js';
import { renderConnectHelp } from './connect.js';
import { authorization, currentToken, setToken, takeTokenFromUrl, withToken } from './token.js';
import { LiveLink } from './live.js';
import { LANGUAGES, fmtDay, fmtNumber, fmtTime, initI18n, lang, onLanguageChange, setLanguage, t, tInto } from './i18n.js';

const INFO_MESSAGE_MS = 6000;
// No output from a running simulation for this long, or nothing for an in-game player while GAMA's
// outputs flow: worth showing at once.
const STALLED_MS = 3000;
const STARVING_MS = 3000;
// Per-player update rates are measured over this much of the pushes' history, on the relay's clock
// (the document's relay_ms), and shown once two samples are this far apart.
const RATE_WINDOW_MS = 2000;
const RATE_MIN_SPAN_MS = 500;
const SAMPLES_KEEP_MS = 15000;
// A player needs attention when its ping is this slow, or this many messages wait for it.
const SLOW_PING_MS = 300;
const QUEUE_BEHIND_MESSAGES = 10;
// A problem seen in the numbers (starving, silent, slow, behind) keeps the tile flagged this long
// after it clears, so tiles do not jump back and forth.
const ATTENTION_HOLD_MS = 3000;

// -------------------------------------------------------------------------------------------------
// Icons: small inline SVGs built as DOM nodes, so states are told by shape as well as by colour.
// -------------------------------------------------------------------------------------------------

const SVG_NS = 'http://www.w3.org/2000/svg';
const ICONS = {
  dot: [['circle', { cx: 12, cy: 12, r: 6, fill: 'currentColor' }]],
  ring: [['circle', { cx: 12, cy: 12, r: 7, fill: 'none', 'stroke-width': 2.5 }]],
  half: [
    ['circle', { cx: 12, cy: 12, r: 7, fill: 'none', 'stroke-width': 2.5 }],
    ['path', { d: 'M12 5a7 7 0 0 1 0 14z', fill: 'currentColor' }],
  ],
  check: [['path', { d: 'M4.5 12.5l5 5L19.5 7', fill: 'none', 'stroke-width': 3 }]],
  cross: [['path', { d: 'M6 6l12 12M18 6L6 18', fill: 'none', 'stroke-width': 3 }]],
  play: [['path', { d: 'M7 4.5v15l12.5-7.5z', fill: 'currentColor', stroke: 'none' }]],
  pause: [['path', { d: 'M6.5 4.5h4v15h-4zM13.5 4.5h4v15h-4z', fill: 'currentColor', stroke: 'none' }]],
  stop: [['path', { d: 'M5.5 5.5h13v13h-13z', fill: 'currentColor', stroke: 'none' }]],
  none: [['path', { d: 'M5 12h14', fill: 'none', 'stroke-width': 3 }]],
  flag: [['path', { d: 'M6 21V4h11l-2.5 4.5L17 13H6', fill: 'none', 'stroke-width': 2.5 }]],
  hourglass: [
    ['path', { d: 'M6 3h12M6 21h12M7.5 3c0 5 9 6 9 9s-9 4-9 9M16.5 3c0 5-9 6-9 9s9 4 9 9', fill: 'none', 'stroke-width': 2.2 }],
  ],
  refresh: [
    ['path', { d: 'M20 12a8 8 0 1 1-2.3-5.6', fill: 'none', 'stroke-width': 2.5 }],
    ['path', { d: 'M20 3.5v5h-5', fill: 'none', 'stroke-width': 2.5 }],
  ],
  warning: [
    ['path', { d: 'M12 3.5L2.5 20h19z', fill: 'none', 'stroke-width': 2.2 }],
    ['path', { d: 'M12 10v4.5M12 17.2v.3', fill: 'none', 'stroke-width': 2.5 }],
  ],
  slash: [
    ['circle', { cx: 12, cy: 12, r: 8, fill: 'none', 'stroke-width': 2.5 }],
    ['path', { d: 'M6.5 6.5l11 11', fill: 'none', 'stroke-width': 2.5 }],
  ],
  eye: [
    ['path', { d: 'M2.5 12s3.5-6.5 9.5-6.5 9.5 6.5 9.5 6.5-3.5 6.5-9.5 6.5S2.5 12 2.5 12z', fill: 'none', 'stroke-width': 2.2 }],
    ['circle', { cx: 12, cy: 12, r: 2.8, fill: 'currentColor', stroke: 'none' }],
  ],
  trash: [
    ['path', { d: 'M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3', fill: 'none', 'stroke-width': 2.2 }],
  ],
  replay: [
    ['path', { d: 'M4.5 12a7.5 7.5 0 1 0 2.2-5.3', fill: 'none', 'stroke-width': 2.4 }],
    ['path', { d: 'M4.5 3.5v4.2h4.2', fill: 'none', 'stroke-width': 2.4 }],
    ['path', { d: 'M10.5 8.8v6.4l5-3.2z', fill: 'currentColor', stroke: 'none' }],
  ],
  download: [['path', { d: 'M12 3.5v11M7 10l5 5 5-5M4.5 20h15', fill: 'none', 'stroke-width': 2.4 }]],
  timeline: [
    ['path', { d: 'M3.5 6.5h9M3.5 12h15M3.5 17.5h6', fill: 'none', 'stroke-width': 2.6 }],
    ['path', { d: 'M20.5 4v16', fill: 'none', 'stroke-width': 1.8 }],
  ],
  globe: [
    ['circle', { cx: 12, cy: 12, r: 8.5, fill: 'none', 'stroke-width': 2 }],
    ['path', { d: 'M3.5 12h17M12 3.5c-4.5 4.7-4.5 12.3 0 17M12 3.5c4.5 4.7 4.5 12.3 0 17', fill: 'none', 'stroke-width': 1.8 }],
  ],
};

function icon(name) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', 'icon');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('stroke', 'currentColor');
  svg.setAttribute('stroke-linecap', 'round');
  svg.setAttribute('stroke-linejoin', 'round');
  for (const [tag, attrs] of ICONS[name] ?? ICONS.dot) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    svg.append(el);
  }
  svg.dataset.name = name;
  return svg;
}

/** Puts icon `name` in `holder` (replacing the one there) unless it is already shown. */
function setIcon(holder, name) {
  const current = holder.querySelector('svg.icon');
  if (current?.dataset.name === name) return;
  if (current) current.replaceWith(icon(name));
  else holder.prepend(icon(name));
}

// -------------------------------------------------------------------------------------------------
// Small DOM helpers
// -------------------------------------------------------------------------------------------------

/** Buttons are never `disabled` (that would drop keyboard focus when a push disables the focused
 *  one); they are aria-disabled and ignore activation instead. */
function setEnabled(button, enabled) {
  setAttr(button, 'aria-disabled', enabled ? 'false' : 'true');
}

function isEnabled(button) {
  return button.getAttribute('aria-disabled') !== 'true' && button.getAttribute('aria-busy') !== 'true';
}

// -------------------------------------------------------------------------------------------------
// Formatting
// -------------------------------------------------------------------------------------------------

function fmtCount(n) {
  return n == null ? '—' : fmtNumber(n);
}

function fmtMessages(n) {
  return t('units.messages', { count: n });
}

/** A decimal with one digit after the point (2.5; 2,5 in French). */
function fmtDecimal(v) {
  return fmtNumber(v, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
}

// Bytes, kilobytes… by powers of 1000; each unit's words in the language files.
const BYTE_UNITS = ['units.kb', 'units.mb', 'units.gb', 'units.tb'];

function fmtBytes(n) {
  if (n == null) return '—';
  if (n < 1000) return t('units.bytes', { n });
  let v = n;
  let i = -1;
  do {
    v /= 1000;
    i += 1;
  } while (v >= 1000 && i < BYTE_UNITS.length - 1);
  return t(BYTE_UNITS[i], { n: v < 10 ? fmtDecimal(v) : Math.round(v) });
}

function fmtDuration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return t('duration.seconds', { s });
  const m = Math.floor(s / 60);
  if (m < 60) return t('duration.minutes', { m });
  const h = Math.floor(m / 60);
  return t('duration.hours', { h, m: m % 60 });
}

function fmtAgo(ms) {
  if (ms == null) return '—';
  if (ms < 1500) return t('time.just_now');
  return t('time.ago', { duration: fmtDuration(ms) });
}

function parseTime(rfc3339) {
  if (!rfc3339) return null;
  const d = new Date(rfc3339);
  return Number.isNaN(d.getTime()) ? null : d;
}

function fmtClock(rfc3339) {
  const d = parseTime(rfc3339);
  if (!d) return '—';
  const time = fmtTime(d);
  const today = new Date();
  if (d.toDateString() === today.toDateString()) return time;
  return t('time.day_and_time', { day: fmtDay(d), time });
}

function capitalise(s) {
  return s ? s.charAt(0).toLocaleUpperCase(lang()) + s.slice(1) : s;
}

function lower(s) {
  return String(s).toLocaleLowerCase(lang());
}

/** The relay's own English words (a reason it gives) as a sentence: capital first letter, final full
 *  stop. */
function sentence(text) {
  const s = capitalise(String(text).trim());
  return /[.!?…]$/.test(s) ? s : `${s}.`;
}

// -------------------------------------------------------------------------------------------------
// API
// -------------------------------------------------------------------------------------------------

class ApiError extends Error {
  /** `code`: the relay's stable name of the error (README, "Admin API"), or the page's own
   *  (`unreachable`, `http_status`); `params`: the values for its sentence; `message`: the relay's
   *  English words, shown for a code the page does not know. */
  constructor(status, message, code = null, params = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.params = params ?? {};
  }
}

// The words of GAMA's experiment states inside a sentence ("Nothing to pause: the experiment is
// running."), and of the operations the relay may be busy with.
const STATE_IN_SENTENCE = {
  NONE: 'errors.state.none',
  NOTREADY: 'errors.state.notready',
  PAUSED: 'errors.state.paused',
  RUNNING: 'errors.state.running',
  FINISHED: 'errors.state.finished',
};
const OPERATIONS = {
  launching: 'operation.launching',
  pausing: 'operation.pausing',
  resuming: 'operation.resuming',
  stopping: 'operation.stopping',
};

function stateInSentence(state) {
  return STATE_IN_SENTENCE[state] ? t(STATE_IN_SENTENCE[state]) : String(state ?? '');
}

function operationWord(operation) {
  return OPERATIONS[operation] ? t(OPERATIONS[operation]) : capitalise(String(operation ?? ''));
}

/** Each error code of the relay (README, "Admin API") → its sentence in the page's language, from
 *  its params. The values the relay passes through (GAMA's message, a reason, a player id, a command
 *  name) stay as they are. */
const API_ERRORS = {
  busy: (p) => (OPERATIONS[p.operation] ? t('errors.busy', { operation: lower(operationWord(p.operation)) }) : t('errors.busy_other')),
  experiment_open: (p) => t('errors.experiment_open', { state: stateInSentence(p.state) }),
  no_model: () => t('errors.no_model'),
  below_minimum: (p) => t('errors.below_minimum', { model: p.model, count: p.min, min: p.min, connected: p.connected }),
  nothing_to_pause: (p) => t('errors.nothing_to_pause', { state: stateInSentence(p.state) }),
  nothing_to_resume: (p) => t('errors.nothing_to_resume', { state: stateInSentence(p.state) }),
  no_live_experiment: (p) => (p.state ? t('errors.no_live_experiment_state', { state: stateInSentence(p.state) }) : t('errors.no_live_experiment')),
  unknown_model: (p) => t('errors.unknown_model', { index: String(p.index ?? '') }),
  unknown_player: (p) => t('errors.unknown_player', { player: p.player }),
  gama_not_connected: (p) =>
    p.reason || p.reason_code
      ? t('errors.gama_not_connected_reason', { reason: gamaWhy(p.reason_code, p.reason_params, p.reason) })
      : t('errors.gama_not_connected'),
  gama_lost: (p) => t('errors.gama_lost', { command: p.command }),
  gama_busy: (p) => t('errors.gama_busy', { count: p.count }),
  gama_timeout: (p) => t('errors.gama_timeout', { command: p.command, seconds: fmtNumber(Number(p.seconds), { maximumFractionDigits: 1 }) }),
  gama_refused: (p) => t('errors.gama_refused', { command: p.command, message: p.message }),
  bad_body: () => t('errors.bad_body'),
  bad_index: () => t('errors.bad_index'),
  empty_expression: () => t('errors.empty_expression'),
  token_required: () => t('errors.token_required'),
  foreign_origin: () => t('errors.foreign_origin'),
  host_not_allowed: () => t('errors.host_not_allowed'),
  unknown_session: () => t('errors.unknown_session'),
  session_in_progress: () => t('errors.session_in_progress'),
  broken_session: () => t('errors.broken_session'),
  no_endpoint: () => t('errors.no_endpoint'),
  no_image: () => t('errors.no_image'),
  internal: () => t('errors.internal'),
  // What a tool's command got from GAMA (Recent changes): GAMA's own words.
  gama_said: (p) => sentence(p.message),
  exit_not_forwarded: () => t('errors.exit_not_forwarded'),
  // The page's own.
  unreachable: () => t('errors.unreachable'),
  http_status: (p) => t('errors.http_status', { status: String(p.status), text: p.text }),
};

// The params a sentence cannot do without: a relay that does not give them is shown in its own words.
const API_ERROR_PARAMS = {
  experiment_open: ['state'],
  below_minimum: ['model', 'min', 'connected'],
  nothing_to_pause: ['state'],
  nothing_to_resume: ['state'],
  unknown_model: ['index'],
  unknown_player: ['player'],
  gama_lost: ['command'],
  gama_busy: ['count'],
  gama_timeout: ['command', 'seconds'],
  gama_refused: ['command', 'message'],
  gama_said: ['message'],
};

/** Why GAMA is not connected (README: the codes of `state.gama.reason`) → its sentence in the
 *  page's language. */
const GAMA_WHY = {
  connection_refused: (p) => t('gama.why.connection_refused', { port: String(p.port) }),
  timed_out: () => t('gama.why.timed_out'),
  reset: () => t('gama.why.reset'),
  unknown_host: (p) => t('gama.why.unknown_host', { host: p.host }),
  not_websocket: (p) => t('gama.why.not_websocket', { port: String(p.port), status: String(p.status) }),
  no_answer: (p) => t('gama.why.no_answer', { duration: fmtDuration(Number(p.ms)) }),
  stopped_reading: () => t('gama.why.stopped_reading'),
  write_failed: (p) => t('gama.why.write_failed', { message: p.message }),
  closed_by_gama: (p) => (p.message ? t('gama.why.closed_by_gama_why', { message: p.message }) : t('gama.why.closed_by_gama')),
  message_too_big: (p) => t('gama.why.message_too_big', { size: fmtBytes(Number(p.max)) }),
  connection_error: (p) => t('gama.why.connection_error', { message: p.message }),
  dropped: () => t('gama.why.dropped'),
  closed: () => t('gama.why.closed'),
  shutting_down: () => t('gama.why.shutting_down'),
  trying: (p) => t('gama.why.trying', { address: p.address }),
};

const GAMA_WHY_PARAMS = {
  connection_refused: ['port'],
  unknown_host: ['host'],
  not_websocket: ['port', 'status'],
  no_answer: ['ms'],
  write_failed: ['message'],
  message_too_big: ['max'],
  connection_error: ['message'],
  trying: ['address'],
};

/** A message of the relay with a code (README, "Admin API") in the page's language, from `words`
 *  (code → sentence) when the code is known and its params are there, else the relay's own words. */
function saidText(words, required, code, params, text) {
  const p = params ?? {};
  const sentenceFor = code ? words[code] : null;
  if (sentenceFor && (required[code] ?? []).every((name) => p[name] != null)) return sentenceFor(p);
  return text ? sentence(text) : '';
}

function gamaWhy(code, params, text) {
  return saidText(GAMA_WHY, GAMA_WHY_PARAMS, code, params, text);
}

/** What is wrong in a learning package (GET /api/models `problems`), in the page's language. */
const PROBLEMS = {
  folder_missing: (p) => t('models.problem.folder_missing', { path: p.path }),
  cannot_list: (p) => t('models.problem.cannot_list', { path: p.path, message: p.message }),
  cannot_read: (p) => t('models.problem.cannot_read', { path: p.path, message: p.message }),
  invalid_json: (p) => t('models.problem.invalid_json', { path: p.path, message: p.message }),
  not_an_object: (p) => t('models.problem.not_an_object', { path: p.path }),
  catalog_without_entries: (p) => t('models.problem.catalog_without_entries', { path: p.path, name: p.name }),
  model_incomplete: (p) => t('models.problem.model_incomplete', { path: p.path, name: p.name }),
  not_a_whole_number: (p) => t('models.problem.not_a_whole_number', { path: p.path, key: p.key, value: p.value }),
  bad_parameters: (p) => t('models.problem.bad_parameters', { path: p.path }),
};

const PROBLEM_PARAMS = {
  folder_missing: ['path'],
  cannot_list: ['path', 'message'],
  cannot_read: ['path', 'message'],
  invalid_json: ['path', 'message'],
  not_an_object: ['path'],
  catalog_without_entries: ['path', 'name'],
  model_incomplete: ['path', 'name'],
  not_a_whole_number: ['path', 'key', 'value'],
  bad_parameters: ['path'],
};

/** What went wrong, in the page's language: the sentence for the relay's code, or else the relay's
 *  own (English) words. */
function errorText(e) {
  const params = e?.params ?? {};
  const sentenceFor = e?.code ? API_ERRORS[e.code] : null;
  const complete = (API_ERROR_PARAMS[e?.code] ?? []).every((name) => params[name] != null);
  if (sentenceFor && (complete || !e.message)) return sentenceFor(params);
  return sentence(e?.message ?? String(e));
}

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const auth = authorization();
  if (auth) headers.Authorization = auth;
  const init = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'the relay cannot be reached', 'unreachable');
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  const params = data?.params !== null && typeof data?.params === 'object' ? data.params : {};
  if (response.status === 401) {
    askForToken(currentToken() ? 'refused' : 'missing');
    throw new ApiError(401, data?.error ?? 'this admin API needs its access token', 'token_required', params);
  }
  if (!response.ok) {
    if (typeof data?.error !== 'string') {
      throw new ApiError(response.status, `the relay answered ${response.status} ${response.statusText}`, 'http_status', {
        status: response.status,
        text: response.statusText,
      });
    }
    throw new ApiError(response.status, data.error, typeof data?.code === 'string' ? data.code : null, params);
  }
  return data;
}

// -------------------------------------------------------------------------------------------------
// Messages (one visible aria-live region for errors and confirmations)
// -------------------------------------------------------------------------------------------------

const notice = $('notice');
const message = $('message');
const messageClose = $('message-close');
let messageTimer = null;
let messageSource = null;
let messageText = null; // () => the message in the page's language

/** Shows `text` (a function giving it in the page's language, so that it follows a change of
 *  language; or a string) as an error or an info. */
function showMessage(kind, text, source = 'action') {
  clearTimeout(messageTimer);
  messageText = typeof text === 'function' ? text : () => text;
  const value = messageText();
  notice.dataset.kind = value ? kind : 'none';
  setText(message, value);
  show(messageClose, Boolean(value));
  messageSource = value ? source : null;
  if (value && kind === 'info') messageTimer = setTimeout(() => clearMessage(), INFO_MESSAGE_MS);
}

function clearMessage(source) {
  if (source && messageSource !== source) return;
  const hadFocus = notice.contains(document.activeElement);
  showMessage('none', '');
  if (hadFocus) $('launch').focus();
}

messageClose.addEventListener('click', () => clearMessage());

// -------------------------------------------------------------------------------------------------
// Confirmation dialog
// -------------------------------------------------------------------------------------------------

const dialog = $('confirm');

// The open question: {title, text, ok}, each a function giving it in the page's language.
let question = null;

function renderQuestion() {
  if (!question) return;
  setText($('confirm-title'), question.title());
  setText($('confirm-text'), question.text());
  setText($('confirm-ok'), question.ok());
}

const asFunction = (v) => (typeof v === 'function' ? v : () => v);

/** Asks a question in a modal dialog; resolves to true when confirmed. `title`, `text` and `ok` are
 *  functions giving the words in the page's language (or strings). */
function confirmAction({ title, text, ok, danger = true }) {
  return new Promise((resolve) => {
    const okButton = $('confirm-ok');
    const cancelButton = $('confirm-cancel');
    const previous = document.activeElement;
    question = { title: asFunction(title), text: asFunction(text), ok: asFunction(ok) };
    renderQuestion();
    okButton.className = danger ? 'danger' : 'primary';
    const finish = (answer) => {
      question = null;
      okButton.onclick = null;
      cancelButton.onclick = null;
      dialog.oncancel = null;
      if (dialog.open) dialog.close();
      if (previous instanceof HTMLElement && previous.isConnected) previous.focus();
      resolve(answer);
    };
    okButton.onclick = () => finish(true);
    cancelButton.onclick = () => finish(false);
    dialog.oncancel = (event) => {
      event.preventDefault();
      finish(false);
    };
    dialog.showModal();
    // Destructive questions start on "Cancel": Enter does no harm.
    (danger ? cancelButton : okButton).focus();
  });
}

// -------------------------------------------------------------------------------------------------
// Live connection to the relay
// -------------------------------------------------------------------------------------------------

// The page's link to the relay (live.js), and whether it waits for a token.
const live = {
  link: 'connecting',
  get up() {
    return this.link === 'live';
  },
  waitingForToken: false,
  why: null, // why the token form shows: missing, refused, invalid
};

// The page's link to the relay, in words.
const LINK = {
  connecting: 'link.connecting',
  live: 'link.live',
  down: 'link.down',
  locked: 'link.locked',
};

function setLink(state) {
  const link = $('relay-link');
  link.dataset.state = state;
  live.link = state;
  $('main').dataset.live = String(live.up);
  renderLink();
  setIcon(link.querySelector('.link-icon'), { live: 'dot', down: 'cross', locked: 'warning' }[state] ?? 'ring');
  if (lastState) updateControls(lastState);
}

function renderLink() {
  const state = live.link;
  const text = t(LINK[state]);
  setText($('relay-link-text'), text);
  // Whatever is shown is the last state received: say so while the relay is away.
  const stale = $('stale');
  show(stale, state === 'down' && lastUpdate !== null);
  if (state === 'down' && lastUpdate !== null) setText(stale, t('link.stale', { time: fmtTime(lastUpdate) }));
  if (state === 'down' || state === 'locked') document.title = t('title.page_status', { status: text });
}

const relay = new LiveLink({
  fetchState: () => api('GET', '/api/state'),
  onFetchError: (e) => {
    if (e.status === 401) return false; // askForToken took over
    if (e.status) showMessage('error', () => t('link.refused', { reason: errorText(e) }), 'link');
    return true;
  },
  onState: (state, pushed) => {
    // A relay that restarted counts its catalog versions from scratch: read the catalog again.
    if (!pushed) catalogVersion = null;
    render(state);
  },
  onLink: (state) => {
    if (state === 'live') clearMessage('link');
    setLink(state);
  },
});

// -------------------------------------------------------------------------------------------------
// Token form
// -------------------------------------------------------------------------------------------------

function askForToken(why) {
  if (live.waitingForToken) return;
  live.waitingForToken = true;
  relay.stop();
  worldView?.stop();
  setLink('locked');
  live.why = why;
  renderAuth();
  show($('auth'), true);
  show($('main'), false);
  show($('session'), false);
  const input = $('token-input');
  input.value = '';
  input.focus();
}

$('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = $('token-input');
  const value = input.value.trim();
  // Header values must be printable ASCII; anything else cannot be the relay's token.
  if (!value || !/^[\x21-\x7e]+$/.test(value)) {
    live.why = 'invalid';
    renderAuth();
    input.focus();
    return;
  }
  useToken(value);
});

// Why the page asks for the token; {code} is the end of the address the relay prints.
const AUTH_WHY = {
  missing: ['auth.why_missing', '#token=…'],
  refused: ['auth.why_refused', '#token=…'],
  invalid: ['auth.why_invalid', '#token='],
};

function renderAuth() {
  const [key, code] = AUTH_WHY[live.why] ?? AUTH_WHY.missing;
  tInto($('auth-why'), key, null, { code: el('code', { text: code }) });
}

/** Starts over with a new token (typed in the form, or a #token=… link opened in this tab). */
function useToken(value) {
  setToken(value);
  live.waitingForToken = false;
  show($('auth'), false);
  show($('main'), true);
  catalogVersion = null;
  relay.start();
}

window.addEventListener('hashchange', () => {
  const fresh = takeTokenFromUrl();
  if (fresh) useToken(fresh);
});

// -------------------------------------------------------------------------------------------------
// Rendering the state
// -------------------------------------------------------------------------------------------------

let lastState = null;
let lastUpdate = null;

// What the pushes cost this page: window.adminPage.stats(), for the browser tests and the curious.
const renderStats = { pushes: 0, ms: 0, maxMs: 0 };

// Each state: the key of its word (in the language files) and its icon's shape.
const GAMA_CONNECTION = {
  connecting: ['gama.connection.connecting', 'ring'],
  connected: ['gama.connection.connected', 'check'],
  retrying: ['gama.connection.retrying', 'refresh'],
  unreachable: ['gama.connection.unreachable', 'cross'],
};

const EXPERIMENT = {
  NONE: ['experiment.state.none', 'none'],
  NOTREADY: ['experiment.state.notready', 'hourglass'],
  PAUSED: ['experiment.state.paused', 'pause'],
  RUNNING: ['experiment.state.running', 'play'],
  FINISHED: ['experiment.state.finished', 'flag'],
};

const PLAYER_STATE = {
  connected: ['player.state.connected', 'ring'],
  joining: ['player.state.joining', 'half'],
  in_game: ['player.state.in_game', 'check'],
  waiting: ['player.state.waiting', 'hourglass'],
  no_answer: ['player.state.no_answer', 'hourglass'],
  refused: ['player.state.refused', 'cross'],
  disconnected: ['player.state.disconnected', 'slash'],
};

// Said under the state where the word alone could mislead.
const STATE_NOTE = {
  disconnected: 'player.note.disconnected',
  no_answer: 'player.note.no_answer',
  refused: 'player.note.refused',
};

// The state on a player's tile, short (the detail says it in full).
const TILE_WORD = {
  connected: 'tile.connected',
  joining: 'tile.joining',
  in_game: 'tile.in_game',
  waiting: 'tile.waiting',
  no_answer: 'tile.no_answer',
  refused: 'tile.refused',
  disconnected: 'tile.disconnected',
};

// What needs the teacher's attention, most urgent first: its word and shape on the tile.
const ATTENTION = {
  disconnected: { level: 'bad', word: 'tile.disconnected', shape: 'slash' },
  refused: { level: 'bad', word: 'tile.refused', shape: 'cross' },
  starving: { level: 'bad', word: 'tile.starving', shape: 'warning' },
  no_answer: { level: 'warn', word: 'tile.no_answer', shape: 'hourglass' },
  waiting: { level: 'warn', word: 'tile.waiting', shape: 'hourglass' },
  behind: { level: 'warn', word: 'tile.behind', shape: 'warning' },
  silent: { level: 'warn', word: 'tile.silent', shape: 'warning' },
  slow: { level: 'warn', word: 'tile.slow', shape: 'warning' },
};
const ATTENTION_RANK = Object.fromEntries(Object.keys(ATTENTION).map((kind, i) => [kind, i]));

const MODES = { desktop: 'gama.mode.desktop' };

/** A state's word in the page's language (a state the page does not know: as the relay says it).
 *  `table`: state → key, or state → [key, shape]. */
function word(table, state, raw = state) {
  const entry = table[state];
  if (!entry) return capitalise(lower(String(raw ?? '')));
  return t(Array.isArray(entry) ? entry[0] : entry);
}

function shape(table, state) {
  return table[state]?.[1] ?? 'dot';
}

const playerWord = (state) => word(PLAYER_STATE, state);
const experimentWord = (state) => word(EXPERIMENT, state);

/** The relay's clock when it made `state` (its `relay_ms`): rates measured on it do not depend on
 *  when this page got round to a push. The page's clock for a relay that does not say. */
function relayClock(state) {
  return typeof state.relay_ms === 'number' ? state.relay_ms : performance.now();
}

function render(state) {
  const started = performance.now();
  lastState = state;
  lastUpdate = new Date();
  const now = relayClock(state);
  show($('session'), !live.waitingForToken);
  sampleTraffic(state, now);
  sampleClock(state.clock, now);
  renderGama(state.gama);
  renderExperiment(state);
  const pace = renderClock(state, started);
  renderCounts(state);
  renderPlayers(state.players ?? [], pace.flowing, now);
  renderConnectHelp(state);
  updateControls(state);
  worldView?.update(state);
  sessionsPanel?.update(state);
  auditCard?.update(state);
  screensCard?.update(state);
  if (state.catalog_version !== catalogVersion) loadModels(state.catalog_version);
  // The tab title tells the state too, for a teacher with many tabs open.
  const gama =
    state.gama.connection === 'connected'
      ? experimentWord(state.gama.experiment_state)
      : t('title.gama', { connection: lower(word(GAMA_CONNECTION, state.gama.connection)) });
  const title = t(pace.state === 'stalled' ? 'title.page_stalled' : 'title.page', { state: gama, count: state.counts.in_game });
  if (document.title !== title) document.title = title;
  const spent = performance.now() - started;
  renderStats.pushes += 1;
  renderStats.ms += spent;
  renderStats.maxMs = Math.max(renderStats.maxMs, spent);
}

// -------------------------------------------------------------------------------------------------
// Simulation clock: GAMA's outputs per second, and whether they stopped
// -------------------------------------------------------------------------------------------------

const CLOCK = {
  none: 'none',
  paused: 'pause',
  idle: 'ring',
  waiting: 'hourglass',
  flowing: 'check',
  stalled: 'warning',
  unexpected: 'warning',
};

// Output that goes on arriving while the experiment does not run (GAMA's own window, a model that
// sends from its init): said as such rather than "no output expected".
const OUTPUT_WHILE = {
  PAUSED: 'clock.output_while_paused',
  NOTREADY: 'clock.output_while_loading',
  NONE: 'clock.output_while_none',
  FINISHED: 'clock.output_while_finished',
};

// Since when (page time) the experiment runs with players in game: GAMA then sends every step.
let expectingSince = null;
// The experiment state last seen, and GAMA's output count when the page first saw it.
let stateSeen = { exp: null, outputs: 0 };

/** A rate in words: whole numbers from 10 up, so a steady pace does not flicker. */
function fmtPace(rate) {
  return rate < 10 ? fmtDecimal(rate) : fmtNumber(Math.round(rate));
}

function fmtSince(ms) {
  if (ms == null) return t('time.none_yet');
  if (ms < 1000) return t('time.ms_ago', { ms: Math.round(ms) });
  if (ms < 60000) return t('time.seconds_ago', { s: fmtDecimal(ms / 1000) });
  return t('time.ago', { duration: fmtDuration(ms) });
}

// GAMA's outputs at each push, on the relay's clock: its rate is measured like the players' (so the
// two agree), the relay's own figure until there are two samples.
const clockSamples = [];

function sampleClock(c, now) {
  const last = clockSamples[clockSamples.length - 1];
  if (!c || (last && (c.outputs < last.m || now < last.t))) clockSamples.length = 0;
  if (!c || (last && last.t === now)) return;
  clockSamples.push({ t: now, m: c.outputs });
  while (clockSamples.length > 2 && clockSamples[1].t < now - SAMPLES_KEEP_MS) clockSamples.shift();
}

function renderClock(state, now) {
  const c = state.clock;
  const exp = state.gama.experiment_state;
  const ago = c?.last_output_ms_ago ?? null;
  const rate = updateRate(clockSamples) ?? c?.outputs_per_second ?? 0;
  const outputs = c?.outputs ?? 0;
  const recent = ago != null && ago <= STALLED_MS;
  const expecting = exp === 'RUNNING' && state.gama.connection === 'connected' && state.counts.in_game > 0;
  if (!expecting) expectingSince = null;
  else if (expectingSince == null) expectingSince = now;
  // A few outputs may still be on their way when the state changes: two more say it goes on.
  if (exp !== stateSeen.exp || outputs < stateSeen.outputs) stateSeen = { exp, outputs };
  const sinceState = outputs - stateSeen.outputs;
  let kind;
  let text;
  if (exp === 'RUNNING' && recent) {
    kind = 'flowing';
    text = t('clock.flowing', { rate: fmtPace(rate) });
  } else if (exp === 'RUNNING' && !expecting) {
    kind = 'idle';
    text = t('clock.idle');
  } else if (exp === 'RUNNING' && now - expectingSince > STALLED_MS) {
    // A resumed simulation is not stalled because its last output is old: it had its chance only
    // since it runs with players.
    kind = 'stalled';
    text = t('clock.stalled', { duration: fmtDuration(ago ?? now - expectingSince) });
  } else if (exp === 'RUNNING') {
    kind = 'waiting';
    text = t('clock.waiting');
  } else if (recent && sinceState >= 2) {
    kind = 'unexpected';
    const what = OUTPUT_WHILE[exp] ? t(OUTPUT_WHILE[exp]) : t('clock.output_while_other', { state: capitalise(lower(exp)) });
    text = t('clock.unexpected', { what, rate: fmtPace(rate) });
  } else if (exp === 'PAUSED') {
    kind = 'paused';
    text = t('clock.paused');
  } else {
    kind = 'none';
    text = t('clock.none');
  }
  const status = $('clock-status');
  setAttr(status, 'data-state', kind);
  setAttr($('clock'), 'data-state', kind);
  setText($('clock-status-text'), text);
  setIcon(status.querySelector('.status-icon'), CLOCK[kind]);
  const rateEl = $('clock-rate');
  setText(rateEl, c ? fmtDecimal(rate) : '—');
  setAttr(rateEl, 'data-value', c ? String(rate) : null);
  setText($('clock-last'), c ? fmtSince(ago) : '—');
  setText($('clock-outputs'), c ? fmtCount(c.outputs) : '—');
  return { state: kind, flowing: kind === 'flowing' };
}

// Per player: (relay time, GAMA payloads relayed to it, GAMA's outputs so far) at each push, for its
// update rate and to tell a starving headset.
const samples = new Map();
let lastSampleAt = null;

function sampleTraffic(state, now) {
  // The relay restarted (its clock starts again): every connection is new.
  if (lastSampleAt != null && now < lastSampleAt) samples.clear();
  lastSampleAt = now;
  const listed = new Set();
  for (const p of state.players ?? []) {
    listed.add(p.id);
    const tr = p.traffic;
    if (!tr || p.state === 'disconnected') {
      samples.delete(p.id);
      continue;
    }
    let list = samples.get(p.id);
    // A new connection counts from zero.
    if (!list || (list.length && tr.outputs < list[list.length - 1].m)) {
      list = [];
      samples.set(p.id, list);
    }
    if (list.length && list[list.length - 1].t === now) continue; // the same document again
    list.push({ t: now, m: tr.outputs, outputs: state.clock?.outputs ?? 0 });
    while (list.length > 2 && list[1].t < now - SAMPLES_KEEP_MS) list.shift();
  }
  for (const id of samples.keys()) if (!listed.has(id)) samples.delete(id);
}

/** GAMA payloads relayed to the player per second, over the last RATE_WINDOW_MS or so of the
 *  relay's clock; null until two samples are RATE_MIN_SPAN_MS apart. */
function updateRate(list) {
  if (!list || list.length < 2) return null;
  const last = list[list.length - 1];
  let base = list[0];
  for (let i = list.length - 2; i >= 0; i -= 1) {
    if (last.t - list[i].t >= RATE_WINDOW_MS) {
      base = list[i];
      break;
    }
  }
  const dt = last.t - base.t;
  return dt < RATE_MIN_SPAN_MS ? null : ((last.m - base.m) * 1000) / dt;
}

/** How long an in-game player has got none of GAMA's output while that output flowed (null if it
 *  is fed). The relay counts the payloads it queues for each headset, so keep-alive pings and state
 *  messages never pass for food. */
function starvingFor(p, list, flowing) {
  if (!p.in_game || !flowing || !list || list.length < 2) return null;
  const last = list[list.length - 1];
  let longest = null;
  for (let i = list.length - 2; i >= 0; i -= 1) {
    const s = list[i];
    if (last.m !== s.m) break;
    const w = last.t - s.t;
    if (w > STARVING_MS && last.outputs - s.outputs >= 2) longest = w;
  }
  if (longest == null) return null;
  // Since its last payload, when it had one on this connection: the page may have opened later.
  const ago = p.traffic?.last_output_ms_ago;
  return ago != null && ago > longest ? ago : longest;
}

function renderGama(g) {
  const conn = $('gama-connection');
  setAttr(conn, 'data-state', g.connection);
  setText($('gama-connection-text'), word(GAMA_CONNECTION, g.connection));
  setIcon(conn.querySelector('.status-icon'), shape(GAMA_CONNECTION, g.connection));
  // Why, from the relay's code (README: GAMA is unreachable); its own words for a code not known here.
  const reason = g.connection === 'connected' ? '' : gamaWhy(g.reason_code, g.reason_params, g.reason);
  const why = g.connection === 'unreachable' ? t('gama.reason_retrying', { reason }) : reason;
  setText($('gama-reason'), reason ? why : '');
  show($('gama-reason'), Boolean(reason));
  // Desktop GAMA runs an experiment a tool loaded in place of the session's: say which, and who.
  const held = g.tool_experiment;
  const heldArgs = held ? { address: held.address, model: held.model, experiment: held.experiment } : null;
  let heldWords = '';
  if (held) heldWords = held.connected ? t('gama.tool_experiment', heldArgs) : t('gama.tool_experiment_left', heldArgs);
  setText($('gama-tool'), heldWords);
  show($('gama-tool'), Boolean(held));
  setText($('gama-address'), g.address);
  setText($('gama-mode'), g.mode ? (MODES[g.mode] ? t(MODES[g.mode]) : g.mode) : t('gama.mode_unknown'));
  setText($('gama-inflight'), fmtCount(g.commands_in_flight));
  show($('gama-inflight-row'), g.commands_in_flight > 0);
  const err = g.last_error;
  show($('gama-error'), Boolean(err));
  if (err) {
    setText($('gama-error-at'), t('gama.error_at', { time: fmtClock(err.at) }));
    setText($('gama-error-text'), err.message);
  }
}

function renderExperiment(state) {
  const g = state.gama;
  const exp = $('experiment-state');
  setAttr(exp, 'data-state', g.experiment_state);
  setText($('experiment-state-text'), experimentWord(g.experiment_state));
  setIcon(exp.querySelector('.status-icon'), shape(EXPERIMENT, g.experiment_state));
  show($('operation'), Boolean(g.operation));
  setText($('operation-text'), g.operation ? t('operation.in_progress', { operation: operationWord(g.operation) }) : '');
  setText($('model-name'), state.model ? t('experiment.model_value', { model: state.model.name, experiment: state.model.experiment_name }) : t('experiment.no_model'));
  setText($('experiment-name'), g.experiment_name ?? '—');
  setText($('experiment-id'), g.experiment_state !== 'NONE' && g.experiment_id != null ? g.experiment_id : '—');
}

/** The model's limits of players, as a sentence (`card`: the short words of its catalog card). */
function limitsText(model, card = false) {
  if (!model) return t('limits.no_model');
  const max = model.max_players;
  const min = model.min_players > 0 ? model.min_players : null;
  if (min != null && max != null) {
    if (min === max) return t(card ? 'catalog.limits_exactly' : 'limits.exactly', { count: max });
    return t(card ? 'catalog.limits_range' : 'limits.range', { min, max });
  }
  if (min != null) return t(card ? 'catalog.limits_at_least' : 'limits.at_least', { count: min });
  if (max != null) return t(card ? 'catalog.limits_up_to' : 'limits.up_to', { count: max });
  return t(card ? 'catalog.limits_none' : 'limits.none');
}

function minimumShort(state) {
  const min = state.model?.min_players;
  return min > 0 && state.counts.connected < min ? min : null;
}

function renderCounts(state) {
  const c = state.counts;
  setText($('count-in-game'), fmtCount(c.in_game));
  const max = state.model?.max_players;
  setText($('count-max'), max != null ? `/ ${fmtCount(max)}` : '');
  setText($('count-connected'), fmtCount(c.connected));
  setText($('count-waiting'), fmtCount(c.waiting));
  setText($('count-disconnected'), fmtCount(c.disconnected));
  const limits = $('limits');
  const short = minimumShort(state);
  setText(limits, short != null ? t('limits.short', { limits: limitsText(state.model), connected: c.connected, min: short }) : limitsText(state.model));
  setAttr(limits, 'data-short', String(short != null));
}

// -------------------------------------------------------------------------------------------------
// Players: one tile each, those that need attention first; the detail of one in a dialog
// -------------------------------------------------------------------------------------------------

// Tiles are kept by id and updated in place: each remembers what it shows and only what changed is
// written; a tile moves only when its place in the order changes, keeping its keyboard focus.
const tiles = new Map();
const grid = $('players-grid');
let tileOrder = '';
let filterText = '';
let rover = null; // the id of the tile Tab lands on (arrow keys move between tiles)

function fmtRate(rate) {
  return rate == null ? '—' : t('units.per_second', { rate: fmtPace(rate) });
}

function fmtMs(ms) {
  return t('units.ms', { ms });
}

function makeTile(id) {
  const li = el('li', { class: 'tile-item', dataset: { player: id } });
  const button = el('button', { type: 'button', class: 'tile', 'aria-haspopup': 'dialog', tabindex: '-1', title: id });
  const shape = el('span', { class: 'tile-icon' });
  const word = el('span', { class: 'tile-word' });
  const labelA = el('span', { class: 'visually-hidden' });
  const a = el('span', { class: 'rtt' });
  const labelB = el('span', { class: 'visually-hidden' });
  const b = el('span', { class: 'rate' });
  button.append(
    el('span', { class: 'pid', text: id }),
    el('span', { class: 'tile-state' }, el('span', { class: 'visually-hidden', text: ': ' }), shape, word),
    el('span', { class: 'tile-nums' }, labelA, a, labelB, b),
  );
  li.append(button);
  return { id, lower: id.toLowerCase(), li, button, shape, word, labelA, a, labelB, b, shown: {}, hold: null, rank: 0 };
}

/** Writes `value` with `apply` unless the tile already shows it. */
function put(tile, key, value, apply) {
  if (tile.shown[key] === value) return;
  tile.shown[key] = value;
  apply(value);
}

/** What needs attention now (null: nothing), and what ranks the tile (a problem seen in the numbers
 *  keeps its place a while after it clears). */
function attentionOf(p, starving, tile, now) {
  if (ATTENTION[p.state]) {
    tile.hold = null;
    return { kind: p.state, rankKind: p.state };
  }
  const tr = p.traffic;
  let kind = null;
  if (tr) {
    if (starving != null) kind = 'starving';
    else if (tr.queue_messages >= QUEUE_BEHIND_MESSAGES) kind = 'behind';
    else if (p.heartbeat_ms > 0 && tr.last_seen_ms_ago > 1.5 * p.heartbeat_ms) kind = 'silent';
    else if (tr.rtt_ms != null && tr.rtt_ms >= SLOW_PING_MS) kind = 'slow';
  }
  if (kind) tile.hold = { kind, until: now + ATTENTION_HOLD_MS };
  else if (tile.hold && !(now < tile.hold.until)) tile.hold = null;
  return { kind, rankKind: kind ?? tile.hold?.kind ?? null };
}

function updateTile(tile, p, d) {
  const att = d.kind ? ATTENTION[d.kind] : null;
  const level = att ? att.level : { in_game: 'ok', joining: 'info' }[p.state] ?? 'neutral';
  const tileWord = att ? t(att.word) : word(TILE_WORD, p.state);
  put(tile, 'state', p.state, (v) => (tile.li.dataset.state = v));
  put(tile, 'attention', d.kind ?? '', (v) => (tile.li.dataset.attention = v));
  put(tile, 'level', level, (v) => (tile.li.dataset.level = v));
  put(tile, 'shape', att ? att.shape : PLAYER_STATE[p.state]?.[1] ?? 'dot', (v) => setIcon(tile.shape, v));
  put(tile, 'word', tileWord, (v) => (tile.word.textContent = v));
  const tr = p.traffic;
  const gone = p.state === 'disconnected' || !tr;
  put(tile, 'starving', gone ? '' : String(d.starving != null), (v) => setAttr(tile.li, 'data-starving', v || null));
  if (gone) {
    const since = p.disconnected_since ? parseTime(p.disconnected_since) : null;
    put(tile, 'labelA', '', (v) => (tile.labelA.textContent = v));
    put(tile, 'a', since ? t('tile.left', { ago: fmtAgo(Date.now() - since.getTime()) }) : '—', (v) => (tile.a.textContent = v));
    put(tile, 'labelB', '', (v) => (tile.labelB.textContent = v));
    put(tile, 'b', '', (v) => (tile.b.textContent = v));
    put(tile, 'rate', '', () => setAttr(tile.b, 'data-rate', null));
  } else {
    // Said by screen readers only: what the two numbers are.
    put(tile, 'labelA', `, ${t('tile.ping_label')} `, (v) => (tile.labelA.textContent = v));
    put(tile, 'a', tr.rtt_ms == null ? '—' : fmtMs(tr.rtt_ms), (v) => (tile.a.textContent = v));
    put(tile, 'labelB', `, ${t('tile.rate_label')} `, (v) => (tile.labelB.textContent = v));
    // Not in the game and fed nothing: no rate worth showing.
    const rate = p.in_game || (d.rate ?? 0) > 0 ? d.rate : null;
    put(tile, 'b', fmtRate(rate), (v) => (tile.b.textContent = v));
    put(tile, 'rate', rate == null ? '' : rate.toFixed(2), (v) => setAttr(tile.b, 'data-rate', v || null));
  }
  const full = playerWord(p.state);
  const title = att && d.kind !== p.state ? t('tile.title_attention', { player: p.id, state: full, attention: lower(t(att.word)) }) : t('tile.title', { player: p.id, state: full });
  put(tile, 'title', title, (v) => setAttr(tile.button, 'title', v));
}

/** Puts `node` before `ref` in the grid: moveBefore keeps the focus where the browser has it;
 *  elsewhere the caller gives it back. */
function place(node, ref) {
  if (node.isConnected && typeof grid.moveBefore === 'function') {
    try {
      grid.moveBefore(node, ref);
      return;
    } catch {
      // fall back below
    }
  }
  grid.insertBefore(node, ref);
}

function matchesFilter(tile) {
  return !filterText || tile.lower.includes(filterText);
}

function renderPlayers(players, flowing, now) {
  const seen = new Set();
  for (const p of players) seen.add(p.id);
  for (const [id, tile] of tiles) {
    if (seen.has(id)) continue;
    const hadFocus = tile.li.contains(document.activeElement);
    tile.li.remove();
    tiles.delete(id);
    if (rover === id) rover = null;
    if (hadFocus) $('players-title').focus();
  }
  let attention = 0;
  const ranked = players.map((p, i) => {
    let tile = tiles.get(p.id);
    if (!tile) {
      tile = makeTile(p.id);
      tile.li.hidden = !matchesFilter(tile);
      tiles.set(p.id, tile);
    }
    const list = samples.get(p.id);
    const d = { rate: updateRate(list), starving: starvingFor(p, list, flowing) };
    Object.assign(d, attentionOf(p, d.starving, tile, now));
    if (d.kind) attention += 1;
    tile.p = p;
    tile.d = d;
    updateTile(tile, p, d);
    tile.rank = (d.rankKind ? ATTENTION_RANK[d.rankKind] : p.state === 'joining' ? 100 : 200) * 10000 + i;
    return tile;
  });
  ranked.sort((a, b) => a.rank - b.rank);
  const order = ranked.map((x) => x.id).join('\n');
  if (order !== tileOrder) {
    tileOrder = order;
    const focused = grid.contains(document.activeElement) ? document.activeElement : null;
    let ref = grid.firstElementChild;
    for (const tile of ranked) {
      if (tile.li === ref) ref = ref.nextElementSibling;
      else place(tile.li, ref);
    }
    if (focused?.isConnected && document.activeElement !== focused) focused.focus({ preventScroll: true });
  }
  updateRover();
  show(grid, players.length > 0);
  show($('players-empty'), players.length === 0);
  setText($('players-total'), players.length ? `(${fmtCount(players.length)})` : '');
  renderAttention(players.length, attention);
  if (filterText) renderFilterStatus();
  if (detail.id != null) renderDetail();
}

function renderAttention(total, count) {
  const box = $('players-attention');
  show(box, total > 0);
  setAttr(box, 'data-count', String(count));
  setText($('players-attention-text'), count === 0 ? t('players.no_problem') : t('players.attention', { count }));
  setIcon(box.querySelector('.status-icon'), count === 0 ? 'check' : 'warning');
}

// ------------------------------------------------------------------------------- finding a player

function renderFilterStatus() {
  let shown = 0;
  for (const tile of tiles.values()) if (!tile.li.hidden) shown += 1;
  let text = '';
  if (filterText && tiles.size) {
    text = shown === 0 ? t('players.filter_none', { filter: filterText }) : t('players.filter_shown', { shown, count: tiles.size });
  }
  setText($('players-filter-status'), text);
  setAttr($('players-filter-status'), 'data-none', String(filterText !== '' && shown === 0));
}

$('players-filter').addEventListener('input', (event) => {
  filterText = event.target.value.trim().toLowerCase();
  for (const tile of tiles.values()) tile.li.hidden = !matchesFilter(tile);
  updateRover();
  renderFilterStatus();
});

// Enter in the box opens the only player it finds.
$('players-filter').addEventListener('keydown', (event) => {
  if (event.key !== 'Enter') return;
  const found = [...tiles.values()].filter((x) => !x.li.hidden);
  if (found.length === 1) {
    event.preventDefault();
    openDetail(found[0].id);
  }
});

// ------------------------------------------------------------------------------------ keyboard

/** One tile is reached with Tab (the last one focused, else the first shown); arrows move on. */
function updateRover() {
  const current = rover != null ? tiles.get(rover) : null;
  if (!current || current.li.hidden) {
    const first = grid.querySelector('.tile-item:not([hidden]) .tile');
    rover = first ? first.closest('.tile-item').dataset.player : null;
  }
  for (const tile of tiles.values()) {
    const tab = tile.id === rover ? '0' : '-1';
    put(tile, 'tabindex', tab, (v) => tile.button.setAttribute('tabindex', v));
  }
}

grid.addEventListener('focusin', (event) => {
  const item = event.target.closest('.tile-item');
  if (!item || item.dataset.player === rover) return;
  rover = item.dataset.player;
  updateRover();
});

grid.addEventListener('keydown', (event) => {
  const item = event.target.closest('.tile-item');
  if (!item || event.altKey || event.ctrlKey || event.metaKey) return;
  const shown = [...grid.querySelectorAll('.tile-item:not([hidden])')];
  const at = shown.indexOf(item);
  const columns = Math.max(1, getComputedStyle(grid).gridTemplateColumns.split(' ').length);
  const moves = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -columns, ArrowDown: columns, Home: -at, End: shown.length - 1 - at };
  if (!(event.key in moves)) return;
  event.preventDefault();
  const next = shown[Math.min(shown.length - 1, Math.max(0, at + moves[event.key]))];
  next?.querySelector('.tile').focus();
});

grid.addEventListener('click', (event) => {
  const item = event.target.closest('.tile-item');
  if (item) openDetail(item.dataset.player);
});

// ------------------------------------------------------------------------------------- detail

const detail = {
  dialog: $('player-detail'),
  id: null,
  focusAfter: null, // where the focus goes when it closes (null: back to the player's tile)
  fields: Object.fromEntries([...$('player-detail').querySelectorAll('[data-field]')].map((n) => [n.dataset.field, n])),
};

function openDetail(id) {
  if (!tiles.has(id)) return;
  detail.id = id;
  renderDetail();
  screensCard?.showPlayer(id);
  if (!detail.dialog.open) detail.dialog.showModal();
  $('detail-close').focus();
}

function closeDetail(focusAfter = null) {
  detail.focusAfter = focusAfter;
  if (detail.dialog.open) detail.dialog.close();
}

detail.dialog.addEventListener('close', () => {
  const id = detail.id;
  const after = detail.focusAfter;
  detail.id = null;
  screensCard?.showPlayer(null);
  detail.focusAfter = null;
  const tile = id != null ? tiles.get(id) : null;
  if (after) after.focus();
  else if (tile && !tile.li.hidden) tile.button.focus();
  else $('players-title').focus();
});

// A tap beside the dialog closes it, as on a phone.
detail.dialog.addEventListener('click', (event) => {
  if (event.target === detail.dialog) closeDetail();
});
$('detail-close').addEventListener('click', () => closeDetail());

function renderDetail() {
  const tile = tiles.get(detail.id);
  if (!tile) {
    closeDetail();
    return;
  }
  const { p, d } = tile;
  const f = detail.fields;
  setText($('detail-title'), p.id);
  const badge = $('detail-state');
  setAttr(badge, 'data-state', p.state);
  setText(badge.querySelector('.badge-text'), playerWord(p.state));
  setIcon(badge, shape(PLAYER_STATE, p.state));
  setText($('detail-note'), STATE_NOTE[p.state] ? t(STATE_NOTE[p.state]) : '');
  show($('detail-note'), Boolean(STATE_NOTE[p.state]));
  const tr = p.traffic;
  const gone = p.state === 'disconnected' || !tr;
  let problem = '';
  if (!gone && d.kind === 'starving') problem = t('detail.problem_starving', { duration: fmtDuration(d.starving) });
  else if (!gone && d.kind === 'behind') problem = t('detail.problem_behind', { count: tr.queue_messages });
  else if (!gone && d.kind === 'silent') problem = t('detail.problem_silent', { duration: fmtDuration(tr.last_seen_ms_ago), period: fmtDuration(p.heartbeat_ms) });
  else if (!gone && d.kind === 'slow') problem = t('detail.problem_slow', { ms: tr.rtt_ms, limit: SLOW_PING_MS });
  setText($('detail-problem-text'), problem);
  show($('detail-problem'), Boolean(problem));
  setText(f.address, p.remote_address);
  const since = parseTime(p.connected_since);
  setText(f.since, since && p.connected ? t('detail.since_for', { time: fmtClock(p.connected_since), duration: fmtDuration(Date.now() - since.getTime()) }) : fmtClock(p.connected_since));
  if (gone) {
    setText(f.seen, p.disconnected_since ? t('detail.left_at', { time: fmtClock(p.disconnected_since) }) : '—');
    for (const key of ['rtt', 'updates', 'received', 'sent', 'queue']) setText(f[key], '—');
  } else {
    const late = p.heartbeat_ms > 0 && tr.last_seen_ms_ago > 1.5 * p.heartbeat_ms;
    setText(f.seen, late ? t('detail.silent_for', { duration: fmtDuration(tr.last_seen_ms_ago) }) : fmtAgo(tr.last_seen_ms_ago));
    setText(f.rtt, tr.rtt_ms == null ? '—' : fmtMs(tr.rtt_ms));
    const rate = d.rate == null ? t('detail.rate_unknown') : t('detail.rate', { rate: fmtDecimal(d.rate) });
    setText(f.updates, t('detail.updates_value', { rate, total: fmtCount(tr.outputs), last: fmtSince(tr.last_output_ms_ago) }));
    setText(f.received, `${fmtMessages(tr.messages_in)} · ${fmtBytes(tr.bytes_in)}`);
    setText(f.sent, `${fmtMessages(tr.messages_out)} · ${fmtBytes(tr.bytes_out)}`);
    setText(f.queue, tr.queue_messages > 0 ? t('detail.queue_value', { messages: fmtMessages(tr.queue_messages), bytes: fmtBytes(tr.queue_bytes) }) : t('detail.queue_empty'));
  }
  setEnabled($('detail-follow'), p.connected);
}

$('detail-remove').addEventListener('click', () => {
  const button = $('detail-remove');
  if (detail.id != null && isEnabled(button)) removePlayer(detail.id, button);
});

// Follows the player in the world view below.
$('detail-follow').addEventListener('click', () => {
  const button = $('detail-follow');
  const id = detail.id;
  if (id == null || !isEnabled(button)) return;
  const select = $('world-player');
  if (![...select.options].some((o) => o.value === id)) return;
  select.value = id;
  select.dispatchEvent(new Event('change'));
  closeDetail(select);
  $('world-card').scrollIntoView({ block: 'start' });
});

// -------------------------------------------------------------------------------------------------
// Controls
// -------------------------------------------------------------------------------------------------

const buttons = {
  launch: $('launch'),
  pause: $('pause'),
  resume: $('resume'),
  stop: $('stop'),
};
let pending = null; // the action this page is waiting for

function updateControls(state) {
  const g = state.gama;
  const connected = g.connection === 'connected';
  const free = live.up && connected && !g.operation && !pending;
  const exp = g.experiment_state;
  const open = exp === 'PAUSED' || exp === 'RUNNING' || exp === 'NOTREADY';
  // A tool's experiment in desktop GAMA is replaced by the session's at launch.
  setEnabled(buttons.launch, free && Boolean(state.model) && (!open || Boolean(g.tool_experiment)));
  setEnabled(buttons.pause, free && exp === 'RUNNING');
  setEnabled(buttons.resume, free && exp === 'PAUSED');
  setEnabled(buttons.stop, free && exp !== 'NONE');
  setEnabled($('detail-remove'), live.up);
  for (const b of document.querySelectorAll('#catalog button[data-model]')) {
    setEnabled(b, live.up && b.getAttribute('aria-pressed') !== 'true');
  }
  setEnabled($('rescan'), live.up);
  updateConsole(state);
  let hint = '';
  if (!live.up) hint = '';
  else if (!connected) hint = t('controls.hint_no_gama');
  else if (g.operation) hint = t('controls.hint_busy', { operation: operationWord(g.operation) });
  else if (!state.model) hint = t('controls.hint_no_model');
  else if (!open && minimumShort(state) != null) {
    const min = minimumShort(state);
    hint = t('controls.hint_below_minimum', { model: state.model.name, count: min, min, connected: state.counts.connected });
  }
  setText($('controls-hint'), hint);
}

/**
 * Runs an action against the relay: busy button, then a confirmation or the relay's error.
 * `failed(reason)` and `done()` give the words in the page's language (done: none, the message
 * goes away).
 */
async function run(button, { failed, done }, request) {
  pending = button;
  setAttr(button, 'aria-busy', 'true');
  if (lastState) updateControls(lastState);
  try {
    const result = await request();
    if (done) showMessage('info', done);
    else clearMessage('action');
    return { ok: true, result };
  } catch (e) {
    if (e.status !== 401) showMessage('error', () => failed(errorText(e)));
    return { ok: false, error: e };
  } finally {
    pending = null;
    setAttr(button, 'aria-busy', null);
    if (lastState) updateControls(lastState);
  }
}

// A relay that gives no code: its English words say the minimum was not reached.
const MINIMUM_NOT_REACHED = /at least|minimum|launch anyway/i;

async function launch() {
  const button = buttons.launch;
  const failed = (reason) => t('actions.launch_failed', { reason });
  const first = await run(button, { failed, done: () => t('actions.launch_done') }, () => api('POST', '/api/experiment/launch'));
  if (first.ok || first.error.status !== 409) return;
  const e = first.error;
  if (e.code ? e.code !== 'below_minimum' : !MINIMUM_NOT_REACHED.test(e.message)) return;
  const yes = await confirmAction({
    title: () => t('actions.launch_anyway_title'),
    text: () => errorText(e),
    ok: () => t('actions.launch_anyway'),
    danger: false,
  });
  if (!yes) return;
  await run(button, { failed, done: () => t('actions.launch_done_forced') }, () => api('POST', '/api/experiment/launch', { force: true }));
}

async function stop() {
  const yes = await confirmAction({
    title: () => t('actions.stop_title'),
    text: () => t('actions.stop_text'),
    ok: () => t('controls.stop'),
  });
  if (!yes) return;
  await run(buttons.stop, { failed: (reason) => t('actions.stop_failed', { reason }), done: () => t('actions.stop_done') }, () =>
    api('POST', '/api/experiment/stop'),
  );
}

async function removePlayer(id, button) {
  const yes = await confirmAction({
    title: () => t('actions.remove_title', { player: id }),
    text: () => t('actions.remove_text', { player: id }),
    ok: () => t('detail.remove'),
  });
  if (!yes) return;
  await run(
    button,
    { failed: (reason) => t('actions.remove_failed', { player: id, reason }), done: () => t('actions.remove_done', { player: id }) },
    () => api('DELETE', `/api/players/${encodeURIComponent(id)}`),
  );
}

function guard(button, action) {
  button.addEventListener('click', () => {
    if (isEnabled(button)) action();
  });
}

guard(buttons.launch, launch);
guard(buttons.pause, () =>
  run(buttons.pause, { failed: (reason) => t('actions.pause_failed', { reason }), done: () => t('actions.pause_done') }, () =>
    api('POST', '/api/experiment/pause'),
  ),
);
guard(buttons.resume, () =>
  run(buttons.resume, { failed: (reason) => t('actions.resume_failed', { reason }), done: () => t('actions.resume_done') }, () =>
    api('POST', '/api/experiment/resume'),
  ),
);
guard(buttons.stop, stop);


// -------------------------------------------------------------------------------------------------
// Learning packages
// -------------------------------------------------------------------------------------------------

let catalogVersion = null;
let modelsLoading = false;
let lastModels = null; // the last answer of GET /api/models, drawn again in another language

async function loadModels(version) {
  if (modelsLoading) return;
  modelsLoading = true;
  try {
    const data = await api('GET', '/api/models');
    catalogVersion = version;
    renderCatalog(data);
  } catch (e) {
    if (e.status && e.status !== 401) showMessage('error', () => t('models.read_failed', { reason: errorText(e) }));
  } finally {
    modelsLoading = false;
  }
  // The catalog changed again while it was being read.
  if (lastState && lastState.catalog_version !== catalogVersion && !live.waitingForToken && live.up) {
    loadModels(lastState.catalog_version);
  }
}

function modelCard(model, selected) {
  const card = el('article', {
    class: 'model-card',
    dataset: { modelCard: String(model.index), selected: String(selected) },
  });
  if (model.splashscreen) {
    card.append(el('img', { src: withToken(model.splashscreen), alt: '', loading: 'lazy', decoding: 'async' }));
  }
  card.append(el('h3', { text: model.name }));
  card.append(el('p', { text: t('catalog.card', { experiment: model.experiment_name, players: limitsText(model, true) }) }));
  const file = model.model_file_path.split(/[\\/]/).pop();
  if (file) card.append(el('p', { class: 'sub', text: file }));
  const button = el('button', {
    type: 'button',
    class: selected ? 'primary' : '',
    'aria-pressed': String(selected),
    'aria-label': t(selected ? 'catalog.selected_label' : 'catalog.select_label', { model: model.name }),
    dataset: { model: String(model.index) },
  });
  button.append(icon(selected ? 'check' : 'ring'), el('span', { text: t(selected ? 'catalog.selected' : 'catalog.select') }));
  setEnabled(button, live.up && !selected);
  card.append(button);
  return card;
}

function catalogNode(entries, data, path, closedPaths) {
  const list = el('ul', { class: 'models-grid' });
  entries.forEach((entry, i) => {
    const key = `${path}/${i}`;
    if (entry.type === 'catalog') {
      const summary = el('summary', {}, el('span', { text: entry.name }));
      const count = countModels(entry.entries);
      summary.append(el('span', { class: 'muted', text: t('catalog.models', { count }) }));
      const details = el('details', { dataset: { path: key } }, summary, catalogNode(entry.entries ?? [], data, key, closedPaths));
      details.open = !closedPaths.has(key);
      list.append(el('li', { class: 'catalog-entry' }, details));
    } else {
      const model = data.models[entry.model_index];
      if (model) list.append(el('li', {}, modelCard(model, model.selected)));
    }
  });
  return list;
}

function countModels(entries = []) {
  return entries.reduce((n, e) => n + (e.type === 'catalog' ? countModels(e.entries) : 1), 0);
}

function renderCatalog(data) {
  lastModels = data;
  const root = $('catalog');
  // Keep what the operator closed and where the keyboard focus was.
  const closedPaths = new Set();
  for (const d of root.querySelectorAll('details[data-path]')) if (!d.open) closedPaths.add(d.dataset.path);
  const focused = root.contains(document.activeElement) ? document.activeElement : null;
  const focusModel = focused?.dataset?.model;
  const focusPath = focused?.tagName === 'SUMMARY' ? focused.parentElement.dataset.path : null;
  const entries = data.catalog?.length
    ? data.catalog
    : data.models.map((m) => ({ type: 'json_settings', name: m.name, model_index: m.index }));
  root.replaceChildren(catalogNode(entries, data, '', closedPaths));
  if (focusModel != null) root.querySelector(`button[data-model="${CSS.escape(focusModel)}"]`)?.focus();
  else if (focusPath != null) root.querySelector(`details[data-path="${CSS.escape(focusPath)}"] > summary`)?.focus();
  show($('models-empty'), data.models.length === 0);
  const problems = data.problems ?? [];
  show($('problems'), problems.length > 0);
  $('problems-list').replaceChildren(
    ...problems.map((p) => el('li', { text: saidText(PROBLEMS, PROBLEM_PARAMS, p.code, p.params, p.text ?? String(p)) })),
  );
}

$('catalog').addEventListener('click', async (event) => {
  const button = event.target.closest('button[data-model]');
  if (!button || !isEnabled(button)) return;
  const index = button.dataset.model;
  const name = button.closest('.model-card')?.querySelector('h3')?.textContent ?? index;
  const r = await run(
    button,
    { failed: (reason) => t('actions.select_failed', { model: name, reason }), done: () => t('actions.select_done', { model: name }) },
    () => api('POST', `/api/models/${encodeURIComponent(index)}/select`),
  );
  if (r.ok) loadModels(lastState?.catalog_version ?? null);
});

guard($('rescan'), async () => {
  const button = $('rescan');
  const r = await run(button, { failed: (reason) => t('actions.rescan_failed', { reason }), done: () => t('actions.rescan_done') }, () =>
    api('POST', '/api/models/rescan'),
  );
  if (r.ok) renderCatalog(r.result);
});

// -------------------------------------------------------------------------------------------------
// GAML console: expressions evaluated in the live experiment (POST /api/console)
// -------------------------------------------------------------------------------------------------

const CONSOLE_HISTORY_KEY = 'gama-vr-relay.console-history';
const CONSOLE_LOG_KEY = 'gama-vr-relay.console-log';
const CONSOLE_HISTORY_MAX = 100;
const CONSOLE_LOG_MAX = 100;
// Longer answers are kept whole on the page but shortened in session storage.
const CONSOLE_STORED_CHARS = 20000;

const consoleUi = {
  form: $('console-form'),
  input: $('console-input'),
  submit: $('console-submit'),
  log: $('console-log'),
  empty: $('console-empty'),
  hint: $('console-hint'),
  clear: $('console-clear'),
};
let consoleReady = false;
let consoleHistory = [];
let consoleEntries = [];
let historyIndex = null; // where ↑/↓ are in the history; null = editing a new expression
let historyDraft = '';

function loadSession(key) {
  try {
    const value = JSON.parse(sessionStorage.getItem(key) ?? '[]');
    return Array.isArray(value) ? value : [];
  } catch {
    return [];
  }
}

function saveSession(key, value) {
  try {
    sessionStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Storage disabled or full: the history lasts as long as the page.
  }
}

function saveConsoleLog() {
  const clip = (v) => (typeof v === 'string' && v.length > CONSOLE_STORED_CHARS ? `${v.slice(0, CONSOLE_STORED_CHARS)}…` : v);
  // An error is kept as the relay gave it (code, params, English words): it is put in words when shown.
  const clipError = (e) =>
    e && typeof e === 'object' ? { ...e, message: clip(e.message), params: { ...e.params, message: clip(e.params?.message) } } : clip(e);
  saveSession(
    CONSOLE_LOG_KEY,
    consoleEntries.map(({ expr, at, status, result, error }) => ({ expr, at, status, result: clip(result), error: clipError(error) })),
  );
}

/** A console error in the page's language (an error kept by an older page is its text). */
function consoleError(error) {
  if (typeof error === 'string') return error;
  if (error?.code === 'reloaded') return t('console.reloaded');
  return errorText(error);
}

/** Whether the console can evaluate now; says why not. */
function updateConsole(state) {
  const g = state.gama;
  const exp = g.experiment_state;
  let why = '';
  if (!live.up) why = t('console.why_relay');
  else if (g.connection !== 'connected') why = t('console.why_no_gama');
  else if (exp === 'NOTREADY') why = t('console.why_loading');
  else if (exp !== 'PAUSED' && exp !== 'RUNNING') why = t('console.why_not_live');
  consoleReady = why === '';
  setAttr(consoleUi.input, 'aria-disabled', String(!consoleReady));
  consoleUi.input.readOnly = !consoleReady;
  setEnabled(consoleUi.submit, consoleReady);
  setText(consoleUi.hint, why);
}

function entryTime(at) {
  const d = parseTime(at);
  return d ? fmtTime(d) : '';
}

function consoleRow(entry) {
  const li = el('li', { class: 'console-entry' });
  const head = el(
    'div',
    { class: 'console-head' },
    el('code', { class: 'console-expr', text: entry.expr }),
    el('time', { datetime: entry.at, text: entryTime(entry.at) }),
  );
  const answer = el('div', { class: 'console-answer' });
  li.append(head, answer);
  entry.row = li;
  entry.answer = answer;
  fillConsoleRow(entry);
  return li;
}

function fillConsoleRow(entry) {
  setAttr(entry.row, 'data-status', entry.status);
  const answer = entry.answer;
  if (entry.status === 'pending') {
    answer.replaceChildren(el('span', { class: 'spinner', 'aria-hidden': 'true' }), el('span', { class: 'muted', text: t('console.evaluating') }));
    return;
  }
  const ok = entry.status === 'ok';
  const text = ok ? entry.result : consoleError(entry.error);
  const out = el('pre', { class: ok ? 'console-result' : 'console-error' });
  if (!ok) {
    out.append(icon('warning'), el('strong', { text: `${t('console.error_label')} ` }));
  }
  out.append(el('span', { class: 'console-text', text }));
  const copy = el('button', {
    type: 'button',
    class: 'quiet console-copy',
    'aria-label': t(ok ? 'console.copy_result' : 'console.copy_error', { expr: entry.expr }),
    dataset: { action: 'copy' },
  });
  copy.append(el('span', { text: t('console.copy') }));
  answer.replaceChildren(out, copy);
}

function showConsoleEntries() {
  show(consoleUi.empty, consoleEntries.length === 0);
  show(consoleUi.log, consoleEntries.length > 0);
  setEnabled(consoleUi.clear, consoleEntries.length > 0);
}

function addConsoleEntry(entry) {
  consoleEntries.push(entry);
  consoleUi.log.append(consoleRow(entry));
  while (consoleEntries.length > CONSOLE_LOG_MAX) consoleEntries.shift().row.remove();
  showConsoleEntries();
  consoleUi.log.scrollTop = consoleUi.log.scrollHeight;
}

function restoreConsole() {
  consoleHistory = loadSession(CONSOLE_HISTORY_KEY).filter((e) => typeof e === 'string');
  for (const saved of loadSession(CONSOLE_LOG_KEY)) {
    if (typeof saved?.expr !== 'string') continue;
    const entry = { expr: saved.expr, at: saved.at, status: saved.status, result: saved.result, error: saved.error };
    if (entry.status !== 'ok' && entry.status !== 'error') {
      entry.status = 'error';
      entry.error = { code: 'reloaded' };
    }
    addConsoleEntry(entry);
  }
  showConsoleEntries();
}

function remember(expr) {
  if (consoleHistory[consoleHistory.length - 1] !== expr) consoleHistory.push(expr);
  if (consoleHistory.length > CONSOLE_HISTORY_MAX) consoleHistory.splice(0, consoleHistory.length - CONSOLE_HISTORY_MAX);
  saveSession(CONSOLE_HISTORY_KEY, consoleHistory);
}

async function evaluate() {
  const input = consoleUi.input;
  const expr = input.value;
  if (!consoleReady) {
    // The hint under the input says why (the button is aria-disabled, so Enter and clicks land here).
    if (lastState) updateConsole(lastState);
    return;
  }
  if (!expr.trim()) {
    setText(consoleUi.hint, t('console.type_first', { example: 'cycle' }));
    return;
  }
  remember(expr);
  historyIndex = null;
  historyDraft = '';
  input.value = '';
  const entry = { expr, at: new Date().toISOString(), status: 'pending' };
  addConsoleEntry(entry);
  try {
    const answer = await api('POST', '/api/console', { expr });
    entry.status = 'ok';
    entry.result = answer?.result == null ? '' : String(answer.result);
  } catch (e) {
    entry.status = 'error';
    entry.error = { code: e.code, params: e.params, message: e.message };
  }
  if (entry.row.isConnected) {
    fillConsoleRow(entry);
    consoleUi.log.scrollTop = consoleUi.log.scrollHeight;
  }
  saveConsoleLog();
}

consoleUi.form.addEventListener('submit', (event) => {
  event.preventDefault();
  evaluate();
});

consoleUi.input.addEventListener('keydown', (event) => {
  const input = consoleUi.input;
  if (event.key !== 'ArrowUp' && event.key !== 'ArrowDown') return;
  if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
  if (event.key === 'ArrowUp') {
    if (!consoleHistory.length) return;
    if (historyIndex === null) {
      historyDraft = input.value;
      historyIndex = consoleHistory.length;
    }
    historyIndex = Math.max(0, historyIndex - 1);
    input.value = consoleHistory[historyIndex];
  } else {
    if (historyIndex === null) return;
    historyIndex += 1;
    if (historyIndex >= consoleHistory.length) {
      historyIndex = null;
      input.value = historyDraft;
    } else {
      input.value = consoleHistory[historyIndex];
    }
  }
  event.preventDefault();
  input.setSelectionRange(input.value.length, input.value.length);
});

consoleUi.input.addEventListener('input', () => {
  historyIndex = null;
});

async function copyText(text, source) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // No clipboard API (an http:// address other than localhost is not a secure context): copy
    // the selection instead.
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    let done = false;
    try {
      done = document.execCommand('copy');
    } catch {
      done = false;
    }
    if (!done) {
      showMessage('info', () => t('console.copy_selected'));
      return;
    }
    selection.removeAllRanges();
  }
  showMessage('info', () => t('console.copied'));
}

consoleUi.log.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-action="copy"]');
  if (!button) return;
  const text = button.closest('.console-answer')?.querySelector('.console-text');
  if (text) copyText(text.textContent, text);
});

guard(consoleUi.clear, () => {
  const hadFocus = consoleUi.log.contains(document.activeElement);
  consoleEntries = [];
  consoleUi.log.replaceChildren();
  saveConsoleLog();
  showConsoleEntries();
  if (hadFocus) consoleUi.input.focus();
});

// -------------------------------------------------------------------------------------------------
// World view (world.js)
// -------------------------------------------------------------------------------------------------

let worldView = null;
let sessionsPanel = null;
let auditCard = null;
let screensCard = null;

// -------------------------------------------------------------------------------------------------
// Start
// -------------------------------------------------------------------------------------------------

// The page's words first: the language chosen before, or the browser's (English when neither is
// one of the page's).
await initI18n();
for (const holder of document.querySelectorAll('[data-icon]')) setIcon(holder, holder.dataset.icon);
restoreConsole();
worldView = setupWorldView({
  el,
  setText,
  setAttr,
  show,
  setIcon,
  withToken,
  fmtAgo,
  playerWord,
  blocked: () => live.waitingForToken,
});
sessionsPanel = setupSessions({
  el,
  setText,
  setAttr,
  show,
  setIcon,
  icon,
  api,
  withToken,
  confirmAction,
  showMessage,
  errorText,
  fmtDuration,
  fmtBytes,
  fmtClock,
  playerStates: Object.keys(PLAYER_STATE),
  playerWord,
  playerShape: (state) => shape(PLAYER_STATE, state),
  experimentWord,
  worldView,
});
auditCard = setupAudit({ el, setText, setAttr, show, icon, api, errorText, changed: () => sessionsPanel.changed() });
screensCard = setupScreens({ api, errorText, showMessage, icon });

// -------------------------------------------------------------------------------------------------
// Language: the choice in the header, remembered; the page re-renders in place (dialogs, focus,
// the console and the world view stay as they are).
// -------------------------------------------------------------------------------------------------

const languageSelect = $('language');
languageSelect.replaceChildren(...LANGUAGES.map(({ code, name }) => el('option', { value: code, lang: code, text: name })));
languageSelect.value = lang();
languageSelect.addEventListener('change', async () => {
  await setLanguage(languageSelect.value);
  // A language whose file could not be read: the choice shows the language still in use.
  languageSelect.value = lang();
});

onLanguageChange(() => {
  languageSelect.value = lang();
  renderLink();
  if (live.waitingForToken) renderAuth();
  if (messageText) setText(message, messageText());
  renderQuestion();
  if (lastModels) renderCatalog(lastModels);
  for (const entry of consoleEntries) {
    if (!entry.row) continue;
    const focused = entry.answer.contains(document.activeElement);
    fillConsoleRow(entry);
    if (focused) entry.answer.querySelector('.console-copy')?.focus();
  }
  if (lastState) render(lastState);
  fitHeader();
});

// -------------------------------------------------------------------------------------------------
// Header: one row when everything fits (the experiment and its buttons beside the name), else the
// same without the word "Experiment" before its state, else two rows (the buttons on a row of their
// own). Words differ in length from one language to another, so the page measures rather than
// guesses.
// -------------------------------------------------------------------------------------------------

const topRow = $('topbar').querySelector('.topbar-row');

function oneRowFits() {
  const items = [...topRow.children].filter((e) => !e.hidden);
  const first = items[0].getBoundingClientRect();
  return items.every((e) => e.getBoundingClientRect().top < first.bottom - 1);
}

const buttonsBox = topRow.querySelector('.session .buttons');

/** The four buttons in one row if they fit, else two by two (never three and one). */
function fitButtons() {
  if (buttonsBox.dataset.layout !== 'row') buttonsBox.dataset.layout = 'row';
  const [first, ...others] = [...buttonsBox.children].map((b) => b.getBoundingClientRect());
  if (first.width && others.some((r) => r.top > first.bottom - 1)) buttonsBox.dataset.layout = 'grid';
}

function fitHeader() {
  fitButtons();
  for (const rows of ['1', '1-compact']) {
    if (topRow.dataset.rows !== rows) topRow.dataset.rows = rows;
    if (oneRowFits()) return;
  }
  topRow.dataset.rows = '2';
  fitButtons();
}

new ResizeObserver(() => fitHeader()).observe(topRow);
for (const id of ['experiment-state', 'relay-link']) new ResizeObserver(() => fitHeader()).observe($(id));
new ResizeObserver(() => fitHeader()).observe(buttonsBox);
// For tests and the curious: the decoded view, with where everything is drawn; what the pushes cost;
// the sessions panel and the recent changes as shown.
window.worldView = { snapshot: () => worldView.snapshot() };
window.sessionsView = { snapshot: () => sessionsPanel.snapshot() };
window.auditView = { snapshot: () => auditCard.snapshot() };
window.screensCard = { snapshot: () => screensCard.snapshot() };
window.adminPage = { stats: () => ({ ...renderStats }) };
// The sticky header's height, so what the page scrolls to is not hidden under it.
new ResizeObserver(([entry]) => {
  document.documentElement.style.setProperty('--topbar-h', `${Math.ceil(entry.borderBoxSize?.[0]?.blockSize ?? entry.target.offsetHeight)}px`);
}).observe($('topbar'));
relay.start();
