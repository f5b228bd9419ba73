/**
 * A gRPC client that calls a server-streaming method and then never reads:
 * a minimal HTTP/2 connection (plain TCP, no TLS) that announces a stream
 * window of zero bytes, so the server can send headers but no messages
 * until `release()` opens the window. grpc-js under Deno keeps reading
 * whatever the application does, so this is how tests make a truly stalled
 * peer, as a wedged or overloaded node would be.
 */

const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const FRAME_DATA = 0x0;
const FRAME_HEADERS = 0x1;
const FRAME_SETTINGS = 0x4;
const FRAME_RST_STREAM = 0x3;
const FRAME_PING = 0x6;
const FRAME_WINDOW_UPDATE = 0x8;
const FLAG_END_STREAM = 0x1;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
const SETTINGS_ENABLE_PUSH = 0x2;
const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
const STREAM_ID = 1;
const ERROR_CANCEL = 0x8;

/** One stalled call on its own connection. */
export class StalledGrpcCall {
  readonly #conn: Deno.TcpConn;
  #received = 0;
  #closed = false;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  /**
   * Opens a connection to `address` (`host:port`) and calls `path` (e.g.
   * `/pact.stream.BootConfigService/StreamBootConfig`) with the encoded
   * request `message` and `token`.
   */
  static async start(
    address: string,
    path: string,
    message: Uint8Array,
    token: string,
  ): Promise<StalledGrpcCall> {
    const colon = address.lastIndexOf(":");
    const conn = await Deno.connect({
      hostname: address.slice(0, colon),
      port: Number(address.slice(colon + 1)),
    });
    const call = new StalledGrpcCall(conn);
    await call.#write(PREFACE);
    await call.#write(frame(
      FRAME_SETTINGS,
      0,
      0,
      settings([
        [SETTINGS_ENABLE_PUSH, 0],
        [SETTINGS_INITIAL_WINDOW_SIZE, 0],
      ]),
    ));
    await call.#write(frame(
      FRAME_HEADERS,
      FLAG_END_HEADERS,
      STREAM_ID,
      headerBlock([
        [":method", "POST"],
        [":scheme", "http"],
        [":path", path],
        [":authority", address],
        ["content-type", "application/grpc"],
        ["te", "trailers"],
        ["authorization", `Bearer ${token}`],
      ]),
    ));
    const grpcMessage = new Uint8Array(5 + message.length);
    new DataView(grpcMessage.buffer).setUint32(1, message.length);
    grpcMessage.set(message, 5);
    await call.#write(frame(FRAME_DATA, FLAG_END_STREAM, STREAM_ID, grpcMessage));
    void call.#readLoop();
    return call;
  }

  /** DATA bytes received on the stream so far. */
  get receivedBytes(): number {
    return this.#received;
  }

  /** Opens the stream window by `bytes`, letting the server send that much. */
  async release(bytes: number): Promise<void> {
    await this.#write(frame(FRAME_WINDOW_UPDATE, 0, 0, uint32(bytes)));
    await this.#write(frame(FRAME_WINDOW_UPDATE, 0, STREAM_ID, uint32(bytes)));
  }

  /** Cancels the call (RST_STREAM), as a client that gives up does, then drops the connection. */
  async cancel(): Promise<void> {
    if (this.#closed) return;
    await this.#write(frame(FRAME_RST_STREAM, 0, STREAM_ID, uint32(ERROR_CANCEL)));
    await new Promise((resolve) => setTimeout(resolve, 50));
    this.close();
  }

  /** Drops the connection without a word, as a node that loses power does. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  async #write(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.length) at += await this.#conn.write(bytes.subarray(at));
  }

  /** Acknowledges SETTINGS and PINGs (so the server keeps the connection) and counts DATA. */
  async #readLoop(): Promise<void> {
    let buffer = new Uint8Array(0);
    const chunk = new Uint8Array(64 * 1024);
    try {
      while (!this.#closed) {
        const n = await this.#conn.read(chunk);
        if (n === null) return;
        const next = new Uint8Array(buffer.length + n);
        next.set(buffer);
        next.set(chunk.subarray(0, n), buffer.length);
        buffer = next;
        while (buffer.length >= 9) {
          const length = (buffer[0]! << 16) | (buffer[1]! << 8) | buffer[2]!;
          if (buffer.length < 9 + length) break;
          const type = buffer[3]!;
          const flags = buffer[4]!;
          const payload = buffer.slice(9, 9 + length);
          buffer = buffer.slice(9 + length);
          if (type === FRAME_SETTINGS && !(flags & FLAG_ACK)) {
            await this.#write(frame(FRAME_SETTINGS, FLAG_ACK, 0, new Uint8Array()));
          } else if (type === FRAME_PING && !(flags & FLAG_ACK)) {
            await this.#write(frame(FRAME_PING, FLAG_ACK, 0, payload));
          } else if (type === FRAME_DATA) {
            this.#received += length;
          }
        }
      }
    } catch {
      // Closed under the reader.
    }
  }
}

function frame(type: number, flags: number, stream: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(9 + payload.length);
  out[0] = (payload.length >> 16) & 0xff;
  out[1] = (payload.length >> 8) & 0xff;
  out[2] = payload.length & 0xff;
  out[3] = type;
  out[4] = flags;
  new DataView(out.buffer).setUint32(5, stream & 0x7fffffff);
  out.set(payload, 9);
  return out;
}

function settings(pairs: [number, number][]): Uint8Array {
  const out = new Uint8Array(pairs.length * 6);
  const view = new DataView(out.buffer);
  pairs.forEach(([id, value], i) => {
    view.setUint16(i * 6, id);
    view.setUint32(i * 6 + 2, value);
  });
  return out;
}

function uint32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value);
  return out;
}

/** HPACK: every header as a literal without indexing, no Huffman coding. */
function headerBlock(headers: [string, string][]): Uint8Array {
  const bytes: number[] = [];
  const text = new TextEncoder();
  const literal = (value: string) => {
    const encoded = text.encode(value);
    integer(encoded.length, 7, 0x00);
    bytes.push(...encoded);
  };
  const integer = (value: number, prefixBits: number, mask: number) => {
    const max = (1 << prefixBits) - 1;
    if (value < max) {
      bytes.push(mask | value);
      return;
    }
    bytes.push(mask | max);
    let rest = value - max;
    while (rest >= 128) {
      bytes.push((rest % 128) + 128);
      rest = Math.floor(rest / 128);
    }
    bytes.push(rest);
  };
  for (const [name, value] of headers) {
    bytes.push(0x00);
    literal(name);
    literal(value);
  }
  return new Uint8Array(bytes);
}
