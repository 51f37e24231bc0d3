// Draws a MachineGraph as SVG. Layout by elkjs (global ELK from elk.js, loaded before this module);
// the drawing is ours, so the page needs nothing from the internet.

const SVG = "http://www.w3.org/2000/svg";
const NODE_HEIGHT = 38;
const NODE_PAD_X = 18;
const INITIAL = "__initial__";
const LABEL_LINE = 14;
// Below this the labels are too small to read: the drawing scrolls instead.
const MIN_SCALE = 0.7;

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
  return JSON.stringify([machine.id, machine.initial, machine.states, machine.finalStates, machine.transitions]);
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

async function computeLayout(machine) {
  const states = new Set(machine.states);
  for (const t of machine.transitions) {
    states.add(t.from);
    states.add(t.to);
  }
  const edges = mergedEdges(machine);
  const children = [...states].map((state) => ({
    id: state,
    width: Math.max(84, textWidth(state, "600 14px system-ui, sans-serif") + NODE_PAD_X * 2 + (machine.finalStates.includes(state) ? 6 : 0)),
    height: NODE_HEIGHT,
  }));
  // One event a line: labels sit in layers of their own, so a long "a, b, c" widens the whole drawing.
  const elkEdges = edges.map((edge, index) => ({
    id: `e${index}`,
    sources: [edge.from],
    targets: [edge.to],
    labels: [
      {
        id: `l${index}`,
        text: edge.events.join("\n"),
        width: Math.max(...edge.events.map((event) => textWidth(event, "12px system-ui, sans-serif"))) + 6,
        height: LABEL_LINE * edge.events.length + 1,
      },
    ],
  }));
  if (states.has(machine.initial)) {
    // First in model order, so the entry dot leads the drawing.
    children.unshift({ id: INITIAL, width: 12, height: 12 });
    elkEdges.unshift({ id: "einitial", sources: [INITIAL], targets: [machine.initial] });
  }
  const graph = await elk.layout({
    id: "root",
    layoutOptions: {
      "elk.algorithm": "layered",
      "elk.direction": "RIGHT",
      "elk.edgeRouting": "ORTHOGONAL",
      "elk.layered.spacing.nodeNodeBetweenLayers": "40",
      "elk.spacing.nodeNode": "24",
      "elk.spacing.edgeNode": "16",
      "elk.spacing.edgeEdge": "12",
      "elk.spacing.edgeLabel": "3",
      "elk.edgeLabels.placement": "CENTER",
      "elk.layered.nodePlacement.strategy": "BRANDES_KOEPF",
      "elk.layered.considerModelOrder.strategy": "NODES_AND_EDGES",
      // States in the order the machine declares them (initial first): a lifecycle reads left to right.
      "elk.layered.cycleBreaking.strategy": "MODEL_ORDER",
      "elk.padding": "[top=16,left=16,bottom=16,right=16]",
    },
    children,
    edges: elkEdges,
  });
  return { graph, edges };
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
    const before = { x: point.x - ((point.x - prev.x) / inLength) * r, y: point.y - ((point.y - prev.y) / inLength) * r };
    const after = { x: point.x + ((next.x - point.x) / outLength) * r, y: point.y + ((next.y - point.y) / outLength) * r };
    d += ` L ${before.x} ${before.y} Q ${point.x} ${point.y} ${after.x} ${after.y}`;
  }
  const last = points[points.length - 1];
  return `${d} L ${last.x} ${last.y}`;
}

/**
 * Renders `machine` into `container`, highlighting `current` (the state) and `lastTransition`
 * ({from, to} of the newest transition, or undefined).
 */
