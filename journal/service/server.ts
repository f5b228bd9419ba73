import { experimental, Server, ServerCredentials } from "@grpc/grpc-js";
import type { TlsIdentity } from "../ca/tls_identity.ts";
import { ConfigServiceService } from "../../shared/proto/gen/pact/journal/journal.ts";
import { formatHostPort, type HostPort } from "../../shared/config/listen_address.ts";
import { PactError } from "../../shared/errors/mod.ts";
import { ENTRY_BYTES_MAX } from "../state/limits.ts";
import {
  BOOT_CONFIG_SERVICE_DEFINITION,
  bootConfigService,
  type BootConfigServiceDeps,
} from "./boot_config_service.ts";
import { configService, type ConfigServiceDeps } from "./config_service.ts";
import { PolicyServiceService } from "../../shared/proto/gen/pact/policy/policy.ts";
import { policyService } from "./policy_service.ts";
import { EnrollmentServiceService } from "../../shared/proto/gen/pact/enrollment/enrollment.ts";
import { enrollmentService, type EnrollmentServiceDeps } from "./enrollment_service.ts";

/** A running gRPC server. */
export interface GrpcServer {
  /** The bound address (with the real port when 0 was asked for). */
  readonly address: HostPort;
  /** Stops accepting calls; waits up to `graceMs` for running ones, then cancels them. */
  shutdown(graceMs: number): Promise<void>;
}

/**
 * Starts the journal's gRPC services on `listen`: plaintext, or TLS with
 * `tls`'s certificate where a client certificate is asked for but not
 * required at the handshake (Enroll comes without one; the handlers
 * decide which calls need one).
 */
export async function startGrpcServer(
  listen: HostPort,
  deps: ConfigServiceDeps & BootConfigServiceDeps & EnrollmentServiceDeps,
  tls?: TlsIdentity,
): Promise<GrpcServer> {
  const server = new Server({
    "grpc.max_receive_message_length": ENTRY_BYTES_MAX + 64 * 1024,
    "grpc.max_send_message_length": ENTRY_BYTES_MAX + 64 * 1024,
    "grpc.keepalive_time_ms": 60_000,
    "grpc.keepalive_timeout_ms": 20_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": 10_000,
  });
  server.addService(ConfigServiceService, configService(deps));
  server.addService(PolicyServiceService, policyService(deps));
  server.addService(BOOT_CONFIG_SERVICE_DEFINITION, bootConfigService(deps));
  server.addService(EnrollmentServiceService, enrollmentService(deps));
  const port = await new Promise<number>((resolve, reject) => {
    const credentials = tls
      ? experimental.createCertificateProviderServerCredentials(tls, tls, false)
      : ServerCredentials.createInsecure();
    server.bindAsync(formatHostPort(listen), credentials, (err, bound) => {
      if (err) {
        reject(
          new PactError("CONFIG", `Cannot listen on ${formatHostPort(listen)}: ${err.message}`),
        );
      } else resolve(bound);
    });
  });
  return {
    address: { host: listen.host, port },
    shutdown: (graceMs) =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
