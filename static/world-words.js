// gama-vr-relay admin page: every word the world view puts on the page or the canvas, in the page's
// language (i18n/*.json), and its numbers: coordinates, lengths, a session's time.

import { fmtNumber, t } from './i18n.js';

// Every word the view puts on the page or the canvas, in the page's language (i18n/*.json).
export const TEXT = {
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

/** Session time as m:ss, or h:mm:ss from an hour. */
export function fmtSessionTime(ms) {
  const s = Math.max(0, Math.floor((ms ?? 0) / 1000));
  const pad = (n) => String(n).padStart(2, '0');
  const h = Math.floor(s / 3600);
  const m = Math.floor(s / 60) % 60;
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

/** A coordinate in the page's language (25.5; 25,5 in French), whole from 1000 up. */
export function fmtCoord(v) {
  const digits = Math.abs(v) >= 1000 ? 0 : 1;
  return fmtNumber(v, { minimumFractionDigits: digits, maximumFractionDigits: digits, useGrouping: false });
}

/** A length of the world: at most two decimals, none when whole. */
export function fmtSize(v) {
  return fmtNumber(v, { maximumFractionDigits: 2, useGrouping: false });
}
