/** AMQP 0-9-1 frame types (spec section 4.2.3). */
export const FRAME_METHOD = 1;
export const FRAME_HEADER = 2;
export const FRAME_BODY = 3;
export const FRAME_HEARTBEAT = 8;

/** The octet that ends every frame. */
const FRAME_END = 0xce;
/** type (1) + channel (2) + payload size (4). */
const FRAME_HEAD = 7;
/** The head plus the frame-end octet. */
const FRAME_OVERHEAD = FRAME_HEAD + 1;

/**
 * Receives the frames a {@link FrameReader} cuts, in order. The payload is
 * `buffer[start, start + size)`; the buffer is only valid during the call (it is the socket's chunk,
 * or a copy when the frame straddled chunks), so keep a `subarray` of it, never the offsets.
 * Return `false` to pause the reader (nothing more is cut until {@link FrameReader.resume}); throw
 * to fail it (the frame is consumed either way).
 */
export type FrameSink = (type: number, channel: number, buffer: Buffer, start: number, size: number) => boolean;

/**
 * A synchronous AMQP frame splitter fed with the socket's chunks as they come: frames split at any
 * byte boundary across chunks are put together (copying only that frame's bytes), any number of
 * frames in one chunk are cut without copying.
 *
 * Why: rabbitmq-client reads each frame with two promisified `socket.read(n)` calls (two promises
 * and a Readable `fromList` copy per frame, three frames per message); this takes the chunk once.
 *
 * Errors: a frame whose end octet is wrong, or whose payload is larger than `maxPayload` (a
 * frame-max the peer must respect, spec 4.2.3), throws an Error with `code` `FRAME_ERROR`; the
 * reader is then dead (every later call throws the same error) and the connection must be dropped.
 * @internal
 */
export class FrameReader {
  /** Chunks not cut yet; the first is read from {@link headOffset}. */
  private readonly parts: Buffer[] = [];
  private headOffset = 0;
  /** Bytes in {@link parts} from {@link headOffset} on. */
  private buffered = 0;
  private paused = false;
  private failure: Error | undefined;

  /**
   * @param sink gets each frame.
   * @param maxPayload the largest payload accepted (frame-max minus 8).
   * @param makeError builds the error thrown for a malformed frame (the connection's own error type).
   */
  constructor(
    private readonly sink: FrameSink,
    public maxPayload: number,
    private readonly makeError: (code: string, message: string) => Error = defaultError,
  ) {}

  /** Bytes received and not yet handed to the sink (a partial frame, or everything while paused). */
  get pending(): number {
    return this.buffered;
  }

  /** Whether the sink paused the reader. */
  get isPaused(): boolean {
    return this.paused;
  }

  /** Feeds one chunk from the socket and cuts every complete frame (unless paused). @throws the frame error, see the class. */
  push(chunk: Buffer): void {
    if (this.failure !== undefined) throw this.failure;
    if (chunk.length === 0) return;
    this.parts.push(chunk);
    this.buffered += chunk.length;
    if (!this.paused) this.cut();
  }

  /** Resumes after the sink returned `false`, cutting what was buffered meanwhile. @throws the frame error, see the class. */
  resume(): void {
    if (this.failure !== undefined) throw this.failure;
    this.paused = false;
    this.cut();
  }

  private cut(): void {
    try {
      while (!this.paused && this.buffered >= FRAME_HEAD) {
        const first = this.parts[0] as Buffer;
        const offset = this.headOffset;
        const inFirst = first.length - offset;
        let type: number;
        let channel: number;
        let size: number;
        if (inFirst >= FRAME_HEAD) {
          type = first[offset] as number;
          channel = first.readUInt16BE(offset + 1);
          size = first.readUInt32BE(offset + 3);
        } else {
          type = this.byteAt(0);
          channel = (this.byteAt(1) << 8) | this.byteAt(2);
          size = this.byteAt(3) * 0x1000000 + ((this.byteAt(4) << 16) | (this.byteAt(5) << 8) | this.byteAt(6));
        }
        if (size > this.maxPayload) throw this.fail(`frame of ${size} bytes exceeds the negotiated maximum of ${this.maxPayload}`);
        const total = size + FRAME_OVERHEAD;
        if (this.buffered < total) return;
        let buffer: Buffer;
        let start: number;
        if (inFirst >= total) {
          buffer = first;
          start = offset + FRAME_HEAD;
          this.consumeInFirst(total);
        } else {
          buffer = this.take(total);
          start = FRAME_HEAD;
        }
        if (buffer[start + size] !== FRAME_END) throw this.fail(`invalid FRAME_END octet: ${buffer[start + size]}`);
        if (!this.sink(type, channel, buffer, start, size)) this.paused = true;
      }
    } catch (err) {
      this.failure ??= err instanceof Error ? err : new Error(String(err));
      throw err;
    }
  }

  private fail(message: string): Error {
    const error = this.makeError("FRAME_ERROR", message);
    this.failure = error;
    return error;
  }

  /** The byte `index` places after the head, across parts (only used for a frame head split across chunks). */
  private byteAt(index: number): number {
    let at = this.headOffset + index;
    for (const part of this.parts) {
      if (at < part.length) return part[at] as number;
      at -= part.length;
    }
    return 0;
  }

  private consumeInFirst(bytes: number): void {
    this.buffered -= bytes;
    this.headOffset += bytes;
    if (this.headOffset === (this.parts[0] as Buffer).length) {
      this.parts.shift();
      this.headOffset = 0;
    }
  }

  /** Copies the next `bytes` bytes (spread over several parts) into one buffer and consumes them. */
  private take(bytes: number): Buffer {
    const out = Buffer.allocUnsafe(bytes);
    let written = 0;
    while (written < bytes) {
      const part = this.parts[0] as Buffer;
      const available = part.length - this.headOffset;
      const n = Math.min(available, bytes - written);
      part.copy(out, written, this.headOffset, this.headOffset + n);
      written += n;
      this.consumeInFirst(n);
    }
    return out;
  }
}

function defaultError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}
