/**
 * Where a component keeps its behaviour machine's snapshot so that a new run of the process
 * can carry on where the last one stopped. Postage saves after every behaviour transition and
 * loads once, when the component starts; in-place restarts and `quit`/`restart` inside one run
 * keep the snapshot in memory and need no store.
 *
 * What is saved is XState's persisted snapshot (`actor.getPersistedSnapshot()`): plain JSON,
 * context included, so a store can write it anywhere (a file, a database row, a key-value
 * store). A store must return what it was given, as JSON, for the same key; it should make a
 * save atomic (a crash mid-save leaves the previous snapshot, not half of each).
 *
 * @example
 * // A store in a Map (what a test might use); `createFileSnapshotStore` is built in.
 * const saved = new Map<string, string>();
 * const memoryStore: SnapshotStore = {
 *   async load(key) { const text = saved.get(key); return text === undefined ? undefined : JSON.parse(text); },
 *   async save(key, snapshot) { saved.set(key, JSON.stringify(snapshot)); },
 *   async delete(key) { saved.delete(key); },
 * };
 */
export interface SnapshotStore {
  /** The snapshot last saved under `key`, or `undefined` when there is none. */
  load(key: string): Promise<PersistedSnapshot | undefined>;
  /** Replaces the snapshot under `key`. Saves for one key are made in the order they are called. */
  save(key: string, snapshot: PersistedSnapshot): Promise<void>;
  /** Forgets the snapshot under `key` (the component starts from its initial state next time). */
  delete(key: string): Promise<void>;
  /** Releases what the store holds open; idempotent. Optional: a store with nothing open needs none. */
  close?(): Promise<void>;
}

/** An XState persisted snapshot as JSON (`status`, `value`, `context`, children...). */
export type PersistedSnapshot = { [key: string]: unknown };