export async function renderMachine(container, machine, current, lastTransition) {
  const { graph, edges } = await layoutMachine(machine);
  const width = Math.ceil(graph.width);
  const height = Math.ceil(graph.height);
  // Small machines are drawn a little larger to use the space; large ones shrink to fit, but not
  // below a readable size: past that the drawing scrolls (and shows the current state).
  const box = container.getBoundingClientRect();
  const fit = Math.min((box.width - 24) / width, (window.innerHeight * 0.52 - 24) / height);
  const scale = Math.max(MIN_SCALE, Math.min(1.4, fit));
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, width: Math.round(width * scale), height: Math.round(height * scale), role: "img", "aria-label": `state machine ${machine.id}, current state ${current}` });
  el("title", {}, svg).textContent = `${machine.id}: ${current}`;
  const defs = el("defs", {}, svg);
  for (const [id, cls] of [["arrow", "arrowhead"], ["arrow-last", "arrowhead last"]]) {
    const marker = el("marker", { id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 8, markerHeight: 8, orient: "auto-start-reverse" }, defs);
    el("path", { d: "M 0 1 L 10 5 L 0 9 z", class: cls }, marker);
  }

  const edgeLayer = el("g", {}, svg);
  const labelLayer = el("g", {}, svg);
  for (const elkEdge of graph.edges ?? []) {
    const index = elkEdge.id === "einitial" ? -1 : Number(elkEdge.id.slice(1));
    const info = edges[index];
    const isLast = info !== undefined && lastTransition !== undefined && info.from === lastTransition.from && info.to === lastTransition.to;
    const group = el("g", { class: `edge${isLast ? " last" : ""}`, "data-from": info?.from ?? INITIAL, "data-to": info?.to ?? machine.initial }, edgeLayer);
    for (const section of elkEdge.sections ?? []) {
      const points = [section.startPoint, ...(section.bendPoints ?? []), section.endPoint];
      el("path", { d: roundedPath(points), "marker-end": `url(#${isLast ? "arrow-last" : "arrow"})` }, group);
    }
    for (const label of elkEdge.labels ?? []) {
      const labelGroup = el("g", { class: `edge${isLast ? " last" : ""}` }, labelLayer);
      el("rect", { class: "label-bg", x: label.x - 1, y: label.y, width: label.width + 2, height: label.height, rx: 3 }, labelGroup);
      const lines = label.text.split("\n");
      const text = el("text", { x: label.x + label.width / 2, y: label.y + LABEL_LINE / 2 + 0.5 }, labelGroup);
      lines.forEach((line, i) => {
        el("tspan", { x: label.x + label.width / 2, y: label.y + LABEL_LINE * i + LABEL_LINE / 2 + 0.5 }, text).textContent = line;
      });
    }
  }

  const nodeLayer = el("g", {}, svg);
  for (const node of graph.children ?? []) {
    if (node.id === INITIAL) {
      el("circle", { class: "initial-dot", cx: node.x + node.width / 2, cy: node.y + node.height / 2, r: node.width / 2 }, nodeLayer);
      continue;
    }
    const isFinal = machine.finalStates.includes(node.id);
    const classes = ["node"];
    if (isFinal) classes.push("final");
    if (node.id === current) classes.push("current");
    else if (lastTransition !== undefined && node.id === lastTransition.from) classes.push("previous");
    const group = el("g", { class: classes.join(" "), "data-state": node.id }, nodeLayer);
    if (isFinal) {
      el("rect", { class: "outer", x: node.x, y: node.y, width: node.width, height: node.height, rx: 12 }, group);
      el("rect", { x: node.x + 3, y: node.y + 3, width: node.width - 6, height: node.height - 6, rx: 9 }, group);
    } else {
      el("rect", { x: node.x, y: node.y, width: node.width, height: node.height, rx: 10 }, group);
    }
    el("text", { x: node.x + node.width / 2, y: node.y + node.height / 2 }, group).textContent = node.id;
  }

  container.replaceChildren(svg);
  const currentNode = (graph.children ?? []).find((node) => node.id === current);
  if (currentNode !== undefined && container.scrollWidth > container.clientWidth) {
    container.scrollLeft = Math.max(0, (currentNode.x + currentNode.width / 2) * scale - container.clientWidth / 2);
  }
  return svg;
}
