// gama-vr-relay pages: the live link to the relay, shared by the admin page and the projector page.
//
// A page first asks for the state document (GET /api/state): that paints it at once, and tells "needs
// a token" (401) or "refused" apart from "not reachable", which a failed WebSocket handshake cannot.
// Then it follows the relay's pushes on /api/events. When the socket closes, or no push came for a
// while (the relay pushes at least every second), it tries again, waiting longer each time, and at
// once when the tablet wakes up or its network comes back.

import { socketUrl } from './token.js';

const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 5000;
// No push for this long (the relay pushes at least every second): the link is dead.
const WATCHDOG_MS = 5000;

export class LiveLink {
  /**
   * `fetchState()`: the state document (a promise; it throws what the page's API client throws).
   * `onFetchError(e)`: true to try again later, false when the page took over (asks for a token).
   * `onState(state, pushed)`: a state document, the first of a connection or a push.
   * `onLink(state)`: `connecting`, `live` or `down`.
   */
  constructor({ fetchState, onFetchError, onState, onLink }) {
    this.hooks = { fetchState, onFetchError, onState, onLink };
    this.socket = null;
    this.attempt = 0;
    this.timer = null;
    this.watchdog = null;
    this.up = false;
    this.stopped = true;
    this.generation = 0;
    const soon = () => this.reconnectNow();
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') soon();
    });
    window.addEventListener('online', soon);
  }

  /** Connects (again, from scratch). */
  start() {
    this.stopped = false;
    this.attempt = 0;
    this.connect();
  }

  /** Stops until `start` (the page waits for a token). */
  stop() {
    this.stopped = true;
    this.generation += 1;
    clearTimeout(this.timer);
    this.closeSocket();
  }

  /** Tries at once instead of waiting for the backoff, unless live or stopped. */
  reconnectNow() {
    if (!this.up && !this.stopped) {
      this.attempt = 0;
      this.connect();
    }
  }

  setLink(state) {
    this.up = state === 'live';
    this.hooks.onLink(state);
  }

  closeSocket() {
    clearTimeout(this.watchdog);
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      try {
        socket.close();
      } catch {
        // already closed
      }
    }
  }

  kickWatchdog() {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      this.closeSocket();
      this.retryLater();
    }, WATCHDOG_MS);
  }

  retryLater() {
    clearTimeout(this.timer);
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** this.attempt);
    this.attempt += 1;
    this.setLink('down');
    this.timer = setTimeout(() => this.connect(), delay);
  }

  async connect() {
    clearTimeout(this.timer);
    this.closeSocket();
    if (this.stopped) return;
    const generation = ++this.generation;
    if (!this.up && this.attempt === 0) this.setLink('connecting');
    let state;
    try {
      state = await this.hooks.fetchState();
    } catch (e) {
      if (generation !== this.generation) return;
      if (this.hooks.onFetchError(e)) this.retryLater();
      return;
    }
    if (generation !== this.generation) return;
    this.hooks.onState(state, false);
    const socket = new WebSocket(socketUrl('/api/events'));
    this.socket = socket;
    this.kickWatchdog();
    socket.onmessage = (event) => {
      let push;
      try {
        push = JSON.parse(event.data);
      } catch {
        return;
      }
      if (push?.type !== 'state' || !push.state) return;
      if (!this.up) this.setLink('live');
      this.attempt = 0;
      this.kickWatchdog();
      this.hooks.onState(push.state, true);
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.closeSocket();
      this.retryLater();
    };
    socket.onerror = () => {
      // onclose follows and tries again.
    };
  }
}
