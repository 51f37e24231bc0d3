// Draws a MachineGraph as SVG. Layout by elkjs (global ELK from elk.js, loaded before this module);
// the drawing is ours, so the page needs nothing from the internet. Compound states are boxes
// holding their children, parallel states hold their regions (dashed boxes) side by side.

const SVG = "http://www.w3.org/2000/svg";
const NODE_HEIGHT = 38;
const NODE_PAD_X = 18;
const INITIAL = "__initial__";
const LABEL_LINE = 14;
// Room at the top of a compound state's box for its name.
const COMPOUND_HEADER = 26;
const NODE_FONT = "600 14px system-ui, sans-serif";
const COMPOUND_FONT = "600 12.5px system-ui, sans-serif";
const EDGE_FONT = "12px system-ui, sans-serif";
const MAX_SCALE = 1.4;
const ZOOM_STEP = 1.25;

/* global ELK */
const elk = new ELK();
const layouts = new Map();
let measureContext;

function textWidth(text, font) {
  measureContext ??= document.createElement("canvas").getContext("2d");
  measureContext.font = font;
  return Math.ceil(measureContext.measureText(text).width);
}

function machineKey(machine) {
  return JSON.stringify([machine.id, machine.initial, machine.states, machine.finalStates, machine.transitions, machine.nodes, machine.parallel]);
}

/** Several events between the same two states make one edge with all their names. */
function mergedEdges(machine) {
  const byPair = new Map();
  for (const { from, to, event } of machine.transitions) {
    const key = `${from}\u0000${to}`;
    const edge = byPair.get(key) ?? { from, to, events: [] };
    if (!edge.events.includes(event)) edge.events.push(event);
    byPair.set(key, edge);
  }
  return [...byPair.values()];
}

/**
 * The states as a tree. Graphs with `nodes` say it; older (flat) graphs are read from their dotted
 * paths: "a.b" is inside "a" when "a" is a state too.
 */
export function stateTree(machine) {
  const byPath = new Map();
  const add = (path, parent, key, kind, initial) => {
    if (!byPath.has(path)) byPath.set(path, { path, parent, key, kind, initial, children: [] });
  };
  if (Array.isArray(machine.nodes) && machine.nodes.length > 0) {
    for (const node of machine.nodes) add(node.path, node.parent, node.key || node.path, node.kind || "atomic", node.initial);
  } else {
    const paths = machine.states;
    const known = new Set(paths);
    for (const path of paths) {
      let parent;
      for (let cut = path.lastIndexOf("."); cut > 0 && parent === undefined; cut = path.lastIndexOf(".", cut - 1)) {
        if (known.has(path.slice(0, cut))) parent = path.slice(0, cut);
      }
      add(path, parent, parent === undefined ? path : path.slice(parent.length + 1), machine.finalStates.includes(path) ? "final" : "atomic", undefined);
    }
  }
  // A transition may name a state the lists left out (a hand-made graph): draw it at the top.
  for (const { from, to } of machine.transitions) {
    for (const path of [from, to]) add(path, undefined, path, machine.finalStates.includes(path) ? "final" : "atomic", undefined);
  }
  const roots = [];
  for (const node of byPath.values()) {
    const parent = node.parent === undefined ? undefined : byPath.get(node.parent);
    if (parent === undefined) {
      node.parent = undefined;
      roots.push(node);
    } else {
      parent.children.push(node);
      if (parent.kind === "atomic") parent.kind = "compound";
    }
  }
  return { byPath, roots };
}

/** The chain from the root to `path`: `[top, ..., path]`. */
function ancestry(byPath, path) {
  const chain = [];
  for (let node = byPath.get(path); node !== undefined; node = node.parent === undefined ? undefined : byPath.get(node.parent)) chain.unshift(node.path);
  return chain;
}

/**
 * Where ELK wants an edge: in the deepest state that contains both ends (a state counts as
 * containing itself, except for a self-transition, which belongs to the state's parent).
 */
