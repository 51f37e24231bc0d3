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
