import {
  configure,
  getStreamSink,
  getTextFormatter,
  jsonLinesFormatter,
  type LogLevel,
} from "@logtape/logtape";

/** Sends pact's logs to stderr, as text lines or JSON lines. */
export async function setupLogging(level: LogLevel, format: "text" | "json"): Promise<void> {
  await configure({
    reset: true,
    sinks: {
      stderr: getStreamSink(Deno.stderr.writable, {
        formatter: format === "json"
          ? jsonLinesFormatter
          : getTextFormatter({ timestamp: "date-time-timezone", value: renderValue }),
      }),
    },
    loggers: [
      { category: ["pact"], lowestLevel: level, sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}

/** Strings print bare in text logs; everything else as Deno would inspect it. */
function renderValue(value: unknown): string {
  return typeof value === "string" ? value : Deno.inspect(value, { colors: false });
}
