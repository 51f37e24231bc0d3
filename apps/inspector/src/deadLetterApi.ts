import { type Broker, type DeadLetter, findDeadLetter, listDeadLetters } from "@postage/transport";

/** Options of the inspector's dead-letter panel ({@link InspectorServerOptions.deadLetters}). */
export interface DeadLetterPanelOptions {
  /** The broker whose dead-letter queue the panel shows. The server does not close it. */
  broker: Broker;
  /** @default "postage.dead-letter" (the consumers' default) */
  queue?: string;
  /** The panel lists at most this many, oldest first. @default 100 */
  limit?: number;
  /**
   * A listing is reused for this long (ms), so many open pages (or a quick succession of
   * refreshes) do not take every message out and back each time. @default 1000
   */
  cacheMs?: number;
}

/** The panel's listing: every field of a dead letter but its body and headers (`/api/dead-letters/one` has them). */
export interface DeadLetterPanelListing {
  readonly queue: string;
  readonly exists: boolean;
  readonly total: number;
  readonly deadLetters: ReadonlyArray<Omit<DeadLetter, "body" | "headers">>;
}

/** An answer of the API: a status and a JSON body. */
export interface DeadLetterAnswer {
  status: number;
  body: unknown;
}

/**
 * The read-only dead-letter API of the inspector: `GET /api/dead-letters` (the listing) and
 * `GET /api/dead-letters/one?id=` (one dead letter with its body and headers). Nothing is consumed:
 * listing takes each message without ack and puts it back in its place (see `listDeadLetters`).
 * Replaying and purging stay with `postage dlq`: the page makes no change to the broker.
 * @internal
 */
export function createDeadLetterApi(options: DeadLetterPanelOptions): (url: URL, fetchSite: string | undefined) => Promise<DeadLetterAnswer> {
  const queueOptions = options.queue === undefined ? {} : { queue: options.queue };
  const cacheMs = options.cacheMs ?? 1_000;
  let cached: { at: number; listing: Promise<DeadLetterPanelListing> } | undefined;

  const listing = (): Promise<DeadLetterPanelListing> => {
    if (cached !== undefined && Date.now() - cached.at < cacheMs) return cached.listing;
    const fresh = listDeadLetters(options.broker, { ...queueOptions, limit: options.limit ?? 100 }).then((found) => ({
      queue: found.queue,
      exists: found.exists,
      total: found.total,
      deadLetters: found.deadLetters.map(({ body: _body, headers: _headers, ...summary }) => summary),
    }));
    cached = { at: Date.now(), listing: fresh };
    // A failed listing is not reused: the next request asks the broker again.
    fresh.catch(() => {
      if (cached?.listing === fresh) cached = undefined;
    });
    return fresh;
  };

  return async (url, fetchSite) => {
    // A listing is not free of effects (messages marked redelivered; a quorum queue counts a
    // delivery attempt), and a page of another site can make the browser send a GET to a loopback
    // address: only the inspector's own page (or a tool, which sends no Sec-Fetch-Site) may list.
    if (fetchSite !== undefined && fetchSite !== "same-origin" && fetchSite !== "none") {
      return { status: 403, body: { error: "dead letters are listed for the inspector's own page only" } };
    }
    try {
      if (url.pathname === "/api/dead-letters") return { status: 200, body: await listing() };
      if (url.pathname === "/api/dead-letters/one") {
        const id = url.searchParams.get("id") ?? "";
        const letter = await findDeadLetter(options.broker, id, queueOptions);
        return letter === undefined ? { status: 404, body: { error: `no dead letter with id "${id}"` } } : { status: 200, body: letter };
      }
      return { status: 404, body: { error: "not found" } };
    } catch (error) {
      // The broker is away or refuses: the page says so instead of an empty panel.
      return { status: 502, body: { error: error instanceof Error ? error.message : String(error) } };
    }
  };
}
