import { hostname } from "node:os";
import { describe, expect, it } from "vitest";
import { Fingerprint } from "./Fingerprint.js";

describe("Fingerprint", () => {
  it("collects pid, host, user and vhost from the OS and the environment", () => {
    const fp = Fingerprint.collect({ name: "mycomponent", env: { POSTAGE_VHOST: "development", USER: "x" } });
    expect(fp.name).toBe("mycomponent");
    expect(fp.type).toBeNull();
    expect(fp.pid).toBe(String(process.pid));
    expect(fp.host).toBe(hostname());
    expect(fp.user.length).toBeGreaterThan(0);
    expect(fp.vhost).toBe("development");
  });

  it('defaults the vhost to "/"', () => {
    expect(Fingerprint.collect({ env: {} }).vhost).toBe("/");
  });

  it("gives each collected fingerprint its own instance id, sent in the dictionary form", () => {
    const a = Fingerprint.collect({ name: "a" });
    const b = Fingerprint.collect({ name: "a" });
    expect(a.instance).toMatch(/^[\w-]{8,}$/);
    expect(a.instance).not.toBe(b.instance);
    expect(a.toDict().instance).toBe(a.instance);
    expect(Fingerprint.fromDict(a.toDict()).instance).toBe(a.instance);
  });

  it("keeps given fields over collected ones", () => {
    const fp = Fingerprint.collect({ name: "n", type: "t", pid: "1", host: "h", user: "u", vhost: "v", instance: "i" });
    expect(fp.toDict()).toEqual({ name: "n", type: "t", pid: "1", host: "h", user: "u", vhost: "v", instance: "i" });
    expect(fp.toTuple()).toEqual(["n", "t", "1", "h", "u", "v"]);
  });

  it("reads a numeric pid from a foreign dictionary and ignores ill-typed keys", () => {
    const fp = Fingerprint.fromDict({ name: 3, pid: 42, host: "h" });
    expect(fp.toDict()).toEqual({ name: null, type: null, pid: "42", host: "h", user: "", vhost: "" });
  });
});
