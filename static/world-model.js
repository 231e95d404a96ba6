// gama-vr-relay admin page: what one headset receives, decoded (protocol.md §6.3) into a model of the
// world in GAMA's plane: x to the right, y downward, lengths divided by the precision (protocol.md
// §6.1). Pure functions of the messages: no page, no canvas. Also the plane's geometry (angles, a
// point in a polygon, a point's distance to a segment) that drawing and hit-testing share.

const DEFAULT_PRECISION = 10000;

// -------------------------------------------------------------------------------------------------
// Decoding (protocol.md §6.3)
// -------------------------------------------------------------------------------------------------

/** A finite number from a JSON number or numeric string, else null. */
export function finite(v) {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : null;
}

const list = (v) => (Array.isArray(v) ? v : []);
export const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

function channel(v) {
  const n = finite(v);
  return n == null || n < 0 ? null : Math.min(255, Math.round(n));
}

/** red/green/blue/alpha of a property; −1 channels or alpha 0 mean "no colour" (null). */
function rgbaOf(raw) {
  const r = channel(raw.red);
  const g = channel(raw.green);
  const b = channel(raw.blue);
  const a = finite(raw.alpha);
  if (r == null || g == null || b == null || (a != null && a <= 0)) return null;
  return { r, g, b, a: a == null ? 1 : Math.min(1, a / 255) };
}

/** An agent's own colour from its attributes (`{"color":[r,g,b(,a)]}`), if any. */
function attributeColour(attr) {
  if (!isObject(attr)) return null;
  const c = attr.color ?? attr.colour;
  if (Array.isArray(c) && c.length >= 3) {
    return rgbaOf({ red: c[0], green: c[1], blue: c[2], alpha: c.length > 3 ? c[3] : 255 });
  }
  if (isObject(c)) return rgbaOf({ alpha: 255, ...c });
  return null;
}

export function cssColour({ r, g, b, a }) {
  return `rgb(${r} ${g} ${b} / ${a})`;
}

function decodeProperty(raw, precision, index) {
  const size = finite(raw.size);
  return {
    id: String(raw.id ?? ''),
    tag: raw.tag == null ? null : String(raw.tag),
    prefab: raw.hasPrefab === true || raw.hasPrefab === 'true',
    size: size != null && size > 0 ? size / precision : null,
    colour: rgbaOf(raw),
    index,
  };
}

/** A flat [x0,y0,x1,y1,…] list as points in GAMA units. */
function decodeShape(coords, precision) {
  const points = [];
  for (let k = 0; k + 1 < coords.length; k += 2) {
    const x = finite(coords[k]);
    const y = finite(coords[k + 1]);
    if (x != null && y != null) points.push([x / precision, y / precision]);
  }
  const n = points.length;
  // GAMA polygons repeat their first point at the end; lines do not.
  const closed = n > 3 && points[0][0] === points[n - 1][0] && points[0][1] === points[n - 1][1];
  const ring = closed ? points.slice(0, -1) : points;
  let x = 0;
  let y = 0;
  for (const [px, py] of ring) {
    x += px;
    y += py;
  }
  return { points, closed, x: ring.length ? x / ring.length : 0, y: ring.length ? y / ring.length : 0 };
}

export function emptyModel() {
  return {
    precision: DEFAULT_PRECISION,
    precisionGiven: false, // false until the parameters message came
    world: null, // {width, height} in GAMA units
    properties: new Map(), // id → decoded property
    agents: new Map(), // name → agent
    walls: new Map(), // wallId → shapes
    teleports: new Map(), // teleportId → shapes
    placed: null, // where GAMA placed the followed player: {x, y, z}
    positions: new Map(), // player → {x, y, z, angle, heading}
    enableMove: null,
    endOfGame: null,
    worlds: 0,
    lastWorldAt: null,
    others: 0,
  };
}

