// The inspector page: keeps a copy of the fleet fed by the server's event stream and redraws
// what changed. Untrusted text (names, keys, reasons) only ever goes through textContent.
import { renderMachine } from "./diagram.js";
import { h, morphChildren } from "./dom.js";

const MAX_MESSAGES = 500;
const MAX_ROWS = 200;
const FLASH_MS = 2000;

const query = new URLSearchParams(location.search);
const token = query.get("token");
const tokenQuery = token ? `?token=${encodeURIComponent(token)}` : "";

const state = {
  components: new Map(),
  messages: [],
  selected: decodeURIComponent(location.hash.slice(1)) || undefined,
  flashes: new Map(), // key -> time the change was seen
  dirty: { components: true, detail: true, log: true },
};

const $ = (id) => document.getElementById(id);

function nameOf(component) {
  return component.fingerprint?.name || component.actorId;
}

/** The name, with a short id when several components share it (two instances of one app). */
function labelOf(component) {
  const name = nameOf(component);
  let same = 0;
  for (const other of state.components.values()) if (nameOf(other) === name) same += 1;
  return same > 1 ? `${name} · ${component.actorId.slice(0, 4)}` : name;
}

function tone(stateName) {
  const leaf = (stateName.split(".").pop() || "").toLowerCase();
  if (/fail|error|crash|dead/.test(leaf)) return "red";
  if (/^(stopped|done|final|closed|exited)$/.test(leaf)) return "grey";
  if (/stopping|draining|quitting|closing|paus/.test(leaf)) return "amber";
  if (/start|restart|connect|join|init|boot/.test(leaf)) return "blue";
  if (/run|ready|idle|active|listen|serv|work/.test(leaf)) return "green";
  return "violet";
}

/** XState's internal event names (as the machine definitions label them): "done", not "xstate.done.actor.0.…". */
function eventLabel(event) {
  if (event === "xstate.init") return "start";
  if (event.startsWith("xstate.done.")) return "done";
  if (event.startsWith("xstate.error.")) return "error";
  if (event.startsWith("xstate.after.")) return `after ${event.split(".")[2] ?? "delay"}`;
  if (event === "") return "always";
  return event;
}

function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

function clock(at) {
  const d = new Date(at);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** Restarts no animation on redraw: a flash keeps its phase through re-renders. */
function flash(node, key, className) {
  const seen = state.flashes.get(key);
  if (seen === undefined) return;
  const elapsed = Date.now() - seen;
  if (elapsed >= FLASH_MS) return;
  node.classList.add(className);
  node.style.animationDelay = `-${elapsed}ms`;
  node.dataset.animationStart = String(seen);
}

// ---- applying server events ----

function upsert(component) {
  const previous = state.components.get(component.actorId);
  const now = Date.now();
  if (previous !== undefined) {
    if (previous.state !== component.state) state.flashes.set(`state:${component.actorId}`, now);
    if (previous.behaviour?.state !== component.behaviour?.state) state.flashes.set(`behaviour:${component.actorId}`, now);
    for (const group of component.groups) {
      if (!previous.groups.includes(group)) state.flashes.set(`group:${component.actorId}:${group}`, now);
    }
  }
  state.components.set(component.actorId, component);
  markDirty("components", "log");
  if (component.actorId === state.selected) markDirty("detail");
}

function applySnapshot(snapshot) {
  $("source").textContent = snapshot.source ? `source: ${snapshot.source}` : "";
  state.components = new Map(snapshot.components.map((c) => [c.actorId, c]));
  state.messages = snapshot.messages.slice(-MAX_MESSAGES);
  markDirty("components", "detail", "log");
}

let frame = 0;
function markDirty(...parts) {
  for (const part of parts) state.dirty[part] = true;
  frame ||= requestAnimationFrame(render);
}

function connect() {
  const events = new EventSource(`api/events${tokenQuery}`);
  const connection = $("connection");
  events.onopen = () => {
    connection.dataset.state = "live";
    connection.textContent = "live";
  };
  events.onerror = () => {
    connection.dataset.state = "lost";
    connection.textContent = "reconnecting…";
  };
  events.addEventListener("snapshot", (e) => applySnapshot(JSON.parse(e.data)));
  events.addEventListener("component", (e) => upsert(JSON.parse(e.data).component));
  events.addEventListener("forgotten", (e) => {
    state.components.delete(JSON.parse(e.data).actorId);
    markDirty("components", "detail", "log");
  });
  events.addEventListener("message", (e) => {
    state.messages.push(JSON.parse(e.data).entry);
    if (state.messages.length > MAX_MESSAGES) state.messages.splice(0, state.messages.length - MAX_MESSAGES);
    markDirty("log");
  });
}

// ---- rendering ----

function sortedComponents() {
  return [...state.components.values()].sort((a, b) => nameOf(a).localeCompare(nameOf(b)) || a.actorId.localeCompare(b.actorId));
}

function selectComponent(actorId) {
  state.selected = actorId;
  history.replaceState(null, "", `${location.pathname}${location.search}#${encodeURIComponent(actorId)}`);
  markDirty("components", "detail");
}

const cards = new Map();

function renderComponents() {
  const list = $("components");
  const components = sortedComponents();
  $("components-empty").classList.toggle("hidden", components.length > 0);
  const now = Date.now();
  const live = components.filter((c) => c.status === "live").length;
  const stopped = components.filter((c) => c.status === "stopped").length;
  const vanished = components.filter((c) => c.status === "vanished").length;
  $("summary").textContent =
    `${components.length} component${components.length === 1 ? "" : "s"} · ${live} live` +
    (stopped ? ` · ${stopped} stopped` : "") +
    (vanished ? ` · ${vanished} vanished` : "");

  const keep = new Set();
  for (const [index, component] of components.entries()) {
    keep.add(component.actorId);
    let card = cards.get(component.actorId);
    if (card === undefined) {
      card = h("li", { class: "component", tabindex: 0, role: "button" });
      card.addEventListener("click", () => selectComponent(component.actorId));
      card.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          selectComponent(component.actorId);
        }
      });
      cards.set(component.actorId, card);
    }
    fillCard(card, component, now);
    // Moved only when out of place: moving a card takes it out of the page for a moment, which
    // cancels a click pressed on it.
    const there = list.children[index];
    if (there !== card) list.insertBefore(card, there ?? null);
  }
  for (const [actorId, card] of cards) {
    if (!keep.has(actorId)) {
      card.remove();
      cards.delete(actorId);
    }
  }
}

