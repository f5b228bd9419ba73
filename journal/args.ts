import { Command, Option } from "@commander-js/extra-typings";
import { PACT_VERSION } from "../shared/version.ts";

/** Builds the `pact-journal` command line; actions are attached by `main.ts`. */
export function journalProgram() {
  const program = new Command("pact-journal")
    .description(
      "The pact journal: the append-only, audited log of configuration and admin operations.\n" +
        "Without peers it runs a single-node journal on an embedded SQLite store. With peers\n" +
        "(--peers or [journal.raft] members) it runs its local etcd member on the Raft port\n" +
        "(gRPC port + 1, default 9444) and keeps the log in the etcd quorum.",
    )
    .version(PACT_VERSION, "-V, --version", "print the version and exit")
    .helpOption("-h, --help", "show this help")
    .showHelpAfterError("(run pact-journal --help for usage)")
    .option(
      "-c, --config <path>",
      "journal config file (env PACT_JOURNAL_CONFIG; default /etc/pact/journal.toml)",
    )
    .option("--node-id <id>", "journal node id (env PACT_JOURNAL_NODE_ID; default 1)")
    .option(
      "--listen <host:port>",
      "gRPC listen address (env PACT_JOURNAL_LISTEN; default 0.0.0.0:9443)",
    )
    .option(
      "--metrics-listen <host:port>",
      "HTTP /metrics, /health, /auth/discovery (env PACT_JOURNAL_METRICS_LISTEN; default 0.0.0.0:9091)",
    )
    .option(
      "--data-dir <path>",
      "where the log lives (env PACT_JOURNAL_DATA_DIR; default /var/lib/pact/journal)",
    )
    .option(
      "--snapshot-dir <path>",
      "where snapshots live (env PACT_JOURNAL_SNAPSHOT_DIR; default <data-dir>/snapshots)",
    )
    .option("--peers <list>", "quorum members as id=host:port,... (env PACT_JOURNAL_PEERS)")
    .option(
      "--bootstrap",
      "create a new quorum from this node (first start of node 1 only; others join it)",
    )
    .option(
      "--read-only",
      "read replica: serve reads and boot streams, forward writes to the quorum (env PACT_JOURNAL_READ_ONLY)",
    );
  const mintToken = program.command("mint-token")
    .description(
      "Sign a development token with PACT_OIDC_HMAC_SECRET (dev and test sites only;\n" +
        "production tokens come from your OIDC provider)",
    )
    .requiredOption("--principal <name>", "the token's subject, e.g. admin@example.org")
    .requiredOption(
      "--role <role>",
      "pact role, e.g. pact-platform-admin or pact-viewer-ml-training",
    )
    .addOption(
      new Option("--principal-type <type>", "kind of principal").choices(
        ["human", "agent", "service"] as const,
      )
        .default("human" as const),
    )
    .option("--ttl <seconds>", "lifetime in seconds", "3600");
  return { program, mintToken };
}
