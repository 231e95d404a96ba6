// gama-vr-relay admin page: the icons. Small inline SVGs built as DOM nodes (the CSP forbids inline
// markup from strings), so that states are told by shape as well as by colour.

const SVG_NS = 'http://www.w3.org/2000/svg';
const ICONS = {
  dot: [['circle', { cx: 12, cy: 12, r: 6, fill: 'currentColor' }]],
  ring: [['circle', { cx: 12, cy: 12, r: 7, fill: 'none', 'stroke-width': 2.5 }]],
  half: [
    ['circle', { cx: 12, cy: 12, r: 7, fill: 'none', 'stroke-width': 2.5 }],
    ['path', { d: 'M12 5a7 7 0 0 1 0 14z', fill: 'currentColor' }],
  ],
  check: [['path', { d: 'M4.5 12.5l5 5L19.5 7', fill: 'none', 'stroke-width': 3 }]],
  cross: [['path', { d: 'M6 6l12 12M18 6L6 18', fill: 'none', 'stroke-width': 3 }]],
  play: [['path', { d: 'M7 4.5v15l12.5-7.5z', fill: 'currentColor', stroke: 'none' }]],
  pause: [['path', { d: 'M6.5 4.5h4v15h-4zM13.5 4.5h4v15h-4z', fill: 'currentColor', stroke: 'none' }]],
  stop: [['path', { d: 'M5.5 5.5h13v13h-13z', fill: 'currentColor', stroke: 'none' }]],
  none: [['path', { d: 'M5 12h14', fill: 'none', 'stroke-width': 3 }]],
  flag: [['path', { d: 'M6 21V4h11l-2.5 4.5L17 13H6', fill: 'none', 'stroke-width': 2.5 }]],
  hourglass: [
    ['path', { d: 'M6 3h12M6 21h12M7.5 3c0 5 9 6 9 9s-9 4-9 9M16.5 3c0 5-9 6-9 9s9 4 9 9', fill: 'none', 'stroke-width': 2.2 }],
  ],
  refresh: [
    ['path', { d: 'M20 12a8 8 0 1 1-2.3-5.6', fill: 'none', 'stroke-width': 2.5 }],
    ['path', { d: 'M20 3.5v5h-5', fill: 'none', 'stroke-width': 2.5 }],
  ],
  warning: [
    ['path', { d: 'M12 3.5L2.5 20h19z', fill: 'none', 'stroke-width': 2.2 }],
    ['path', { d: 'M12 10v4.5M12 17.2v.3', fill: 'none', 'stroke-width': 2.5 }],
  ],
  slash: [
    ['circle', { cx: 12, cy: 12, r: 8, fill: 'none', 'stroke-width': 2.5 }],
    ['path', { d: 'M6.5 6.5l11 11', fill: 'none', 'stroke-width': 2.5 }],
  ],
  eye: [
    ['path', { d: 'M2.5 12s3.5-6.5 9.5-6.5 9.5 6.5 9.5 6.5-3.5 6.5-9.5 6.5S2.5 12 2.5 12z', fill: 'none', 'stroke-width': 2.2 }],
    ['circle', { cx: 12, cy: 12, r: 2.8, fill: 'currentColor', stroke: 'none' }],
  ],
  trash: [
    ['path', { d: 'M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3', fill: 'none', 'stroke-width': 2.2 }],
  ],
  replay: [
    ['path', { d: 'M4.5 12a7.5 7.5 0 1 0 2.2-5.3', fill: 'none', 'stroke-width': 2.4 }],
    ['path', { d: 'M4.5 3.5v4.2h4.2', fill: 'none', 'stroke-width': 2.4 }],
    ['path', { d: 'M10.5 8.8v6.4l5-3.2z', fill: 'currentColor', stroke: 'none' }],
  ],
  download: [['path', { d: 'M12 3.5v11M7 10l5 5 5-5M4.5 20h15', fill: 'none', 'stroke-width': 2.4 }]],
  timeline: [
    ['path', { d: 'M3.5 6.5h9M3.5 12h15M3.5 17.5h6', fill: 'none', 'stroke-width': 2.6 }],
    ['path', { d: 'M20.5 4v16', fill: 'none', 'stroke-width': 1.8 }],
  ],
  globe: [
    ['circle', { cx: 12, cy: 12, r: 8.5, fill: 'none', 'stroke-width': 2 }],
    ['path', { d: 'M3.5 12h17M12 3.5c-4.5 4.7-4.5 12.3 0 17M12 3.5c4.5 4.7 4.5 12.3 0 17', fill: 'none', 'stroke-width': 1.8 }],
  ],
};

export function icon(name) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', 'icon');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('stroke', 'currentColor');
  svg.setAttribute('stroke-linecap', 'round');
  svg.setAttribute('stroke-linejoin', 'round');
  for (const [tag, attrs] of ICONS[name] ?? ICONS.dot) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    svg.append(el);
  }
  svg.dataset.name = name;
  return svg;
}

/** Puts icon `name` in `holder` (replacing the one there) unless it is already shown. */
export function setIcon(holder, name) {
  const current = holder.querySelector('svg.icon');
  if (current?.dataset.name === name) return;
  if (current) current.replaceWith(icon(name));
  else holder.prepend(icon(name));
}
