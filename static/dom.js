// gama-vr-relay admin page: the small DOM helpers every part of the page uses.
//
// Text and attributes are set only when they change, so that screen readers, selections and the
// browser's work are not disturbed by the relay's pushes (several a second). Text from the relay
// (player ids, addresses, GAMA's words) is untrusted: it always goes in as text, never as HTML.

/** The element with id `id`. */
export const $ = (id) => document.getElementById(id);

/** Sets text only when it changed. */
export function setText(node, text) {
  const value = text == null ? '' : String(text);
  if (node.textContent !== value) node.textContent = value;
}

/** Sets (or, for null, removes) an attribute only when it changed. */
export function setAttr(node, name, value) {
  if (value == null) {
    if (node.hasAttribute(name)) node.removeAttribute(name);
  } else if (node.getAttribute(name) !== String(value)) {
    node.setAttribute(name, String(value));
  }
}

/** Shows or hides an element (`hidden`), only when that changes. */
export function show(node, visible) {
  if (node.hidden === visible) node.hidden = !visible;
}

/** A new element: `props` are attributes, but `class`, `text` and `dataset`; then its children. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v == null) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, String(v));
  }
  node.append(...children.filter((c) => c != null));
  return node;
}

/** Puts `nodes` first in `parent`, in this order, moving only those out of place (a move would
 *  restart a playing canvas's layout and lose a focused button's focus). */
export function keepOrder(parent, nodes) {
  nodes.forEach((node, i) => {
    if (parent.children[i] !== node) parent.insertBefore(node, parent.children[i] ?? null);
  });
}

/** Buttons are never `disabled` (that would drop keyboard focus when a push disables the focused
 *  one); they are aria-disabled and ignore activation instead. */
export function setEnabled(button, enabled) {
  setAttr(button, 'aria-disabled', enabled ? 'false' : 'true');
}

/** Whether a button may be used: neither aria-disabled nor busy. */
export function isEnabled(button) {
  return button.getAttribute('aria-disabled') !== 'true' && button.getAttribute('aria-busy') !== 'true';
}

/** Runs `action` on a click of `button`, unless it is disabled or busy. */
export function guard(button, action) {
  button.addEventListener('click', () => {
    if (isEnabled(button)) action();
  });
}
