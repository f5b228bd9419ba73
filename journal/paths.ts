/**
 * Prints the directories pact-journal writes and the etcd binary it may
 * run, one per line, so that `bin/pact-journal` can grant exactly those. Shares the
 * journal's own config resolution; reads the config file and environment.
 */
import {
  configPathOf,
  DEFAULT_DATA_DIR,
  type JournalFlags,
  resolveJournalConfig,
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
    const config = await resolveJournalConfig(flags, env);
    console.log(
      `${config.dataDir}\n${config.snapshotDir}\n${config.configPath}\n${config.etcd.binary}`,
    );
  } catch {
    // The journal itself will report the configuration error; grant the defaults meanwhile.
    const dataDir = flags.dataDir ?? env("PACT_JOURNAL_DATA_DIR") ?? DEFAULT_DATA_DIR;
    const snapshotDir = flags.snapshotDir ?? `${dataDir}/snapshots`;
    console.log(`${dataDir}\n${snapshotDir}\n${configPathOf(flags, env).path}\netcd`);
  }
}
