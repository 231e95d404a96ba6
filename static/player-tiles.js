// gama-vr-relay admin page: one player's tile. Each tile is kept by id, remembers what it shows and
// writes only what changed; what needs the teacher's attention (a problem in its state or in its
// numbers) sets its colour, shape and word, and its rank in the grid (players.js).

import { el, setAttr } from './dom.js';
import { t } from './i18n.js';
import { setIcon } from './icons.js';
import { fmtAgo, fmtMs, fmtRate, lower, parseTime } from './format.js';
import { PLAYER_STATE, playerWord, word } from './words.js';

// A player needs attention when its ping is this slow, or this many messages wait for it.
export const SLOW_PING_MS = 300;
const QUEUE_BEHIND_MESSAGES = 10;
// A problem seen in the numbers (starving, silent, slow, behind) keeps the tile flagged this long
// after it clears, so tiles do not jump back and forth.
const ATTENTION_HOLD_MS = 3000;

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
export const ATTENTION_RANK = Object.fromEntries(Object.keys(ATTENTION).map((kind, i) => [kind, i]));

// Tiles are kept by id and updated in place: each remembers what it shows and only what changed is
// written; a tile moves only when its place in the order changes, keeping its keyboard focus.
export const tiles = new Map();

export function makeTile(id) {
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
export function put(tile, key, value, apply) {
  if (tile.shown[key] === value) return;
  tile.shown[key] = value;
  apply(value);
}

/** What needs attention now (null: nothing), and what ranks the tile (a problem seen in the numbers
 *  keeps its place a while after it clears). */
export function attentionOf(p, starving, tile, now) {
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

export function updateTile(tile, p, d) {
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
