import type { Connection } from "rabbitmq-client";

/**
 * Makes `target.password` non-enumerable, so that `util.inspect` (console.log of a broker, a
 * producer, a consumer, a scheduler...) and `JSON.stringify` never print it, while code that reads
 * it by name still can. Without this, logging any object that reaches the driver printed the
 * broker password in clear. @internal
 */
export function hidePassword<T extends object>(target: T): T {
  if (Object.hasOwn(target, "password")) Object.defineProperty(target, "password", { enumerable: false });
  return target;
}

/**
 * Hides the password rabbitmq-client keeps in its normalized options (`_opt`, read by name at each
 * login, never spread). @internal
 */
export function hideConnectionPassword(connection: Connection): Connection {
  const options = (connection as unknown as { _opt?: object })._opt;
  if (typeof options === "object" && options !== null) hidePassword(options);
  return connection;
}
