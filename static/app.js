// gama-vr-relay admin page: the entry point, which wires the page's parts together and starts.
//
// Follows the relay live over /api/events (one full state document per push, relay.js, drawn by
// render.js), drives it through the JSON API (api.js) and never puts data into the page as HTML:
// player ids and GAMA's messages are untrusted, so everything goes through textContent (dom.js). No
// inline scripts or styles (the relay's CSP forbids them). Every word comes from i18n.js
// (static/i18n/<language>.json), the relay's refusals included (said.js): nothing here is written in
// one language only.
//
// The parts, one module each: the header's layout (header.js), GAMA's card and the counts
// (status.js), the simulation's pace (pace.js), the players' grid and detail (players.js,
// player-tiles.js, player-detail.js), the session's buttons (controls.js), the learning packages
// (packages.js), the GAML console (gaml-console.js), the world view (world.js), the kept sessions
// (sessions.js), the recent changes (audit.js) and the headsets' screens (screens-card.js).

import { setupWorldView } from './world.js';
import { setupSessions } from './sessions.js';
import { setupAudit } from './audit.js';
import { setupScreens } from './screens-card.js';
import { $, el } from './dom.js';
import { LANGUAGES, initI18n, lang, onLanguageChange, setLanguage } from './i18n.js';
import { setIcon } from './icons.js';
import { onUnauthorized } from './api.js';
import { renderMessage, wireMessages } from './messages.js';
import { renderQuestion } from './confirm.js';
import { live } from './page-state.js';
import { wirePlayers } from './players.js';
import { wireDetail } from './player-detail.js';
import { wireControls } from './controls.js';
import { catalog, renderCatalog, wirePackages } from './packages.js';
import { renderConsole, restoreConsole, wireConsole } from './gaml-console.js';
import { render, renderStats } from './render.js';
import { askForToken, relay, renderAuth, renderLink, wireAuth } from './relay.js';
import { fitHeader, watchHeader } from './header.js';
import { panels } from './panels.js';

onUnauthorized(askForToken);
wireMessages();
wireAuth();
wirePlayers();
wireDetail();
wireControls();
wirePackages();
wireConsole();

// The page's words first: the language chosen before, or the browser's (English when neither is
// one of the page's).
await initI18n();
for (const holder of document.querySelectorAll('[data-icon]')) setIcon(holder, holder.dataset.icon);
restoreConsole();
panels.world = setupWorldView();
panels.sessions = setupSessions();
panels.audit = setupAudit();
panels.screens = setupScreens();

// -------------------------------------------------------------------------------------------------
// Language: the choice in the header, remembered; the page re-renders in place (dialogs, focus,
// the console and the world view stay as they are).
// -------------------------------------------------------------------------------------------------

const languageSelect = $('language');
languageSelect.replaceChildren(...LANGUAGES.map(({ code, name }) => el('option', { value: code, lang: code, text: name })));
languageSelect.value = lang();
languageSelect.addEventListener('change', async () => {
  await setLanguage(languageSelect.value);
  // A language whose file could not be read: the choice shows the language still in use.
  languageSelect.value = lang();
});

onLanguageChange(() => {
  languageSelect.value = lang();
  renderLink();
  if (live.waitingForToken) renderAuth();
  renderMessage();
  renderQuestion();
  if (catalog.last) renderCatalog(catalog.last);
  renderConsole();
  if (live.last) render(live.last);
  fitHeader();
});

watchHeader();
// For tests and the curious: the decoded view, with where everything is drawn; what the pushes cost;
// the sessions panel and the recent changes as shown.
window.worldView = { snapshot: () => panels.world.snapshot() };
window.sessionsView = { snapshot: () => panels.sessions.snapshot() };
window.auditView = { snapshot: () => panels.audit.snapshot() };
window.screensCard = { snapshot: () => panels.screens.snapshot() };
window.adminPage = { stats: () => ({ ...renderStats }) };
relay.start();
