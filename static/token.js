// gama-vr-relay pages: the admin access token, shared by the admin page and the projector page.
//
// Off this computer the relay asks for its token (README, "Security"). The token arrives in the
// address's fragment (#token=…, as the relay prints it), is kept in this browser's storage so that
// the next visit needs nothing, and is taken out of the address bar at once so that it is not shown
// on a projector or shared with a screenshot.

const TOKEN_KEY = 'gama-vr-relay.token';

function loadStoredToken() {
  try {
    return localStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

function storeToken(value) {
  try {
    if (value) localStorage.setItem(TOKEN_KEY, value);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage disabled: the token lives as long as the page.
  }
}

/** Takes `token=…` out of the fragment (keeping anything else there) and returns it. */
export function takeTokenFromUrl() {
  const hash = location.hash.replace(/^#/, '');
  if (!hash) return null;
  let found = null;
  const rest = [];
  for (const part of hash.split('&')) {
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    if (key === 'token') {
      const raw = eq < 0 ? '' : part.slice(eq + 1);
      try {
        found = decodeURIComponent(raw);
      } catch {
        found = raw;
      }
    } else if (part) {
      rest.push(part);
    }
  }
  if (found === null) return null;
  history.replaceState(history.state, '', location.pathname + location.search + (rest.length ? `#${rest.join('&')}` : ''));
  return found.trim();
}

let token = (() => {
  const fromUrl = takeTokenFromUrl();
  if (fromUrl) {
    storeToken(fromUrl);
    return fromUrl;
  }
  return loadStoredToken();
})();

/** The token this page uses ('' for none). */
export function currentToken() {
  return token;
}

/** Uses (and keeps) a new token. */
export function setToken(value) {
  token = value;
  storeToken(value);
}

/** The `Authorization` header's value, or null without a token. */
export function authorization() {
  return token ? `Bearer ${token}` : null;
}

/** A same-origin URL with `?token=` added, for what cannot carry a header (socket, images). */
export function withToken(path) {
  if (!token) return path;
  return `${path}${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
}

/** A same-origin WebSocket URL (ws: or wss: as the page) with the token. */
export function socketUrl(path) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${withToken(path)}`;
}
