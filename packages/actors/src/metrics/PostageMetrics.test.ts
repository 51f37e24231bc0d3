import { collectDefaultMetrics, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { Scrape } from "../../test/scrape.js";
import { openMetricsEndpoint } from "./metricsEndpoint.js";
import { MetricsServer } from "./MetricsServer.js";
import { PostageMetrics, type MeteredActor } from "./PostageMetrics.js";

const actor = (name: string, type: string, state = "running", mailboxDepth = 0): MeteredActor & { state: string; mailboxDepth: number } => ({
  fingerprint: { name, type, pid: "1", host: "h", user: "u", vhost: "/", instance: `id-${Math.random()}` },
  actorType: "processor",
  state,
  mailboxDepth,
});

describe("PostageMetrics", () => {
  it("counts by component and type, never by instance, and reads mailboxes, states and brokers at scrape time", async () => {
    const metrics = new PostageMetrics({ processMetrics: false });
    const one = actor("worker", "service", "running", 3);
    const two = actor("worker", "service", "running", 2);
    const other = actor("monitor", "application", "failed");
    const a = metrics.track(one);
    const b = metrics.track(two);
    const c = metrics.track(other);
    const broker = { connected: true };
    metrics.watchBroker(broker);
    a.processed("handled", 0.002);
    b.processed("handled", 0.004);
    a.processed("failed", 0.001);
    c.processed("unhandled");
    a.deadLettered("HANDLER_ERROR");
    c.deadLettered("NOT_JSON");
    a.rpcFinished(0.01, "success");
    a.rpcFinished(1, "timeout");
    c.restarted();

    const scrape = new Scrape(await metrics.registry.metrics());
    expect(scrape.value("postage_messages_processed_total", { component: "worker", type: "service", outcome: "handled" })).toBe(2);
    expect(scrape.value("postage_messages_processed_total", { component: "worker", outcome: "failed" })).toBe(1);
    expect(scrape.value("postage_messages_processed_total", { component: "monitor", type: "application", outcome: "unhandled" })).toBe(1);
    expect(scrape.value("postage_dead_lettered_total", { component: "worker", reason: "HANDLER_ERROR" })).toBe(1);
    expect(scrape.value("postage_dead_lettered_total", { component: "monitor", reason: "NOT_JSON" })).toBe(1);
    expect(scrape.value("postage_rpc_client_timeouts_total", { component: "worker" })).toBe(1);
    expect(scrape.value("postage_actor_restarts_total", { component: "monitor" })).toBe(1);
    expect(scrape.value("postage_mailbox_depth", { component: "worker" })).toBe(5);
    expect(scrape.value("postage_actors", { component: "monitor", state: "failed" })).toBe(1);
    expect(scrape.value("postage_actors", { component: "worker", state: "running" })).toBe(2);
    expect(scrape.value("postage_broker_connected")).toBe(1);
    expect(scrape.family("postage_handler_duration_seconds").type).toBe("HISTOGRAM");
    expect(scrape.family("postage_rpc_client_duration_seconds").type).toBe("HISTOGRAM");
    // Bounded cardinality: no label anywhere carries an instance id.
    expect(scrape.text).not.toContain("id-");
    expect(scrape.text).toMatch(/postage_handler_duration_seconds_count\{component="worker",type="service"\} 3/);

    one.mailboxDepth = 0;
    one.state = "stopped";
    broker.connected = false;
    const later = new Scrape(await metrics.registry.metrics());
    expect(later.value("postage_mailbox_depth", { component: "worker" })).toBe(2);
    expect(later.value("postage_actors", { component: "worker", state: "stopped" })).toBe(1);
    expect(later.value("postage_broker_connected")).toBe(0);
  });

  it("includes Node.js process metrics unless told not to, or unless the registry is the application's", async () => {
    expect(await new PostageMetrics().registry.metrics()).toContain("process_cpu_user_seconds_total");
    expect(await new PostageMetrics({ processMetrics: false }).registry.metrics()).not.toContain("process_cpu_user_seconds_total");
    const own = new Registry();
    collectDefaultMetrics({ register: own });
    const metrics = new PostageMetrics({ registry: own });
    expect(metrics.registry).toBe(own);
    expect(await own.metrics()).toContain("postage_messages_processed_total");
  });
});

describe("MetricsServer", () => {
  it("serves /metrics in the Prometheus text format and nothing else", async () => {
    const metrics = new PostageMetrics({ processMetrics: false });
    metrics.track(actor("served", "service")).processed("handled", 0.001);
    const server = await MetricsServer.listen(metrics.registry, { port: 0, host: "127.0.0.1" });
    try {
      const scrape = await Scrape.from(server.url);
      expect(scrape.value("postage_messages_processed_total", { component: "served", outcome: "handled" })).toBe(1);
      expect((await fetch(server.url.replace("/metrics", "/"))).status).toBe(404);
    } finally {
      await server.close();
      await server.close();
    }
  });

  it("says which port it could not bind", async () => {
    const first = await MetricsServer.listen(new PostageMetrics({ processMetrics: false }).registry, { port: 0, host: "127.0.0.1" });
    try {
      const port = Number(new URL(first.url).port);
      await expect(MetricsServer.listen(new PostageMetrics({ processMetrics: false }).registry, { port, host: "127.0.0.1" })).rejects.toMatchObject({
        code: "METRICS_SERVER",
        message: expect.stringContaining(`127.0.0.1:${port}`),
      });
    } finally {
      await first.close();
    }
  });
});

describe("the scheduler's metrics endpoint", () => {
  it("is off without the option and without POSTAGE_METRICS_PORT", () => {
    expect(openMetricsEndpoint(undefined, {})).toBeUndefined();
    expect(openMetricsEndpoint(false, { POSTAGE_METRICS_PORT: "9464" })).toBeUndefined();
  });

  it("without a port keeps metrics in a registry and serves nothing", async () => {
    const endpoint = openMetricsEndpoint(true, {});
    expect(endpoint?.server).toBeUndefined();
    expect(endpoint?.metrics.registry).toBeDefined();
    await endpoint?.release();
  });

  it("serves on POSTAGE_METRICS_PORT; schedulers on the same port share the server and the metrics", async () => {
    const probe = await MetricsServer.listen(new PostageMetrics({ processMetrics: false }).registry, { port: 0, host: "127.0.0.1" });
    const port = new URL(probe.url).port;
    await probe.close();
    const env = { POSTAGE_METRICS_PORT: port, POSTAGE_METRICS_HOST: "127.0.0.1" };
    const first = openMetricsEndpoint(undefined, env)!;
    const second = openMetricsEndpoint({ processMetrics: false }, env)!;
    expect(second.metrics).toBe(first.metrics);
    const server = await first.server!;
    expect(await second.server).toBe(server);
    first.metrics.track(actor("shared", "service")).processed("handled");
    await first.release();
    expect((await Scrape.from(server.url)).value("postage_messages_processed_total", { component: "shared" })).toBe(1);
    await second.release();
    await expect(fetch(server.url)).rejects.toThrow();
  });

  it("refuses a POSTAGE_METRICS_PORT that is not a port", () => {
    expect(() => openMetricsEndpoint(undefined, { POSTAGE_METRICS_PORT: "metrics" })).toThrow(/POSTAGE_METRICS_PORT must be a TCP port/);
  });
});
