// gama-vr-relay admin page: the header's layout. One row when everything fits (the experiment and its
// buttons beside the name), else the same without the word "Experiment" before its state, else two
// rows (the buttons on a row of their own). Words differ in length from one language to another, so
// the page measures rather than guesses. The sticky header's height goes to --topbar-h, so that what
// the page scrolls to is not hidden under it.

import { $ } from './dom.js';

const topRow = $('topbar').querySelector('.topbar-row');

function oneRowFits() {
  const items = [...topRow.children].filter((e) => !e.hidden);
  const first = items[0].getBoundingClientRect();
  return items.every((e) => e.getBoundingClientRect().top < first.bottom - 1);
}

const buttonsBox = topRow.querySelector('.session .buttons');

/** The four buttons in one row if they fit, else two by two (never three and one). */
function fitButtons() {
  if (buttonsBox.dataset.layout !== 'row') buttonsBox.dataset.layout = 'row';
  const [first, ...others] = [...buttonsBox.children].map((b) => b.getBoundingClientRect());
  if (first.width && others.some((r) => r.top > first.bottom - 1)) buttonsBox.dataset.layout = 'grid';
}

export function fitHeader() {
  fitButtons();
  for (const rows of ['1', '1-compact']) {
    if (topRow.dataset.rows !== rows) topRow.dataset.rows = rows;
    if (oneRowFits()) return;
  }
  topRow.dataset.rows = '2';
  fitButtons();
}

/** Fits the header again whenever its row, the experiment's state, the link or the buttons change
 *  size, and keeps --topbar-h up to date. */
export function watchHeader() {
  new ResizeObserver(() => fitHeader()).observe(topRow);
  for (const id of ['experiment-state', 'relay-link']) new ResizeObserver(() => fitHeader()).observe($(id));
  new ResizeObserver(() => fitHeader()).observe(buttonsBox);
  // The sticky header's height, so what the page scrolls to is not hidden under it.
  new ResizeObserver(([entry]) => {
    document.documentElement.style.setProperty('--topbar-h', `${Math.ceil(entry.borderBoxSize?.[0]?.blockSize ?? entry.target.offsetHeight)}px`);
  }).observe($('topbar'));
}
