// The dead-letter panel: what waits in the broker's dead-letter queue, read without consuming it
// (the server takes each message without ack and puts it back). Read-only: replaying and purging
// are `postage dlq` commands. Untrusted text (reasons, bodies, headers) only goes through textContent.
import { h, morphChildren } from "./dom.js";

const REFRESH_MS = 5000;

const query = new URLSearchParams(location.search);
const token = query.get("token");
const withToken = (path, params = {}) => {
  const search = new URLSearchParams(params);
  if (token) search.set("token", token);
  const text = search.toString();
  return text ? `${path}?${text}` : path;
};

const panel = document.getElementById("dead-letters");
const state = { listing: undefined, open: undefined, error: undefined, updated: undefined, loading: false };

const when = (iso) => (iso ? `${iso.slice(0, 10)} ${iso.slice(11, 19)}` : "–");
const destination = (letter) => `${letter.exchange || "(default)"}/${letter.routingKey}`;
/** A quorum queue counts every listing as a delivery attempt: no automatic refresh there. */
const quorum = () => (state.listing?.deadLetters ?? []).some((letter) => letter.deliveryCount !== undefined);

async function load() {
  if (state.loading) return;
  state.loading = true;
  try {
    const response = await fetch(withToken("api/dead-letters"));
    if (response.status === 204) return; // this inspector has no dead-letter panel
    const body = await response.json();
    if (!response.ok) throw new Error(body.error ?? `HTTP ${response.status}`);
    state.listing = body;
    state.error = undefined;
    state.updated = new Date();
    if (state.open && !body.deadLetters.some((letter) => letter.id === state.open.id)) state.open = undefined;
  } catch (error) {
    state.error = error instanceof Error ? error.message : String(error);
  } finally {
    state.loading = false;
  }
  panel.classList.remove("hidden");
  render();
}

async function toggle(letter) {
  if (state.open?.id === letter.id) {
    state.open = undefined;
    render();
    return;
  }
  state.open = { id: letter.id, letter: undefined, error: undefined };
  render();
  try {
    const response = await fetch(withToken("api/dead-letters/one", { id: letter.id }));
    const body = await response.json();
    if (!response.ok) throw new Error(body.error ?? `HTTP ${response.status}`);
    if (state.open?.id === letter.id) state.open.letter = body;
  } catch (error) {
    if (state.open?.id === letter.id) state.open.error = error instanceof Error ? error.message : String(error);
  }
  render();
}

function prettyBody(letter) {
  if (letter.bodyEncoding === "base64") return `(not UTF-8, base64) ${letter.body}`;
  try {
    return JSON.stringify(JSON.parse(letter.body), null, 2);
  } catch {
    return letter.body; // not JSON: often the very reason it was dead-lettered
  }
}

function detailRow(summary) {
  const open = state.open;
  const facts = [
    ["source", summary.source === "postage" ? "a Postage consumer" : summary.source === "rabbitmq" ? "RabbitMQ" : "unknown"],
    ["message id", summary.messageId ?? "–"],
    ["published", when(summary.publishedAt)],
    ["died in queue", summary.queue],
    ["deaths", summary.deaths],
    ["replays", summary.replays],
    ["size", `${summary.size} bytes${summary.contentType ? `, ${summary.contentType}` : ""}`],
    ["delivery count", summary.deliveryCount],
  ].filter(([, value]) => value !== undefined);
  const content = [
    h("dl", { class: "dl-facts" }, facts.map(([key, value]) => [h("dt", {}, key), h("dd", {}, String(value))])),
    h("p", { class: "dl-reason-full" }, summary.reason),
  ];
  if (open.error) content.push(h("p", { class: "dl-error" }, open.error));
  else if (!open.letter) content.push(h("p", { class: "empty" }, "loading…"));
  else {
    content.push(
      h("div", { class: "dl-columns" },
        h("div", {}, h("h3", {}, "Body"), h("pre", { class: "dl-pre", "data-role": "body" }, prettyBody(open.letter))),
        h("div", {}, h("h3", {}, "Headers"), h("pre", { class: "dl-pre", "data-role": "headers" }, JSON.stringify(open.letter.headers, null, 2))),
      ),
      h("p", { class: "dl-hint" }, "Replay: ", h("code", {}, `postage dlq replay ${summary.id}`), "   Delete: ", h("code", {}, `postage dlq purge ${summary.id}`)),
    );
  }
  return h("tr", { class: "dl-detail" }, h("td", { colspan: 6 }, content));
}

