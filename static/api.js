// gama-vr-relay pages: the client of the relay's JSON API, for the admin page and the projector page
// (screens.js). Sends the access token (token.js), and turns every failure into an ApiError with the
// relay's code and params (said.js puts them in words). A 401 also tells the admin page to ask for the
// token (the handler set with onUnauthorized; the projector page sets none). Imports token.js only,
// so that the projector page loads none of the admin page's modules.

import { authorization, currentToken } from './token.js';

// Who is told when the relay refuses the token: (why: 'missing' | 'refused') => void.
const unauthorized = { handler: null };

/** Sets what happens when the relay answers 401 (the token form, wired by app.js). */
export function onUnauthorized(handler) {
  unauthorized.handler = handler;
}

export class ApiError extends Error {
  /** `code`: the relay's stable name of the error (README, "Admin API"), or the page's own
   *  (`unreachable`, `http_status`); `params`: the values for its sentence; `message`: the relay's
   *  English words, shown for a code the page does not know. */
  constructor(status, message, code = null, params = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.params = params ?? {};
  }
}

export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const auth = authorization();
  if (auth) headers.Authorization = auth;
  const init = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'the relay cannot be reached', 'unreachable');
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  const params = data?.params !== null && typeof data?.params === 'object' ? data.params : {};
  if (response.status === 401) {
    unauthorized.handler?.(currentToken() ? 'refused' : 'missing');
    throw new ApiError(401, data?.error ?? 'this admin API needs its access token', 'token_required', params);
  }
  if (!response.ok) {
    if (typeof data?.error !== 'string') {
      throw new ApiError(response.status, `the relay answered ${response.status} ${response.statusText}`, 'http_status', {
        status: response.status,
        text: response.statusText,
      });
    }
    throw new ApiError(response.status, data.error, typeof data?.code === 'string' ? data.code : null, params);
  }
  return data;
}
