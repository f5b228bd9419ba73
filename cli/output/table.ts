/**
 * Renders rows as an aligned, plain-text table: columns separated by two
 * spaces, the last column not padded, no trailing whitespace.
 */
export function renderTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, col) => Math.max(...all.map((row) => width(row[col] ?? ""))));
  return all
    .map((row) =>
      row
        .map((
          cell,
          col,
        ) => (col === row.length - 1 ? cell : cell + " ".repeat(widths[col]! - width(cell))))
        .join("  ")
        .trimEnd()
    )
    .join("\n") + "\n";
}

/** Renders `label: value` pairs with the values aligned. */
export function renderFields(fields: readonly (readonly [string, string])[]): string {
  const labelWidth = Math.max(...fields.map(([label]) => label.length)) + 1;
  return fields.map(([label, value]) => `${`${label}:`.padEnd(labelWidth)}  ${value}`.trimEnd())
    .join("\n") + "\n";
}

function width(text: string): number {
  return [...text].length;
}
