// gama-vr-relay admin page: who changed what, from where (issue 14).
//
// "Recent changes" lists the operator's changes the relay wrote down (GET /api/audit: launch, stop,
// a removed player, a console expression… with the address they came from, through the admin API or
// a tool) and the headsets it turned away at its port. The relay pushes its state on every change;
// the list is read again then, at most every AUDIT_MIN_MS. Addresses, player ids and reasons are
// untrusted text: textContent only.

import { $, el, setAttr, setText, show } from './dom.js';
import { fmtTime, onLanguageChange, t } from './i18n.js';
import { icon } from './icons.js';
import { api } from './api.js';
import { errorText } from './said.js';
import { auditAction } from './audit-words.js';
import { changed as sessionsChanged } from './sessions.js';

// Every word this card puts on the page, in the page's language (i18n/*.json).
const TEXT = {
  title: () => t('audit.title'),
  empty: () => t('audit.empty'),
  refusals: () => t('audit.refusals'),
  via: { admin: () => t('audit.via_admin'), tool: () => t('audit.via_tool'), monitor: () => t('audit.via_monitor') },
  from: (source, via) => `${source} · ${via}`,
  done: () => t('audit.done'),
  notDone: (why) => (why ? t('audit.not_done_why', { reason: why }) : t('audit.not_done')),
  refusal: (player, source) => (player ? t('audit.refusal', { player, source }) : source),
  showAll: (n) => t('common.show_all', { count: n }),
  showFewer: () => t('common.show_fewer'),
  failed: (why) => t('audit.failed', { reason: why }),
};

// Why a headset was turned away, by code → its words in the page's language.
const REFUSED = {
  id_in_use: (p) => (p.player == null || p.address == null ? null : t('audit.refused.id_in_use', { player: p.player, address: p.address })),
  id_in_use_waiting: (p) => (p.player == null || p.address == null ? null : t('audit.refused.id_in_use_waiting', { player: p.player, address: p.address })),
  outside_network: (p) => (p.source == null ? null : t('audit.refused.outside_network', { source: p.source })),
};

function refusalWhy(refusal) {
  return REFUSED[refusal?.code]?.(refusal.params ?? {}) ?? refusal?.reason ?? '';
}

const AUDIT_MIN_MS = 2000;
const CHANGES_SHORT = 5;
const REFUSALS_SHORT = 3;

// The card's elements, made by setupAudit.
const ui = {};

// What the card shows and when it last read it.
const recent = {
  lastFetch: -Infinity,
  busy: false,
  key: '', // the last answer, to draw again only when it changes
  newest: null, // the newest change seen: a new one may have kept a session
  fetched: false,
  all: false, // "Show all"
  last: { entries: [], refusals: [] },
  errorWords: () => '', // why the list could not be read (a function: it follows a change of language)
};

/** Makes the Recent changes card. */
export function setupAudit() {
  ui.card = $('audit-card');
  ui.list = el('ol', { id: 'audit-list', class: 'audit-list', 'aria-labelledby': 'audit-title' });
  ui.empty = el('p', { id: 'audit-empty', class: 'empty audit-empty' });
  ui.refusalsTitle = el('h3', { id: 'refusals-title', class: 'audit-sub' });
  ui.refusals = el('ol', { id: 'refusals-list', class: 'audit-list', 'aria-labelledby': 'refusals-title' });
  ui.refusalsBox = el('div', { class: 'audit-refusals', hidden: '' }, ui.refusalsTitle, ui.refusals);
  ui.more = el('button', { type: 'button', id: 'audit-more', class: 'quiet audit-more', 'aria-expanded': 'false', hidden: '' });
  ui.error = el('p', { class: 'reason', role: 'status', hidden: '' });
  ui.title = el('h2', { id: 'audit-title', class: 'card-title' });
  ui.card.replaceChildren(ui.title, ui.empty, ui.list, ui.refusalsBox, ui.more, ui.error);
  labelCard();
  ui.more.addEventListener('click', () => {
    recent.all = !recent.all;
    render();
  });
  onLanguageChange(() => {
    labelCard();
    render();
  });
  return { update, snapshot };
}

