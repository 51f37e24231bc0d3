import { describe, expect, it } from "vitest";
import { TransportError } from "../errors.js";
import { type AmqpSettings, type ConnectionOptions, type Environment, resolveConnectionSettings } from "./connectionSettings.js";
import { parseBrokerUrl } from "./parseBrokerUrl.js";
import { redactUrl } from "./redactUrl.js";

function amqp(options: ConnectionOptions = {}, env: Environment = {}, warned = new Set<string>()): AmqpSettings {
  const settings = resolveConnectionSettings(options, env, { warned, warn: () => undefined });
  if (settings.transport !== "amqp") throw new Error(`expected amqp settings, got ${settings.transport}`);
  return settings;
}

describe("resolveConnectionSettings", () => {
  it("defaults to guest@localhost:5672/", () => {
    const s = amqp();
    expect(s.hosts).toEqual([{ host: "localhost", port: 5672 }]);
    expect([s.user, s.password, s.vhost, s.tls, s.debug]).toEqual(["guest", "guest", "/", null, false]);
    expect(s.displayUrl).toBe("amqp://guest:***@localhost:5672/%2F");
  });

  it("reads POSTAGE_HOST, PORT, VHOST, USER, PASSWORD and DEBUG_MODE", () => {
    const s = amqp({}, {
      POSTAGE_HOST: "rabbit", POSTAGE_PORT: "5673", POSTAGE_VHOST: "prod", POSTAGE_USER: "bob", POSTAGE_PASSWORD: "pw", POSTAGE_DEBUG_MODE: "true",
    });
    expect(s.hosts).toEqual([{ host: "rabbit", port: 5673 }]);
    expect([s.user, s.password, s.vhost, s.debug]).toEqual(["bob", "pw", "prod", true]);
  });

  it("prefers POSTAGE_URL to the separate variables, and the URL's parts to them", () => {
    const s = amqp({}, { POSTAGE_URL: "amqp://alice:secret@node1:5700/v1", POSTAGE_HOST: "ignored", POSTAGE_PORT: "1", POSTAGE_USER: "bob", POSTAGE_VHOST: "v2" });
    expect(s.hosts).toEqual([{ host: "node1", port: 5700 }]);
    expect([s.user, s.password, s.vhost]).toEqual(["alice", "secret", "v1"]);
  });

  it("fills what the URL leaves out from the environment", () => {
    const s = amqp({}, { POSTAGE_URL: "amqp://node1", POSTAGE_USER: "bob", POSTAGE_PASSWORD: "pw", POSTAGE_VHOST: "v2" });
    expect([s.user, s.password, s.vhost, s.hosts[0]?.port]).toEqual(["bob", "pw", "v2", 5672]);
  });

  it("lets options override the environment", () => {
    const env = { POSTAGE_URL: "amqp://alice:secret@node1/v1", POSTAGE_DEBUG_MODE: "true" };
    const s = amqp({ user: "carol", password: "x", vhost: "v3", debug: false }, env);
    expect([s.user, s.password, s.vhost, s.debug]).toEqual(["carol", "x", "v3", false]);
    expect(amqp({ host: "other" }, env).hosts).toEqual([{ host: "other", port: 5672 }]);
    expect(amqp({ url: "amqp://h9:1234" }, env).hosts).toEqual([{ host: "h9", port: 1234 }]);
  });

  it("uses TLS and port 5671 for amqps, with the given TLS options", () => {
    const s = amqp({ tls: { rejectUnauthorized: false, servername: "rabbit.example" } }, { POSTAGE_URL: "amqps://rabbit.example" });
    expect(s.hosts[0]?.port).toBe(5671);
    expect(s.tls).toEqual({ rejectUnauthorized: false, servername: "rabbit.example" });
    expect(s.displayUrl.startsWith("amqps://")).toBe(true);
    expect(amqp({ tls: true }).hosts[0]?.port).toBe(5671);
  });

  it("accepts a cluster as hosts in one URL or as several URLs", () => {
    const one = amqp({}, { POSTAGE_URL: "amqp://u:p@n1,n2:5673,[::1]:5674/v" });
    expect(one.hosts).toEqual([{ host: "n1", port: 5672 }, { host: "n2", port: 5673 }, { host: "::1", port: 5674 }]);
    expect(one.vhost).toBe("v");
    const many = amqp({}, { POSTAGE_URL: "amqp://u:p@n1/v, amqp://u:p@n2:5673/v" });
    expect(many.hosts).toEqual([{ host: "n1", port: 5672 }, { host: "n2", port: 5673 }]);
    expect(many.displayUrl).toBe("amqp://u:***@n1:5672,n2:5673/v");
    expect(() => amqp({}, { POSTAGE_URL: "amqp://u:p@n1/v,amqp://u:q@n2/v" })).toThrow(/same user, password and vhost/);
  });

  it("resolves memory:// to the in-memory broker", () => {
    expect(resolveConnectionSettings({}, { POSTAGE_URL: "memory://tour" })).toEqual({ transport: "memory", name: "tour", debug: false, displayUrl: "memory://tour" });
    expect(resolveConnectionSettings({ url: "memory://" }, {})).toMatchObject({ transport: "memory", name: "default" });
  });

  it("decodes percent-encoded credentials and vhost", () => {
    const s = amqp({ url: "amqp://us%40er:p%3Aw%2Fd@h/%2F" });
    expect([s.user, s.password, s.vhost]).toEqual(["us@er", "p:w/d", "/"]);
  });

  it("still reads POSTAGE_RMQ_USER/PASSWORD, warning once per process", () => {
    const warnings: string[] = [];
    const warned = new Set<string>();
    const env = { POSTAGE_RMQ_USER: "old", POSTAGE_RMQ_PASSWORD: "oldpw" };
    const hooks = { warned, warn: (m: string) => warnings.push(m) };
    const first = resolveConnectionSettings({}, env, hooks);
    const second = resolveConnectionSettings({}, env, hooks);
    expect(first).toMatchObject({ user: "old", password: "oldpw" });
    expect(second).toMatchObject({ user: "old", password: "oldpw" });
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/POSTAGE_RMQ_USER is deprecated; use POSTAGE_USER/);
    expect(warnings[1]).toMatch(/POSTAGE_RMQ_PASSWORD is deprecated; use POSTAGE_PASSWORD/);
    expect(warnings.join(" ")).not.toContain("oldpw");
  });

  it("prefers the new variables to the deprecated ones (and says the old ones are ignored)", () => {
    const warnings: string[] = [];
    const s = resolveConnectionSettings({}, { POSTAGE_RMQ_USER: "old", POSTAGE_USER: "new" }, { warned: new Set(), warn: (m) => warnings.push(m) });
    expect(s).toMatchObject({ user: "new" });
    expect(warnings).toEqual(["POSTAGE_RMQ_USER is deprecated (ignored: POSTAGE_USER is set); use POSTAGE_USER instead"]);
  });

  it("rejects bad URLs and ports with INVALID_URL / INVALID_CONFIG, never showing the password", () => {
    const failure = (fn: () => unknown): TransportError => {
      try {
        fn();
      } catch (err) {
        if (err instanceof TransportError) return err;
        throw err;
      }
      throw new Error("expected a TransportError");
    };
    const bad = failure(() => amqp({ url: "http://bob:hunter2@host" }));
    expect(bad.code).toBe("INVALID_URL");
    expect(bad.message).not.toContain("hunter2");
    expect(failure(() => amqp({ url: "amqp://bob:hunter2@host:99999" })).message).toMatch(/port "99999"/);
    expect(failure(() => amqp({ url: "amqp://bob:hunter2@host:99999" })).message).not.toContain("hunter2");
    expect(failure(() => amqp({}, { POSTAGE_PORT: "abc" })).code).toBe("INVALID_CONFIG");
    expect(failure(() => amqp({ url: "amqp://" })).code).toBe("INVALID_URL");
  });
});

describe("parseBrokerUrl", () => {
  it("reads the heartbeat query parameter", () => {
    expect(parseBrokerUrl("amqp://h?heartbeat=5")).toMatchObject({ heartbeat: 5, hosts: [{ host: "h" }] });
  });
});

describe("redactUrl", () => {
  it("hides passwords and keeps the rest", () => {
    expect(redactUrl("amqp://bob:s3cret@rabbit:5672/prod")).toBe("amqp://bob:***@rabbit:5672/prod");
    expect(redactUrl("amqps://bob:p@ss@rabbit/v")).toBe("amqps://bob:***@rabbit/v");
    expect(redactUrl("amqp://a:x@n1/v,amqp://a:y@n2/v")).toBe("amqp://a:***@n1/v,amqp://a:***@n2/v");
    expect(redactUrl("connecting to amqp://a:x@n1,n2:5673/v now")).toBe("connecting to amqp://a:***@n1,n2:5673/v now");
    expect(redactUrl("amqp://bob@rabbit/v")).toBe("amqp://bob@rabbit/v");
    expect(redactUrl("memory://tour")).toBe("memory://tour");
  });
});
