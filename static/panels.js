// gama-vr-relay admin page: the cards made at start (app.js) that the rest of the page tells about
// each push or a chosen player: the world view, the kept sessions, the recent changes and the
// headsets' screens. Null until made.

export const panels = { world: null, sessions: null, audit: null, screens: null };
