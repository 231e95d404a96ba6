// Drives the admin page in the system's headless Chromium for tests/admin_page.rs.
//
// Protocol: one JSON command per line on stdin, one JSON reply per line on stdout, in order.
// The first line written is {"ok":true,"ready":true,...} once the browser runs. Every reply is
// {"ok":true,...} or {"ok":false,"error":"..."}; stdin closing ends the browser and the process.
//
//   {"cmd":"open","url":U}                         load U, wait for the load event
//   {"cmd":"viewport","width":W,"height":H}
//   {"cmd":"wait","selector":S,"state":"visible"|"hidden"|"attached"|"detached","timeout_ms":T}
//   {"cmd":"wait_text","selector":S,"text":X,"timeout_ms":T}   S's text contains X
//   {"cmd":"wait_fn","expr":E,"timeout_ms":T}       until the JS expression E is truthy -> {"value":…}
//   {"cmd":"count","selector":S}                   -> {"count":N}
//   {"cmd":"text","selector":S}                    -> {"text":X} (first match)
//   {"cmd":"attr","selector":S,"name":A}           -> {"value":X|null}
//   {"cmd":"click","selector":S,"timeout_ms":T}    waits until visible and enabled (aria-disabled too)
//   {"cmd":"fill","selector":S,"value":X}
//   {"cmd":"select","selector":S,"value":V}        chooses the <option> whose value is V
//   {"cmd":"press","key":K}                        keyboard on the focused element
//   {"cmd":"eval","expr":E}                        -> {"value":…} (E is a JS expression)
//   {"cmd":"mouse","action":"move"|"down"|"up"|"wheel","x":X,"y":Y,"steps":N,"delta_y":D}
//                                                  the mouse at (X, Y), viewport CSS pixels; "wheel"
//                                                  moves there first, then scrolls by D
//   {"cmd":"arm","selector":S,"timeout_ms":T}      starts watching for S to match (MutationObserver),
//   {"cmd":"await"}                                -> {"elapsed_ms":N}: from "arm" to the first match
//   {"cmd":"color_scheme","value":"dark"|"light"}  emulates the system's colour scheme
//   {"cmd":"init_script","script":JS}              runs JS in every page loaded from now on, before
//                                                  the page's own scripts (e.g. a PerformanceObserver)
//   {"cmd":"cpu_throttle","rate":R}               the page's CPU R times slower (1: full speed)
//   {"cmd":"metrics"}                              -> {"metrics":{…}}: Chromium's cumulative counters
//                                                  (CDP Performance.getMetrics: ScriptDuration,
//                                                  TaskDuration, LayoutDuration, Timestamp… in s)
//   {"cmd":"screenshot","path":P,"full_page":true}
//   {"cmd":"screenshot","path":P,"selector":S}     only the element S
//   {"cmd":"fonts","selector":S}                   -> {"fonts":[{"familyName":…,"glyphCount":N}…]}: the
//                                                  fonts Chromium drew S's text with (CDP
//                                                  CSS.getPlatformFontsForNode)
//   {"cmd":"grant","permissions":[…]}              e.g. clipboard-read, for the current page's origin
//   {"cmd":"clear_storage"}                        localStorage of the page's origin
//   {"cmd":"errors"}                               -> {"page_errors":[…],"console_errors":[…]}
//
// The browser's language is ADMIN_PAGE_LOCALE (a BCP 47 tag, e.g. th-TH; English, en-US, unless
// said), as navigator.languages and Accept-Language give it to the page.
//
// Never downloads a browser: Chromium is the Debian package at /usr/bin/chromium.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.ADMIN_PAGE_CHROMIUM || '/usr/bin/chromium';
const DEFAULT_TIMEOUT_MS = 5000;
const LOCALE = process.env.ADMIN_PAGE_LOCALE || 'en-US';