function labelCard() {
  setText(ui.title, TEXT.title());
  setText(ui.empty, TEXT.empty());
  setText(ui.refusalsTitle, TEXT.refusals());
  setText(ui.error, recent.errorWords());
}

function time(at) {
  const d = at ? new Date(at) : null;
  if (!d || Number.isNaN(d.getTime())) return '';
  return fmtTime(d);
}

function entryItem(e) {
  const ok = e.ok !== false;
  const li = el('li', { class: 'audit-entry', dataset: { ok: String(ok), via: e.via ?? '' } });
  const mark = el('span', { class: 'audit-mark' }, icon(ok ? 'check' : 'cross'));
  mark.append(el('span', { class: 'visually-hidden', text: ok ? TEXT.done() : TEXT.notDone('') }));
  li.append(
    el('time', { datetime: e.at ?? null, text: time(e.at) }),
    mark,
    el('span', { class: 'audit-action', text: auditAction(e) }),
    el('span', { class: 'audit-source', text: TEXT.from(e.source ?? '?', TEXT.via[e.via]?.() ?? e.via ?? '') }),
  );
  // Why not: the relay's error code, in the page's language (its own words for one not known here).
  const why = e.detail_code || e.detail ? errorText({ code: e.detail_code, params: e.detail_params, message: e.detail }) : '';
  if (!ok) li.append(el('span', { class: 'audit-why', text: TEXT.notDone(why) }));
  return li;
}

function refusalItem(r) {
  const li = el('li', { class: 'audit-entry', dataset: { ok: 'false' } });
  li.append(
    el('time', { datetime: r.at ?? null, text: time(r.at) }),
    el('span', { class: 'audit-mark' }, icon('slash')),
    el('span', { class: 'audit-action', text: TEXT.refusal(r.player, r.source ?? '?') }),
    el('span', { class: 'audit-why', text: refusalWhy(r) }),
  );
  return li;
}

function render() {
  const entries = recent.last.entries;
  const turned = recent.last.refusals;
  show(ui.empty, entries.length === 0);
  show(ui.list, entries.length > 0);
  ui.list.replaceChildren(...(recent.all ? entries : entries.slice(0, CHANGES_SHORT)).map(entryItem));
  show(ui.refusalsBox, turned.length > 0);
  ui.refusals.replaceChildren(...(recent.all ? turned : turned.slice(0, REFUSALS_SHORT)).map(refusalItem));
  const hidden = Math.max(0, entries.length - CHANGES_SHORT) + Math.max(0, turned.length - REFUSALS_SHORT);
  show(ui.more, hidden > 0);
  setText(ui.more, recent.all ? TEXT.showFewer() : TEXT.showAll(entries.length + turned.length));
  setAttr(ui.more, 'aria-expanded', String(recent.all));
  setAttr(ui.card, 'data-expanded', String(recent.all));
}

async function fetchNow() {
  recent.busy = true;
  recent.lastFetch = performance.now();
  try {
    const data = await api('GET', '/api/audit');
    show(ui.error, false);
    const next = { entries: Array.isArray(data?.entries) ? data.entries : [], refusals: Array.isArray(data?.refusals) ? data.refusals : [] };
    const nextKey = JSON.stringify(next);
    if (nextKey !== recent.key) {
      recent.key = nextKey;
      recent.last = next;
      render();
    }
    const top = next.entries[0] ? `${next.entries[0].at} ${next.entries[0].action}` : null;
    if (recent.fetched && top !== recent.newest) sessionsChanged();
    recent.fetched = true;
    recent.newest = top;
  } catch (e) {
    if (e.status !== 401) {
      recent.errorWords = () => TEXT.failed(errorText(e));
      setText(ui.error, recent.errorWords());
      show(ui.error, true);
    }
  } finally {
    recent.busy = false;
  }
}

/** A state push (the relay pushes on every change): read the list again, at most every AUDIT_MIN_MS. */
function update() {
  if (recent.busy || document.visibilityState === 'hidden') return;
  if (performance.now() - recent.lastFetch < AUDIT_MIN_MS) return;
  fetchNow();
}

/** What the card shows (for tests). */
function snapshot() {
  return { entries: recent.last.entries.map((e) => ({ ...e })), refusals: recent.last.refusals.map((r) => ({ ...r })) };
}
