import type { PersistedSnapshot, SnapshotStore } from "./SnapshotStore.js";

const saved = new Map<string, string>();

/**
 * The process's own snapshot store: what a component saved stays here until the process ends,
 * so a component that quit and is made again in the same process (a `restart` handled by the
 * program's own loop, a test) carries on where it stopped. Every component writes to it, with or
 * without a store of its own. Values are kept as JSON text: nothing shared, nothing mutated. @internal
 */
export const memorySnapshots: SnapshotStore = {
  async load(key) {
    const text = saved.get(key);
    return text === undefined ? undefined : (JSON.parse(text) as PersistedSnapshot);
  },
  async save(key, snapshot) {
    saved.set(key, JSON.stringify(snapshot));
  },
  async delete(key) {
    saved.delete(key);
  },
};
