// gama-vr-relay admin page: where headsets connect, and the headsets waiting for their id.
//
// The Unity app connects to the address typed into it (its IP setting, "localhost" until then), so
// the Players panel says which address and port to type: this computer's addresses, the likely
// classroom one first, each with a Copy button. It is open while no headset has connected, and a
// click away afterwards. Under it, the headsets waiting for an id another live headset has: they
// join as soon as that one leaves.

import { $, el, setAttr, setText, show } from './dom.js';
import { onLanguageChange, t } from './i18n.js';

// How long "Copied" stays on a Copy button.
const COPIED_MS = 2000;

// The teacher opened or closed the block: the page stops opening and closing it by itself.
let touched = false;
// What the block shows now, so it is rebuilt only when that changes (and on a language change).
let shown = '';
let last = null;

/** Shows where headsets connect and who waits for an id, from the relay's state document. */
export function renderConnectHelp(state) {
  last = state;
  const box = $('connect-help');
  const headsets = state.headsets ?? {};
  const port = headsets.port;
  const addresses = headsets.addresses ?? [];
  const key = JSON.stringify([port, headsets.listen, addresses]);
  if (key !== shown) {
    shown = key;
    fillAddresses(port, headsets.listen, addresses);
  }
  if (!touched) {
    const none = (state.players ?? []).length === 0;
    if (box.open !== none) box.open = none;
  }
  renderWaiting(headsets.waiting_for_id ?? []);
}

function fillAddresses(port, listen, addresses) {
  const list = $('connect-list');
  const rows = addresses.map((a) => {
    const copy = el('button', { type: 'button', class: 'quiet copy', 'aria-label': t('connect.copy_label', { address: a.ip }) });
    copy.append(el('span', { text: t('connect.copy') }));
    copy.addEventListener('click', () => copyText(a.ip, copy));
    const where = a.kind === 'private' ? a.interface : t('connect.other_network', { interface: a.interface || '?' });
    return el(
      'li',
      { class: 'connect-row', dataset: { kind: a.kind } },
      el('span', { class: 'connect-address' }, el('span', { class: 'connect-label', text: t('connect.address') }), el('code', { class: 'connect-ip', text: a.ip })),
      el('span', { class: 'connect-address' }, el('span', { class: 'connect-label', text: t('connect.port') }), el('code', { class: 'connect-port', text: String(port) })),
      copy,
      where ? el('span', { class: 'connect-where muted', text: where }) : null,
    );
  });
  list.replaceChildren(...rows);
  show(list, rows.length > 0);
  const loopback = listen != null && /^(127\.|\[::1\]|::1)/.test(listen);
  setText($('connect-lead'), t('connect.lead'));
  show($('connect-lead'), rows.length > 0);
  setText($('connect-none'), loopback ? t('connect.loopback', { listen }) : t('connect.none'));
  show($('connect-none'), rows.length === 0);
  setText($('connect-note'), t('connect.note', { port: String(port) }));
}

function renderWaiting(waiting) {
  const box = $('waiting-ids');
  show(box, waiting.length > 0);
  if (!waiting.length) return;
  const items = waiting.map((w) => el('li', { text: t('players.waiting_id', { player: w.player, source: w.source, holder: w.holder }) }));
  const list = $('waiting-ids-list');
  const text = items.map((i) => i.textContent).join('\n');
  if (list.dataset.text !== text) {
    list.dataset.text = text;
    list.replaceChildren(...items);
  }
}

/** Copies `text`, also where the clipboard API is missing (a page opened over plain http from a
 *  tablet is not a secure context), and says so on the button. */
async function copyText(text, button) {
  let done = false;
  try {
    await navigator.clipboard.writeText(text);
    done = true;
  } catch {
    const field = el('textarea', { class: 'visually-hidden', readonly: '' });
    field.value = text;
    document.body.append(field);
    field.select();
    try {
      done = document.execCommand('copy');
    } catch {
      done = false;
    }
    field.remove();
  }
  const label = button.querySelector('span');
  setText(label, done ? t('connect.copied') : t('connect.copy_failed'));
  setAttr(button, 'data-copied', done ? 'true' : 'false');
  setTimeout(() => {
    setText(label, t('connect.copy'));
    setAttr(button, 'data-copied', null);
  }, COPIED_MS);
}

// A person opening or closing it (a click, or Enter or Space on the summary, which click too).
$('connect-summary').addEventListener('click', () => {
  touched = true;
});

onLanguageChange(() => {
  shown = '';
  if (last) renderConnectHelp(last);
});
