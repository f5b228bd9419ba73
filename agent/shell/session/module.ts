/**
 * The interactive shell module of the shell server: Shell and
 * GetRecording. Session directories live under `<host root>/run/pact/shell`
 * and recordings under `<host root>/var/lib/pact/shell/recordings` (the
 * host root is `/` on a real node, the sandbox directory in tests).
 */
import { DEFAULT_STATE_DIR } from "../../boot/run_boot.ts";
import type { ShellModule } from "../start.ts";
import { nodePolicy } from "../../policy/node_policy.ts";
import { shellSessionHandlers } from "./handlers.ts";
import { ShellSessions } from "./sessions.ts";

/** Shell (rbash on a PTY) and GetRecording. */
export const shellSessions: ShellModule = ({ node, journal, log }) => {
  const { config } = node.boot;
  const root = config.hostRoot === "/" ? "" : config.hostRoot.replace(/\/+$/, "");
  const sessions = new ShellSessions({
    node: { nodeId: config.nodeId, vcluster: config.vcluster },
    runDir: `${root}/run/pact/shell`,
    recordingsDir: `${root}${DEFAULT_STATE_DIR}/shell/recordings`,
    extraCommands: () => nodePolicy(node).policy?.shellWhitelist ?? [],
    journal,
    log,
    learning: config.shell.whitelistMode === "learning",
  });
  return (kit) => shellSessionHandlers(kit, sessions);
};
