import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ActorError } from "../errors.js";
import { createFileSnapshotStore } from "./createFileSnapshotStore.js";

describe("createFileSnapshotStore", () => {
  let directory: string;
  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), "postage-snapshots-"));
  });
  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it("gives back what was saved, from a new store on the same directory (a new process)", async () => {
    const snapshot = { status: "active", value: { open: "paid" }, context: { order: "A-1", total: 12.5 }, children: {} };
    const first = createFileSnapshotStore({ directory: join(directory, "nested", "state") });
    await first.save("order", snapshot);
    await first.close();
    const second = createFileSnapshotStore({ directory: join(directory, "nested", "state") });
    expect(await second.load("order")).toEqual(snapshot);
    expect(await second.load("another")).toBeUndefined();
    await second.close();
  });

  it("lands saves in call order: the last one wins", async () => {
    const store = createFileSnapshotStore({ directory });
    await Promise.all(Array.from({ length: 50 }, (_, i) => store.save("k", { value: "s", context: { i } })));
    expect(await store.load("k")).toEqual({ value: "s", context: { i: 49 } });
    // No temporary file is left behind.
    expect(await readdir(directory)).toEqual(["k.snapshot.json"]);
    await store.close();
  });

  it("keeps keys apart, whatever characters they have", async () => {
    const store = createFileSnapshotStore({ directory });
    await store.save("order/../x", { value: "a" });
    await store.save("order#blue", { value: "b" });
    expect(await store.load("order/../x")).toEqual({ value: "a" });
    expect(await store.load("order#blue")).toEqual({ value: "b" });
    expect((await readdir(directory)).sort()).toEqual(["order%23blue.snapshot.json", "order%2F..%2Fx.snapshot.json"]);
    await store.delete("order#blue");
    expect(await store.load("order#blue")).toBeUndefined();
    await store.close();
  });

  it("says what is wrong with a file that is not a snapshot", async () => {
    const store = createFileSnapshotStore({ directory });
    await writeFile(join(directory, "bad.snapshot.json"), "{ half", "utf8");
    await writeFile(join(directory, "list.snapshot.json"), "[1, 2]", "utf8");
    await expect(store.load("bad")).rejects.toMatchObject({ code: "SNAPSHOT_INVALID", message: expect.stringContaining("is not JSON") });
    await expect(store.load("list")).rejects.toMatchObject({ code: "SNAPSHOT_INVALID", message: expect.stringContaining("not a JSON object") });
    await store.close();
  });

  it("fails a save it cannot write with SNAPSHOT_IO, and refuses work once closed", async () => {
    await writeFile(join(directory, "a-file"), "", "utf8");
    const store = createFileSnapshotStore({ directory: join(directory, "a-file") });
    const error = await store.save("k", { value: "x" }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ActorError);
    expect((error as ActorError).code).toBe("SNAPSHOT_IO");
    await store.close();
    await store.close();
    await expect(store.load("k")).rejects.toMatchObject({ code: "SNAPSHOT_STORE_CLOSED" });
  });
});
