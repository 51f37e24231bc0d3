import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ActorError } from "../errors.js";
import type { PersistedSnapshot, SnapshotStore } from "./SnapshotStore.js";

/** Options of {@link createFileSnapshotStore}. */
export interface FileSnapshotStoreOptions {
  /** The directory the snapshot files go in; created when missing. */
  directory: string;
}

/**
 * A {@link SnapshotStore} that keeps one JSON file per key in a directory
 * (`<directory>/<key>.snapshot.json`, the key URI-encoded). A save writes a temporary file and
 * renames it over the previous one, so a crash mid-save leaves the previous snapshot whole.
 * Meant for one process per directory: two processes saving the same key race (the last
 * rename wins).
 *
 * @example
 * const order = defineComponent({
 *   name: "order",
 *   machine: orderMachine,
 *   snapshots: createFileSnapshotStore({ directory: "./state" }),
 * });
 */
export function createFileSnapshotStore(options: FileSnapshotStoreOptions): Required<SnapshotStore> {
  const { directory } = options;
  // One chain of writes per key: saves land in call order, and a load waits for the saves before it.
  const pending = new Map<string, Promise<unknown>>();
  let ready: Promise<unknown> | undefined;
  let closed = false;
  let sequence = 0;

  const fileOf = (key: string): string => join(directory, `${encodeURIComponent(key)}.snapshot.json`);
  const ensureDirectory = (): Promise<unknown> => {
    // A failed mkdir is tried again by the next save (the directory may have been fixed since).
    ready ??= mkdir(directory, { recursive: true }).catch((error: unknown) => {
      ready = undefined;
      throw error;
    });
    return ready;
  };
  const queue = <T>(key: string, work: () => Promise<T>): Promise<T> => {
    if (closed) return Promise.reject(new ActorError("SNAPSHOT_STORE_CLOSED", `the snapshot store in ${directory} is closed`));
    const run = (pending.get(key) ?? Promise.resolve()).then(work, work);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    pending.set(key, settled);
    void settled.then(() => {
      if (pending.get(key) === settled) pending.delete(key);
    });
    return run;
  };

  return {
    load(key) {
      return queue(key, async (): Promise<PersistedSnapshot | undefined> => {
        let text: string;
        try {
          text = await readFile(fileOf(key), "utf8");
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
          throw new ActorError("SNAPSHOT_IO", `could not read the snapshot of "${key}" from ${fileOf(key)}: ${(error as Error).message}`, { cause: error });
        }
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch (error) {
          throw new ActorError("SNAPSHOT_INVALID", `the snapshot of "${key}" in ${fileOf(key)} is not JSON: ${(error as Error).message}`, { cause: error });
        }
        if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
          throw new ActorError("SNAPSHOT_INVALID", `the snapshot of "${key}" in ${fileOf(key)} is not a JSON object`);
        }
        return parsed as PersistedSnapshot;
      });
    },
    save(key, snapshot) {
      return queue(key, async () => {
        const file = fileOf(key);
        const temporary = `${file}.${process.pid}.${++sequence}.tmp`;
        try {
          await ensureDirectory();
          await writeFile(temporary, JSON.stringify(snapshot), "utf8");
          await rename(temporary, file);
        } catch (error) {
          await rm(temporary, { force: true }).catch(() => undefined); // the save's own error is the one to report
          throw new ActorError("SNAPSHOT_IO", `could not save the snapshot of "${key}" to ${file}: ${(error as Error).message}`, { cause: error });
        }
      });
    },
    delete(key) {
      return queue(key, async () => {
        await rm(fileOf(key), { force: true });
      });
    },
    async close() {
      closed = true;
      // Saves already made are finished, not dropped.
      await Promise.all(pending.values());
    },
  };
}
