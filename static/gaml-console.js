// gama-vr-relay admin page: the GAML console. An expression evaluated in the live experiment
// (POST /api/console), GAMA's answer or error beside it; the history (↑/↓) and the log last as long
// as the tab (session storage).

import { $, el, guard, setAttr, setEnabled, setText, show } from './dom.js';
import { fmtTime, t } from './i18n.js';
import { icon } from './icons.js';
import { parseTime } from './format.js';
import { api } from './api.js';
import { errorText } from './said.js';
import { showMessage } from './messages.js';
import { live } from './page-state.js';

const CONSOLE_HISTORY_KEY = 'gama-vr-relay.console-history';
const CONSOLE_LOG_KEY = 'gama-vr-relay.console-log';
const CONSOLE_HISTORY_MAX = 100;
const CONSOLE_LOG_MAX = 100;
// Longer answers are kept whole on the page but shortened in session storage.
const CONSOLE_STORED_CHARS = 20000;

const consoleUi = {
  form: $('console-form'),
  input: $('console-input'),
  submit: $('console-submit'),
  log: $('console-log'),
  empty: $('console-empty'),
  hint: $('console-hint'),
  clear: $('console-clear'),
};
const gaml = {
  ready: false, // whether an expression can be evaluated now
  history: [], // the expressions typed, oldest first
  entries: [], // the log: {expr, at, status, result, error, row, answer}
  historyIndex: null, // where ↑/↓ are in the history; null = editing a new expression
  historyDraft: '',
};

function loadSession(key) {
  try {
    const value = JSON.parse(sessionStorage.getItem(key) ?? '[]');
    return Array.isArray(value) ? value : [];
  } catch {
    return [];
  }
}

function saveSession(key, value) {
  try {
    sessionStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Storage disabled or full: the history lasts as long as the page.
  }
}

function saveConsoleLog() {
  const clip = (v) => (typeof v === 'string' && v.length > CONSOLE_STORED_CHARS ? `${v.slice(0, CONSOLE_STORED_CHARS)}…` : v);
  // An error is kept as the relay gave it (code, params, English words): it is put in words when shown.
  const clipError = (e) =>
    e && typeof e === 'object' ? { ...e, message: clip(e.message), params: { ...e.params, message: clip(e.params?.message) } } : clip(e);
  saveSession(
    CONSOLE_LOG_KEY,
    gaml.entries.map(({ expr, at, status, result, error }) => ({ expr, at, status, result: clip(result), error: clipError(error) })),
  );
}

/** A console error in the page's language (an error kept by an older page is its text). */
function consoleError(error) {
  if (typeof error === 'string') return error;
  if (error?.code === 'reloaded') return t('console.reloaded');
  return errorText(error);
}

/** Whether the console can evaluate now; says why not. */
export function updateConsole(state) {
  const g = state.gama;
  const exp = g.experiment_state;
  let why = '';
  if (!live.up) why = t('console.why_relay');
  else if (g.connection !== 'connected') why = t('console.why_no_gama');
  else if (exp === 'NOTREADY') why = t('console.why_loading');
  else if (exp !== 'PAUSED' && exp !== 'RUNNING') why = t('console.why_not_live');
  gaml.ready = why === '';
  setAttr(consoleUi.input, 'aria-disabled', String(!gaml.ready));
  consoleUi.input.readOnly = !gaml.ready;
  setEnabled(consoleUi.submit, gaml.ready);
  setText(consoleUi.hint, why);
}

function entryTime(at) {
  const d = parseTime(at);
  return d ? fmtTime(d) : '';
}

function consoleRow(entry) {
  const li = el('li', { class: 'console-entry' });
  const head = el(
    'div',
    { class: 'console-head' },
    el('code', { class: 'console-expr', text: entry.expr }),
    el('time', { datetime: entry.at, text: entryTime(entry.at) }),
  );
  const answer = el('div', { class: 'console-answer' });
  li.append(head, answer);
  entry.row = li;
  entry.answer = answer;
  fillConsoleRow(entry);
  return li;
}

function fillConsoleRow(entry) {
  setAttr(entry.row, 'data-status', entry.status);
  const answer = entry.answer;
  if (entry.status === 'pending') {
    answer.replaceChildren(el('span', { class: 'spinner', 'aria-hidden': 'true' }), el('span', { class: 'muted', text: t('console.evaluating') }));
    return;
  }
  const ok = entry.status === 'ok';
  const text = ok ? entry.result : consoleError(entry.error);
  const out = el('pre', { class: ok ? 'console-result' : 'console-error' });
  if (!ok) {
    out.append(icon('warning'), el('strong', { text: `${t('console.error_label')} ` }));
  }
  out.append(el('span', { class: 'console-text', text }));
  const copy = el('button', {
    type: 'button',
    class: 'quiet console-copy',
    'aria-label': t(ok ? 'console.copy_result' : 'console.copy_error', { expr: entry.expr }),
    dataset: { action: 'copy' },
  });
  copy.append(el('span', { text: t('console.copy') }));
  answer.replaceChildren(out, copy);
}