function fillCard(card, c, now) {
  const ended = c.status !== "live";
  card.className = `component${ended ? " ended" : ""}${c.actorId === state.selected ? " selected" : ""}`;
  card.dataset.actorId = c.actorId;
  card.dataset.status = c.status;
  card.setAttribute("aria-pressed", String(c.actorId === state.selected));
  const fp = c.fingerprint;

  const badge = h("span", { class: `badge tone-${ended && c.status === "vanished" ? "grey" : tone(c.state || "?")}`, "data-role": "state" }, c.state || "unknown");
  flash(badge, `state:${c.actorId}`, "changed");
  const statusLine = ended
    ? h("span", { class: `ended-label ${c.status}`, "data-role": "status" }, c.status === "vanished" ? `vanished · silent ${ago(now - c.lastSeen)}` : `stopped ${ago(now - (c.endedAt ?? c.lastSeen))} ago`)
    : h("span", { class: "lastseen", "data-role": "status" }, `seen ${ago(now - c.lastSeen)} ago`);

  const groups = c.groups.length
    ? h("span", { class: "chips", "data-role": "groups" }, c.groups.map((g) => {
        const chip = h("span", { class: "chip" }, g);
        flash(chip, `group:${c.actorId}:${g}`, "new");
        return chip;
      }))
    : h("span", { class: "none", "data-role": "groups" }, "none");

  const keys = [];
  const titles = new Map();
  for (const [exchange, queue, key] of c.bindings) {
    if (!titles.has(key)) keys.push(key);
    titles.set(key, [...(titles.get(key) ?? []), `${exchange} → ${queue}`]);
  }
  const addresses = keys.length
    ? h("span", { class: "chips", "data-role": "addresses" }, keys.map((k) => h("span", { class: "key", title: titles.get(k).join("\n") }, k)))
    : h("span", { class: "none", "data-role": "addresses" }, "none");

  const counters = c.counters;
  const counterItems = [
    h("span", {}, "handled ", h("b", {}, counters.handled)),
    h("span", { class: counters.rejected ? "bad" : "" }, "rejected ", h("b", {}, counters.rejected)),
    h("span", {}, "received ", h("b", {}, counters.received)),
    h("span", {}, "sent ", h("b", {}, counters.sent)),
  ];
  if (counters.unhandled) counterItems.push(h("span", {}, "unhandled ", h("b", {}, counters.unhandled)));
  if (counters.invalid) counterItems.push(h("span", { class: "bad" }, "invalid ", h("b", {}, counters.invalid)));

  // A component with its own machine shows where its behaviour stands under the lifecycle badge.
  const behaviourBadge = c.behaviour?.state
    ? h("span", { class: `badge behaviour tone-${tone(c.behaviour.state)}`, "data-role": "behaviour-state", title: `${c.behaviour.machine?.id || "behaviour"}: ${c.behaviour.state}` }, c.behaviour.state)
    : undefined;
  if (behaviourBadge !== undefined) flash(behaviourBadge, `behaviour:${c.actorId}`, "changed");

  // In place, not rebuilt: the cards are redrawn every second, and a click pressed on a node
  // replaced before its release would be lost.
  morphChildren(card, [
    h("div", { class: "title" }, h("span", { class: "name", "data-role": "name", title: nameOf(c) }, nameOf(c)), h("span", { class: "type" }, c.actorType || fp?.type || "")),
    h("div", { class: "status-area" }, badge, behaviourBadge, statusLine),
    h("div", { class: "meta" }, fp ? `${fp.pid}@${fp.host}` : "not announced yet", h("span", { style: "color:var(--faint)" }, `  ·  id ${c.actorId}`)),
    h(
      "div",
      { class: "rows" },
      h("span", { class: "label" }, "groups"),
      groups,
      h("span", { class: "label" }, "addresses"),
      addresses,
      h("span", { class: "label" }, "messages"),
      h("span", { class: "counters", "data-role": "counters" }, counterItems),
    ),
  ]);
}

