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
  via: { admin: () => t('audit.via_admin'), tool: () => t('audit.via_tool') },
  from: (source, via) => `${source} · ${via}`,
  done: () => t('audit.done'),
  notDone: (why) => (why ? t('audit.not_done_why', { reason: why }) : t('audit.not_done')),
  refusal: (player, source) => (player ? t('audit.refusal', { player, source }) : source),
  showAll: (n) => t('common.show_all', { count: n }),
  showFewer: () => t('common.show_fewer'),
  failed: (why) => t('audit.failed', { reason: why }),
};

// The changes made from the admin page, as the relay writes them down (English words, with the
// player, model or expression in them) → their words in the page's language. Those of tools are
// gama-server's command names (load, play…): they stay as they are, like anything not listed here.
const ACTIONS = [
  [/^launch$/, () => t('audit.action_launch')],
  [/^launch anyway$/, () => t('audit.action_launch_anyway')],
  [/^pause$/, () => t('audit.action_pause')],
  [/^resume$/, () => t('audit.action_resume')],
  [/^stop$/, () => t('audit.action_stop')],
  [/^rescan the learning packages$/, () => t('audit.action_rescan')],
  [/^remove (.+)$/s, (m) => t('audit.action_remove', { player: m[1] })],
  [/^console: (.*)$/s, (m) => t('audit.action_console', { expr: m[1] })],
  [/^select model (\d+) \((.*)\)$/s, (m) => t('audit.action_select', { index: m[1], model: m[2] })],
  [/^select model (\d+)$/, (m) => t('audit.action_select_index', { index: m[1] })],
  [/^delete session (.+)$/s, (m) => t('audit.action_delete_session', { session: m[1] })],
];

/** An operator change's action in the page's language (entry: {action, via}). */
export function auditAction(entry) {
  const action = entry?.action ?? '';
  if (entry?.via === 'tool') return action;
  for (const [re, words] of ACTIONS) {
    const m = re.exec(action);
    if (m) return words(m);
  }
  return action;
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
    if (!ok) li.append(el('span', { class: 'audit-why', text: TEXT.notDone(e.detail ?? '') }));
    return li;
  }

  function refusalItem(r) {
    const li = el('li', { class: 'audit-entry', dataset: { ok: 'false' } });
    li.append(
      el('time', { datetime: r.at ?? null, text: time(r.at) }),
      el('span', { class: 'audit-mark' }, icon('slash')),
      el('span', { class: 'audit-action', text: TEXT.refusal(r.player, r.source ?? '?') }),
      el('span', { class: 'audit-why', text: r.reason ?? '' }),
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