function showConsoleEntries() {
  show(consoleUi.empty, gaml.entries.length === 0);
  show(consoleUi.log, gaml.entries.length > 0);
  setEnabled(consoleUi.clear, gaml.entries.length > 0);
}

function addConsoleEntry(entry) {
  gaml.entries.push(entry);
  consoleUi.log.append(consoleRow(entry));
  while (gaml.entries.length > CONSOLE_LOG_MAX) gaml.entries.shift().row.remove();
  showConsoleEntries();
  consoleUi.log.scrollTop = consoleUi.log.scrollHeight;
}

export function restoreConsole() {
  gaml.history = loadSession(CONSOLE_HISTORY_KEY).filter((e) => typeof e === 'string');
  for (const saved of loadSession(CONSOLE_LOG_KEY)) {
    if (typeof saved?.expr !== 'string') continue;
    const entry = { expr: saved.expr, at: saved.at, status: saved.status, result: saved.result, error: saved.error };
    if (entry.status !== 'ok' && entry.status !== 'error') {
      entry.status = 'error';
      entry.error = { code: 'reloaded' };
    }
    addConsoleEntry(entry);
  }
  showConsoleEntries();
}

function remember(expr) {
  if (gaml.history[gaml.history.length - 1] !== expr) gaml.history.push(expr);
  if (gaml.history.length > CONSOLE_HISTORY_MAX) gaml.history.splice(0, gaml.history.length - CONSOLE_HISTORY_MAX);
  saveSession(CONSOLE_HISTORY_KEY, gaml.history);
}

async function evaluate() {
  const input = consoleUi.input;
  const expr = input.value;
  if (!gaml.ready) {
    // The hint under the input says why (the button is aria-disabled, so Enter and clicks land here).
    if (live.last) updateConsole(live.last);
    return;
  }
  if (!expr.trim()) {
    setText(consoleUi.hint, t('console.type_first', { example: 'cycle' }));
    return;
  }
  remember(expr);
  gaml.historyIndex = null;
  gaml.historyDraft = '';
  input.value = '';
  const entry = { expr, at: new Date().toISOString(), status: 'pending' };
  addConsoleEntry(entry);
  try {
    const answer = await api('POST', '/api/console', { expr });
    entry.status = 'ok';
    entry.result = answer?.result == null ? '' : String(answer.result);
  } catch (e) {
    entry.status = 'error';
    entry.error = { code: e.code, params: e.params, message: e.message };
  }
  if (entry.row.isConnected) {
    fillConsoleRow(entry);
    consoleUi.log.scrollTop = consoleUi.log.scrollHeight;
  }
  saveConsoleLog();
}

async function copyText(text, source) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // No clipboard API (an http:// address other than localhost is not a secure context): copy
    // the selection instead.
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    let done = false;
    try {
      done = document.execCommand('copy');
    } catch {
      done = false;
    }
    if (!done) {
      showMessage('info', () => t('console.copy_selected'));
      return;
    }
    selection.removeAllRanges();
  }
  showMessage('info', () => t('console.copied'));
}

/** Says the log again in the page's new language, keeping the focus on a copy button. */
export function renderConsole() {
  for (const entry of gaml.entries) {
    if (!entry.row) continue;
    const focused = entry.answer.contains(document.activeElement);
    fillConsoleRow(entry);
    if (focused) entry.answer.querySelector('.console-copy')?.focus();
  }
}

/** The form, the history keys, the copy and clear buttons. */
export function wireConsole() {
  consoleUi.form.addEventListener('submit', (event) => {
    event.preventDefault();
    evaluate();
  });

  consoleUi.input.addEventListener('keydown', (event) => {
    const input = consoleUi.input;
    if (event.key !== 'ArrowUp' && event.key !== 'ArrowDown') return;
    if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    if (event.key === 'ArrowUp') {
      if (!gaml.history.length) return;
      if (gaml.historyIndex === null) {
        gaml.historyDraft = input.value;
        gaml.historyIndex = gaml.history.length;
      }
      gaml.historyIndex = Math.max(0, gaml.historyIndex - 1);
      input.value = gaml.history[gaml.historyIndex];
    } else {
      if (gaml.historyIndex === null) return;
      gaml.historyIndex += 1;
      if (gaml.historyIndex >= gaml.history.length) {
        gaml.historyIndex = null;
        input.value = gaml.historyDraft;
      } else {
        input.value = gaml.history[gaml.historyIndex];
      }
    }
    event.preventDefault();
    input.setSelectionRange(input.value.length, input.value.length);
  });

  consoleUi.input.addEventListener('input', () => {
    gaml.historyIndex = null;
  });

  consoleUi.log.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-action="copy"]');
    if (!button) return;
    const text = button.closest('.console-answer')?.querySelector('.console-text');
    if (text) copyText(text.textContent, text);
  });

  guard(consoleUi.clear, () => {
    const hadFocus = consoleUi.log.contains(document.activeElement);
    gaml.entries = [];
    consoleUi.log.replaceChildren();
    saveConsoleLog();
    showConsoleEntries();
    if (hadFocus) consoleUi.input.focus();
  });
}