let drawn = { key: undefined };

async function renderDetail() {
  if (state.selected === undefined || !state.components.has(state.selected)) {
    const first = sortedComponents().find((c) => c.status === "live" && c.machine) ?? sortedComponents()[0];
    if (first === undefined) return;
    state.selected = first.actorId;
    state.dirty.components = true;
  }
  const c = state.components.get(state.selected);
  const name = $("detail-name");
  name.replaceChildren(
    ...[
      h("span", {}, nameOf(c)),
      h("span", { class: "detail-id" }, c.actorId),
      h("span", { class: `badge tone-${tone(c.state || "?")}` }, c.state || "unknown"),
      // "stopped" next to a badge already saying "stopped" would only repeat it.
      c.status !== "live" && c.status !== c.state ? h("span", { class: `ended-label ${c.status}` }, c.status) : undefined,
    ].filter(Boolean),
  );

  const behaviour = c.behaviour?.machine?.states?.length ? c.behaviour : undefined;
  $("transitions").replaceChildren(...transitionItems(c.transitions));
  $("behaviour-transitions").replaceChildren(...transitionItems(behaviour?.transitions ?? [], true));
  $("behaviour-transitions-area").classList.toggle("hidden", behaviour === undefined);
  $("transitions-title").textContent = behaviour === undefined ? "Last transitions" : "Lifecycle";
  $("behaviour").classList.toggle("hidden", behaviour === undefined);
  $("diagrams").classList.toggle("with-behaviour", behaviour !== undefined);

  const diagram = $("diagram");
  if (!c.machine) {
    drawn = { key: undefined };
    diagram.replaceChildren(h("p", { class: "empty" }, "Waiting for this component to announce its state machine."));
    return;
  }
  const last = c.transitions[c.transitions.length - 1];
  const behaviourLast = behaviour?.transitions[behaviour.transitions.length - 1];
  const key = JSON.stringify([c.actorId, c.machine, c.state, last?.from, last?.to, behaviour?.machine, behaviour?.active, behaviourLast?.from, behaviourLast?.to]);
  if (drawn.key === key) return;
  drawn = { key };
  const draws = [draw(diagram, c.machine, c.state, last)];
  if (behaviour !== undefined) {
    $("behaviour-name").textContent = behaviour.machine.id;
    draws.push(draw($("behaviour-diagram"), behaviour.machine, behaviour.active, behaviourLast));
  }
  if (!(await Promise.all(draws)).every(Boolean)) drawn = { key: undefined };
}

/** Draws one machine; says so in the panel (and returns false) when it cannot. */
async function draw(container, machine, current, last) {
  try {
    await renderMachine(container, machine, current, last);
    container.dataset.current = Array.isArray(current) ? current.join(" ") : current;
    return true;
  } catch (error) {
    container.replaceChildren(h("p", { class: "empty" }, `Could not draw this machine: ${error?.message ?? error}`));
    return false;
  }
}

