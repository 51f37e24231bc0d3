import { randomBytes } from "node:crypto";

/** Settings shared by every contender, so that the figures compare libraries, not configurations. */
export interface BenchSettings {
  /** AMQP URL of the broker. @default "amqp://guest:guest@127.0.0.1:5672" */
  readonly url: string;
  /** basic.qos prefetch of every consumer. @default 100 */
  readonly prefetch: number;
  /** Serialized size of each JSON body, in bytes (approximately: the sequence number varies). @default 1024 */
  readonly bodyBytes: number;
  /** Most publishes awaiting a confirm at once during a throughput run. @default 500 */
  readonly publishWindow: number;
  /** Give up on a single RPC call after this long, in milliseconds. @default 10000 */
  readonly rpcTimeoutMs: number;
}

/** The defaults named in {@link BenchSettings}. */
export const defaultSettings: BenchSettings = {
  url: "amqp://guest:guest@127.0.0.1:5672",
  prefetch: 100,
  bodyBytes: 1024,
  publishWindow: 500,
  rpcTimeoutMs: 10_000,
};

/** The JSON body every contender publishes. */
export interface BenchBody {
  readonly seq: number;
  readonly payload: string;
}

/** Returns a body factory whose bodies serialize to about `bytes` bytes. */
export function createBodyFactory(bytes: number): (seq: number) => BenchBody {
  // `{"seq":123456,"payload":""}` is ~27 bytes; the payload fills the rest with printable characters.
  const payload = randomBytes(bytes).toString("base64").slice(0, Math.max(0, bytes - 27));
  return (seq) => ({ seq, payload });
}

/** A short random suffix for queue names, so runs never collide with each other or with tests. */
export function randomSuffix(): string {
  return randomBytes(6).toString("hex");
}
