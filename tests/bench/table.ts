/** Plain-text tables for the benchmark's report. */

/** `value` with `digits` decimals. */
export function fixed(value: number, digits = 2): string {
  return value.toFixed(digits);
}

/** Left-aligns the first column and right-aligns the rest. */
export function table(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join("  ");
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  return [line(header), rule, ...rows.map(line)].join("\n");
}
