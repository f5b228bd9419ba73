/**
 * Hardware identities of nodes (reference §2.10, §3.9): parsing, the
 * canonical tokens that must be unique per domain, and matching what an
 * agent presents at enrollment against what an admin registered.
 */
import type { HardwareIdentity } from "../proto/gen/pact/config/config.ts";
import { PactError } from "../errors/mod.ts";

const MAC = /^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SHA256 = /^[0-9a-f]{64}$/i;
const SERIAL = /^[\x21-\x7e]{1,64}$/;

/** The identifying fields pact compares, normalized (lowercase MAC with colons, lowercase UUID). */
export interface HardwareFields {
  readonly mac: string | undefined;
  readonly smbiosUuid: string | undefined;
  readonly tpmEkHash: string | undefined;
  readonly bmcSerial: string | undefined;
}

/** An empty wire identity. */
export function emptyHardwareIdentity(): HardwareIdentity {
  return {
    macAddress: "",
    macAddresses: [],
    bmcSerial: "",
    tpmEkHash: "",
    smbiosUuid: "",
    extra: {},
  };
}

/**
 * Reads `--hardware-id`: a MAC address, an SMBIOS UUID or a TPM
 * endorsement-key SHA-256, told apart by their form.
 */
export function parseHardwareId(text: string, bmcSerial = ""): HardwareIdentity {
  const value = text.trim();
  const identity = { ...emptyHardwareIdentity(), bmcSerial };
  if (MAC.test(value)) return { ...identity, macAddress: value };
  if (UUID.test(value)) return { ...identity, smbiosUuid: value };
  if (SHA256.test(value)) return { ...identity, tpmEkHash: value };
  throw new PactError(
    "INVALID_ARGUMENT",
    `Invalid hardware id ${
      JSON.stringify(text)
    }: expected a MAC address (aa:bb:cc:dd:ee:ff), an SMBIOS UUID or a TPM EK SHA-256 (64 hex digits)`,
  );
}

/** Validates and normalizes a wire identity; throws INVALID_ARGUMENT naming the bad field. */
export function hardwareFields(identity: HardwareIdentity | undefined): HardwareFields {
  const mac = identity?.macAddress || identity?.macAddresses[0] || "";
  const fields: HardwareFields = {
    mac: mac === "" ? undefined : checked("mac_address", mac, MAC).replaceAll("-", ":"),
    smbiosUuid: identity?.smbiosUuid
      ? checked("smbios_uuid", identity.smbiosUuid, UUID)
      : undefined,
    tpmEkHash: identity?.tpmEkHash ? checked("tpm_ek_hash", identity.tpmEkHash, SHA256) : undefined,
    bmcSerial: identity?.bmcSerial
      ? checked("bmc_serial", identity.bmcSerial, SERIAL, false)
      : undefined,
  };
  if (!fields.mac && !fields.smbiosUuid && !fields.tpmEkHash) {
    throw new PactError(
      "INVALID_ARGUMENT",
      "Hardware identity required: give a MAC address, an SMBIOS UUID or a TPM EK hash",
    );
  }
  return fields;
}

function checked(field: string, value: string, pattern: RegExp, lower = true): string {
  if (!pattern.test(value)) {
    throw new PactError(
      "INVALID_ARGUMENT",
      `Invalid hardware identity: ${field} ${JSON.stringify(value.slice(0, 80))} is malformed`,
    );
  }
  return lower ? value.toLowerCase() : value;
}

/**
 * The tokens that identify a machine, each unique per domain: `mac:<mac>`,
 * `uuid:<uuid>`, `tpm:<hash>`. The BMC serial alone identifies nothing
 * (it is checked on a match).
 */
export function hardwareTokens(fields: HardwareFields): string[] {
  return [
    fields.mac && `mac:${fields.mac}`,
    fields.smbiosUuid && `uuid:${fields.smbiosUuid}`,
    fields.tpmEkHash && `tpm:${fields.tpmEkHash}`,
  ].filter((t): t is string => typeof t === "string");
}

/**
 * The registered fields the presented identity contradicts or lacks, by
 * name; empty when it matches. Every field an admin registered must be
 * presented with the same value; the agent may present more.
 */
export function hardwareMismatches(
  registered: HardwareFields,
  presented: HardwareFields,
): string[] {
  const names: [keyof HardwareFields, string][] = [
    ["mac", "mac_address"],
    ["smbiosUuid", "smbios_uuid"],
    ["tpmEkHash", "tpm_ek_hash"],
    ["bmcSerial", "bmc_serial"],
  ];
  return names.filter(([key]) =>
    registered[key] !== undefined && registered[key] !== presented[key]
  )
    .map(([, name]) => name);
}

/** A short human form: `mac aa:bb:.., uuid ..`. */
export function describeHardware(fields: HardwareFields): string {
  return [
    fields.mac && `mac ${fields.mac}`,
    fields.smbiosUuid && `uuid ${fields.smbiosUuid}`,
    fields.tpmEkHash && `tpm ${fields.tpmEkHash.slice(0, 12)}…`,
    fields.bmcSerial && `bmc ${fields.bmcSerial}`,
  ].filter(Boolean).join(", ");
}

/** The wire form of normalized fields. */
export function hardwareIdentityOf(fields: HardwareFields): HardwareIdentity {
  return {
    ...emptyHardwareIdentity(),
    macAddress: fields.mac ?? "",
    bmcSerial: fields.bmcSerial ?? "",
    tpmEkHash: fields.tpmEkHash ?? "",
    smbiosUuid: fields.smbiosUuid ?? "",
  };
}
