// gama-vr-relay admin page: the simulation's pace. GAMA's outputs per second and whether they stopped
// (the "Simulation pace" card), and per player the rate of GAMA's payloads relayed to it and whether
// it starves, all measured on the relay's clock from the pushes' history.

import { $, setAttr, setText } from './dom.js';
import { t } from './i18n.js';
import { setIcon } from './icons.js';
import { capitalise, fmtCount, fmtDecimal, fmtDuration, fmtPace, fmtSince, lower } from './format.js';

// No output from a running simulation for this long, or nothing for an in-game player while GAMA's
// outputs flow: worth showing at once.
const STALLED_MS = 3000;
const STARVING_MS = 3000;
// Per-player update rates are measured over this much of the pushes' history, on the relay's clock
// (the document's relay_ms), and shown once two samples are this far apart.
const RATE_WINDOW_MS = 2000;
const RATE_MIN_SPAN_MS = 500;
const SAMPLES_KEEP_MS = 15000;

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

const pace = {
  // Since when (page time) the experiment runs with players in game: GAMA then sends every step.
  expectingSince: null,
  // The experiment state last seen, and GAMA's output count when the page first saw it.
  stateSeen: { exp: null, outputs: 0 },
  // The relay's clock at the last push sampled.
  lastSampleAt: null,
};

// GAMA's outputs at each push, on the relay's clock: its rate is measured like the players' (so the
// two agree), the relay's own figure until there are two samples.
const clockSamples = [];

export function sampleClock(c, now) {
  const last = clockSamples[clockSamples.length - 1];
  if (!c || (last && (c.outputs < last.m || now < last.t))) clockSamples.length = 0;
  if (!c || (last && last.t === now)) return;
  clockSamples.push({ t: now, m: c.outputs });
  while (clockSamples.length > 2 && clockSamples[1].t < now - SAMPLES_KEEP_MS) clockSamples.shift();
}

export function renderClock(state, now) {
  const c = state.clock;
  const exp = state.gama.experiment_state;
  const ago = c?.last_output_ms_ago ?? null;
  const rate = updateRate(clockSamples) ?? c?.outputs_per_second ?? 0;
  const outputs = c?.outputs ?? 0;
  const recent = ago != null && ago <= STALLED_MS;
  const expecting = exp === 'RUNNING' && state.gama.connection === 'connected' && state.counts.in_game > 0;
  if (!expecting) pace.expectingSince = null;
  else if (pace.expectingSince == null) pace.expectingSince = now;
  // A few outputs may still be on their way when the state changes: two more say it goes on.
  if (exp !== pace.stateSeen.exp || outputs < pace.stateSeen.outputs) pace.stateSeen = { exp, outputs };
  const sinceState = outputs - pace.stateSeen.outputs;
  let kind;
  let text;
  if (exp === 'RUNNING' && recent) {
    kind = 'flowing';
    text = t('clock.flowing', { rate: fmtPace(rate) });
  } else if (exp === 'RUNNING' && !expecting) {
    kind = 'idle';
    text = t('clock.idle');
  } else if (exp === 'RUNNING' && now - pace.expectingSince > STALLED_MS) {
    // A resumed simulation is not stalled because its last output is old: it had its chance only
    // since it runs with players.
    kind = 'stalled';
    text = t('clock.stalled', { duration: fmtDuration(ago ?? now - pace.expectingSince) });
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
export const samples = new Map();

export function sampleTraffic(state, now) {
  // The relay restarted (its clock starts again): every connection is new.
  if (pace.lastSampleAt != null && now < pace.lastSampleAt) samples.clear();
  pace.lastSampleAt = now;
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
export function updateRate(list) {
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
export function starvingFor(p, list, flowing) {
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

/** The relay's clock when it made `state` (its `relay_ms`): rates measured on it do not depend on
 *  when this page got round to a push. The page's clock for a relay that does not say. */
export function relayClock(state) {
  return typeof state.relay_ms === 'number' ? state.relay_ms : performance.now();
}
