// gama-vr-relay admin page: the words and shapes of the relay's states (GAMA's connection, the
// experiment, a player), shared by the header, the tiles, the world view and the kept sessions.

import { t } from './i18n.js';
import { capitalise, lower } from './format.js';

// Each state: the key of its word (in the language files) and its icon's shape.
export const GAMA_CONNECTION = {
  connecting: ['gama.connection.connecting', 'ring'],
  connected: ['gama.connection.connected', 'check'],
  retrying: ['gama.connection.retrying', 'refresh'],
  unreachable: ['gama.connection.unreachable', 'cross'],
};

export const EXPERIMENT = {
  NONE: ['experiment.state.none', 'none'],
  NOTREADY: ['experiment.state.notready', 'hourglass'],
  PAUSED: ['experiment.state.paused', 'pause'],
  RUNNING: ['experiment.state.running', 'play'],
  FINISHED: ['experiment.state.finished', 'flag'],
};

export const PLAYER_STATE = {
  connected: ['player.state.connected', 'ring'],
  joining: ['player.state.joining', 'half'],
  in_game: ['player.state.in_game', 'check'],
  waiting: ['player.state.waiting', 'hourglass'],
  no_answer: ['player.state.no_answer', 'hourglass'],
  refused: ['player.state.refused', 'cross'],
  disconnected: ['player.state.disconnected', 'slash'],
};

/** A state's word in the page's language (a state the page does not know: as the relay says it).
 *  `table`: state → key, or state → [key, shape]. */
export function word(table, state, raw = state) {
  const entry = table[state];
  if (!entry) return capitalise(lower(String(raw ?? '')));
  return t(Array.isArray(entry) ? entry[0] : entry);
}

export function shape(table, state) {
  return table[state]?.[1] ?? 'dot';
}

export const playerWord = (state) => word(PLAYER_STATE, state);
export const experimentWord = (state) => word(EXPERIMENT, state);
