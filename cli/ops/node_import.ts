/**
 * Parses a `pact node import` file: CSV with a header line naming the
 * columns `node_id` and `hardware_id` (required), `bmc_serial` and
 * `vcluster` (optional), in any order. Blank lines and lines starting
 * with `#` are skipped; fields are separated by commas and trimmed (no
 * quoting: none of the values may contain a comma). Every problem is
 * reported with its line number, all at once.
 *
 *   # rack 12
 *   node_id,hardware_id,bmc_serial,vcluster
 *   node001,aa:bb:cc:dd:ee:01,SN001,ml-training
 *   node002,4c4c4544-0042-3510-8052-b4c04f564433,,
 */
import { hardwareFields, parseHardwareId } from "../../shared/domain/hardware_identity.ts";
import { checkId } from "../../shared/domain/scope.ts";
import { PactError } from "../../shared/errors/mod.ts";
import type { HardwareIdentity } from "../../shared/proto/gen/pact/config/config.ts";

/** One node to register. */
export interface ImportRow {
  readonly line: number;
  readonly nodeId: string;
  readonly hardware: HardwareIdentity;
  readonly vcluster: string;
}

const COLUMNS = ["node_id", "hardware_id", "bmc_serial", "vcluster"] as const;
/** Most nodes one file may register (one BatchRegisterNodes call). */
export const IMPORT_ROWS_MAX = 10_000;
/** Most problems listed before giving up. */
const ERRORS_SHOWN_MAX = 20;

/** Parses `text` (from `file`); throws INVALID_ARGUMENT listing `file:line: problem`s. */
export function parseImportFile(text: string, file: string): ImportRow[] {
  const errors: string[] = [];
  const rows: ImportRow[] = [];
  let header: string[] | undefined;
  const seen = new Map<string, number>();
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const fields = trimmed.split(",").map((f) => f.trim());
    if (header === undefined) {
      header = fields.map((f) => f.toLowerCase());
      const unknown = header.filter((h) => !(COLUMNS as readonly string[]).includes(h));
      if (unknown.length > 0 || !header.includes("node_id") || !header.includes("hardware_id")) {
        throw new PactError(
          "INVALID_ARGUMENT",
          `${file}:${line}: header must name node_id and hardware_id (optional: bmc_serial, vcluster)${
            unknown.length > 0 ? `; unknown column ${unknown.join(", ")}` : ""
          }`,
        );
      }
      continue;
    }
    if (fields.length !== header.length) {
      errors.push(`${file}:${line}: expected ${header.length} fields, got ${fields.length}`);
      continue;
    }
    const get = (name: string) => fields[header!.indexOf(name)] ?? "";
    try {
      const nodeId = checkId("node", get("node_id"));
      const hardware = parseHardwareId(get("hardware_id"), get("bmc_serial"));
      hardwareFields(hardware);
      const vcluster = get("vcluster") === "" ? "" : checkId("vcluster", get("vcluster"));
      const earlier = seen.get(nodeId);
      if (earlier !== undefined) {
        errors.push(`${file}:${line}: node ${nodeId} already listed on line ${earlier}`);
        continue;
      }
      seen.set(nodeId, line);
      rows.push({ line, nodeId, hardware, vcluster });
    } catch (err) {
      errors.push(`${file}:${line}: ${(err as Error).message}`);
    }
    if (errors.length >= ERRORS_SHOWN_MAX) break;
  }
  if (header === undefined) {
    throw new PactError("INVALID_ARGUMENT", `${file}: no header line (node_id,hardware_id,...)`);
  }
  if (errors.length > 0) {
    throw new PactError(
      "INVALID_ARGUMENT",
      `Cannot import ${file}: ${errors.length} problem${
        errors.length === 1 ? "" : "s"
      }, nothing registered\n${errors.join("\n")}`,
    );
  }
  if (rows.length > IMPORT_ROWS_MAX) {
    throw new PactError(
      "INVALID_ARGUMENT",
      `Cannot import ${file}: ${rows.length} nodes exceeds ${IMPORT_ROWS_MAX} per file`,
    );
  }
  return rows;
}
