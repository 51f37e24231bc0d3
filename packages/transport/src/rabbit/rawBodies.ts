/** Where the real content type of a message whose body we kept raw is parked. */
const RAW_CONTENT_TYPE = Symbol("postage.rawContentType");

/** The fields of an AMQP content header frame, as far as body decoding goes. */
export interface HeaderFieldsLike {
  contentType?: string;
  contentEncoding?: string;
  [key: string]: unknown;
}

/**
 * The header fields to hand rabbitmq-client so that it leaves the body as the bytes received.
 *
 * rabbitmq-client 5.0.8 decodes bodies whose content type is `application/json` or `text/plain`
 * (JSON.parse / toString) before we see them. That loses information Postage needs: invalid
 * UTF-8 is silently replaced, duplicate keys merge, large integers lose precision, and the size
 * is no longer the wire size. The library decides from the header frame's content type, so we
 * hide that content type from it and park it under a symbol that {@link contentTypeOf} reads back
 * (the library builds the message with `...headerFrame.fields`, which copies symbol keys too).
 * Applied to every channel by `clientPatches.ts` (`Channel#_onHeader`).
 */
export function hideDecodedContentType(fields: HeaderFieldsLike): HeaderFieldsLike {
  if (fields.contentEncoding || (fields.contentType !== "application/json" && fields.contentType !== "text/plain")) return fields;
  return { ...fields, contentType: undefined, [RAW_CONTENT_TYPE]: fields.contentType };
}

/** The content type of a received message, including one hidden by {@link hideDecodedContentType}. */
export function contentTypeOf(message: { contentType?: string }): string | undefined {
  const parked = (message as { [RAW_CONTENT_TYPE]?: string })[RAW_CONTENT_TYPE];
  return parked ?? message.contentType;
}

/**
 * The body of a received message as bytes. Every channel is patched to keep bodies raw (a channel
 * that cannot be is never used), so anything but bytes here is a bug: re-encoded rather than lost.
 */
export function bodyBytes(body: unknown): Uint8Array {
  if (body instanceof Uint8Array) return body;
  if (typeof body === "string") return Buffer.from(body, "utf8");
  return Buffer.from(JSON.stringify(body) ?? "", "utf8");
}