function edgeContainer(byPath, from, to) {
  const a = ancestry(byPath, from);
  const b = ancestry(byPath, to);
  let common;
  for (let i = 0; i < Math.min(a.length, b.length) && a[i] === b[i]; i += 1) common = a[i];
  if (from === to) return byPath.get(from)?.parent;
  return common;
}

/** Lays a machine out once; the same machine (all actors of a kind share it) reuses the layout. */
export function layoutMachine(machine) {
  const key = machineKey(machine);
  let layout = layouts.get(key);
  if (layout === undefined) {
    layout = computeLayout(machine);
    layouts.set(key, layout);
    layout.catch(() => layouts.delete(key));
  }
  return layout;
}

const LAYERED = {
  "elk.algorithm": "layered",
  "elk.direction": "RIGHT",
  "elk.edgeRouting": "ORTHOGONAL",
  "elk.layered.spacing.nodeNodeBetweenLayers": "40",
  "elk.spacing.nodeNode": "24",
  "elk.spacing.edgeNode": "16",
  "elk.spacing.edgeEdge": "12",
  "elk.spacing.edgeLabel": "3",
  "elk.spacing.componentComponent": "18",
  "elk.edgeLabels.placement": "CENTER",
  "elk.layered.nodePlacement.strategy": "BRANDES_KOEPF",
  "elk.layered.considerModelOrder.strategy": "NODES_AND_EDGES",
  // States in the order the machine declares them (initial first): a lifecycle reads left to right.
  "elk.layered.cycleBreaking.strategy": "MODEL_ORDER",
};

const { "elk.layered.considerModelOrder.strategy": _order, "elk.layered.cycleBreaking.strategy": _cycles, ...INNER } = LAYERED;

async function computeLayout(machine) {
  const { byPath, roots } = stateTree(machine);
  const edges = mergedEdges(machine);
  const containers = new Map([[undefined, { edges: [] }]]);

  const elkNode = (node) => {
    const isFinal = node.kind === "final";
    if (node.children.length === 0) {
      return { id: node.path, width: Math.max(84, textWidth(node.key, NODE_FONT) + NODE_PAD_X * 2 + (isFinal ? 6 : 0)), height: NODE_HEIGHT };
    }
    const parallel = node.kind === "parallel";
    const children = node.children.map(elkNode);
    const box = {
      id: node.path,
      children,
      edges: [],
      layoutOptions: {
        // Model-order options inside a box make ELK 0.12 fail (it reads a missing model order):
        // they are set on the root only, which orders the top level.
        ...INNER,
        // Regions of a parallel state share no transitions: ELK packs them as separate components.
        "elk.padding": `[top=${COMPOUND_HEADER + (parallel ? 4 : 0)},left=12,bottom=12,right=12]`,
        "elk.nodeSize.constraints": "MINIMUM_SIZE",
        "elk.nodeSize.minimum": `(${textWidth(node.key, COMPOUND_FONT) + 40}, 60)`,
        ...(parallel ? { "elk.spacing.componentComponent": "10" } : {}),
      },
    };
    containers.set(node.path, box);
    if (!parallel && node.initial !== undefined && byPath.has(node.initial)) {
      children.unshift({ id: `${INITIAL}:${node.path}`, width: 10, height: 10 });
      box.edges.push({ id: `i:${node.path}`, sources: [`${INITIAL}:${node.path}`], targets: [node.initial] });
    }
    return box;
  };

  const children = roots.map(elkNode);
  const root = containers.get(undefined);
  // A parallel machine enters every region at once: no single entry dot.
  if (!machine.parallel && byPath.has(machine.initial)) {
    // First in model order, so the entry dot leads the drawing.
    children.unshift({ id: INITIAL, width: 12, height: 12 });
    const topInitial = ancestry(byPath, machine.initial)[0];
    root.edges.push({ id: "einitial", sources: [INITIAL], targets: [topInitial] });
  }
  edges.forEach((edge, index) => {
    // One event a line: labels sit in layers of their own, so a long "a, b, c" widens the whole drawing.
    const elkEdge = {
      id: `e${index}`,
      sources: [edge.from],
      targets: [edge.to],
      labels: [
        {
          id: `l${index}`,
          text: edge.events.join("\n"),
          width: Math.max(...edge.events.map((event) => textWidth(event, EDGE_FONT))) + 6,
          height: LABEL_LINE * edge.events.length + 1,
        },
      ],
    };
    (containers.get(edgeContainer(byPath, edge.from, edge.to)) ?? root).edges.push(elkEdge);
  });
  const graph = await elk.layout({
    id: "root",
    layoutOptions: {
      ...LAYERED,
      // One layout across the levels, so transitions between levels are routed too; every
      // coordinate comes back relative to the drawing, whatever box it sits in.
      "elk.hierarchyHandling": "INCLUDE_CHILDREN",
      "elk.json.edgeCoords": "ROOT",
      "elk.json.shapeCoords": "ROOT",
      "elk.padding": "[top=16,left=16,bottom=16,right=16]",
    },
    children,
    edges: root.edges,
  });
  const placed = [];
  const placedEdges = [];
  const walk = (node, depth) => {
    for (const child of node.children ?? []) {
      placed.push({ ...child, depth });
      walk(child, depth + 1);
    }
    for (const edge of node.edges ?? []) placedEdges.push(edge);
  };
  walk(graph, 0);
  return { graph, edges, byPath, nodes: placed, elkEdges: placedEdges };
}

