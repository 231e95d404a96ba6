// gama-vr-relay admin page: who changed what, from where (issue 14).
//
// "Recent changes" lists the operator's changes the relay wrote down (GET /api/audit: launch, stop,
// a removed player, a console expression… with the address they came from, through the admin API or
// a tool) and the headsets it turned away at its port. The relay pushes its state on every change;
// the list is read again then, at most every AUDIT_MIN_MS. Addresses, player ids and reasons are
// untrusted text: textContent only.

import { fmtTime, onLanguageChange, t } from './i18n.js';

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

// The changes the relay writes down, by kind (README, "Admin API") → their words in the page's
// language, from their params; null when a param is missing. A tool's command is gama-server's name
// for it (load, play…): it stays as it is. Anything else shows the relay's own words.
const KINDS = {
  launch: () => t('audit.action_launch'),
  launch_anyway: () => t('audit.action_launch_anyway'),
  pause: () => t('audit.action_pause'),
  resume: () => t('audit.action_resume'),
  stop: () => t('audit.action_stop'),
  rescan: () => t('audit.action_rescan'),
  remove: (p) => (p.player == null ? null : t('audit.action_remove', { player: String(p.player) })),
  console: (p) => (p.expr == null ? null : t('audit.action_console', { expr: p.expr })),
  select: (p) => {
    if (p.index == null) return null;
    const index = String(p.index);
    return p.model == null ? t('audit.action_select_index', { index }) : t('audit.action_select', { index, model: p.model });
  },
  delete_session: (p) => (p.session == null ? null : t('audit.action_delete_session', { session: p.session })),
  tool: (p) => (p.command == null ? null : p.model == null ? p.command : `${p.command} ${p.model}`),
  tool_left: (p) => (Array.isArray(p.experiments) ? t('audit.action_tool_left', { experiments: p.experiments.join(', ') }) : null),
  screen_focus: (p) => (p.serial == null ? t('audit.action_screen_focus_none') : t('audit.action_screen_focus', { serial: String(p.serial) })),
  tool_left_kept: (p) => (p.experiment == null || p.model == null ? null : t('audit.action_tool_left_kept', { experiment: p.experiment, model: p.model })),
};

/** An operator change's action in the page's language (entry: {action, kind, params}). */
export function auditAction(entry) {
  const words = KINDS[entry?.kind]?.(entry.params ?? {});
  return words ?? entry?.action ?? '';
}

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

/**
 * Sets up the Recent changes card. `deps`: the page's helpers (el, setText, setAttr, show, icon, api)
 * and `changed()`, called when a new change is seen (a launch or a stop may have kept a session).
 */
export function setupAudit(deps) {
  const { el, setText, setAttr, show, icon, api, errorText, changed } = deps;
  const card = document.getElementById('audit-card');
  const list = el('ol', { id: 'audit-list', class: 'audit-list', 'aria-labelledby': 'audit-title' });
  const empty = el('p', { id: 'audit-empty', class: 'empty audit-empty' });
  const refusalsTitle = el('h3', { id: 'refusals-title', class: 'audit-sub' });
  const refusals = el('ol', { id: 'refusals-list', class: 'audit-list', 'aria-labelledby': 'refusals-title' });
  const refusalsBox = el('div', { class: 'audit-refusals', hidden: '' }, refusalsTitle, refusals);
  const more = el('button', { type: 'button', id: 'audit-more', class: 'quiet audit-more', 'aria-expanded': 'false', hidden: '' });
  const error = el('p', { class: 'reason', role: 'status', hidden: '' });
  const title = el('h2', { id: 'audit-title', class: 'card-title' });
  card.replaceChildren(title, empty, list, refusalsBox, more, error);
  let errorWords = () => '';

  function labelCard() {
    setText(title, TEXT.title());
    setText(empty, TEXT.empty());
    setText(refusalsTitle, TEXT.refusals());
    setText(error, errorWords());
  }
  labelCard();

  let lastFetch = -Infinity;
  let busy = false;
  let key = '';
  let newest = null;
  let fetched = false;
  let all = false;
  let last = { entries: [], refusals: [] };

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
    const entries = last.entries;
    const turned = last.refusals;
    show(empty, entries.length === 0);
    show(list, entries.length > 0);
    list.replaceChildren(...(all ? entries : entries.slice(0, CHANGES_SHORT)).map(entryItem));
    show(refusalsBox, turned.length > 0);
    refusals.replaceChildren(...(all ? turned : turned.slice(0, REFUSALS_SHORT)).map(refusalItem));
    const hidden = Math.max(0, entries.length - CHANGES_SHORT) + Math.max(0, turned.length - REFUSALS_SHORT);
    show(more, hidden > 0);
    setText(more, all ? TEXT.showFewer() : TEXT.showAll(entries.length + turned.length));
    setAttr(more, 'aria-expanded', String(all));
    setAttr(card, 'data-expanded', String(all));
  }

  more.addEventListener('click', () => {
    all = !all;
    render();
  });

  async function fetchNow() {
    busy = true;
    lastFetch = performance.now();
    try {
      const data = await api('GET', '/api/audit');
      show(error, false);
      const next = { entries: Array.isArray(data?.entries) ? data.entries : [], refusals: Array.isArray(data?.refusals) ? data.refusals : [] };
      const nextKey = JSON.stringify(next);
      if (nextKey !== key) {
        key = nextKey;
        last = next;
        render();
      }
      const top = next.entries[0] ? `${next.entries[0].at} ${next.entries[0].action}` : null;
      if (fetched && top !== newest) changed?.();
      fetched = true;
      newest = top;
    } catch (e) {
      if (e.status !== 401) {
        errorWords = () => TEXT.failed(errorText(e));
        setText(error, errorWords());
        show(error, true);
      }
    } finally {
      busy = false;
    }
  }

  onLanguageChange(() => {
    labelCard();
    render();
  });

  return {
    /** A state push (the relay pushes on every change): read the list again, at most every AUDIT_MIN_MS. */
    update() {
      if (busy || document.visibilityState === 'hidden') return;
      if (performance.now() - lastFetch < AUDIT_MIN_MS) return;
      fetchNow();
    },
    snapshot: () => ({ entries: last.entries.map((e) => ({ ...e })), refusals: last.refusals.map((r) => ({ ...r })) }),
  };
}
