/**
 * The `bareMetal` block of the cluster description (`opke:bareMetal` in Pulumi.<stack>.yaml).
 *
 * Structural rules only (types, enums, formats, unknown keys); the rules that relate the block to
 * the rest of the config (mode-dependent required fields, channel/version against `os`, machine
 * names against the node lists, MACs) live in lib/config/validate.ts, next to the other
 * cross-field rules, so every problem of a config is reported in one go.
 *
 * This file imports nothing from lib/config (lib/config/schema.ts imports it), so it stays free of
 * import cycles.
 *
 * Modes — how a machine gets its OS and its Ignition:
 * - `installed` (the default): the hosts were installed by other means (a USB stick, a vendor
 *   tool, an existing PXE setup) and booted with the node's Ignition (`npm run render` writes it to
 *   `<out>/nodes/<node>/ignition.json`). opke creates no boot configuration and goes straight to
 *   waiting for SSH and the shared provisioning. It is the default because it is the only mode
 *   that can never wipe a disk: the two other modes make a PXE-booting machine erase
 *   `installDisk` and install the OS, so they must be asked for explicitly.
 * - `matchbox`: opke writes Matchbox (v0.10) profiles, groups and Ignition files for every machine
 *   into `assetsDir` on a provisioning host over SSH (`matchboxHost`). Machines PXE/iPXE-boot
 *   through Matchbox, install Flatcar or Fedora CoreOS to `installDisk` with the node's Ignition
 *   and reboot from disk.
 * - `directory`: the same files, written into `assetsDir` on the machine that runs Pulumi (a
 *   Matchbox serving that directory as its `-data-path`, or a directory synced to one).
 */
import { z } from "zod";

/** How machines are booted and installed. */
export const BareMetalMode = { Installed: "installed", Matchbox: "matchbox", Directory: "directory" } as const;
export type BareMetalMode = (typeof BareMetalMode)[keyof typeof BareMetalMode];

/** Release channels (Flatcar) and streams (Fedora CoreOS), per `os`. */
export const OS_CHANNELS = {
    flatcar: ["stable", "beta", "alpha"],
    "fedora-coreos": ["stable", "testing", "next"],
} as const;

/**
 * Pinned-version formats per `os`: Flatcar `MAJOR.MINOR.PATCH` (e.g. 4230.2.3), Fedora CoreOS
 * `MAJOR.YYYYMMDD.STREAM.REVISION` (e.g. 42.20250929.3.0). `current` is rejected on purpose: the
 * boot configuration must name one image.
 */
export const OS_VERSION_FORMATS = {
    flatcar: { pattern: /^[1-9][0-9]*\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$/, example: "4230.2.3", name: "Flatcar" },
    "fedora-coreos": { pattern: /^[1-9][0-9]*\.[0-9]{8}\.[0-9]+\.[0-9]+$/, example: "42.20250929.3.0", name: "Fedora CoreOS" },
} as const;

