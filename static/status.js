// gama-vr-relay admin page: GAMA's card (its connection, why it cannot be reached, its mode), the
// experiment's state in the header, and the counts of players with the model's limits.

import { $, setAttr, setText, show } from './dom.js';
import { t } from './i18n.js';
import { setIcon } from './icons.js';
import { fmtClock, fmtCount } from './format.js';
import { gamaWhy, operationWord } from './said.js';
import { EXPERIMENT, GAMA_CONNECTION, experimentWord, shape, word } from './words.js';

const MODES = { desktop: 'gama.mode.desktop' };

export function renderGama(g) {
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

export function renderExperiment(state) {
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
export function limitsText(model, card = false) {
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

export function minimumShort(state) {
  const min = state.model?.min_players;
  return min > 0 && state.counts.connected < min ? min : null;
}

export function renderCounts(state) {
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
