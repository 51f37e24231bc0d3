import { afterEach, describe, expect, it } from "vitest";
import { createServer } from "node:net";
import type { ActorAnnouncedEvent } from "@postage/actors";
import { createInProcessSource, createInspectorServer, InspectionHub, InspectorError, type FleetSnapshot, type InspectorServer } from "@postage/inspector";

function announce(actorId: string, overrides: Partial<ActorAnnouncedEvent> = {}): ActorAnnouncedEvent {
  return {
    kind: "actor",
    actorId,
    at: Date.now(),
    fingerprint: { name: "orders", type: "application", pid: "1", host: "box", user: "me", vhost: "/", instance: actorId },
    actorType: "application",
    machine: { id: "m", initial: "starting", states: ["starting", "running", "stopped"], finalStates: ["stopped"], transitions: [{ from: "starting", to: "running", event: "ready" }] },
    state: "running",
    groups: [],
    bindings: [["generic-application-exchange", "q", "orders"]],
    counters: { received: 0, handled: 0, rejected: 0, unhandled: 0, invalid: 0, sent: 0 },
    heartbeatMs: 1000,
    ...overrides,
  };
}

const open: InspectorServer[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((server) => server.close()));
});

async function start(options: { token?: string; host?: string; now?: () => number; tickMs?: number } = {}) {
  const hub = new InspectionHub();
  const source = createInProcessSource((listener) => hub.subscribe(listener), { description: "test" });
  const server = await createInspectorServer({
    source,
    port: 0,
    ...(options.host !== undefined ? { host: options.host } : {}),
    ...(options.token !== undefined ? { token: options.token } : {}),
    ...(options.now !== undefined ? { model: { now: options.now } } : {}),
    ...(options.tickMs !== undefined ? { tickMs: options.tickMs } : {}),
  });
  open.push(server);
  return { hub, server, base: `http://127.0.0.1:${server.port}` };
}

/** Reads server-sent events from a streaming response until `stop` says enough. */
async function readEvents(response: Response, stop: (events: Array<{ event: string; data: unknown }>) => boolean) {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const events: Array<{ event: string; data: unknown }> = [];
  let buffer = "";
  while (!stop(events)) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(frame)?.[1];
      const data = /^data: (.*)$/m.exec(frame)?.[1];
      if (event !== undefined && data !== undefined) events.push({ event, data: JSON.parse(data) });
    }
  }
  await reader.cancel();
  return events;
}

