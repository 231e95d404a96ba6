// gama-vr-relay pages: one headset's screen, drawn on a canvas.
//
// The relay sends a headset's picture on `/api/screens/{serial}/stream` (README, "Headset
// screens"): text messages say what happens (`waiting`, `meta` with the codec and the picture's
// size, `ended`), binary ones carry H.264 as scrcpy encoded it: `[kind][flags][u64 pts µs][data]`,
// kind 0 the codec configuration (SPS and PPS), 1 a frame, flag bit 0 a key frame. The browser's
// own decoder (WebCodecs' VideoDecoder) turns them into pictures; no video library is needed.
//
// What keeps the picture right: the configuration is put in front of the next key frame (the
// decoder reads it from there: no black screen after a restart); nothing is decoded before a key
// frame; a decoder that falls behind drops frames until the next key frame instead of piling up
// delay; and the canvas takes the stream's own size, the page keeping its aspect ratio.
//
// WebCodecs only exists on a secure page: http://localhost, or HTTPS. On a tablet opening the relay
// by its network address, the player says so instead of showing nothing.

import { socketUrl } from './token.js';

// Frames waiting in the decoder beyond which new ones are dropped until the next key frame.
const MAX_DECODE_QUEUE = 6;
// Between two tries of a socket that closed while the screen is still wanted.
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 10000;

/** Why this browser cannot play screens ('insecure' or 'no_webcodecs'), or null when it can. */
export function playbackProblem() {
  if (typeof window.VideoDecoder === 'function') return null;
  return window.isSecureContext ? 'no_webcodecs' : 'insecure';
}

/**
 * Plays headset `serial` on `canvas` while started. `onStatus({state, code, reason})` hears each
 * change. `state`: `connecting`, `waiting` (the headset's stream starts), `playing`, `ended` (the
 * stream stopped), `unsupported` (this browser cannot decode: `code` is `playbackProblem()`'s) or
 * `error` (the decoder refused the stream). `code` is the relay's name for why (`starting`, `idle`,
 * `left`, `failed`…), `reason` the relay's or the browser's own English words.
 */
export class ScreenPlayer {
  constructor(canvas, serial, onStatus = () => {}) {
    this.canvas = canvas;
    this.serial = serial;
    this.onStatus = onStatus;
    this.socket = null;
    this.decoder = null;
    this.meta = null;
    this.config = null; // the last configuration, put in front of the next key frame
    this.needKey = true;
    this.started = false;
    this.retries = 0;
    this.retryTimer = null;
    this.status = { state: 'connecting', code: 'connecting', reason: '' };
    this.frames = 0; // pictures drawn, for the page's tests and a "still moving" check
    this.dropped = 0;
  }

  start() {
    if (this.started) return;
    this.started = true;
    const problem = playbackProblem();
    if (problem) {
      this.setStatus('unsupported', problem);
      return;
    }
    this.open();
  }

  stop() {
    this.started = false;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.socket) {
      const s = this.socket;
      this.socket = null;
      s.onclose = null;
      s.close();
    }
    this.closeDecoder();
  }

  setStatus(state, code = state, reason = '') {
    if (this.status.state === state && this.status.code === code && this.status.reason === reason) return;
    this.status = { state, code, reason };
    this.canvas.dataset.state = state;
    this.onStatus(this.status);
  }

  open() {
    this.setStatus('connecting');
    const socket = new WebSocket(socketUrl(`/api/screens/${encodeURIComponent(this.serial)}/stream`));
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      if (typeof event.data === 'string') this.onText(event.data);
      else this.onPacket(event.data);
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.closeDecoder();
      if (!this.started) return;
      // The relay restarted, or the network came back: try again, more slowly each time.
      if (this.status.state !== 'ended') this.setStatus('connecting');
      const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** this.retries);
      this.retries += 1;
      this.retryTimer = setTimeout(() => this.started && this.open(), delay);
    };
  }

  onText(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (message.type === 'meta') {
      const changed = !this.meta || this.meta.codec !== message.codec || this.meta.width !== message.width || this.meta.height !== message.height;
      this.meta = message;
      if (changed) this.closeDecoder();
      this.retries = 0;
    } else if (message.type === 'waiting') {
      this.setStatus('waiting', String(message.code ?? 'starting'), String(message.reason ?? ''));
    } else if (message.type === 'ended') {
      this.closeDecoder();
      this.setStatus('ended', String(message.code ?? 'failed'), String(message.reason ?? ''));
    }
  }

  onPacket(buffer) {
    if (buffer.byteLength < 10) return;
    const view = new DataView(buffer);
    const kind = view.getUint8(0);
    const key = (view.getUint8(1) & 1) === 1;
    const pts = Number(view.getBigUint64(2));
    const data = new Uint8Array(buffer, 10);
    if (kind === 0) {
      this.config = data;
      return;
    }
    if (!key && this.needKey) {
      this.dropped += 1;
      return;
    }
    if (!this.decoder && !this.openDecoder()) return;
    if (!key && this.decoder.decodeQueueSize > MAX_DECODE_QUEUE) {
      // This computer decodes slower than the headset sends: skip to the next key frame.
      this.needKey = true;
      this.dropped += 1;
      return;
    }
    let chunkData = data;
    if (key && this.config) {
      chunkData = new Uint8Array(this.config.byteLength + data.byteLength);
      chunkData.set(this.config, 0);
      chunkData.set(data, this.config.byteLength);
    }
    try {
      this.decoder.decode(new EncodedVideoChunk({ type: key ? 'key' : 'delta', timestamp: pts, data: chunkData }));
      this.needKey = false;
    } catch (e) {
      this.fail(e);
    }
  }

  openDecoder() {
    if (!this.meta) return false;
    const decoder = new VideoDecoder({
      output: (frame) => this.draw(frame),
      error: (e) => {
        if (this.decoder === decoder) this.fail(e);
      },
    });
    try {
      decoder.configure({
        codec: this.meta.codec,
        codedWidth: this.meta.width,
        codedHeight: this.meta.height,
        optimizeForLatency: true,
      });
    } catch (e) {
      this.fail(e);
      return false;
    }
    this.decoder = decoder;
    this.needKey = true;
    return true;
  }

  draw(frame) {
    try {
      if (!this.started) return;
      const w = frame.displayWidth;
      const h = frame.displayHeight;
      if (this.canvas.width !== w) this.canvas.width = w;
      if (this.canvas.height !== h) this.canvas.height = h;
      this.canvas.getContext('2d').drawImage(frame, 0, 0, w, h);
      this.frames += 1;
      this.canvas.dataset.frames = String(this.frames);
      if (this.status.state !== 'playing') this.setStatus('playing');
    } finally {
      frame.close();
    }
  }

  fail(e) {
    this.closeDecoder();
    this.setStatus('error', 'error', String(e?.message ?? e));
  }

  closeDecoder() {
    const decoder = this.decoder;
    this.decoder = null;
    this.needKey = true;
    if (decoder && decoder.state !== 'closed') {
      try {
        decoder.close();
      } catch {
        // Already closed by an error.
      }
    }
  }
}