const dnsLabel = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const dnsLabelMessage = "is not a lowercase DNS label; use a-z, 0-9 and '-' (at most 63 characters, a letter or digit at both ends)";
const hostName = /^(?=.{1,253}$)[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$/;
const ipv4 = /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/;
/** http(s)://host[:port][/path] with no query, fragment, credentials or trailing "/". */
const httpUrl = /^https?:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?(\/[A-Za-z0-9._~%!$&'()*+,;=:@-]+)*$/;
const absDir = /^\/(?!.*(^|\/)\.\.?(\/|$))[A-Za-z0-9._/+@:-]*[A-Za-z0-9._+@:-]$/;
const blockDevice = /^\/dev\/(?!.*(^|\/)\.\.?(\/|$))[A-Za-z0-9._/+:@-]*[A-Za-z0-9._+:@-]$/;
/** One kernel argument: printable, no whitespace, no quotes (Matchbox joins them with spaces). */
const kernelArg = /^[!#-&(-~]+$/;
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const installDiskMessage = "is not a block device path; use a path such as \"/dev/sda\", \"/dev/nvme0n1\" or \"/dev/disk/by-id/…\"";
const kernelArgMessage =
    "is not one kernel argument; write each argument as its own list entry, without spaces or quotes, such as \"console=ttyS0,115200n8\"";

function port(fix: string) {
    return z.number().int(`is not a whole number; ${fix}`).min(1, `is out of range; ${fix}`).max(65535, `is out of range; ${fix}`);
}

/** The SSH endpoint of the provisioning host that serves Matchbox (mode `matchbox`). */
export const MatchboxHostSpec = z.strictObject({
    /** DNS name or IPv4 address the machine running Pulumi reaches the provisioning host at. Required. */
    host: z.string().refine((h) => hostName.test(h) || ipv4.test(h), {
        message: "is not a host name or IPv4 address; use e.g. \"matchbox.example.com\" or \"10.0.0.2\"",
    }),
    /** SSH port. Defaults to 22. */
    port: port("use a port number from 1 to 65535 such as 22").default(22),
    /**
     * Login user. Defaults to core. Files are written with `sudo -n` unless the user is root, so a
     * non-root user needs passwordless sudo on the provisioning host.
     */
    user: z
        .string()
        .regex(/^[a-z_][a-z0-9_-]{0,31}$/, "is not a POSIX user name; use lowercase letters, digits, '_' and '-', starting with a letter or '_' (at most 32)")
        .default("core"),
    /**
     * The provisioning host's SSH public host key (`ssh-ed25519 AAAA…`), checked on every
     * connection. Optional; without it the host key is not verified.
     */
    hostKey: z
        .string()
        .regex(
            /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( .*)?$/,
            "is not an OpenSSH public host key; paste a line of the host's /etc/ssh/ssh_host_*_key.pub such as \"ssh-ed25519 AAAA...\"",
        )
        .optional(),
});
export type MatchboxHostSpec = z.infer<typeof MatchboxHostSpec>;

/** Settings for one machine, keyed by node name in `bareMetal.machines`. */
export const MachineSpec = z.strictObject({
    /** Disk to install the OS to. Defaults to `bareMetal.installDisk`. */
    installDisk: z.string().regex(blockDevice, installDiskMessage).optional(),
    /** Kernel arguments appended after `bareMetal.kernelArgs` for this machine's install boot. */
    kernelArgs: z.array(z.string().regex(kernelArg, kernelArgMessage)).default([]),
    /**
     * SMBIOS UUID of the machine. When set, Matchbox also selects the machine by it (and a
     * machine without `mac` can be selected by UUID alone).
     */
    uuid: z
        .string()
        .transform((s) => s.toLowerCase())
        .pipe(z.string().regex(uuid, "is not a UUID; use the machine's SMBIOS UUID such as \"4c4c4544-0042-3010-8056-b8c04f4c5931\""))
        .optional(),
});
export type MachineSpec = z.infer<typeof MachineSpec>;

/** The `bareMetal` block. Every field has a default except those a mode requires (see validate.ts). */
export const BareMetalSpec = z.strictObject({
    /**
     * How machines get their OS and Ignition: `installed` (default; no boot configuration),
     * `matchbox` (Matchbox files over SSH to `matchboxHost`) or `directory` (Matchbox files into a
     * local directory). See the top of modules/bare-metal/config.ts.
     */
    mode: z.enum([BareMetalMode.Installed, BareMetalMode.Matchbox, BareMetalMode.Directory]).default(BareMetalMode.Installed),
    /**
     * Matchbox's HTTP endpoint as the machines reach it while booting, e.g.
     * `http://matchbox.example.com:8080`. Required for `matchbox` and `directory`.
     */
    matchboxUrl: z
        .string()
        .regex(httpUrl, "is not an HTTP URL; use the Matchbox endpoint the machines reach such as \"http://matchbox.example.com:8080\" (no trailing '/', no query)")
        .optional(),
    /** SSH endpoint of the provisioning host (mode `matchbox`). Required for `matchbox`. */
    matchboxHost: MatchboxHostSpec.optional(),
    /** Matchbox data directory (its `-data-path`): on `matchboxHost`, or local for `directory`. Defaults to /var/lib/matchbox. */
    assetsDir: z
        .string()
        .regex(absDir, "is not an absolute directory path; use a path such as \"/var/lib/matchbox\" (no . or .. segments, no trailing '/')")
        .default("/var/lib/matchbox"),
    /** Flatcar channel (stable, beta, alpha) or Fedora CoreOS stream (stable, testing, next). Defaults to stable. */
    osChannel: z.enum(["stable", "beta", "alpha", "testing", "next"]).default("stable"),
    /**
     * The OS image version to PXE-boot and install, pinned (e.g. Flatcar `4230.2.3`, Fedora CoreOS
     * `42.20250929.3.0`). Required for `matchbox` and `directory`. It is the OS image, not the
     * Kubernetes version: a Kubernetes upgrade never touches it, and changing it only affects
     * machines installed afterwards (installed machines update themselves).
     */
    osVersion: z.string().optional(),
    /** Disk every machine installs to unless `machines.<name>.installDisk` says otherwise. Defaults to /dev/sda. */
    installDisk: z.string().regex(blockDevice, installDiskMessage).default("/dev/sda"),
    /**
     * Kernel arguments added to every install boot (the live/PXE system, not the installed OS).
     * Defaults to a console on the screen and on the first serial port, so installs can be watched
     * over a BMC's serial-over-LAN.
     */
    kernelArgs: z.array(z.string().regex(kernelArg, kernelArgMessage)).default(() => ["console=tty0", "console=ttyS0,115200n8"]),
    /**
     * Boot and install from images cached on the Matchbox host (`<matchboxUrl>/assets/…`) instead of
     * the OS vendor's servers. Defaults to false. The images must already be there (the paths are
     * listed by `cachedAssets` in modules/bare-metal/matchbox.ts).
     */
    cachedInstall: z.boolean().default(false),
    /**
     * Minutes to wait, per machine, from writing its boot configuration until its installed OS
     * accepts SSH (PXE boot, download, disk write and reboot all happen in between; the machine
     * must be PXE-booted by the operator in that window). Defaults to 60, like Typhoon.
     */
    installTimeoutMinutes: z
        .number()
        .int("is not a whole number; use minutes from 5 to 1440 such as 60")
        .min(5, "is out of range; use minutes from 5 to 1440 such as 60")
        .max(1440, "is out of range; use minutes from 5 to 1440 such as 60")
        .default(60),
    /** Per-machine settings, keyed by node name (a controller or worker). Defaults to none. */
    machines: z.record(z.string().regex(dnsLabel, dnsLabelMessage), MachineSpec).default(() => ({})),
});
export type BareMetalSpec = z.infer<typeof BareMetalSpec>;
export type BareMetalSpecInput = z.input<typeof BareMetalSpec>;

/** A fresh defaulted block per parse (a shared literal would share its arrays between configs). */
export const defaultBareMetal = (): BareMetalSpec => BareMetalSpec.parse({});
