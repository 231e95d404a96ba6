// gama-vr-relay admin page: numbers, sizes, durations and times in words, in the page's language
// (i18n.js). Pure functions of their arguments and the language: every part of the page writes
// them the same way.

import { fmtDay, fmtNumber, fmtTime, lang, t } from './i18n.js';

export function fmtCount(n) {
  return n == null ? '—' : fmtNumber(n);
}

export function fmtMessages(n) {
  return t('units.messages', { count: n });
}

/** A decimal with one digit after the point (2.5; 2,5 in French). */
export function fmtDecimal(v) {
  return fmtNumber(v, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
}

// Bytes, kilobytes… by powers of 1000; each unit's words in the language files.
const BYTE_UNITS = ['units.kb', 'units.mb', 'units.gb', 'units.tb'];

export function fmtBytes(n) {
  if (n == null) return '—';
  if (n < 1000) return t('units.bytes', { n });
  let v = n;
  let i = -1;
  do {
    v /= 1000;
    i += 1;
  } while (v >= 1000 && i < BYTE_UNITS.length - 1);
  return t(BYTE_UNITS[i], { n: v < 10 ? fmtDecimal(v) : Math.round(v) });
}

export function fmtDuration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return t('duration.seconds', { s });
  const m = Math.floor(s / 60);
  if (m < 60) return t('duration.minutes', { m });
  const h = Math.floor(m / 60);
  return t('duration.hours', { h, m: m % 60 });
}

export function fmtAgo(ms) {
  if (ms == null) return '—';
  if (ms < 1500) return t('time.just_now');
  return t('time.ago', { duration: fmtDuration(ms) });
}

export function parseTime(rfc3339) {
  if (!rfc3339) return null;
  const d = new Date(rfc3339);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function fmtClock(rfc3339) {
  const d = parseTime(rfc3339);
  if (!d) return '—';
  const time = fmtTime(d);
  const today = new Date();
  if (d.toDateString() === today.toDateString()) return time;
  return t('time.day_and_time', { day: fmtDay(d), time });
}

export function capitalise(s) {
  return s ? s.charAt(0).toLocaleUpperCase(lang()) + s.slice(1) : s;
}

export function lower(s) {
  return String(s).toLocaleLowerCase(lang());
}

/** The relay's own English words (a reason it gives) as a sentence: capital first letter, final full
 *  stop. */
export function sentence(text) {
  const s = capitalise(String(text).trim());
  return /[.!?…]$/.test(s) ? s : `${s}.`;
}

/** A rate in words: whole numbers from 10 up, so a steady pace does not flicker. */
export function fmtPace(rate) {
  return rate < 10 ? fmtDecimal(rate) : fmtNumber(Math.round(rate));
}

export function fmtSince(ms) {
  if (ms == null) return t('time.none_yet');
  if (ms < 1000) return t('time.ms_ago', { ms: Math.round(ms) });
  if (ms < 60000) return t('time.seconds_ago', { s: fmtDecimal(ms / 1000) });
  return t('time.ago', { duration: fmtDuration(ms) });
}

export function fmtRate(rate) {
  return rate == null ? '—' : t('units.per_second', { rate: fmtPace(rate) });
}

export function fmtMs(ms) {
  return t('units.ms', { ms });
}
