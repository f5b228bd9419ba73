/** A ServiceDecl for tests: every field defaulted, overridden by `fields`. */
import { ServiceDecl } from "../../../shared/proto/gen/pact/config/config.ts";
import { parseServiceDecl, type ServiceSpec } from "../service_spec.ts";

/** A ServiceDecl with the given fields. */
export function decl(fields: Partial<ServiceDecl> & { name: string }): ServiceDecl {
  return ServiceDecl.fromPartial({ binary: "/bin/true", ...fields });
}

/** A parsed service running `sh -c script`. */
export function shService(
  name: string,
  script: string,
  fields: Partial<ServiceDecl> = {},
): ServiceSpec {
  return parseServiceDecl(decl({ name, binary: "/bin/sh", args: ["-c", script], ...fields }));
}