function reply(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

// A fresh profile for every run; the Rust side passes a folder it deletes even when a test fails.
const profile = process.env.ADMIN_PAGE_PROFILE_DIR || fs.mkdtempSync(path.join(os.tmpdir(), 'gama-vr-relay-chromium-'));
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    locale: LOCALE,
    args: [
      `--lang=${LOCALE}`,
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--disable-dev-shm-usage',
    ],
  });
} catch (e) {
  reply({ ok: false, error: `cannot start ${CHROMIUM}: ${e.message}` });
  fs.rmSync(profile, { recursive: true, force: true });
  process.exit(1);
}

const page = context.pages()[0] ?? (await context.newPage());
const pageErrors = [];
const consoleErrors = [];
page.on('pageerror', (e) => pageErrors.push(String(e?.stack ?? e)));
page.on('console', (m) => {
  if (m.type() === 'error') consoleErrors.push(m.text());
});

let armed = null;
let cdp = null;

async function cdpSession() {
  cdp ??= await context.newCDPSession(page);
  return cdp;
}

async function cleanup() {
  try {
    await context.close();
  } catch {
    // already gone
  }
  fs.rmSync(profile, { recursive: true, force: true });
}

const commands = {
  async open({ url }) {
    await page.goto(url, { waitUntil: 'load', timeout: 10000 });
    return {};
  },
  async viewport({ width, height }) {
    await page.setViewportSize({ width, height });
    return {};
  },
  async wait({ selector, state = 'visible', timeout_ms = DEFAULT_TIMEOUT_MS }) {
    await page.locator(selector).first().waitFor({ state, timeout: timeout_ms });
    return {};
  },
  async wait_text({ selector, text, timeout_ms = DEFAULT_TIMEOUT_MS }) {
    const started = Date.now();
    try {
      await page.waitForFunction(
        ([s, t]) => {
          const node = document.querySelector(s);
          return node !== null && node.textContent.includes(t);
        },
        [selector, text],
        { timeout: timeout_ms, polling: 50 },
      );
    } catch (e) {
      const now = await page.evaluate((s) => document.querySelector(s)?.textContent ?? null, selector).catch(() => null);
      throw new Error(`${selector} did not contain ${JSON.stringify(text)} within ${timeout_ms} ms (text now: ${JSON.stringify(now)})`);
    }
    return { elapsed_ms: Date.now() - started };
  },
  async wait_fn({ expr, timeout_ms = DEFAULT_TIMEOUT_MS }) {
    // Polled with evaluate: waitForFunction compiles a string in the page, which the relay's CSP
    // (rightly) forbids.
    const started = Date.now();
    let last;
    for (;;) {
      last = await page.evaluate(`(${expr})`);
      if (last) return { value: last, elapsed_ms: Date.now() - started };
      if (Date.now() - started > timeout_ms) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`${expr} was not true within ${timeout_ms} ms (now: ${JSON.stringify(last)})`);
  },
  async count({ selector }) {
    return { count: await page.locator(selector).count() };
  },
  async text({ selector }) {
    return { text: await page.locator(selector).first().textContent({ timeout: DEFAULT_TIMEOUT_MS }) };
  },
  async attr({ selector, name }) {
    return { value: await page.locator(selector).first().getAttribute(name, { timeout: DEFAULT_TIMEOUT_MS }) };
  },
  async click({ selector, timeout_ms = DEFAULT_TIMEOUT_MS }) {
    await page.locator(selector).first().click({ timeout: timeout_ms });
    return {};
  },
  async fill({ selector, value }) {
    await page.locator(selector).first().fill(value, { timeout: DEFAULT_TIMEOUT_MS });
    return {};
  },
  async select({ selector, value }) {
    await page.locator(selector).first().selectOption(value, { timeout: DEFAULT_TIMEOUT_MS });
    return {};
  },
  async mouse({ action, x, y, steps = 1, delta_y = 0 }) {
    if (x !== undefined && y !== undefined) await page.mouse.move(x, y, { steps });
    if (action === 'down') await page.mouse.down();
    else if (action === 'up') await page.mouse.up();
    else if (action === 'wheel') await page.mouse.wheel(0, delta_y);
    else if (action !== 'move') throw new Error(`unknown mouse action ${JSON.stringify(action)}`);
    return {};
  },
  async press({ key }) {
    await page.keyboard.press(key);
    return {};
  },
  async eval({ expr }) {
    // eslint-disable-next-line no-new-func
    return { value: await page.evaluate(`(${expr})`) };
  },
  async arm({ selector, timeout_ms = DEFAULT_TIMEOUT_MS }) {
    const armedAt = Date.now();
    // Resolves with the page's clock (same machine clock as Date.now() here) at the first match.
    const seen = page.evaluate(
      ([s, t]) =>
        new Promise((resolve) => {
          const check = () => document.querySelector(s) !== null;
          if (check()) {
            resolve(Date.now());
            return;
          }
          const observer = new MutationObserver(() => {
            if (check()) {
              observer.disconnect();
              clearTimeout(timer);
              resolve(Date.now());
            }
          });
          const timer = setTimeout(() => {
            observer.disconnect();
            resolve(null);
          }, t);
          observer.observe(document.documentElement, { subtree: true, childList: true, attributes: true, characterData: true });
        }),
      [selector, timeout_ms],
    );
    armed = { selector, armedAt, seen, timeout_ms };
    // Make sure the observer is installed before the Rust side acts.
    await page.evaluate(() => true);
    return {};
  },
  async await() {
    if (!armed) throw new Error('nothing armed');
    const { selector, armedAt, seen, timeout_ms } = armed;
    armed = null;
    const at = await seen;
    if (at === null) throw new Error(`${selector} did not appear within ${timeout_ms} ms of "arm"`);
    return { elapsed_ms: at - armedAt };
  },
  async cpu_throttle({ rate }) {
    await (await cdpSession()).send('Emulation.setCPUThrottlingRate', { rate });
    return {};
  },
  async init_script({ script }) {
    await page.addInitScript(script);
    return {};
  },
  async metrics() {
    const cdp = await cdpSession();
    await cdp.send('Performance.enable', { timeDomain: 'timeTicks' });
    const { metrics } = await cdp.send('Performance.getMetrics');
    return { metrics: Object.fromEntries(metrics.map((m) => [m.name, m.value])) };
  },
  async color_scheme({ value }) {
    await page.emulateMedia({ colorScheme: value });
    return {};
  },
  async screenshot({ path: file, full_page = true, selector }) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    if (selector) {
      await page.locator(selector).first().screenshot({ path: file, timeout: DEFAULT_TIMEOUT_MS });
      return {};
    }
    // From the top: a full-page shot of a scrolled page draws the sticky header mid-page.
    if (full_page) await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: file, fullPage: full_page });
    return {};
  },
  async fonts({ selector }) {
    const cdp = await cdpSession();
    await cdp.send('DOM.enable');
    await cdp.send('CSS.enable');
    const { root } = await cdp.send('DOM.getDocument', { depth: 0 });
    const { nodeId } = await cdp.send('DOM.querySelector', { nodeId: root.nodeId, selector });
    if (!nodeId) throw new Error(`no element matches ${selector}`);
    const { fonts } = await cdp.send('CSS.getPlatformFontsForNode', { nodeId });
    return { fonts };
  },
  async grant({ permissions }) {
    await context.grantPermissions(permissions, { origin: new URL(page.url()).origin });
    return {};
  },
  async clear_storage() {
    await page.evaluate(() => localStorage.clear());
    return {};
  },
  async errors() {
    return { page_errors: pageErrors.slice(), console_errors: consoleErrors.slice() };
  },
};

reply({ ok: true, ready: true, browser: context.browser()?.version() ?? 'chromium' });

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (!line.trim()) continue;
  let request;
  try {
    request = JSON.parse(line);
  } catch (e) {
    reply({ ok: false, error: `not JSON: ${e.message}` });
    continue;
  }
  const handler = commands[request.cmd];
  if (!handler) {
    reply({ ok: false, error: `unknown command ${JSON.stringify(request.cmd)}` });
    continue;
  }
  try {
    reply({ ok: true, ...(await handler(request)) });
  } catch (e) {
    reply({ ok: false, error: String(e?.message ?? e).split('\n').slice(0, 6).join('\n') });
  }
}
await cleanup();
process.exit(0);