function el(name, attributes = {}, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  parent?.appendChild(node);
  return node;
}

/** An orthogonal polyline with softly rounded corners. */
function roundedPath(points, radius = 6) {
  let d = `M ${points[0].x} ${points[0].y}`;
  for (let i = 1; i < points.length - 1; i += 1) {
    const prev = points[i - 1];
    const point = points[i];
    const next = points[i + 1];
    const inLength = Math.hypot(point.x - prev.x, point.y - prev.y);
    const outLength = Math.hypot(next.x - point.x, next.y - point.y);
    const r = Math.min(radius, inLength / 2, outLength / 2);
    if (r <= 0) {
      d += ` L ${point.x} ${point.y}`;
      continue;
    }
    const before = { x: point.x - ((point.x - prev.x) / inLength) * r, y: point.y - ((point.y - prev.y) / inLength) * r };
    const after = { x: point.x + ((next.x - point.x) / outLength) * r, y: point.y + ((next.y - point.y) / outLength) * r };
    d += ` L ${before.x} ${before.y} Q ${point.x} ${point.y} ${after.x} ${after.y}`;
  }
  const last = points[points.length - 1];
  return `${d} L ${last.x} ${last.y}`;
}

/** The active states: a list of paths, or one state path (its enclosing states are active too). */
function activeSet(byPath, current) {
  if (Array.isArray(current)) return new Set(current);
  return new Set(typeof current === "string" && current !== "" ? ancestry(byPath, current) : []);
}

/** The zoom a container keeps across redraws: "fit" or a scale. */
function zoomOf(container) {
  const zoom = container.dataset.zoom;
  return zoom === undefined || zoom === "fit" ? "fit" : Number(zoom);
}

function fitScale(container, width, height) {
  const box = container.getBoundingClientRect();
  const style = getComputedStyle(container);
  const maxHeight = Number.parseFloat(style.maxHeight);
  const room = Number.isFinite(maxHeight) ? maxHeight : window.innerHeight * 0.52;
  return Math.min(MAX_SCALE, (box.width - 24) / width, (room - 24) / height);
}

/** What the zoom buttons of a container act on: the drawing it shows now (its fitted scale, how to redraw it). */
const drawings = new WeakMap();

/**
 * The fit / zoom buttons of a container, made once: redraws replace the drawing under them, not
 * them, so that a click pressed on one while the machine moves on is not lost.
 */
