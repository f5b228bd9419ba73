/** The agent's duties as PID 1: signals, orphan reaping, ordered shutdown. */
export { startInit } from "./init.ts";
export type { Init, InitOptions } from "./init.ts";
export { libcWaitCalls } from "./libc.ts";
export type { WaitCalls } from "./libc.ts";
export { OrphanReaper } from "./reaper.ts";
export { installSignalHandlers } from "./signals.ts";
export { EarlyMountError, mountPseudoFilesystems, runPhaseZero } from "./early.ts";
export type { PhaseZero } from "./early.ts";
export { HardwareWatchdog } from "./watchdog.ts";
export { libcInitCalls } from "./init_calls.ts";
export { bootWithRetries } from "./boot_retry.ts";