describe("createInspectorServer", () => {
  it("serves a JSON snapshot of the fleet", async () => {
    const { hub, base } = await start();
    hub.emit(announce("a1", { groups: ["blue"] }));
    hub.emit({ kind: "message", actorId: "a1", at: 1, direction: "received", messageType: "command", name: "ping", category: "message", exchange: "x", routingKey: "orders" });
    const response = await fetch(`${base}/api/snapshot`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/application\/json/);
    const snapshot = (await response.json()) as FleetSnapshot & { source: string };
    expect(snapshot.source).toBe("test");
    expect(snapshot.components.map((c) => [c.actorId, c.state, c.groups])).toEqual([["a1", "running", ["blue"]]]);
    expect(snapshot.messages.map((m) => m.routingKey)).toEqual(["orders"]);
  });

  it("filters the message log by component and routing key", async () => {
    const { hub, base } = await start();
    const message = (actorId: string, routingKey: string) =>
      hub.emit({ kind: "message", actorId, at: 1, direction: "received", messageType: "command", name: "n", category: "message", exchange: "x", routingKey });
    message("a1", "orders/rr");
    message("a2", "orders#blue");
    message("a1", "invoices");
    const byActor = (await (await fetch(`${base}/api/messages?actorId=a1`)).json()) as Array<{ routingKey: string }>;
    expect(byActor.map((m) => m.routingKey)).toEqual(["orders/rr", "invoices"]);
    const byKey = (await (await fetch(`${base}/api/messages?routingKey=orders`)).json()) as Array<{ routingKey: string }>;
    expect(byKey.map((m) => m.routingKey)).toEqual(["orders/rr", "orders#blue"]);
  });

  it("streams a snapshot, then each change, as server-sent events", async () => {
    const { hub, base, server } = await start();
    hub.emit(announce("a1"));
    const response = await fetch(`${base}/api/events`);
    expect(response.headers.get("content-type")).toMatch(/text\/event-stream/);
    const reading = readEvents(response, (events) => events.some((e) => e.event === "component"));
    // Wait until the server registered the stream before emitting (the snapshot comes first).
    while (server.viewers === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    hub.emit({ kind: "transition", actorId: "a1", at: 2, event: "quit", from: "running", to: "stopped" });
    const events = await reading;
    expect(events[0]?.event).toBe("snapshot");
    expect((events[0]?.data as FleetSnapshot).components[0]?.state).toBe("running");
    const change = events.find((e) => e.event === "component")?.data as { component: { state: string; status: string } };
    expect(change.component).toMatchObject({ state: "stopped", status: "stopped" });
  });

  it("streams a component that vanished (heartbeat timeout on the injected clock)", async () => {
    let now = 1_000_000;
    const { hub, base, server } = await start({ now: () => now, tickMs: 10 });
    hub.emit(announce("a1", { heartbeatMs: 1000 }));
    const response = await fetch(`${base}/api/events`);
    const reading = readEvents(response, (events) => events.some((e) => e.event === "component"));
    while (server.viewers === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    now += 3001;
    const events = await reading;
    expect(events.find((e) => e.event === "component")?.data).toMatchObject({ component: { actorId: "a1", status: "vanished" } });
  });

  it("serves the page and its scripts from the package, nothing from elsewhere", async () => {
    const { base } = await start();
    const page = await (await fetch(`${base}/`)).text();
    expect(page).toContain("<title>Postage inspector</title>");
    expect(page).not.toMatch(/(src|href)="(https?:)?\/\//);
    for (const path of ["/app.js", "/diagram.js", "/dom.js", "/deadLetters.js", "/app.css", "/elk.js"]) {
      const response = await fetch(`${base}${path}`);
      expect(response.status, path).toBe(200);
    }
    expect(await (await fetch(`${base}/elk.js`)).text()).toContain("ELK");
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });

  it("refuses a non-loopback host without a token", async () => {
    const hub = new InspectionHub();
    const source = createInProcessSource((listener) => hub.subscribe(listener));
    const error = await createInspectorServer({ source, host: "0.0.0.0", port: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InspectorError);
    expect((error as InspectorError).code).toBe("TOKEN_REQUIRED");
    expect(hub.size).toBe(0);
  });

  it("with a token, requires it as ?token= or a header on every request", async () => {
    const { base, server } = await start({ host: "0.0.0.0", token: "s3cret" });
    expect(server.url).toContain("?token=s3cret");
    expect((await fetch(`${base}/api/snapshot`)).status).toBe(401);
    expect((await fetch(`${base}/api/snapshot?token=wrong`)).status).toBe(401);
    expect((await fetch(`${base}/`)).status).toBe(401);
    expect((await fetch(`${base}/api/snapshot?token=s3cret`)).status).toBe(200);
    expect((await fetch(`${base}/api/snapshot`, { headers: { authorization: "Bearer s3cret" } })).status).toBe(200);
    expect((await fetch(`${base}/api/snapshot`, { headers: { "x-postage-token": "s3cret" } })).status).toBe(200);
    // The page passes the token on to its own scripts.
    const page = await (await fetch(`${base}/?token=s3cret`)).text();
    expect(page).toContain('src="app.js?token=s3cret"');
  });

  it("with a token, every script the page loads and every module those import carry it (as a browser resolves them)", async () => {
    const { base } = await start({ token: "s3cret" });
    const pageUrl = `${base}/?token=s3cret`;
    const page = await (await fetch(pageUrl)).text();
    const pending = [...page.matchAll(/<script[^>]*\ssrc="([^"]+)"/g)].map((m) => new URL(m[1] ?? "", pageUrl).href);
    const fetched = new Map<string, number>();
    while (pending.length > 0) {
      const url = pending.shift() ?? "";
      if (fetched.has(url)) continue;
      const response = await fetch(url);
      fetched.set(url, response.status);
      if (response.status !== 200 || url.includes("/elk.js")) continue;
      // A relative module specifier resolves against the importing script's URL, without its query.
      for (const m of (await response.text()).matchAll(/\bimport\s[^"']*["']([^"']+)["']/g)) pending.push(new URL(m[1] ?? "", url).href);
    }
    for (const module of ["/diagram.js", "/dom.js"]) expect([...fetched.keys()].some((url) => url.includes(module)), [...fetched.keys()].join("\n")).toBe(true);
    expect(Object.fromEntries(fetched)).toEqual(Object.fromEntries([...fetched.keys()].map((url) => [url, 200])));
  });

  it("without a token, refuses requests that name another host (DNS rebinding)", async () => {
    const { server } = await start();
    const status = await new Promise<number>((resolve, reject) => {
      import("node:http")
        .then(({ request }) => {
          const req = request({ host: "127.0.0.1", port: server.port, path: "/api/snapshot", headers: { host: "evil.example:7373" } }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          });
          req.on("error", reject);
          req.end();
        })
        .catch(reject);
    });
    expect(status).toBe(403);
  });

  it("fails clearly when the port is taken, and closes idempotently", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const source = createInProcessSource(() => () => {});
      const error = await createInspectorServer({ source, port }).catch((e: unknown) => e);
      expect((error as InspectorError).code).toBe("LISTEN_FAILED");
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
    const { server, hub } = await start();
    expect(hub.size).toBe(1);
    await server.close();
    await server.close();
    expect(hub.size).toBe(0);
  });
});
