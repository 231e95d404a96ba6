// gama-vr-relay admin page: the facts beside the world view (its size, precision, agents and players),
// the legend of its properties, and the canvas's spoken label.

import { $, el, setAttr, setText, show } from './dom.js';
import { TEXT, fmtSessionTime, fmtSize } from './world-words.js';
import { followedId, ui, wv } from './world-state.js';
import { refreshStatus } from './world-feed.js';

// Prefab properties carry no colour: each gets one of these, by order of appearance. Players are
// blue (the followed one) and magenta, which no property uses.
const PREFAB_PALETTE = ['#0f766e', '#b45309', '#4d7c0f', '#9a3412', '#0e7490', '#854d0e', '#3f6212', '#57534e'];

const SVG_NS = 'http://www.w3.org/2000/svg';

export function prefabColour(prop) {
  return PREFAB_PALETTE[(prop?.index ?? 0) % PREFAB_PALETTE.length];
}

function swatch(prop) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 20 20');
  svg.setAttribute('class', 'swatch');
  svg.setAttribute('aria-hidden', 'true');
  const shape = document.createElementNS(SVG_NS, 'path');
  if (prop.prefab) {
    shape.setAttribute('d', 'M18 10L3 2.5 7 10 3 17.5z');
    shape.setAttribute('fill', prefabColour(prop));
  } else {
    shape.setAttribute('d', 'M3 3h14v14H3z');
    shape.setAttribute('fill', prop.colour ? `rgb(${prop.colour.r} ${prop.colour.g} ${prop.colour.b})` : '#9aa5b4');
  }
  shape.setAttribute('stroke', 'currentColor');
  shape.setAttribute('stroke-width', '1');
  svg.append(shape);
  return svg;
}

function renderFacts() {
  const w = wv.model.world;
  setText($('world-size'), w ? `${fmtSize(w.width)} × ${fmtSize(w.height)}` : '—');
  setText($('world-precision'), !followedId() || !wv.socketOpen ? '—' : wv.model.precisionGiven ? String(wv.model.precision) : TEXT.precisionDefault(String(wv.model.precision)));
  let background = 0;
  for (const a of wv.model.agents.values()) if (a.static) background += 1;
  const n = wv.model.agents.size;
  setText($('world-agents'), wv.socketOpen ? TEXT.agentsWithBackground(n, background) : '—');
  setText($('world-players'), wv.socketOpen ? String(wv.model.positions.size) : '—');
  const counts = new Map();
  for (const a of wv.model.agents.values()) counts.set(a.property, (counts.get(a.property) ?? 0) + 1);
  const props = [...wv.model.properties.values()];
  const key = JSON.stringify([wv.languageGeneration, props.map((p) => [p.id, p.prefab, p.colour, counts.get(p.id) ?? 0])]);
  if (key !== wv.legendKey) {
    wv.legendKey = key;
    $('world-legend').replaceChildren(
      ...props.map((p) => {
        const count = counts.get(p.id) ?? 0;
        return el(
          'li',
          { dataset: { property: p.id } },
          swatch(p),
          el('span', { class: 'legend-name', text: p.id }),
          el('span', { class: 'sub', text: `${TEXT.legendKind(p.prefab)} · ${TEXT.agents(count)}` }),
        );
      }),
    );
  }
  show($('world-legend'), props.length > 0);
  const label = wv.playback ? TEXT.label(wv.playback.player, fmtSessionTime(wv.playback.t), n, wv.model.positions.size) : TEXT.viewLabel(wv.target, n, wv.model.positions.size);
  setAttr(ui.canvas, 'aria-label', label);
}

export function refreshAll() {
  refreshStatus();
  renderFacts();
}
