/** Options of duplicate suppression by message id. */
export interface DuplicateSuppressionOptions {
  /** How long a message id is remembered, in ms. @default 300_000 (5 minutes) */
  windowMs?: number;
  /** At most this many ids are remembered (the oldest are forgotten first). @default 100_000 */
  maxIds?: number;
}

/** Records consumed from the front of the log before it is compacted. */
const COMPACT_AFTER = 1024;

/**
 * Remembers recent message ids so a redelivered or re-published message (a publish retried after
 * an unconfirmed attempt, a redelivery after a reconnect) reaches the handlers once.
 *
 * The ids are kept in a map (id to its record number) and a log of records, oldest first: the
 * oldest are forgotten from the log's front in constant time per message. (Evicting through the
 * map's own insertion order would walk past every entry deleted before: a V8 map keeps those as
 * holes until it is rehashed, so each message cost a walk over thousands of holes once full.)
 */
export class DuplicateFilter {
  private readonly windowMs: number;
  private readonly maxIds: number;
  /** Each remembered id and the number of its latest record. */
  private readonly records = new Map<string, number>();
  /** The log: ids and times of records `first`, `first + 1`... (stale ones included: re-recorded or forgotten). */
  private ids: string[] = [];
  private times: number[] = [];
  /** The record number of `ids[0]`. */
  private first = 0;
  /** The oldest record not yet forgotten. */
  private oldest = 0;

  constructor(options: DuplicateSuppressionOptions = {}) {
    this.windowMs = options.windowMs ?? 300_000;
    this.maxIds = options.maxIds ?? 100_000;
  }

  /** Records `id` and tells whether it was already seen within the window. Messages without an id are never duplicates. */
  seen(id: string | undefined, now = Date.now()): boolean {
    if (id === undefined || id === "") return false;
    const previous = this.records.get(id);
    if (previous !== undefined && now - (this.times[previous - this.first] as number) < this.windowMs) return true;
    this.records.set(id, this.first + this.ids.length);
    this.ids.push(id);
    this.times.push(now);
    this.forgetOld(now);
    return false;
  }

  /** Forgets `id`: its handling failed, and a redelivery for another attempt must reach the handlers. */
  forget(id: string | undefined): void {
    if (id !== undefined) this.records.delete(id);
  }

  /** Forgets the oldest ids while there are too many or they are out of the window. */
  private forgetOld(now: number): void {
    const end = this.first + this.ids.length;
    while (this.oldest < end) {
      const index = this.oldest - this.first;
      // Records are in time order: once the oldest is in the window, every later one is too.
      if (this.records.size <= this.maxIds && now - (this.times[index] as number) < this.windowMs) break;
      const id = this.ids[index] as string;
      // A stale record (the id was recorded again later, or forgotten) is passed over.
      if (this.records.get(id) === this.oldest) this.records.delete(id);
      this.oldest += 1;
    }
    const consumed = this.oldest - this.first;
    if (consumed >= COMPACT_AFTER && consumed * 2 >= this.ids.length) {
      this.ids = this.ids.slice(consumed);
      this.times = this.times.slice(consumed);
      this.first = this.oldest;
    }
  }
}
