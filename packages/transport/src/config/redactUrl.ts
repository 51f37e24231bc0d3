/**
 * Hides the password of every `scheme://user:password@host` in `text` (a URL, a comma-separated
 * list of cluster URLs, or a log line), keeping the user name: `amqp://bob:***@host/vhost`.
 * Use it wherever a broker address is shown. Text without credentials is returned unchanged.
 *
 * @example
 * redactUrl("amqp://bob:s3cret@rabbit:5672/prod"); // "amqp://bob:***@rabbit:5672/prod"
 */
export function redactUrl(text: string): string {
  // The password runs to the last "@" before the next comma, space or end: an unencoded "@"
  // inside a password must not leak its tail.
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)([^:@/\s,]*):([^\s,]*)@(?=[^@\s,]*(?:[\s,]|$))/gi, "$1$2:***@");
}
