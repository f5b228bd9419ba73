/**
 * The few libc calls PID 1 needs that Deno does not offer: waitid with
 * WNOWAIT (peek at a dead child without collecting it), waitpid for one
 * pid, and prctl(PR_SET_CHILD_SUBREAPER). Loaded through `Deno.dlopen`.
 */

/** waitid id types and flags (Linux, every architecture). */
export const P_ALL = 0;
export const P_PID = 1;
export const WNOHANG = 1;
export const WEXITED = 4;
export const WNOWAIT = 0x0100_0000;
const PR_SET_CHILD_SUBREAPER = 36;
/** sizeof(siginfo_t) on Linux. */
const SIGINFO_BYTES = 128;
/** Offset of si_pid in siginfo_t on 64-bit Linux (three ints, then 8-byte aligned union). */
const SI_PID_OFFSET = 16;

const SYMBOLS = {
  waitid: { parameters: ["i32", "i32", "buffer", "i32"], result: "i32" },
  waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
} as const;

/** The libc functions used by the reaper. */
export interface WaitCalls {
  /** The pid of a child that has exited, without collecting it; 0 when none, -1 on error (ECHILD). */
  peekExited(idType: number, id: number): number;
  /** Collects the exit status of `pid`; returns `pid`, 0 if it has not exited, -1 on error. */
  reap(pid: number): number;
  /** Makes this process the reaper of orphaned descendants (when it is not PID 1). */
  becomeSubreaper(): boolean;
}

let loaded: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;

/** The real libc (glibc's libc.so.6). Needs --allow-ffi. */
export function libcWaitCalls(): WaitCalls {
  loaded ??= Deno.dlopen("libc.so.6", SYMBOLS);
  const libc = loaded.symbols;
  const info = new Uint8Array(SIGINFO_BYTES);
  const view = new DataView(info.buffer);
  const status = new Uint8Array(4);
  return {
    peekExited(idType, id) {
      info.fill(0); // si_pid stays 0 when WNOHANG finds nothing.
      const result = libc.waitid(idType, id, info, WEXITED | WNOHANG | WNOWAIT);
      return result === 0 ? view.getInt32(SI_PID_OFFSET, true) : -1;
    },
    reap(pid) {
      return libc.waitpid(pid, status, WNOHANG);
    },
    becomeSubreaper() {
      return libc.prctl(PR_SET_CHILD_SUBREAPER, 1n, 0n, 0n, 0n) === 0;
    },
  };
}
