/** `2026-11-22T18:04:00Z`: UTC to the second, as logs and tables show times. */
export function isoSeconds(date: Date | undefined): string {
  return date ? date.toISOString().replace(/\.\d{3}Z$/, "Z") : "-";
}

/** `18:04:00`: the UTC time of day, for live streams. */
export function clockTime(date: Date | undefined): string {
  return date ? date.toISOString().slice(11, 19) : "--:--:--";
}
