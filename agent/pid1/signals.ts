/**
 * Signal handling for the agent as PID 1, installed before anything else
 * runs. Without listeners, Deno as PID 1 dies on SIGTERM/SIGINT/SIGHUP
 * (the kernel gives PID 1 no default actions, but Deno's runtime does), and
 * SIGUSR1 would open the V8 inspector, so it is ignored (ARCHITECTURE.md §5).
 */

/** What the agent does on each signal. */
export interface SignalHandlers {
  /** SIGTERM or SIGINT: stop services in reverse order and exit. */
  readonly onShutdown: (signal: "SIGTERM" | "SIGINT") => void;
  /** SIGHUP: reload configuration. */
  readonly onReload?: () => void;
}

/** Installs the handlers; returns a function that removes them. */
export function installSignalHandlers(handlers: SignalHandlers): () => void {
  const listeners: [Deno.Signal, () => void][] = [
    ["SIGTERM", () => handlers.onShutdown("SIGTERM")],
    ["SIGINT", () => handlers.onShutdown("SIGINT")],
    ["SIGHUP", () => handlers.onReload?.()],
    // Ignored on purpose: the default would start a debugger on PID 1.
    ["SIGUSR1", () => {}],
  ];
  for (const [signal, listener] of listeners) Deno.addSignalListener(signal, listener);
  return () => {
    for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  };
}
