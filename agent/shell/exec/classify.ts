/**
 * Read-only or state-changing (reference §2.11): a command is
 * state-changing when the whitelist says so (mount, ip, sysctl, systemctl,
 * modprobe, umount, whatever their arguments), or when a read-only
 * command is given an argument that changes the node. The agent runs
 * commands as root, so `hostname newname` or `dmesg --clear` from a viewer
 * would change the node: such calls need ops or platform admin and open a
 * commit window like any other state-changing exec.
 */

/** Options (and option prefixes) that make a read-only command change the node. */
const CHANGING_OPTIONS: Readonly<Record<string, RegExp>> = {
  dmesg: /^(-[A-Za-z]*[CcDEn][A-Za-z]*|--clear|--read-clear|--console-(off|on|level)(=.*)?)$/,
  hostname: /^(-[A-Za-z]*[bF][A-Za-z]*|--boot|--file(=.*)?)$/,
  ethtool:
    /^(-[sKGACLEfpeXNUWr]|--(change|features|offload|set-\S*|pause|coalesce|change-eeprom|flash|identify|negotiate|config-\S*|reset|module-info=.*|per-queue)(=.*)?)$/,
  "nvidia-smi":
    /^(-(r|pm|e|c|ac|rac|acp|pl|cc|am|mig|lgc|rgc|lmc|rmc|lgtc|rgtc)|--(gpu-reset|persistence-mode|ecc-config|compute-mode|applications-clocks|reset-applications-clocks|power-limit|multi-instance-gpu|lock-\S*|reset-\S*|auto-boost\S*|cuda-clocks)(=.*)?)$/,
  "rocm-smi": /^(-r|--(set|reset|load|save)\S*)$/,
  ss: /^(-[A-Za-z]*K[A-Za-z]*|--kill)$/,
  file: /^(-[A-Za-z]*C[A-Za-z]*|--compile)$/,
  journalctl:
    /^--(rotate|vacuum-\S*|flush|sync|relinquish-var|smart-relinquish-var|setup-keys|update-catalog)(=.*)?$/,
};

/** Subcommand words that change the node. */
const CHANGING_WORDS: Readonly<Record<string, RegExp>> = {
  "nvidia-smi": /^(mig|drain|vgpu|nvlink|conf-compute|clocks)$/,
};

/**
 * True when running `command` with `args` may change the node;
 * `listedAsChanging` is the whitelist's flag for the command.
 */
export function isStateChanging(
  command: string,
  args: readonly string[],
  listedAsChanging: boolean,
): boolean {
  if (listedAsChanging) return true;
  if (command === "hostname" && args.some((arg) => !arg.startsWith("-"))) {
    // `hostname NAME` sets the host name.
    return true;
  }
  const option = CHANGING_OPTIONS[command];
  if (option && args.some((arg) => option.test(arg))) return true;
  const word = CHANGING_WORDS[command];
  return word !== undefined && args.some((arg) => word.test(arg));
}
