/**
 * The recording of a shell session in asciicast v2
 * (https://docs.asciinema.org/manual/asciicast/v2/): a header line, then
 * one JSON array per event, `[seconds, "o", text]` for output and
 * `[seconds, "r", "COLSxROWS"]` for a resize. Input is not recorded (the
 * terminal echoes what is typed; passwords stay out). The file is bounded:
 * past `bytesMax` a last marker event is written and the rest is dropped.
 */
/** Default bound of one recording. */
export const RECORDING_BYTES_MAX = 8 * 1024 * 1024;

/** The header line of an asciicast v2 file. */
export interface AsciicastHeader {
  readonly version: 2;
  readonly width: number;
  readonly height: number;
  /** Unix seconds of the start. */
  readonly timestamp: number;
  readonly env: { readonly TERM: string; readonly SHELL: string };
  readonly title?: string;
}

/** What a recorder needs. */
export interface RecorderOptions {
  readonly path: string;
  readonly cols: number;
  readonly rows: number;
  readonly term: string;
  readonly title: string;
  readonly bytesMax?: number;
  /** Monotonic milliseconds (tests); default performance.now. */
  readonly now?: () => number;
}

/** Writes one session's .cast file as it happens. */
export class AsciicastRecorder {
  readonly path: string;
  readonly #file: Deno.FsFile;
  readonly #bytesMax: number;
  readonly #now: () => number;
  readonly #startedMs: number;
  readonly #decoder = new TextDecoder();
  readonly #encoder = new TextEncoder();
  #bytes = 0;
  #truncated = false;
  #closed = false;

  private constructor(path: string, file: Deno.FsFile, options: RecorderOptions) {
    this.path = path;
    this.#file = file;
    this.#bytesMax = options.bytesMax ?? RECORDING_BYTES_MAX;
    this.#now = options.now ?? (() => performance.now());
    this.#startedMs = this.#now();
  }

  /** Creates the file (mode 0600) and writes the header. */
  static async create(options: RecorderOptions): Promise<AsciicastRecorder> {
    const file = await Deno.open(options.path, {
      write: true,
      createNew: true,
      mode: 0o600,
    });
    const recorder = new AsciicastRecorder(options.path, file, options);
    const header: AsciicastHeader = {
      version: 2,
      width: options.cols,
      height: options.rows,
      timestamp: Math.floor(Date.now() / 1000),
      env: { TERM: options.term, SHELL: "/bin/rbash" },
      title: options.title,
    };
    recorder.#write(JSON.stringify(header));
    return recorder;
  }

  /** Terminal output (split UTF-8 sequences are held until complete). */
  output(data: Uint8Array): void {
    const text = this.#decoder.decode(data, { stream: true });
    if (text !== "") this.#event("o", text);
  }

  resize(cols: number, rows: number): void {
    this.#event("r", `${cols}x${rows}`);
  }

  /** True once the bound was reached. */
  get truncated(): boolean {
    return this.#truncated;
  }

  /** Closes the file; resolves with the SHA-256 of its content. */
  async close(): Promise<string> {
    if (!this.#closed) {
      const rest = this.#decoder.decode();
      if (rest !== "") this.#event("o", rest);
      this.#closed = true;
      this.#file.close();
    }
    const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(this.path));
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  #event(kind: string, data: string): void {
    if (this.#closed || this.#truncated) return;
    const seconds = Math.round((this.#now() - this.#startedMs) * 1000) / 1_000_000;
    const line = JSON.stringify([seconds, kind, data]);
    if (this.#bytes + line.length + 1 > this.#bytesMax) {
      this.#truncated = true;
      this.#write(
        JSON.stringify([
          seconds,
          "o",
          `\r\n[pact: recording truncated at ${this.#bytesMax} bytes]\r\n`,
        ]),
      );
      return;
    }
    this.#write(line);
  }

  #write(line: string): void {
    const bytes = this.#encoder.encode(`${line}\n`);
    let at = 0;
    while (at < bytes.length) at += this.#file.writeSync(bytes.subarray(at));
    this.#bytes += bytes.length;
  }
}
