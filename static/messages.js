// gama-vr-relay admin page: the one visible aria-live region for errors and confirmations. A message
// is kept as a function giving its words, so that it follows a change of language.

import { $, setText, show } from './dom.js';

const INFO_MESSAGE_MS = 6000;

const notice = $('notice');
const message = $('message');
const messageClose = $('message-close');
// The message shown: its timer, what showed it, and () => its words in the page's language.
const shown = { timer: null, source: null, text: null };

/** Shows `text` (a function giving it in the page's language, so that it follows a change of
 *  language; or a string) as an error or an info. */
export function showMessage(kind, text, source = 'action') {
  clearTimeout(shown.timer);
  shown.text = typeof text === 'function' ? text : () => text;
  const value = shown.text();
  notice.dataset.kind = value ? kind : 'none';
  setText(message, value);
  show(messageClose, Boolean(value));
  shown.source = value ? source : null;
  if (value && kind === 'info') shown.timer = setTimeout(() => clearMessage(), INFO_MESSAGE_MS);
}

export function clearMessage(source) {
  if (source && shown.source !== source) return;
  const hadFocus = notice.contains(document.activeElement);
  showMessage('none', '');
  if (hadFocus) $('launch').focus();
}

/** Says the message shown again, in the page's new language. */
export function renderMessage() {
  if (shown.text) setText(message, shown.text());
}

/** The message's close button. */
export function wireMessages() {
  messageClose.addEventListener('click', () => clearMessage());
}
