// gama-vr-relay pages: the words about headset screens, shared by the admin page and the projector.
//
// The relay describes each headset ADB knows (`state.screens.devices`: serial, model, ADB's state,
// the player connected from its address) and why screens cannot be shown at all
// (`state.screens.unavailable`: a code and the relay's English words). A screen's stream says what it
// does with a code too (`starting`, `idle`, `left`, `failed`…). Every code the page knows is worded
// in the page's language; an unknown one shows the relay's English words.

import { t } from './i18n.js';

// Why no screen can be shown, by `unavailable.code`: one line that says what to do.
const UNAVAILABLE = {
  mirror_off: () => t('screens.unavailable.mirror_off'),
  adb_unreachable: (p) => (p.address == null ? null : t('screens.unavailable.adb_unreachable', { address: String(p.address) })),
  scrcpy_missing: () => t('screens.unavailable.scrcpy_missing'),
};

/** Why no headset screen can be shown (the relay's `unavailable`), in the page's language. */
export function unavailableText(said) {
  if (!said) return '';
  return UNAVAILABLE[said.code]?.(said.params ?? {}) ?? said.text ?? '';
}

// ADB's word for a headset it cannot use yet → what the teacher does about it.
const ADB_STATES = {
  unauthorized: 'screens.adb.unauthorized',
  offline: 'screens.adb.offline',
  authorizing: 'screens.adb.authorizing',
  connecting: 'screens.adb.connecting',
  'no permissions': 'screens.adb.no_permissions',
};

/** What keeps a headset's screen from showing (ADB's state), or '' when it can show. */
export function deviceProblem(device) {
  if (!device || device.state === 'device') return '';
  const key = ADB_STATES[device.state];
  return key ? t(key) : t('screens.adb.unknown', { state: device.state });
}

/** A headset's model as people say it ("Quest 3" for ADB's "Quest_3"). */
export function modelName(device) {
  return device?.model ? device.model.replaceAll('_', ' ') : '';
}

/** A headset's name on the page: its player when one is connected from it, else its model. */
export function deviceName(device) {
  return device.player ?? (modelName(device) || device.serial);
}

/** What else identifies it: model and serial, without what its name already says. */
export function deviceDetail(device) {
  const parts = [];
  if (device.player && device.model) parts.push(modelName(device));
  if (device.player || device.model) parts.push(device.serial);
  return parts.join(' · ');
}

/** The order headsets are shown in: players' headsets first, then those that can show their
 *  screen, then the others, each by name. */
export function byPlace(a, b) {
  const rank = (d) => (d.player != null ? 0 : d.state === 'device' ? 1 : 2);
  return rank(a) - rank(b) || deviceName(a).localeCompare(deviceName(b), undefined, { numeric: true });
}

// A screen's stream, by code (the `code` of `waiting` and `ended`, or the player's own state).
const STATUS = {
  connecting: 'screens.status.connecting',
  starting: 'screens.status.starting',
  idle: 'screens.status.idle',
  left: 'screens.status.left',
  mirror_off: 'screens.unavailable.mirror_off',
  scrcpy_missing: 'screens.unavailable.scrcpy_missing',
  scrcpy_version: 'screens.status.scrcpy_version',
  no_device: 'screens.status.no_device',
  failed: 'screens.status.failed',
  error: 'screens.status.decode_error',
  insecure: 'screens.unsupported.insecure',
  no_webcodecs: 'screens.unsupported.no_webcodecs',
};

/**
 * What a screen shows instead of a picture, for a player's status (`{state, code, reason}` of
 * screen-player.js): `{text, detail}`, `detail` being the relay's or the browser's own words when
 * they say more than the text. Null while it plays.
 */
export function statusText(status) {
  if (!status || status.state === 'playing') return null;
  const key = STATUS[status.code];
  const raw = status.state === 'unsupported' ? '' : status.reason ?? '';
  if (!key) return { text: raw || t('screens.status.failed'), detail: '' };
  const more = ['failed', 'scrcpy_version', 'error'].includes(status.code);
  return { text: t(key), detail: more ? raw : '' };
}

/** `statusText` of a screen's player, one that said nothing yet counting as connecting. */
export function streamText(status) {
  return statusText(status ?? { state: 'connecting', code: 'connecting' });
}
