import { hostname, userInfo } from "node:os";
import { nanoid } from "nanoid";

/**
 * The dictionary form of a fingerprint, as it travels in every message body.
 * Python Postage peers send the six classic keys; `instance` is ours and they ignore it.
 */
export interface FingerprintDict {
  name: string | null;
  type: string | null;
  pid: string;
  host: string;
  user: string;
  vhost: string;
  /** Tells apart several actors in one process (Postage for TypeScript only). */
  instance?: string;
  [key: string]: unknown;
}

/** The tuple form: `[name, type, pid, host, user, vhost]`, as Python's `as_tuple()`. */
export type FingerprintTuple = [name: string | null, type: string | null, pid: string, host: string, user: string, vhost: string];

/** Fields accepted by {@link Fingerprint.collect}; anything not given is read from the OS and environment. */
export interface CollectFingerprintOptions {
  /** Name of the component. @default null */
  name?: string | null;
  /** Rough categorization, e.g. `"application"`. @default null */
  type?: string | null;
  /** @default String(process.pid) */
  pid?: string;
  /** @default os.hostname() */
  host?: string;
  /** @default the OS user running the process */
  user?: string;
  /** @default env.POSTAGE_VHOST, else "/" */
  vhost?: string;
  /** @default a new random id */
  instance?: string;
  /** Environment to read `POSTAGE_VHOST` from. @default process.env */
  env?: Record<string, string | undefined>;
}

function currentUser(env: Record<string, string | undefined>): string {
  try {
    return userInfo().username;
  } catch {
    // No passwd entry (e.g. an arbitrary uid in a container): fall back to what the shell says.
    return env.USER ?? env.LOGNAME ?? "unknown";
  }
}

/**
 * Who sent a message: name, type, pid, host, user and RabbitMQ vhost of a component, plus an
 * instance id of its own so several actors in one process can be told apart.
 *
 * @example
 * const fp = Fingerprint.collect({ name: "echo_send", type: "application" });
 * producerOptions.fingerprint = fp;
 */
export class Fingerprint {
  readonly name: string | null;
  readonly type: string | null;
  readonly pid: string;
  readonly host: string;
  readonly user: string;
  readonly vhost: string;
  /** Absent on fingerprints received from Python Postage peers. */
  readonly instance: string | undefined;

  /** Builds a fingerprint from exactly the given fields (nothing is collected). */
  constructor(fields: Partial<FingerprintDict> = {}) {
    this.name = fields.name ?? null;
    this.type = fields.type ?? null;
    this.pid = fields.pid ?? "";
    this.host = fields.host ?? "";
    this.user = fields.user ?? "";
    this.vhost = fields.vhost ?? "";
    this.instance = fields.instance;
  }

  /** Collects pid, host, user and vhost from the OS and environment, and gives a new instance id. */
  static collect(options: CollectFingerprintOptions = {}): Fingerprint {
    const env = options.env ?? process.env;
    return new Fingerprint({
      name: options.name ?? null,
      type: options.type ?? null,
      pid: options.pid ?? String(process.pid),
      host: options.host ?? hostname(),
      user: options.user ?? currentUser(env),
      vhost: options.vhost ?? (env.POSTAGE_VHOST || "/"),
      instance: options.instance ?? Fingerprint.newInstanceId(),
    });
  }

  /** A new random instance id (12 URL-safe characters), as {@link collect} gives. */
  static newInstanceId(): string {
    return nanoid(12);
  }

  /** Reads a fingerprint's dictionary form (e.g. from a message body); missing keys become empty. */
  static fromDict(dict: Readonly<Record<string, unknown>>): Fingerprint {
    const text = (key: string): string | undefined => (typeof dict[key] === "string" ? (dict[key] as string) : undefined);
    const fields: Partial<FingerprintDict> = {
      name: text("name") ?? null,
      type: text("type") ?? null,
    };
    for (const key of ["pid", "host", "user", "vhost", "instance"] as const) {
      const value = text(key) ?? (typeof dict[key] === "number" ? String(dict[key]) : undefined);
      if (value !== undefined) fields[key] = value;
    }
    return new Fingerprint(fields);
  }

  /** The dictionary form sent in message bodies (`instance` only when set). */
  toDict(): FingerprintDict {
    const dict: FingerprintDict = { name: this.name, type: this.type, pid: this.pid, host: this.host, user: this.user, vhost: this.vhost };
    if (this.instance !== undefined) dict.instance = this.instance;
    return dict;
  }

  /** The tuple form, as Python's `as_tuple()`. */
  toTuple(): FingerprintTuple {
    return [this.name, this.type, this.pid, this.host, this.user, this.vhost];
  }
}