function zoomTools(container) {
  const existing = container.querySelector(":scope > .diagram-tools");
  if (existing !== null) return existing;
  const tools = document.createElement("div");
  tools.className = "diagram-tools";
  const button = (label, title, action) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.title = title;
    b.dataset.zoom = action;
    b.addEventListener("click", () => {
      const drawing = drawings.get(container); // set by every render, before the buttons exist
      const current = zoomOf(container) === "fit" ? drawing.fit : zoomOf(container);
      if (action === "fit") container.dataset.zoom = "fit";
      else if (action === "in") container.dataset.zoom = String(Math.min(4, current * ZOOM_STEP));
      else container.dataset.zoom = String(Math.max(0.2, current / ZOOM_STEP));
      drawing.redraw();
    });
    tools.append(b);
  };
  button("−", "zoom out", "out");
  button("fit", "fit the whole machine in the panel", "fit");
  button("+", "zoom in", "in");
  return tools;
}

/**
 * Renders `machine` into `container`, highlighting `current` (a state path, or the list of every
 * active state's path for machines with parallel regions) and `lastTransition` ({from, to} of the
 * newest transition, or undefined). The drawing fits the panel by default; the zoom buttons
 * enlarge it (the panel then scrolls) and the choice is kept across redraws.
 */
export async function renderMachine(container, machine, current, lastTransition) {
  const layout = await layoutMachine(machine);
  const { graph, edges, byPath } = layout;
  const width = Math.ceil(graph.width);
  const height = Math.ceil(graph.height);
  const fit = fitScale(container, width, height);
  const zoom = zoomOf(container);
  const scale = zoom === "fit" ? fit : zoom;
  const active = activeSet(byPath, current);
  const leafActive = (path) => active.has(path) && !(byPath.get(path)?.children ?? []).some((child) => active.has(child.path));
  const label = Array.isArray(current) ? [...active].filter(leafActive).join(", ") : current;

  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, width: Math.round(width * scale), height: Math.round(height * scale), role: "img", "aria-label": `state machine ${machine.id}, current state ${label}` });
  svg.dataset.scale = scale.toFixed(3);
  el("title", {}, svg).textContent = `${machine.id}: ${label}`;
  const defs = el("defs", {}, svg);
  for (const [id, cls] of [["arrow", "arrowhead"], ["arrow-last", "arrowhead last"]]) {
    const marker = el("marker", { id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 8, markerHeight: 8, orient: "auto-start-reverse" }, defs);
    el("path", { d: "M 0 1 L 10 5 L 0 9 z", class: cls }, marker);
  }

  // Boxes first (outermost first), then edges, then the atomic states on top.
  const boxLayer = el("g", {}, svg);
  const edgeLayer = el("g", {}, svg);
  const labelLayer = el("g", {}, svg);
  const nodeLayer = el("g", {}, svg);
  for (const node of layout.nodes) {
    if (node.id === INITIAL || node.id.startsWith(`${INITIAL}:`)) {
      el("circle", { class: "initial-dot", cx: node.x + node.width / 2, cy: node.y + node.height / 2, r: node.width / 2 }, nodeLayer);
      continue;
    }
    const info = byPath.get(node.id);
    const parent = info?.parent === undefined ? undefined : byPath.get(info.parent);
    const isBox = (info?.children.length ?? 0) > 0;
    const classes = ["node"];
    if (isBox) classes.push(info.kind === "parallel" ? "parallel" : "compound");
    if (parent?.kind === "parallel" || (machine.parallel && info?.parent === undefined)) classes.push("region");
    if (info?.kind === "final") classes.push("final");
    if (leafActive(node.id)) classes.push("current");
    else if (active.has(node.id)) classes.push("active");
    else if (lastTransition !== undefined && node.id === lastTransition.from) classes.push("previous");
    const group = el("g", { class: classes.join(" "), "data-state": node.id }, isBox ? boxLayer : nodeLayer);
    const name = info?.key ?? node.id;
    if (isBox) {
      el("rect", { x: node.x, y: node.y, width: node.width, height: node.height, rx: 10 }, group);
      el("text", { class: "box-label", x: node.x + 12, y: node.y + COMPOUND_HEADER / 2 + 2 }, group).textContent = info.kind === "parallel" ? `${name} (parallel)` : name;
      continue;
    }
    if (info?.kind === "final") {
      el("rect", { class: "outer", x: node.x, y: node.y, width: node.width, height: node.height, rx: 12 }, group);
      el("rect", { x: node.x + 3, y: node.y + 3, width: node.width - 6, height: node.height - 6, rx: 9 }, group);
    } else {
      el("rect", { x: node.x, y: node.y, width: node.width, height: node.height, rx: 10 }, group);
    }
    el("text", { x: node.x + node.width / 2, y: node.y + node.height / 2 }, group).textContent = name;
  }

  for (const elkEdge of layout.elkEdges) {
    const initialEdge = elkEdge.id === "einitial" || elkEdge.id.startsWith("i:");
    const info = initialEdge ? undefined : edges[Number(elkEdge.id.slice(1))];
    const isLast = info !== undefined && lastTransition !== undefined && info.from === lastTransition.from && info.to === lastTransition.to;
    const group = el("g", { class: `edge${isLast ? " last" : ""}${initialEdge ? " entry" : ""}`, "data-from": info?.from ?? elkEdge.sources[0], "data-to": info?.to ?? elkEdge.targets[0] }, edgeLayer);
    for (const section of elkEdge.sections ?? []) {
      const points = [section.startPoint, ...(section.bendPoints ?? []), section.endPoint];
      el("path", { d: roundedPath(points), "marker-end": `url(#${isLast ? "arrow-last" : "arrow"})` }, group);
    }
    for (const edgeLabel of elkEdge.labels ?? []) {
      const labelGroup = el("g", { class: `edge${isLast ? " last" : ""}` }, labelLayer);
      el("rect", { class: "label-bg", x: edgeLabel.x - 1, y: edgeLabel.y, width: edgeLabel.width + 2, height: edgeLabel.height, rx: 3 }, labelGroup);
      const lines = edgeLabel.text.split("\n");
      const text = el("text", { x: edgeLabel.x + edgeLabel.width / 2, y: edgeLabel.y + LABEL_LINE / 2 + 0.5 }, labelGroup);
      lines.forEach((line, i) => {
        el("tspan", { x: edgeLabel.x + edgeLabel.width / 2, y: edgeLabel.y + LABEL_LINE * i + LABEL_LINE / 2 + 0.5 }, text).textContent = line;
      });
    }
  }

  drawings.set(container, {
    fit,
    redraw: () => renderMachine(container, machine, current, lastTransition).catch((error) => console.error("inspector: diagram", error)),
  });
  const tools = zoomTools(container);
  tools.dataset.scale = zoom === "fit" ? "fit" : `${Math.round(scale * 100)}%`;
  // The buttons stay put while a zoomed drawing scrolls under them.
  const scroller = document.createElement("div");
  scroller.className = "diagram-scroll";
  const old = container.querySelector(":scope > .diagram-scroll");
  const previous = old === null ? undefined : { zoom: old.dataset.zoom, current: old.dataset.current, left: old.scrollLeft, top: old.scrollTop };
  scroller.append(svg);
  if (old !== null) old.replaceWith(scroller);
  else container.prepend(scroller);
  if (tools.parentNode !== container) container.append(tools);
  // Anything else (a "waiting" or "could not draw" message) gives way to the drawing.
  for (const child of [...container.children]) if (child !== scroller && child !== tools) child.remove();
  container.classList.toggle("zoomed", zoom !== "fit");
  const currentNode = layout.nodes.find((node) => leafActive(node.id));
  if (scroller.scrollWidth > scroller.clientWidth || scroller.scrollHeight > scroller.clientHeight) {
    if (previous !== undefined && previous.zoom === String(scale) && previous.current === label) {
      // Same zoom, same state: keep where the user scrolled to; a new state is brought into view.
      scroller.scrollLeft = previous.left;
      scroller.scrollTop = previous.top;
    } else if (currentNode !== undefined) {
      scroller.scrollLeft = Math.max(0, (currentNode.x + currentNode.width / 2) * scale - scroller.clientWidth / 2);
      scroller.scrollTop = Math.max(0, (currentNode.y + currentNode.height / 2) * scale - scroller.clientHeight / 2);
    }
  }
  scroller.dataset.zoom = String(scale);
  scroller.dataset.current = label;
  return svg;
}
