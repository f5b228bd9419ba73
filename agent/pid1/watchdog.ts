/**
 * The hardware watchdog (reference §2.14, PB1/PB2): opened only when the
 * agent is PID 1 and the device exists; its timeout T is read (or set) by
 * ioctl and the agent pets it every T/2 from the main event loop, so a hung
 * agent (a blocked loop stops every timer) lets the BMC reboot the node. A
 * busy device or a permission error is a warning, not a failure; a failed
 * pet is logged (a missed pet is what the watchdog is for). A graceful stop
 * disarms it with the magic close character 'V'.
 */
import { type InitCalls, WDIOC_GETTIMEOUT, WDIOC_SETTIMEOUT } from "./init_calls.ts";

/** The timeout assumed when the device cannot say (e.g. it is not a real watchdog). */
export const FALLBACK_TIMEOUT_SECONDS = 60;
const PET = new Uint8Array([0x2e]); // any byte written pets the watchdog
const MAGIC_CLOSE = new Uint8Array([0x56]); // 'V'

/** How to open the watchdog. */
export interface WatchdogOptions {
  readonly calls: InitCalls;
  readonly device: string;
  /** Ask the device for this timeout; by default its own is kept. */
  readonly timeoutSeconds?: number;
  readonly log: (line: string) => void;
}

/** An open watchdog that is being petted. */
export class HardwareWatchdog {
  readonly #calls: InitCalls;
  readonly #fd: number;
  readonly #log: (line: string) => void;
  readonly #timer: ReturnType<typeof setInterval>;
  #pets = 0;
  #open = true;

  private constructor(
    calls: InitCalls,
    fd: number,
    readonly timeoutSeconds: number,
    log: (line: string) => void,
  ) {
    this.#calls = calls;
    this.#fd = fd;
    this.#log = log;
    this.pet();
    this.#timer = setInterval(() => this.pet(), (timeoutSeconds * 1000) / 2);
  }

  /**
   * Opens `device` and starts petting it every T/2; undefined (with a
   * warning) when it is missing, busy or not permitted.
   */
  static async open(options: WatchdogOptions): Promise<HardwareWatchdog | undefined> {
    const { calls, device, log } = options;
    try {
      await Deno.stat(device);
    } catch {
      return undefined; // No watchdog on this node: nothing to do.
    }
    let fd: number;
    try {
      fd = calls.openWrite(device);
    } catch (err) {
      log(`pid1: WARN watchdog ${device} not opened, running without it: ${message(err)}`);
      return undefined;
    }
    let timeout = FALLBACK_TIMEOUT_SECONDS;
    try {
      timeout = options.timeoutSeconds !== undefined
        ? calls.ioctlInt(fd, WDIOC_SETTIMEOUT, options.timeoutSeconds)
        : calls.ioctlInt(fd, WDIOC_GETTIMEOUT, 0);
    } catch (err) {
      timeout = options.timeoutSeconds ?? FALLBACK_TIMEOUT_SECONDS;
      log(
        `pid1: WARN watchdog ${device} timeout not readable (${
          message(err)
        }); assuming ${timeout} s`,
      );
    }
    if (!(timeout > 0)) timeout = FALLBACK_TIMEOUT_SECONDS;
    log(`pid1: watchdog ${device} armed, timeout ${timeout} s, petted every ${timeout / 2} s`);
    return new HardwareWatchdog(calls, fd, timeout, log);
  }

  /** How many pets went out. */
  get pets(): number {
    return this.#pets;
  }

  /** One keepalive; a failure is logged, never thrown. */
  pet(): void {
    if (!this.#open) return;
    try {
      this.#calls.write(this.#fd, PET);
      this.#pets++;
    } catch (err) {
      this.#log(`pid1: WARN watchdog pet failed: ${message(err)}`);
    }
  }

  /** Graceful stop: write 'V' and close, so the node does not reboot. */
  disarm(): void {
    if (!this.#open) return;
    this.#open = false;
    clearInterval(this.#timer);
    try {
      this.#calls.write(this.#fd, MAGIC_CLOSE);
      this.#calls.close(this.#fd);
      this.#log("pid1: watchdog disarmed");
    } catch (err) {
      this.#log(`pid1: WARN watchdog disarm failed: ${message(err)}`);
    }
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
