import type { Channel, Connection } from "rabbitmq-client";
import { countReturns } from "./returnsInFlight.js";

/** Where the real content type of a message whose body we kept raw is parked. */
const RAW_CONTENT_TYPE = Symbol("postage.rawContentType");

interface HeaderFrameLike {
  fields?: { contentType?: string; contentEncoding?: string; [key: string]: unknown };
}

interface ChannelInternals {
  _onHeader?: (this: Channel, frame: HeaderFrameLike) => void;
}

/**
 * Makes every channel of `connection` hand over message bodies as the bytes received.
 *
 * rabbitmq-client 5.0.8 decodes bodies whose content type is `application/json` or `text/plain`
 * (JSON.parse / toString) before we see them. That loses information Postage needs: invalid
 * UTF-8 is silently replaced, duplicate keys merge, large integers lose precision, and the size
 * is no longer the wire size. The library decides from the header frame's content type, so we
 * hide that content type from it (per channel of this connection only, nothing global) and park
 * it under a symbol that {@link contentTypeOf} reads back.
 *
 * If a future rabbitmq-client no longer has `Channel#_onHeader`, nothing is patched and
 * {@link bodyBytes} falls back to re-encoding the decoded body.
 */
export function keepRawBodies(connection: Connection): void {
  const acquire = connection.acquire.bind(connection);
  connection.acquire = async (options?: { emitErrorsFromChannel?: boolean }): Promise<Channel> => {
    const channel = await acquire(options);
    patchChannel(channel);
    countReturns(channel);
    return channel;
  };
}

function patchChannel(channel: Channel): void {
  const internals = channel as unknown as ChannelInternals;
  const original = internals._onHeader;
  if (typeof original !== "function") return;
  internals._onHeader = function onHeader(this: Channel, frame: HeaderFrameLike): void {
    const fields = frame.fields;
    if (fields && !fields.contentEncoding && (fields.contentType === "application/json" || fields.contentType === "text/plain")) {
      // The library builds the message with `...headerFrame.fields`, which copies symbol keys too.
      frame.fields = { ...fields, contentType: undefined, [RAW_CONTENT_TYPE]: fields.contentType };
    }
    original.call(this, frame);
  };
}

/** The content type of a received message, including one hidden by {@link keepRawBodies}. */
export function contentTypeOf(message: { contentType?: string }): string | undefined {
  const parked = (message as { [RAW_CONTENT_TYPE]?: string })[RAW_CONTENT_TYPE];
  return parked ?? message.contentType;
}

/** The body of a received message as bytes (re-encoding it only if the library decoded it). */
export function bodyBytes(body: unknown): Uint8Array {
  if (body instanceof Uint8Array) return body;
  if (typeof body === "string") return Buffer.from(body, "utf8");
  return Buffer.from(JSON.stringify(body) ?? "", "utf8");
}
