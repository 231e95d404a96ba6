// gama-vr-relay admin page: the page's link to the relay. The live state feed (live.js) drawn on the
// page at each push, the link's state in the header (with a note that what shows is stale while the
// relay is away), and the token form when the relay asks for its access token.

import { $, el, setText, show } from './dom.js';
import { fmtTime, t, tInto } from './i18n.js';
import { setIcon } from './icons.js';
import { setToken, takeTokenFromUrl } from './token.js';
import { LiveLink } from './live.js';
import { api } from './api.js';
import { errorText } from './said.js';
import { clearMessage, showMessage } from './messages.js';
import { live } from './page-state.js';
import { updateControls } from './controls.js';
import { catalog } from './packages.js';
import { render } from './render.js';
import { panels } from './panels.js';

// The page's link to the relay, in words.
const LINK = {
  connecting: 'link.connecting',
  live: 'link.live',
  down: 'link.down',
  locked: 'link.locked',
};

export function setLink(state) {
  const link = $('relay-link');
  link.dataset.state = state;
  live.link = state;
  $('main').dataset.live = String(live.up);
  renderLink();
  setIcon(link.querySelector('.link-icon'), { live: 'dot', down: 'cross', locked: 'warning' }[state] ?? 'ring');
  if (live.last) updateControls(live.last);
}

export function renderLink() {
  const state = live.link;
  const text = t(LINK[state]);
  setText($('relay-link-text'), text);
  // Whatever is shown is the last state received: say so while the relay is away.
  const stale = $('stale');
  show(stale, state === 'down' && live.lastAt !== null);
  if (state === 'down' && live.lastAt !== null) setText(stale, t('link.stale', { time: fmtTime(live.lastAt) }));
  if (state === 'down' || state === 'locked') document.title = t('title.page_status', { status: text });
}

export const relay = new LiveLink({
  fetchState: () => api('GET', '/api/state'),
  onFetchError: (e) => {
    if (e.status === 401) return false; // askForToken took over
    if (e.status) showMessage('error', () => t('link.refused', { reason: errorText(e) }), 'link');
    return true;
  },
  onState: (state, pushed) => {
    // A relay that restarted counts its catalog versions from scratch: read the catalog again.
    if (!pushed) catalog.version = null;
    render(state);
  },
  onLink: (state) => {
    if (state === 'live') clearMessage('link');
    setLink(state);
  },
});

// -------------------------------------------------------------------------------------------------
// Token form
// -------------------------------------------------------------------------------------------------

/** Stops following the relay and asks for its token (`why`: missing, refused). */
export function askForToken(why) {
  if (live.waitingForToken) return;
  live.waitingForToken = true;
  relay.stop();
  panels.world?.stop();
  setLink('locked');
  live.why = why;
  renderAuth();
  show($('auth'), true);
  show($('main'), false);
  show($('session'), false);
  const input = $('token-input');
  input.value = '';
  input.focus();
}

// Why the page asks for the token; {code} is the end of the address the relay prints.
const AUTH_WHY = {
  missing: ['auth.why_missing', '#token=…'],
  refused: ['auth.why_refused', '#token=…'],
  invalid: ['auth.why_invalid', '#token='],
};

export function renderAuth() {
  const [key, code] = AUTH_WHY[live.why] ?? AUTH_WHY.missing;
  tInto($('auth-why'), key, null, { code: el('code', { text: code }) });
}

/** Starts over with a new token (typed in the form, or a #token=… link opened in this tab). */
function useToken(value) {
  setToken(value);
  live.waitingForToken = false;
  show($('auth'), false);
  show($('main'), true);
  catalog.version = null;
  relay.start();
}

/** The token form, and a #token=… link opened in this tab. */
export function wireAuth() {
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = $('token-input');
    const value = input.value.trim();
    // Header values must be printable ASCII; anything else cannot be the relay's token.
    if (!value || !/^[\x21-\x7e]+$/.test(value)) {
      live.why = 'invalid';
      renderAuth();
      input.focus();
      return;
    }
    useToken(value);
  });

  window.addEventListener('hashchange', () => {
    const fresh = takeTokenFromUrl();
    if (fresh) useToken(fresh);
  });
}
