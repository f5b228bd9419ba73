import assert from "node:assert/strict";
import { ROOT } from "./paths.ts";

/**
 * Compares `actual` with tests/golden/<name>. Run the tests with
 * UPDATE_GOLDEN=1 to rewrite the files after an intended change, then
 * review the diff before committing.
 */
export async function assertGolden(name: string, actual: string): Promise<void> {
  const path = `${ROOT}/tests/golden/${name}`;
  if (Deno.env.get("UPDATE_GOLDEN")) {
    await Deno.mkdir(`${ROOT}/tests/golden`, { recursive: true });
    await Deno.writeTextFile(path, actual);
    return;
  }
  let expected: string;
  try {
    expected = await Deno.readTextFile(path);
  } catch {
    throw new Error(`Missing golden file tests/golden/${name}: run UPDATE_GOLDEN=1 deno task test`);
  }
  assert.equal(actual, expected, `output differs from tests/golden/${name}`);
}

/** Replaces what changes between runs (times, ports, ids) with stable placeholders. */
export function normalize(text: string, endpoint?: string): string {
  let out = text;
  if (endpoint) out = out.replaceAll(endpoint, "http://127.0.0.1:<PORT>");
  return out
    .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z/g, "<TIME>")
    .replace(/\[\d{2}:\d{2}:\d{2}\]/g, "[<CLOCK>]")
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "<UUID>")
    .replace(/pact \d{4}\.\d+\.\d+/g, "pact <VERSION>")
    .replace(/"version": "\d{4}\.\d+\.\d+"/g, '"version": "<VERSION>"');
}
