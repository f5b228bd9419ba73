import { PactError } from "../../shared/errors/mod.ts";

/** Default journal gRPC port. */
export const JOURNAL_PORT = 9443;

/** A gRPC target parsed from `http://host:port`, `https://host:port` or `host:port`. */
export interface Endpoint {
  /** `host:port` as grpc-js dials it. */
  readonly address: string;
  readonly tls: boolean;
}

/** Parses a journal endpoint; the port defaults to 9443. */
export function parseEndpoint(text: string, defaultPort = JOURNAL_PORT): Endpoint {
  const scheme = /^([a-z]+):\/\//i.exec(text)?.[1]?.toLowerCase();
  if (scheme !== undefined && scheme !== "http" && scheme !== "https") {
    throw new PactError(
      "INVALID_ARGUMENT",
      `Invalid endpoint ${JSON.stringify(text)}: use http:// or https://`,
    );
  }
  let url: URL;
  try {
    url = new URL(scheme ? text : `http://${text}`);
  } catch {
    throw new PactError(
      "INVALID_ARGUMENT",
      `Invalid endpoint ${JSON.stringify(text)} (expected http://host:port)`,
    );
  }
  if (url.pathname !== "/" || url.search !== "" || url.hostname === "") {
    throw new PactError(
      "INVALID_ARGUMENT",
      `Invalid endpoint ${JSON.stringify(text)} (expected http://host:port)`,
    );
  }
  return { address: `${url.hostname}:${url.port || defaultPort}`, tls: scheme === "https" };
}
