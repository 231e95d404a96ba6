// gama-vr-relay admin page: its words in the teacher's language.
//
// One file per language in i18n/ (flat keys, English the reference), loaded at start and when the
// language changes; a key missing from a language falls back to English (and says so in the
// console). `t(key, params)` fills {name} placeholders; with a numeric `count` it picks `key.one` or
// `key.other` (Intl.PluralRules of the language). Numbers, dates and times are formatted with Intl in
// the page's language. Static text in index.html carries data-i18n (text) and data-i18n-aria-label,
// data-i18n-title, data-i18n-placeholder (attributes); a child marked data-i18n-slot="name" stays
// an element and takes the place of {name} in the text. The modules re-render on a change
// (onLanguageChange): no reload, nothing lost.
//
// Everything translated goes through textContent and attributes, never HTML.

/** The languages of the page, each named in itself. */
export const LANGUAGES = [
  { code: 'en', name: 'English' },
  { code: 'fr', name: 'Français' },
  { code: 'vi', name: 'Tiếng Việt' },
  { code: 'th', name: 'ไทย' },
  { code: 'lo', name: 'ລາວ' },
  { code: 'km', name: 'ខ្មែរ' },
];

const FALLBACK = 'en';
const STORAGE_KEY = 'gama-vr-relay.language';
const ATTRIBUTES = ['aria-label', 'title', 'placeholder'];

let current = FALLBACK;
let strings = new Map(); // key → compiled text of the current language
let english = new Map();
const files = new Map(); // code → Promise of its compiled strings
const missing = new Set();
const listeners = new Set();
let plural = new Intl.PluralRules(FALLBACK);
const englishPlural = new Intl.PluralRules(FALLBACK);
const numberFormats = new Map();
const dateFormats = new Map();
// Elements of index.html that keep child elements in their text: element → {name: node}.
const slotsOf = new WeakMap();

/** A text with placeholders, split once: ['Launch failed: ', {name: 'reason'}, …]; a plain text stays a string. */
function compile(text) {
  if (!text.includes('{')) return text;
  const parts = [];
  const re = /\{([a-zA-Z_][a-zA-Z0-9_]*)\}/g;
  let at = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m.index > at) parts.push(text.slice(at, m.index));
    parts.push({ name: m[1] });
    at = m.index + m[0].length;
  }
  if (at < text.length) parts.push(text.slice(at));
  return parts;
}

function load(code) {
  if (!files.has(code)) {
    const promise = fetch(`i18n/${code}.json`, { cache: 'no-cache' })
      .then((r) => {
        if (!r.ok) throw new Error(`${r.status} ${r.statusText}`);
        return r.json();
      })
      .then((data) => {
        const map = new Map();
        for (const [key, value] of Object.entries(data)) if (typeof value === 'string' && value !== '') map.set(key, compile(value));
        return map;
      });
    promise.catch(() => files.delete(code));
    files.set(code, promise);
  }
  return files.get(code);
}

/** The supported language for a BCP 47 tag (`fr-FR` → `fr`), or null. */
export function languageOf(tag) {
  const base = String(tag ?? '').toLowerCase().split(/[-_]/)[0];
  return LANGUAGES.some((l) => l.code === base) ? base : null;
}

function storedLanguage() {
  try {
    return languageOf(localStorage.getItem(STORAGE_KEY));
  } catch {
    return null;
  }
}

/** The language to start with: the one chosen on this page before, else the browser's first
 *  supported preference, else English. */
function preferred() {
  const stored = storedLanguage();
  if (stored) return stored;
  const wanted = navigator.languages?.length ? navigator.languages : [navigator.language];
  for (const tag of wanted) {
    const code = languageOf(tag);
    if (code) return code;
  }
  return FALLBACK;
}

function lookup(key, params) {
  const count = params?.count;
  if (strings.has(key)) return strings.get(key);
  if (typeof count === 'number') {
    const form = strings.get(`${key}.${plural.select(count)}`) ?? strings.get(`${key}.other`);
    if (form !== undefined) return form;
  }
  // Not in this language: English, said once in the console.
  let text = english.get(key);
  if (text === undefined && typeof count === 'number') text = english.get(`${key}.${englishPlural.select(count)}`) ?? english.get(`${key}.other`);
  if (!missing.has(`${current}:${key}`)) {
    missing.add(`${current}:${key}`);
    if (text === undefined) console.warn(`i18n: no text for "${key}" in any language`);
    else if (current !== FALLBACK) console.warn(`i18n: "${key}" is not translated into ${current}; showing English`);
  }
  return text;
}

function formatValue(value) {
  if (value == null) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? fmtNumber(value) : String(value);
  return String(value);
}

