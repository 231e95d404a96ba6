// gama-vr-relay admin page: one player in full, in a dialog opened from its tile: its state and what
// that means, the problem seen in its numbers, its traffic; it can be removed or followed in the
// world view.

import { $, isEnabled, setAttr, setEnabled, setText, show } from './dom.js';
import { t } from './i18n.js';
import { setIcon } from './icons.js';
import { fmtAgo, fmtBytes, fmtClock, fmtCount, fmtDecimal, fmtDuration, fmtMessages, fmtMs, fmtSince, parseTime } from './format.js';
import { PLAYER_STATE, playerWord, shape } from './words.js';
import { SLOW_PING_MS, tiles } from './player-tiles.js';
import { removePlayer } from './controls.js';
import { panels } from './panels.js';

// Said under the state where the word alone could mislead.
const STATE_NOTE = {
  disconnected: 'player.note.disconnected',
  no_answer: 'player.note.no_answer',
  refused: 'player.note.refused',
};

export const detail = {
  dialog: $('player-detail'),
  id: null,
  focusAfter: null, // where the focus goes when it closes (null: back to the player's tile)
  fields: Object.fromEntries([...$('player-detail').querySelectorAll('[data-field]')].map((n) => [n.dataset.field, n])),
};

export function openDetail(id) {
  if (!tiles.has(id)) return;
  detail.id = id;
  renderDetail();
  panels.screens?.showPlayer(id);
  if (!detail.dialog.open) detail.dialog.showModal();
  $('detail-close').focus();
}

export function closeDetail(focusAfter = null) {
  detail.focusAfter = focusAfter;
  if (detail.dialog.open) detail.dialog.close();
}

export function renderDetail() {
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

/** The dialog's buttons, and where the focus goes when it closes. */
export function wireDetail() {
  detail.dialog.addEventListener('close', () => {
    const id = detail.id;
    const after = detail.focusAfter;
    detail.id = null;
    panels.screens?.showPlayer(null);
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
}
