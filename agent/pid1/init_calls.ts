/**
 * The libc calls of PID 1's early duties that Deno does not offer: mount(2)
 * for the pseudo-filesystems, sethostname(2), and open/write/ioctl/close on
 * the hardware watchdog (Deno's files hide their descriptors, and the
 * watchdog's timeout is read and set by ioctl). Loaded through `Deno.dlopen`.
 */

const SYMBOLS = {
  mount: { parameters: ["buffer", "buffer", "buffer", "u64", "buffer"], result: "i32" },
  sethostname: { parameters: ["buffer", "usize"], result: "i32" },
  open: { parameters: ["buffer", "i32"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  // ioctl is variadic; the one int-pointer argument is passed like a fixed one.
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
} as const;

/** open(2) flags (Linux, every common architecture). */
const O_WRONLY = 0o1;
const O_CLOEXEC = 0o2000000;

/** Watchdog ioctls: _IOR('W', 7, int) and _IOWR('W', 6, int). */
export const WDIOC_GETTIMEOUT = 0x8004_5707n;
export const WDIOC_SETTIMEOUT = 0xc004_5706n;

/** mount(2) flags used for the pseudo-filesystems. */
export const MS_NOSUID = 2n;
export const MS_NODEV = 4n;
export const MS_NOEXEC = 8n;

/** A libc failure: the errno and its text. */
export class SysError extends Error {
  constructor(readonly call: string, readonly errno: number, text: string) {
    super(`${call}: ${text} (errno ${errno})`);
  }
}

/** What PID 1's early duties call; a fake in unit tests. */
export interface InitCalls {
  mount(source: string, target: string, fsType: string, flags: bigint, data: string): void;
  sethostname(name: string): void;
  /** Opens a device for writing; returns the descriptor. */
  openWrite(path: string): number;
  write(fd: number, bytes: Uint8Array): void;
  /** An int-valued ioctl: passes `value` in and returns what the kernel wrote back. */
  ioctlInt(fd: number, request: bigint, value: number): number;
  close(fd: number): void;
}

let loaded: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;
const encoder = new TextEncoder();

function cString(text: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(encoder.encode(text).length + 1);
  encoder.encodeInto(text, bytes);
  return bytes;
}

/** The real libc (glibc's libc.so.6). Needs --allow-ffi. */
export function libcInitCalls(): InitCalls {
  loaded ??= Deno.dlopen("libc.so.6", SYMBOLS);
  const libc = loaded.symbols;
  const fail = (call: string): never => {
    const where = libc.__errno_location();
    const errno = where ? new Deno.UnsafePointerView(where).getInt32() : 0;
    const text = libc.strerror(errno);
    throw new SysError(call, errno, text ? new Deno.UnsafePointerView(text).getCString() : "error");
  };
  return {
    mount(source, target, fsType, flags, data) {
      const result = libc.mount(
        cString(source),
        cString(target),
        cString(fsType),
        flags,
        cString(data),
      );
      if (result !== 0) fail(`mount ${fsType} on ${target}`);
    },
    sethostname(name) {
      const bytes = encoder.encode(name);
      if (libc.sethostname(bytes, BigInt(bytes.length)) !== 0) fail("sethostname");
    },
    openWrite(path) {
      const fd = libc.open(cString(path), O_WRONLY | O_CLOEXEC);
      return fd >= 0 ? fd : fail(`open ${path}`);
    },
    write(fd, bytes) {
      if (Number(libc.write(fd, bytes as Uint8Array<ArrayBuffer>, BigInt(bytes.length))) < 0) {
        fail("write");
      }
    },
    ioctlInt(fd, request, value) {
      const cell = new Int32Array([value]);
      if (libc.ioctl(fd, request, cell) !== 0) fail("ioctl");
      return cell[0]!;
    },
    close(fd) {
      if (libc.close(fd) !== 0) fail("close");
    },
  };
}
