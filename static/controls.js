// gama-vr-relay admin page: the session's buttons (launch, pause, resume, stop) and every action the
// page asks of the relay: a busy button while it runs, a confirmation or the relay's refusal after,
// and which buttons can be used in the relay's state.

import { $, guard, setAttr, setEnabled, setText } from './dom.js';
import { t } from './i18n.js';
import { api } from './api.js';
import { errorText, operationWord } from './said.js';
import { clearMessage, showMessage } from './messages.js';
import { confirmAction } from './confirm.js';
import { live } from './page-state.js';
import { minimumShort } from './status.js';
import { updateConsole } from './gaml-console.js';

const buttons = {
  launch: $('launch'),
  pause: $('pause'),
  resume: $('resume'),
  stop: $('stop'),
};
// The action this page is waiting for (its button), null when none.
const waiting = { button: null };

export function updateControls(state) {
  const g = state.gama;
  const connected = g.connection === 'connected';
  const free = live.up && connected && !g.operation && !waiting.button;
  const exp = g.experiment_state;
  const open = exp === 'PAUSED' || exp === 'RUNNING' || exp === 'NOTREADY';
  // A tool's experiment in desktop GAMA is replaced by the session's at launch.
  setEnabled(buttons.launch, free && Boolean(state.model) && (!open || Boolean(g.tool_experiment)));
  setEnabled(buttons.pause, free && exp === 'RUNNING');
  setEnabled(buttons.resume, free && exp === 'PAUSED');
  setEnabled(buttons.stop, free && exp !== 'NONE');
  setEnabled($('detail-remove'), live.up);
  for (const b of document.querySelectorAll('#catalog button[data-model]')) {
    setEnabled(b, live.up && b.getAttribute('aria-pressed') !== 'true');
  }
  setEnabled($('rescan'), live.up);
  updateConsole(state);
  let hint = '';
  if (!live.up) hint = '';
  else if (!connected) hint = t('controls.hint_no_gama');
  else if (g.operation) hint = t('controls.hint_busy', { operation: operationWord(g.operation) });
  else if (!state.model) hint = t('controls.hint_no_model');
  else if (!open && minimumShort(state) != null) {
    const min = minimumShort(state);
    hint = t('controls.hint_below_minimum', { model: state.model.name, count: min, min, connected: state.counts.connected });
  }
  setText($('controls-hint'), hint);
}

/**
 * Runs an action against the relay: busy button, then a confirmation or the relay's error.
 * `failed(reason)` and `done()` give the words in the page's language (done: none, the message
 * goes away).
 */
export async function run(button, { failed, done }, request) {
  waiting.button = button;
  setAttr(button, 'aria-busy', 'true');
  if (live.last) updateControls(live.last);
  try {
    const result = await request();
    if (done) showMessage('info', done);
    else clearMessage('action');
    return { ok: true, result };
  } catch (e) {
    if (e.status !== 401) showMessage('error', () => failed(errorText(e)));
    return { ok: false, error: e };
  } finally {
    waiting.button = null;
    setAttr(button, 'aria-busy', null);
    if (live.last) updateControls(live.last);
  }
}

// A relay that gives no code: its English words say the minimum was not reached.
const MINIMUM_NOT_REACHED = /at least|minimum|launch anyway/i;

async function launch() {
  const button = buttons.launch;
  const failed = (reason) => t('actions.launch_failed', { reason });
  const first = await run(button, { failed, done: () => t('actions.launch_done') }, () => api('POST', '/api/experiment/launch'));
  if (first.ok || first.error.status !== 409) return;
  const e = first.error;
  if (e.code ? e.code !== 'below_minimum' : !MINIMUM_NOT_REACHED.test(e.message)) return;
  const yes = await confirmAction({
    title: () => t('actions.launch_anyway_title'),
    text: () => errorText(e),
    ok: () => t('actions.launch_anyway'),
    danger: false,
  });
  if (!yes) return;
  await run(button, { failed, done: () => t('actions.launch_done_forced') }, () => api('POST', '/api/experiment/launch', { force: true }));
}

async function stop() {
  const yes = await confirmAction({
    title: () => t('actions.stop_title'),
    text: () => t('actions.stop_text'),
    ok: () => t('controls.stop'),
  });
  if (!yes) return;
  await run(buttons.stop, { failed: (reason) => t('actions.stop_failed', { reason }), done: () => t('actions.stop_done') }, () =>
    api('POST', '/api/experiment/stop'),
  );
}

export async function removePlayer(id, button) {
  const yes = await confirmAction({
    title: () => t('actions.remove_title', { player: id }),
    text: () => t('actions.remove_text', { player: id }),
    ok: () => t('detail.remove'),
  });
  if (!yes) return;
  await run(
    button,
    { failed: (reason) => t('actions.remove_failed', { player: id, reason }), done: () => t('actions.remove_done', { player: id }) },
    () => api('DELETE', `/api/players/${encodeURIComponent(id)}`),
  );
}

/** The buttons in the header. */
export function wireControls() {
  guard(buttons.launch, launch);
  guard(buttons.pause, () =>
    run(buttons.pause, { failed: (reason) => t('actions.pause_failed', { reason }), done: () => t('actions.pause_done') }, () =>
      api('POST', '/api/experiment/pause'),
    ),
  );
  guard(buttons.resume, () =>
    run(buttons.resume, { failed: (reason) => t('actions.resume_failed', { reason }), done: () => t('actions.resume_done') }, () =>
      api('POST', '/api/experiment/resume'),
    ),
  );
  guard(buttons.stop, stop);
}
