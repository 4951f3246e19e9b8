/**
 * TypeScript types for the subset of the Ignition config spec 3.3.0 that opke emits.
 *
 * Field names follow the spec (coreos/ignition docs/configuration-v3_3.md). Only what opke writes
 * is modelled: files with inline `data:` contents, directories, links, systemd units with
 * drop-ins and users with SSH keys. Everything else in the spec (disks, RAID, filesystems, LUKS,
 * remote sources, config merging, kernel arguments …) is deliberately absent, so a config built
 * from these types can never reach for it by accident.
 *
 * Conventions of opke's output (enforced by the builder, see builder.ts):
 * - optional fields are omitted rather than written as `null`, `false` or `[]`;
 * - `mode` is the decimal JSON number of the octal permission bits (0o644 → 420);
 * - every array is sorted (files/directories/links by `path`, units/users by `name`,
 *   drop-ins by `name`).
 */

/** The only spec version opke emits. */
export const IGNITION_VERSION = "3.3.0";

/** `ignition`: metadata about the config itself. */
export interface IgnitionMeta {
    version: typeof IGNITION_VERSION;
}

/** `storage.files[].contents`: where the file's bytes come from. */
export interface IgnitionResource {
    /** A `data:` URL (RFC 2397). opke never fetches remote contents at boot. */
    source: string;
}

/** Owner or group of a node: by name (opke never pins numeric ids). */
export interface IgnitionNodeOwner {
    name: string;
}

/** `storage.files[]`. */
export interface IgnitionFile {
    path: string;
    /** True for every file opke writes: opke owns the path, whatever the image shipped there. */
    overwrite?: boolean;
    contents: IgnitionResource;
    /** Decimal permission bits, e.g. 420 for 0644. */
    mode: number;
    user?: IgnitionNodeOwner;
    group?: IgnitionNodeOwner;
}

/** `storage.directories[]`. */
export interface IgnitionDirectory {
    path: string;
    /** Decimal permission bits, e.g. 493 for 0755. */
    mode: number;
    user?: IgnitionNodeOwner;
    group?: IgnitionNodeOwner;
}

/** `storage.links[]`. */
export interface IgnitionLink {
    path: string;
    target: string;
    /** Hard link when true; omitted for symbolic links. */
    hard?: boolean;
    overwrite?: boolean;
}

/** `storage`. */
export interface IgnitionStorage {
    files?: IgnitionFile[];
    directories?: IgnitionDirectory[];
    links?: IgnitionLink[];
}

/** `systemd.units[].dropins[]`. */
export interface IgnitionDropin {
    /** Drop-in file name; must end in `.conf`. */
    name: string;
    contents: string;
}

/** `systemd.units[]`. */
export interface IgnitionUnit {
    name: string;
    /** Full unit text; omitted when the unit ships with the OS (only enabled/masked/drop-ins). */
    contents?: string;
    /** true = enable, false = disable; omitted = leave as the OS ships it. */
    enabled?: boolean;
    /** Only ever written as `true`. */
    mask?: boolean;
    dropins?: IgnitionDropin[];
}

/** `systemd`. */
export interface IgnitionSystemd {
    units?: IgnitionUnit[];
}

/** `passwd.users[]`. */
export interface IgnitionUser {
    name: string;
    sshAuthorizedKeys?: string[];
    /** Supplementary groups; only set for users the image does not already ship. */
    groups?: string[];
}

/** `passwd`. */
export interface IgnitionPasswd {
    users?: IgnitionUser[];
}

/** A complete Ignition 3.3.0 config as opke emits it. */
export interface IgnitionConfig {
    ignition: IgnitionMeta;
    passwd?: IgnitionPasswd;
    storage?: IgnitionStorage;
    systemd?: IgnitionSystemd;
}