/**
 * The text of `key` in the page's language, with each {name} replaced by `params[name]` (numbers
 * formatted for the language; strings as they are). A numeric `params.count` chooses `key.one` or
 * `key.other`.
 */
export function t(key, params) {
  const text = lookup(key, params);
  if (text === undefined) return key;
  if (typeof text === 'string') return text;
  let out = '';
  for (const part of text) out += typeof part === 'string' ? part : formatValue(params?.[part.name]);
  return out;
}

/** Puts the text of `key` in `node`: plain text, or text around the elements of `slots`
 *  ({name: node}) where the text says {name}. */
export function tInto(node, key, params, slots) {
  if (!slots) {
    const text = t(key, params);
    if (node.textContent !== text) node.textContent = text;
    return;
  }
  const text = lookup(key, params);
  const parts = typeof text === 'string' ? [text] : text ?? [key];
  const children = [];
  for (const part of parts) {
    if (typeof part === 'string') children.push(document.createTextNode(part));
    else if (slots[part.name]) children.push(slots[part.name]);
    else children.push(document.createTextNode(formatValue(params?.[part.name])));
  }
  node.replaceChildren(...children);
}

/** The page's language (`en`, `fr`, `vi`, `th`, `lo`, `km`). */
export function lang() {
  return current;
}

/** `n` formatted for the page's language (`options`: Intl.NumberFormat's). */
export function fmtNumber(n, options) {
  const cacheKey = `${current} ${options ? JSON.stringify(options) : ''}`;
  let format = numberFormats.get(cacheKey);
  if (!format) {
    format = new Intl.NumberFormat(current, options);
    numberFormats.set(cacheKey, format);
  }
  return format.format(n);
}

function dateFormat(options) {
  const cacheKey = `${current} ${JSON.stringify(options)}`;
  let format = dateFormats.get(cacheKey);
  if (!format) {
    format = new Intl.DateTimeFormat(current, options);
    dateFormats.set(cacheKey, format);
  }
  return format;
}

/** The time of day of `date`, 24-hour, with seconds (e.g. 14:05:09). */
export function fmtTime(date, { seconds = true } = {}) {
  return dateFormat(seconds ? { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' } : { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(date);
}

/** The day of `date`, short (e.g. 25 Nov). */
export function fmtDay(date) {
  return dateFormat({ day: 'numeric', month: 'short' }).format(date);
}

/** Applies data-i18n and data-i18n-<attribute> to `root` and what it holds. */
export function applyI18n(root = document) {
  for (const node of root.querySelectorAll('[data-i18n]')) {
    let slots = slotsOf.get(node);
    if (slots === undefined) {
      slots = null;
      for (const child of node.querySelectorAll(':scope > [data-i18n-slot]')) (slots ??= {})[child.dataset.i18nSlot] = child;
      slotsOf.set(node, slots);
    }
    tInto(node, node.dataset.i18n, undefined, slots ?? undefined);
  }
  for (const name of ATTRIBUTES) {
    for (const node of root.querySelectorAll(`[data-i18n-${name}]`)) {
      const text = t(node.getAttribute(`data-i18n-${name}`));
      if (node.getAttribute(name) !== text) node.setAttribute(name, text);
    }
  }
}

/** Calls `listener(code)` after every change of language (the page has already been re-labelled). */
export function onLanguageChange(listener) {
  listeners.add(listener);
}

function use(code, map) {
  current = code;
  strings = map;
  plural = new Intl.PluralRules(code);
  document.documentElement.lang = code;
}

let requested = 0; // the last choice wins when files come back out of order

/** Switches the page to language `code` (remembered on this browser) and re-renders it. */
export async function setLanguage(code) {
  const wanted = languageOf(code) ?? FALLBACK;
  const request = ++requested;
  try {
    localStorage.setItem(STORAGE_KEY, wanted);
  } catch {
    // Storage disabled: the choice lasts as long as the page.
  }
  let map;
  try {
    map = await load(wanted);
  } catch (e) {
    console.warn(`i18n: cannot load the ${wanted} texts (${e.message}); keeping ${current}`);
    return;
  }
  if (request !== requested || wanted === current) return;
  use(wanted, map);
  applyI18n();
  for (const listener of listeners) listener(wanted);
}

/** Loads English and the preferred language, then labels the page. Call once, before rendering. */
export async function initI18n() {
  const wanted = preferred();
  const [en, chosen] = await Promise.allSettled([load(FALLBACK), wanted === FALLBACK ? null : load(wanted)]);
  if (en.status === 'fulfilled') english = en.value;
  else console.warn(`i18n: cannot load the English texts (${en.reason?.message})`);
  if (wanted !== FALLBACK && chosen.status === 'fulfilled') use(wanted, chosen.value);
  else use(FALLBACK, english);
  applyI18n();
}
