/** Options of duplicate suppression by message id. */
export interface DuplicateSuppressionOptions {
  /** How long a message id is remembered, in ms. @default 300_000 (5 minutes) */
  windowMs?: number;
  /** At most this many ids are remembered (the oldest are forgotten first). @default 100_000 */
  maxIds?: number;
}

/**
 * Remembers recent message ids so a redelivered or re-published message (a publish retried after
 * an unconfirmed attempt, a redelivery after a reconnect) reaches the handlers once.
 */
export class DuplicateFilter {
  private readonly windowMs: number;
  private readonly maxIds: number;
  /** Insertion-ordered: the first entries are the oldest. */
  private readonly seenAt = new Map<string, number>();

  constructor(options: DuplicateSuppressionOptions = {}) {
    this.windowMs = options.windowMs ?? 300_000;
    this.maxIds = options.maxIds ?? 100_000;
  }

  /** Records `id` and tells whether it was already seen within the window. Messages without an id are never duplicates. */
  seen(id: string | undefined, now = Date.now()): boolean {
    if (id === undefined || id === "") return false;
    const previous = this.seenAt.get(id);
    if (previous !== undefined && now - previous < this.windowMs) return true;
    this.seenAt.delete(id);
    this.seenAt.set(id, now);
    for (const [oldest, at] of this.seenAt) {
      if (this.seenAt.size <= this.maxIds && now - at < this.windowMs) break;
      this.seenAt.delete(oldest);
    }
    return false;
  }

  /** Forgets `id`: its handling failed, and a redelivery for another attempt must reach the handlers. */
  forget(id: string | undefined): void {
    if (id !== undefined) this.seenAt.delete(id);
  }
}
