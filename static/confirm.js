// gama-vr-relay admin page: the confirmation dialog, a question asked before a change that cannot be
// undone (stop the experiment, remove a player, delete a session…). Its words are functions, so that
// the open question follows a change of language.

import { $, setText } from './dom.js';

const dialog = $('confirm');

// The open question: {title, text, ok}, each a function giving it in the page's language.
let question = null;

export function renderQuestion() {
  if (!question) return;
  setText($('confirm-title'), question.title());
  setText($('confirm-text'), question.text());
  setText($('confirm-ok'), question.ok());
}

const asFunction = (v) => (typeof v === 'function' ? v : () => v);

/** Asks a question in a modal dialog; resolves to true when confirmed. `title`, `text` and `ok` are
 *  functions giving the words in the page's language (or strings). */
export function confirmAction({ title, text, ok, danger = true }) {
  return new Promise((resolve) => {
    const okButton = $('confirm-ok');
    const cancelButton = $('confirm-cancel');
    const previous = document.activeElement;
    question = { title: asFunction(title), text: asFunction(text), ok: asFunction(ok) };
    renderQuestion();
    okButton.className = danger ? 'danger' : 'primary';
    const finish = (answer) => {
      question = null;
      okButton.onclick = null;
      cancelButton.onclick = null;
      dialog.oncancel = null;
      if (dialog.open) dialog.close();
      if (previous instanceof HTMLElement && previous.isConnected) previous.focus();
      resolve(answer);
    };
    okButton.onclick = () => finish(true);
    cancelButton.onclick = () => finish(false);
    dialog.oncancel = (event) => {
      event.preventDefault();
      finish(false);
    };
    dialog.showModal();
    // Destructive questions start on "Cancel": Enter does no harm.
    (danger ? cancelButton : okButton).focus();
  });
}
