/**
 * Tells the journal where this node's shell server listens, so that
 * `pact diag --vcluster` and `pact exec --vcluster` find agents that do not
 * listen on `<node-id>:9445` (tests on loopback, moved ports). The boot
 * record is journaled before the shell starts, so once the server is
 * bound the agent journals the same record again with the address; the
 * journal keeps the last address per node and returns it in ListNodes and
 * InspectNode (NodeEnrollment.shell_address). The address carries its
 * scheme: `https://host:port` when the shell serves TLS, `http://host:port`
 * when it serves plaintext, so that the CLI dials it the right way and an
 * agent without TLS is visible as such (older agents recorded `host:port`,
 * which the CLI reads as http).
 */
import { formatHostPort, type HostPort } from "../../shared/config/listen_address.ts";
import { bootEntry } from "../boot/boot_record.ts";
import type { BootRecord } from "../../shared/proto/gen/pact/config/config.ts";
import type { EntrySink } from "../node_agent.ts";

/** Hosts that mean "every address": the node id is the name others use then. */
const ANY_HOST = new Set(["0.0.0.0", "::", "[::]", ""]);

/**
 * The address others dial: the bound port on the listen host, or on the
 * node id; with `scheme`, as a URL (`https://n1:9445`).
 */
export function reachableAddress(
  nodeId: string,
  bound: HostPort,
  scheme?: "http" | "https",
): string {
  const address = formatHostPort(
    ANY_HOST.has(bound.host) ? { host: nodeId, port: bound.port } : bound,
  );
  return scheme ? `${scheme}://${address}` : address;
}

/** Journals the boot record with the shell's address; failures are only logged. */
export async function journalShellAddress(
  options: {
    readonly nodeId: string;
    readonly record: BootRecord;
    readonly journal: EntrySink | undefined;
    readonly log: (line: string) => void;
    /** Whether the shell serves TLS; default false. */
    readonly tls?: boolean;
    /** Said in the entry's message, e.g. why the shell serves plaintext. */
    readonly note?: string;
  },
  bound: HostPort,
): Promise<void> {
  if (!options.journal) return;
  const shellAddress = reachableAddress(options.nodeId, bound, options.tls ? "https" : "http");
  const entry = bootEntry(
    options.nodeId,
    { ...options.record, shellAddress },
    crypto.randomUUID().slice(0, 8),
  );
  try {
    const sequence = await options.journal.append({
      ...entry,
      message: `shell listening on ${shellAddress}${
        options.note ? ` (${options.note})` : ""
      } (${entry.message})`,
    });
    if (sequence > 0) options.log(`shell: address ${shellAddress} journaled as seq:${sequence}`);
  } catch (err) {
    options.log(`shell: cannot journal the shell address: ${(err as Error).message}`);
  }
}
