/**
 * Prints what `bin/pact-journal` grants the journal, one path per line:
 * the data directory, the snapshot directory, the config file and the etcd
 * binary, then any further files it reads (the TLS CA, certificate and key
 * when `[journal.tls]` is set; no lines when it is not). Shares the
 * journal's own config resolution; reads the config file and environment.
 */
import {
  configPathOf,
  DEFAULT_DATA_DIR,
  type JournalFlags,
  resolveJournalPaths,
} from "./config.ts";
import { journalProgram } from "./args.ts";

if (import.meta.main) {
  const { program, mintToken } = journalProgram();
  for (const command of [program, mintToken]) {
    command.exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} }).action(
      () => {},
    );
  }
  let flags: JournalFlags = {};
  try {
    program.parse(Deno.args, { from: "user" });
    flags = program.opts();
  } catch {
    // Usage errors are reported by the journal itself; fall back to defaults here.
  }
  const env = (name: string) => Deno.env.get(name);
  try {
    const paths = await resolveJournalPaths(flags, env);
    console.log(
      [paths.dataDir, paths.snapshotDir, paths.configPath, paths.etcdBinary, ...paths.readFiles]
        .join("\n"),
    );
  } catch {
    // The journal itself will report the configuration error; grant the defaults meanwhile.
    const dataDir = flags.dataDir ?? env("PACT_JOURNAL_DATA_DIR") ?? DEFAULT_DATA_DIR;
    const snapshotDir = flags.snapshotDir ?? `${dataDir}/snapshots`;
    console.log(`${dataDir}\n${snapshotDir}\n${configPathOf(flags, env).path}\netcd`);
  }
}
