import { PactError } from "../errors/mod.ts";

/** A host and port to listen on or dial. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Parses `host:port` (IPv6 as `[::1]:9443`); port 0 asks the OS for a free one. */
export function parseHostPort(text: string, what: string): HostPort {
  const match = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) {
    throw new PactError("CONFIG", `Invalid ${what}: ${JSON.stringify(text)} (expected host:port)`);
  }
  return { host: match[1] ?? match[2]!, port };
}

/** Formats for display and for grpc-js (`[::1]:9443` for IPv6). */
export function formatHostPort(address: HostPort): string {
  return address.host.includes(":")
    ? `[${address.host}]:${address.port}`
    : `${address.host}:${address.port}`;
}
