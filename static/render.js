// gama-vr-relay admin page: one state document of the relay (a push over /api/events) drawn on the
// whole page, each part from its own module, and the tab's title.

import { $, show } from './dom.js';
import { t } from './i18n.js';
import { lower } from './format.js';
import { live } from './page-state.js';
import { GAMA_CONNECTION, experimentWord, word } from './words.js';
import { renderCounts, renderExperiment, renderGama } from './status.js';
import { relayClock, renderClock, sampleClock, sampleTraffic } from './pace.js';
import { renderPlayers } from './players.js';
import { renderConnectHelp } from './connect.js';
import { updateControls } from './controls.js';
import { catalog, loadModels } from './packages.js';
import { panels } from './panels.js';

// What the pushes cost this page: window.adminPage.stats(), for the browser tests and the curious.
export const renderStats = { pushes: 0, ms: 0, maxMs: 0 };

export function render(state) {
  const started = performance.now();
  live.last = state;
  live.lastAt = new Date();
  const now = relayClock(state);
  show($('session'), !live.waitingForToken);
  sampleTraffic(state, now);
  sampleClock(state.clock, now);
  renderGama(state.gama);
  renderExperiment(state);
  const pace = renderClock(state, started);
  renderCounts(state);
  renderPlayers(state.players ?? [], pace.flowing, now);
  renderConnectHelp(state);
  updateControls(state);
  panels.world?.update(state);
  panels.sessions?.update(state);
  panels.audit?.update(state);
  panels.screens?.update(state);
  if (state.catalog_version !== catalog.version) loadModels(state.catalog_version);
  // The tab title tells the state too, for a teacher with many tabs open.
  const gama =
    state.gama.connection === 'connected'
      ? experimentWord(state.gama.experiment_state)
      : t('title.gama', { connection: lower(word(GAMA_CONNECTION, state.gama.connection)) });
  const title = t(pace.state === 'stalled' ? 'title.page_stalled' : 'title.page', { state: gama, count: state.counts.in_game });
  if (document.title !== title) document.title = title;
  const spent = performance.now() - started;
  renderStats.pushes += 1;
  renderStats.ms += spent;
  renderStats.maxMs = Math.max(renderStats.maxMs, spent);
}