function render() {
  const listing = state.listing;
  const head = h("div", { class: "dl-head" },
    h("h2", { id: "dead-letters-title" }, "Dead letters"),
    listing ? h("span", { class: "dl-queue" }, listing.queue) : undefined,
    listing ? h("span", { class: `dl-count${listing.total > 0 ? " some" : ""}`, "data-role": "dead-letter-count" }, String(listing.total)) : undefined,
    h("span", { class: "dl-updated" },
      state.updated ? `listed ${state.updated.toTimeString().slice(0, 8)}, none consumed${quorum() ? " · quorum queue: refresh by hand (each listing counts as a delivery)" : ""}` : ""),
    h("button", { type: "button", class: "dl-refresh", "data-role": "dead-letter-refresh" }, "Refresh"),
  );
  const body = [];
  if (state.error) body.push(h("p", { class: "dl-error", "data-role": "dead-letter-error" }, `Cannot list the dead letters: ${state.error}`));
  if (listing && !listing.exists) body.push(h("p", { class: "empty" }, `Queue ${listing.queue} does not exist yet: nothing was dead-lettered.`));
  else if (listing && listing.total === 0) body.push(h("p", { class: "empty" }, `No dead letters in ${listing.queue}.`));
  else if (listing) {
    const rows = [];
    for (const letter of listing.deadLetters) {
      const row = h("tr", { class: `dl-row${state.open?.id === letter.id ? " open" : ""}`, "data-id": letter.id, tabindex: 0 },
        h("td", { class: "time" }, when(letter.deadLetteredAt)),
        h("td", {}, h("span", { class: "dl-error-code" }, letter.error)),
        h("td", { class: "dl-reason" }, letter.reason),
        h("td", { class: "mono dl-dest" }, destination(letter)),
        h("td", { class: "mono dl-preview" }, letter.preview),
        h("td", { class: "mono dl-id" }, letter.id),
      );
      rows.push(row);
      if (state.open?.id === letter.id) rows.push(detailRow(letter));
    }
    body.push(
      h("div", { class: "dl-scroll" },
        h("table", { class: "log-table dl-table" },
          h("thead", {}, h("tr", {}, ["dead-lettered", "error", "reason", "exchange / key", "body", "id"].map((title) => h("th", {}, title)))),
          h("tbody", { id: "dead-letter-rows" }, rows),
        ),
      ),
    );
    if (listing.deadLetters.length < listing.total) body.push(h("p", { class: "dl-hint" }, `The first ${listing.deadLetters.length} of ${listing.total} are shown.`));
  }
  // In place, not rebuilt: the listing refreshes by itself, and a click pressed on a row replaced
  // before its release would be lost. Clicks are handled on the panel (below), not on its rows.
  morphChildren(panel, [head, ...body]);
}

/** The dead letter of a row the user clicked or pressed Enter on, if the event was on one. */
function letterOf(event) {
  const id = event.target.closest("tr.dl-row")?.dataset.id;
  return state.listing?.deadLetters.find((letter) => letter.id === id);
}

if (panel) {
  panel.addEventListener("click", (event) => {
    if (event.target.closest('[data-role="dead-letter-refresh"]')) {
      void load();
      return;
    }
    const letter = letterOf(event);
    if (letter !== undefined) void toggle(letter);
  });
  panel.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" && event.key !== " ") return;
    const letter = letterOf(event);
    if (letter === undefined) return;
    event.preventDefault();
    void toggle(letter);
  });
  void load();
  setInterval(() => {
    if (!document.hidden && !quorum() && state.open === undefined) void load();
  }, REFRESH_MS);
}