/** A world payload (`pointsLoc` first): agents by names/propertyID/attributes, two cursors. */
export function applyWorld(model, c) {
  const p = model.precision;
  const names = list(c.names);
  const propertyIds = list(c.propertyID);
  const attributes = list(c.attributes);
  const locations = list(c.pointsLoc);
  const geometries = list(c.pointsGeom);
  const offsets = list(c.offsetYGeom);
  const isInit = c.isInit === true;
  let li = 0;
  let gi = 0;
  const decoded = [];
  for (let i = 0; i < names.length; i += 1) {
    const name = String(names[i]);
    const property = propertyIds[i] == null ? null : String(propertyIds[i]);
    const prop = model.properties.get(property);
    const own = attributeColour(attributes[i]);
    if (prop?.prefab) {
      const coords = list(locations[li]?.c);
      li += 1;
      const x = finite(coords[0]);
      const y = finite(coords[1]);
      if (x == null || y == null) continue;
      const rawHeading = finite(coords[3]) ?? 0;
      decoded.push({
        name,
        property,
        kind: 'prefab',
        x: x / p,
        y: y / p,
        z: (finite(coords[2]) ?? 0) / p,
        heading: rawHeading / p,
        headingGiven: rawHeading !== 0,
        colour: own,
      });
    } else {
      const shape = decodeShape(list(geometries[gi]?.c), p);
      const offsetY = (finite(offsets[gi]) ?? 0) / p;
      gi += 1;
      if (!shape.points.length) continue;
      decoded.push({ name, property, kind: 'geometry', ...shape, offsetY, colour: own });
    }
  }
  if (isInit) {
    // A new background replaces the previous one.
    for (const [name, agent] of model.agents) if (agent.static) model.agents.delete(name);
  }
  const listed = new Set();
  for (const agent of decoded) {
    listed.add(agent.name);
    const before = model.agents.get(agent.name);
    // Unity infers a prefab's heading from its movement when GAMA sends 0.
    if (agent.kind === 'prefab' && !agent.headingGiven && before?.kind === 'prefab') {
      const dx = agent.x - before.x;
      const dy = agent.y - before.y;
      agent.heading = Math.hypot(dx, dy) > 1e-9 ? (Math.atan2(dy, dx) * 180) / Math.PI : before.heading;
    }
    agent.static = isInit;
    model.agents.set(agent.name, agent);
  }
  if (!isInit) {
    // A full snapshot of the dynamic agents: the others are gone, except those to keep (Unity
    // culls after two ticks; a view can do it at once). The static background stays.
    const keep = new Set(list(c.keepNames).map(String));
    for (const [name, agent] of model.agents) {
      if (!agent.static && !listed.has(name) && !keep.has(name)) model.agents.delete(name);
    }
  }
  const position = list(c.position);
  if (position.length >= 2 && finite(position[0]) != null && finite(position[1]) != null) {
    model.placed = { x: finite(position[0]) / p, y: finite(position[1]) / p, z: (finite(position[2]) ?? 0) / p };
  }
  model.worlds += 1;
  model.lastWorldAt = Date.now();
}

/** One `json_output` payload, routed on its first key as Unity does (protocol.md §6.2). */
export function applyPayload(model, c) {
  const p = model.precision;
  switch (Object.keys(c)[0]) {
    case 'precision': {
      const precision = finite(c.precision);
      model.precision = precision != null && precision > 0 ? precision : DEFAULT_PRECISION;
      model.precisionGiven = true;
      const [w, h] = list(c.world).map(finite);
      if (w > 0 && h > 0) model.world = { width: w / model.precision, height: h / model.precision };
      break;
    }
    case 'properties': {
      const props = list(c.properties).filter(isObject);
      let prefabs = 0;
      model.properties = new Map(
        props.map((raw) => {
          const prop = decodeProperty(raw, p, 0);
          if (prop.prefab) prop.index = prefabs++;
          return [prop.id, prop];
        }),
      );
      break;
    }
    case 'pointsLoc':
      applyWorld(model, c);
      break;
    case 'wallId':
      model.walls.set(String(c.wallId), list(c.pointsGeom).map((g) => decodeShape(list(g?.c), p)));
      break;
    case 'teleportId':
      model.teleports.set(String(c.teleportId), list(c.pointsGeom).map((g) => decodeShape(list(g?.c), p)));
      break;
    case 'enableMove':
      model.enableMove = c.enableMove === true;
      break;
    case 'endOfGame':
      model.endOfGame = String(c.endOfGame ?? '');
      break;
    default:
      model.others += 1;
  }
}

/**
 * Every player's own position (`move_player_external`), integers × precision. Unity's angle is
 * the camera's yaw from its +z (up on the screen), negative toward +x; `heading` is that direction
 * on the screen, in degrees clockwise from +x, like a GAMA heading.
 */
export function applyPositions(model, players) {
  const p = model.precision;
  model.positions = new Map();
  if (!isObject(players)) return;
  for (const [id, pos] of Object.entries(players)) {
    const x = finite(pos?.x);
    const y = finite(pos?.y);
    if (x == null || y == null) continue;
    const angle = (finite(pos.angle) ?? 0) / p;
    // A played-back session sends where the player walked over the last seconds.
    const trail = list(pos.trail)
      .map((point) => [finite(point?.[0]), finite(point?.[1])])
      .filter(([tx, ty]) => tx != null && ty != null)
      .map(([tx, ty]) => [tx / p, ty / p]);
    model.positions.set(id, { x: x / p, y: y / p, z: (finite(pos.z) ?? 0) / p, angle, heading: -90 - angle, trail });
  }
}

// -------------------------------------------------------------------------------------------------
// Geometry helpers
// -------------------------------------------------------------------------------------------------

export const rad = (deg) => (deg * Math.PI) / 180;

export function insidePolygon(x, y, points) {
  let inside = false;
  for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
    const [xi, yi] = points[i];
    const [xj, yj] = points[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

export function segmentDistance(px, py, [ax, ay], [bx, by]) {
  const dx = bx - ax;
  const dy = by - ay;
  const len = dx * dx + dy * dy;
  const t = len === 0 ? 0 : Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / len));
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}
