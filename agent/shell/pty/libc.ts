/**
 * The libc calls a pseudo-terminal needs that Deno does not offer, loaded
 * through `Deno.dlopen` (ARCHITECTURE.md §5: `openpty` + `posix_spawn`
 * work from JS, `forkpty` crashes). `poll` runs on a worker thread
 * (`nonblocking: true`), so waiting for output never blocks the event loop.
 * Linux x86_64/aarch64 glibc (2.34+ has openpty in libc.so.6).
 */

export const O_RDWR = 0x2;
export const O_NONBLOCK = 0x800;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const F_SETFD = 2;
export const FD_CLOEXEC = 1;
export const TIOCSWINSZ = 0x5414;
export const POLLIN = 0x1;
export const WNOHANG = 1;
export const POSIX_SPAWN_SETSIGDEF = 0x04;
export const POSIX_SPAWN_SETSIGMASK = 0x08;
export const POSIX_SPAWN_SETSID = 0x80;

const SYMBOLS = {
  openpty: { parameters: ["buffer", "buffer", "buffer", "buffer", "buffer"], result: "i32" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  kill: { parameters: ["i32", "i32"], result: "i32" },
  posix_spawn: {
    parameters: ["buffer", "buffer", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  posix_spawn_file_actions_init: { parameters: ["buffer"], result: "i32" },
  posix_spawn_file_actions_destroy: { parameters: ["buffer"], result: "i32" },
  posix_spawn_file_actions_addopen: {
    parameters: ["buffer", "i32", "buffer", "i32", "u32"],
    result: "i32",
  },
  posix_spawn_file_actions_adddup2: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  posix_spawn_file_actions_addchdir_np: { parameters: ["buffer", "buffer"], result: "i32" },
  posix_spawnattr_init: { parameters: ["buffer"], result: "i32" },
  posix_spawnattr_destroy: { parameters: ["buffer"], result: "i32" },
  posix_spawnattr_setflags: { parameters: ["buffer", "i16"], result: "i32" },
  posix_spawnattr_setsigdefault: { parameters: ["buffer", "buffer"], result: "i32" },
  posix_spawnattr_setsigmask: { parameters: ["buffer", "buffer"], result: "i32" },
  sigfillset: { parameters: ["buffer"], result: "i32" },
  sigemptyset: { parameters: ["buffer"], result: "i32" },
} as const;

export type PtyLibc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let loaded: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;

/** The real libc; needs --allow-ffi. */
export function ptyLibc(): PtyLibc {
  loaded ??= Deno.dlopen("libc.so.6", SYMBOLS);
  return loaded.symbols;
}

/** A NUL-terminated C string. */
export function cString(text: string): Uint8Array<ArrayBuffer> {
  const bytes = new TextEncoder().encode(text);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/**
 * A NULL-terminated array of C string pointers (argv, envp). The strings
 * are returned too: they must stay referenced until the call returns.
 */
export function cStringArray(
  items: readonly string[],
): { array: BigUint64Array<ArrayBuffer>; keep: Uint8Array[] } {
  const keep = items.map(cString);
  const array = new BigUint64Array(items.length + 1);
  keep.forEach((bytes, i) => {
    array[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes)));
  });
  return { array, keep };
}