/**
 * What a transition changed, briefly: with parallel regions `from` and `to` list every active
 * leaf; only the leaves that changed are shown ("due → paid"), the whole paths in the tooltip.
 */
function changedLeaves(from, to) {
  const before = from.split(", ");
  const after = to.split(", ");
  const left = before.filter((path) => !after.includes(path));
  const entered = after.filter((path) => !before.includes(path));
  if (left.length === 0 && entered.length === 0) return [from, to];
  const short = (paths) => paths.map((path) => path.split(".").pop()).join(", ");
  return [short(left), short(entered)];
}

function transitionItems(list, brief = false) {
  if (list.length === 0) return [h("li", { class: "none" }, "none seen yet")];
  return [...list].reverse().map((t) => {
    const [from, to] = brief ? changedLeaves(t.from, t.to) : [t.from, t.to];
    return h(
      "li",
      {},
      h("span", { class: "when" }, clock(t.at)),
      h("span", { class: "event", title: t.event }, eventLabel(t.event)),
      h("span", { class: "path", title: `${t.from} → ${t.to}` }, from, h("span", { class: "arrow" }, " → "), to),
    );
  });
}

function renderLog() {
  const select = $("filter-component");
  const chosen = select.value;
  const options = [h("option", { value: "" }, "all")];
  for (const c of sortedComponents()) {
    options.push(h("option", { value: c.actorId }, `${nameOf(c)} (${c.actorId.slice(0, 6)})`));
  }
  // In place, and untouched when nothing changed: not rebuilt on every message under the pointer of someone choosing.
  morphChildren(select, options);
  select.value = state.components.has(chosen) ? chosen : "";

  const needle = $("filter-key").value.trim().toLowerCase();
  const matching = state.messages.filter(
    (m) => (!select.value || m.actorId === select.value) && (!needle || m.routingKey.toLowerCase().includes(needle)),
  );
  const rows = matching.slice(-MAX_ROWS).reverse();
  $("log-count").textContent =
    matching.length === state.messages.length ? `${state.messages.length} messages` : `${matching.length} of ${state.messages.length} messages`;
  $("log-empty").classList.toggle("hidden", rows.length > 0);
  $("log-empty").textContent = state.messages.length ? "No message matches the filters." : "No messages yet.";
  const log = $("log");
  for (const [index, m] of rows.entries()) {
    const row = logRow(m);
    // The only cell that can change after the row was made: the component's label (its name may come later).
    const c = state.components.get(m.actorId);
    morphChildren(row.cells[1], [c ? labelOf(c) : m.actorId]);
    // Moved only when out of place (a new message goes on top): a row already shown is left alone,
    // so a text selected in it lasts while messages arrive.
    const there = log.children[index];
    if (there !== row) log.insertBefore(row, there ?? null);
  }
  while (log.children.length > rows.length) log.lastElementChild.remove();
}

/** Each message's row, made once. */
const logRows = new WeakMap();

function logRow(m) {
  let row = logRows.get(m);
  if (row === undefined) {
    row = h(
      "tr",
      { class: m.direction },
      h("td", { class: "time" }, clock(m.at)),
      h("td", {}),
      h("td", {}, h("span", { class: `dir ${m.direction}` }, m.direction)),
      h("td", { class: "message" }, `${m.messageType} `, h("b", {}, m.name), m.reason ? h("span", { class: "reason" }, m.reason) : undefined),
      h("td", { class: "mono clip", title: m.routingKey }, m.routingKey),
      h("td", { class: "mono clip", style: "color:var(--muted)", title: m.exchange }, m.exchange),
    );
    logRows.set(m, row);
  }
  return row;
}

function render() {
  frame = 0;
  const { dirty } = state;
  state.dirty = { components: false, detail: false, log: false };
  if (dirty.detail) {
    renderDetail().catch((error) => console.error("inspector: detail", error));
  }
  if (dirty.components || state.dirty.components) renderComponents();
  if (dirty.log) renderLog();
}

$("filter-component").addEventListener("change", () => markDirty("log"));
$("filter-key").addEventListener("input", () => markDirty("log"));
// A drawing that fits the panel must be fitted again when the panel changes size.
let resizing = 0;
window.addEventListener("resize", () => {
  clearTimeout(resizing);
  resizing = setTimeout(() => {
    drawn = { key: undefined };
    markDirty("detail");
  }, 150);
});
// "seen 3s ago" and flashes age; a redraw a second is cheap for a fleet of this size.
setInterval(() => markDirty("components"), 1000);
connect();
