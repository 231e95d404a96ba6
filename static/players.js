// gama-vr-relay admin page: the players' grid. One tile each (player-tiles.js), those that need
// attention first, found by the search box, moved between with the arrow keys, opened in the detail
// dialog (player-detail.js) on a click.

import { $, setAttr, setText, show } from './dom.js';
import { t } from './i18n.js';
import { setIcon } from './icons.js';
import { fmtCount } from './format.js';
import { samples, starvingFor, updateRate } from './pace.js';
import { ATTENTION_RANK, attentionOf, makeTile, put, tiles, updateTile } from './player-tiles.js';
import { detail, openDetail, renderDetail } from './player-detail.js';

const grid = $('players-grid');
const view = {
  order: '', // the ids in the order shown
  filter: '', // what the search box holds, in lower case
  rover: null, // the id of the tile Tab lands on (arrow keys move between tiles)
};

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
  return !view.filter || tile.lower.includes(view.filter);
}

export function renderPlayers(players, flowing, now) {
  const seen = new Set();
  for (const p of players) seen.add(p.id);
  for (const [id, tile] of tiles) {
    if (seen.has(id)) continue;
    const hadFocus = tile.li.contains(document.activeElement);
    tile.li.remove();
    tiles.delete(id);
    if (view.rover === id) view.rover = null;
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
  if (order !== view.order) {
    view.order = order;
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
  if (view.filter) renderFilterStatus();
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
  if (view.filter && tiles.size) {
    text = shown === 0 ? t('players.filter_none', { filter: view.filter }) : t('players.filter_shown', { shown, count: tiles.size });
  }
  setText($('players-filter-status'), text);
  setAttr($('players-filter-status'), 'data-none', String(view.filter !== '' && shown === 0));
}

// ------------------------------------------------------------------------------------ keyboard

/** One tile is reached with Tab (the last one focused, else the first shown); arrows move on. */
function updateRover() {
  const current = view.rover != null ? tiles.get(view.rover) : null;
  if (!current || current.li.hidden) {
    const first = grid.querySelector('.tile-item:not([hidden]) .tile');
    view.rover = first ? first.closest('.tile-item').dataset.player : null;
  }
  for (const tile of tiles.values()) {
    const tab = tile.id === view.rover ? '0' : '-1';
    put(tile, 'tabindex', tab, (v) => tile.button.setAttribute('tabindex', v));
  }
}

/** The search box, the keyboard and the clicks on the tiles. */
export function wirePlayers() {
  $('players-filter').addEventListener('input', (event) => {
    view.filter = event.target.value.trim().toLowerCase();
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

  grid.addEventListener('focusin', (event) => {
    const item = event.target.closest('.tile-item');
    if (!item || item.dataset.player === view.rover) return;
    view.rover = item.dataset.player;
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
}
