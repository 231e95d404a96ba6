// gama-vr-relay admin page: what the relay says with a code (README, "Admin API": its refusals, why
// GAMA cannot be reached), put in the page's language from the code and its params. A code the page
// does not know, or one without the params its sentence needs, is shown in the relay's own words.

import { fmtNumber, t } from './i18n.js';
import { capitalise, fmtBytes, fmtDuration, lower, sentence } from './format.js';

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

export function stateInSentence(state) {
  return STATE_IN_SENTENCE[state] ? t(STATE_IN_SENTENCE[state]) : String(state ?? '');
}

export function operationWord(operation) {
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
export function saidText(words, required, code, params, text) {
  const p = params ?? {};
  const sentenceFor = code ? words[code] : null;
  if (sentenceFor && (required[code] ?? []).every((name) => p[name] != null)) return sentenceFor(p);
  return text ? sentence(text) : '';
}

export function gamaWhy(code, params, text) {
  return saidText(GAMA_WHY, GAMA_WHY_PARAMS, code, params, text);
}

/** What went wrong, in the page's language: the sentence for the relay's code, or else the relay's
 *  own (English) words. */
export function errorText(e) {
  const params = e?.params ?? {};
  const sentenceFor = e?.code ? API_ERRORS[e.code] : null;
  const complete = (API_ERROR_PARAMS[e?.code] ?? []).every((name) => params[name] != null);
  if (sentenceFor && (complete || !e.message)) return sentenceFor(params);
  return sentence(e?.message ?? String(e));
}
