/**
 * A small accumulating builder for Ignition 3.3.0 configs.
 *
 * Pure and deterministic: no clock, no randomness, no environment. Whatever order entries are
 * added in, `build()` returns them sorted (files, directories and links by `path`; units, drop-ins
 * and users by `name`, comparing UTF-16 code units, never the locale), so the same set of entries
 * always gives the same config.
 *
 * Every `add…` call names its `source` (a config field such as `workerExtras.files[0].path`, or a
 * description such as `host basics`). Ignition requires each path and each unit name to be unique,
 * so a second entry for the same path, or a second definition of the same unit, throws an
 * `IgnitionBuildError` that names both sources. The one allowed overlap is a unit entry that
 * only adds drop-ins (no contents, no `enabled`, no `mask`): it merges into the unit's other entry,
 * and drop-in names must then be unique too.
 *
 * File contents are written inline as `data:,` URLs with RFC 3986 percent-encoding (see
 * `encodeDataUrl`); nothing is ever compressed or fetched at boot.
 */
import {
    IGNITION_VERSION,
    IgnitionConfig,
    IgnitionDirectory,
    IgnitionDropin,
    IgnitionFile,
    IgnitionLink,
    IgnitionUnit,
    IgnitionUser,
} from "./types";

/** Thrown for every invalid or conflicting entry; the message names the source(s) and the fix. */
export class IgnitionBuildError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "IgnitionBuildError";
    }
}

/** A unit as the builder takes it (the same shape as lib/assets.ts `IgnitionUnitPart`). */
export interface UnitSpec {
    name: string;
    /** Full unit text; omit to only enable/mask the unit the OS ships or to add drop-ins to it. */
    contents?: string;
    enabled?: boolean;
    mask?: boolean;
    dropins?: { name: string; contents: string }[];
}

/** Where systemd units written by Ignition live on the node. */
export const SYSTEMD_UNIT_DIR = "/etc/systemd/system";

const UNIT_NAME = /^[A-Za-z0-9:_.\\@-]+\.(service|socket|timer|path|mount|automount|target|slice|scope|swap|device)$/;
const DROPIN_NAME = /^[A-Za-z0-9:_.\\@-]+\.conf$/;
const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;

/** Code-unit comparison: independent of the locale of the machine that renders. */
export function compareStrings(a: string, b: string): number {
    return a < b ? -1 : a > b ? 1 : 0;
}

/** `0o644` → `"0644"`. */
function octalMode(mode: number): string {
    return "0" + mode.toString(8).padStart(3, "0");
}

/**
 * Encode text as an RFC 2397 `data:` URL without a media type and without base64: `data:,` followed
 * by the UTF-8 bytes percent-encoded, keeping only RFC 3986 unreserved characters
 * (`A-Z a-z 0-9 - . _ ~`) literal. This is `encodeURIComponent` plus escaping `! ' ( ) *`, so
 * `decodeURIComponent` inverts it and no character with a meaning in URLs is left bare.
 */
export function encodeDataUrl(text: string): string {
    return "data:," + encodeURIComponent(text).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}

/**
 * Decode a `data:` URL (percent-encoded or `;base64`) to its bytes. Accepts any media type and
 * parameters. Throws on anything that is not a `data:` URL.
 */
export function decodeDataUrlBytes(url: string): Buffer {
    if (!url.startsWith("data:")) {
        throw new Error(`not a data: URL: ${url.slice(0, 40)}`);
    }
    const comma = url.indexOf(",");
    if (comma < 0) {
        throw new Error(`data: URL without a comma: ${url.slice(0, 40)}`);
    }
    const header = url.slice(5, comma);
    const payload = url.slice(comma + 1);
    if (header.split(";").some((p) => p.trim().toLowerCase() === "base64")) {
        return Buffer.from(decodePercent(payload).toString("latin1"), "base64");
    }
    return decodePercent(payload);
}

/** Decode a `data:` URL to UTF-8 text. */
export function decodeDataUrl(url: string): string {
    return decodeDataUrlBytes(url).toString("utf8");
}

/** Percent-decode to raw bytes (tolerant: a `%` not followed by two hex digits stays literal). */
function decodePercent(s: string): Buffer {
    const bytes: number[] = [];
    const raw = Buffer.from(s, "utf8");
    for (let i = 0; i < raw.length; i++) {
        const b = raw[i]!;
        if (b === 0x25 && i + 2 < raw.length && isHex(raw[i + 1]) && isHex(raw[i + 2])) {
            bytes.push(parseInt(String.fromCharCode(raw[i + 1]!, raw[i + 2]!), 16));
            i += 2;
        } else {
            bytes.push(b);
        }
    }
    return Buffer.from(bytes);
}

function isHex(b: number | undefined): boolean {
    return b !== undefined && ((b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66));
}

/** Validate an absolute, normalised node path. */
function checkPath(path: string, source: string): void {
    const ok =
        path.startsWith("/") &&
        path.length > 1 &&
        !path.endsWith("/") &&
        !path.includes("\0") &&
        path
            .slice(1)
            .split("/")
            .every((seg) => seg !== "" && seg !== "." && seg !== "..");
    if (!ok) {
        throw new IgnitionBuildError(
            `${source}: Ignition path ${JSON.stringify(path)} must be absolute and normalised (no trailing "/", no empty, "." or ".." segments)`,
        );
    }
}

function checkMode(mode: number, path: string, source: string): void {
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) {
        const shown = Number.isInteger(mode) && mode >= 0 ? octalMode(mode) : String(mode);
        throw new IgnitionBuildError(
            `${source}: mode ${shown} of ${path} is not supported; Ignition 3.3.0 takes permission bits 0000-0777 only (no setuid/setgid/sticky)`,
        );
    }
}

interface Claim {
    kind: "file" | "directory" | "link" | "unit file" | "drop-in";
    source: string;
}

interface UnitEntry {
    name: string;
    /** The source of the entry that set contents/enabled/mask, if any. */
    primary?: { source: string; contents?: string; enabled?: boolean; mask: boolean };
    dropins: Map<string, { contents: string; source: string }>;
}

/**
 * Accumulates entries, then `build()`s a sorted Ignition 3.3.0 config. Adding is the only
 * mutation; `build()` copies, so it can be called any number of times.
 */
export class IgnitionBuilder {
    private readonly files = new Map<string, IgnitionFile>();
    private readonly directories = new Map<string, IgnitionDirectory>();
    private readonly links = new Map<string, IgnitionLink>();
    private readonly units = new Map<string, UnitEntry>();
    private readonly users = new Map<string, { user: IgnitionUser; source: string }>();
    /** Every path on the node some entry writes, with who wrote it. */
    private readonly claims = new Map<string, Claim>();

    /** Write a regular file with inline contents. opke passes `overwrite = true` for everything it owns. */
    addFile(path: string, contents: string, mode: number, overwrite: boolean, source: string): this {
        checkPath(path, source);
        checkMode(mode, path, source);
        this.claim(path, { kind: "file", source });
        const file: IgnitionFile = { path, contents: { source: encodeDataUrl(contents) }, mode };
        if (overwrite) {
            file.overwrite = true;
        }
        this.files.set(path, file);
        return this;
    }

    /** Create a directory with the given mode (existing directories keep their contents). */
    addDirectory(path: string, mode: number, source: string): this {
        checkPath(path, source);
        checkMode(mode, path, source);
        this.claim(path, { kind: "directory", source });
        this.directories.set(path, { path, mode });
        return this;
    }

    /** Create a symbolic link (or a hard link with `hard = true`), replacing whatever is at `path`. */
    addLink(path: string, target: string, hard: boolean, source: string): this {
        checkPath(path, source);
        if (target === "" || target.includes("\0")) {
            throw new IgnitionBuildError(`${source}: link ${path} needs a non-empty target`);
        }
        if (hard && !target.startsWith("/")) {
            throw new IgnitionBuildError(`${source}: hard link ${path} needs an absolute target, got ${JSON.stringify(target)}`);
        }
        this.claim(path, { kind: "link", source });
        const link: IgnitionLink = { path, target, overwrite: true };
        if (hard) {
            link.hard = true;
        }
        this.links.set(path, link);
        return this;
    }

    /**
     * Add a systemd unit: its contents, whether it is enabled or masked, and drop-ins. A unit may be
     * added more than once only if at most one of the entries sets contents/enabled/mask; the other
     * entries contribute drop-ins (each drop-in name once).
     */
    addUnit(unit: UnitSpec, source: string): this {
        const { name } = unit;
        if (!UNIT_NAME.test(name)) {
            throw new IgnitionBuildError(
                `${source}: ${JSON.stringify(name)} is not a systemd unit name (expected e.g. example.service)`,
            );
        }
        const dropins = unit.dropins ?? [];
        const isPrimary = unit.contents !== undefined || unit.enabled !== undefined || unit.mask === true;
        if (!isPrimary && dropins.length === 0) {
            throw new IgnitionBuildError(
                `${source}: unit ${name} sets nothing; give contents, enabled, mask: true or drop-ins`,
            );
        }
        if (unit.mask === true && (unit.contents !== undefined || unit.enabled === true)) {
            throw new IgnitionBuildError(
                `${source}: unit ${name} is masked, so it cannot also have contents or be enabled`,
            );
        }
        let entry = this.units.get(name);
        if (isPrimary && entry?.primary) {
            throw new IgnitionBuildError(
                `duplicate systemd unit ${name}: defined by ${entry.primary.source} and again by ${source}; ` +
                    `a unit is defined once (a second entry may only add drop-ins) — remove or rename one of them`,
            );
        }
        // Check everything before mutating, so a failed call leaves the builder unchanged.
        const seen = new Map<string, number>();
        dropins.forEach((d, i) => {
            if (!DROPIN_NAME.test(d.name)) {
                throw new IgnitionBuildError(
                    `${source}: drop-in ${JSON.stringify(d.name)} of ${name} must be a file name ending in .conf`,
                );
            }
            const first = seen.get(d.name);
            if (first !== undefined) {
                throw new IgnitionBuildError(
                    `duplicate drop-in ${name}.d/${d.name}: listed twice by ${source} (entries ${first} and ${i}) — remove one of them`,
                );
            }
            seen.set(d.name, i);
            const earlier = entry?.dropins.get(d.name);
            if (earlier) {
                throw new IgnitionBuildError(
                    `duplicate drop-in ${name}.d/${d.name}: added by ${earlier.source} and again by ${source} — remove or rename one of them`,
                );
            }
        });
        const unitPath = `${SYSTEMD_UNIT_DIR}/${name}`;
        const newClaims: [string, Claim][] = [];
        if (unit.contents !== undefined || unit.mask === true) {
            newClaims.push([unitPath, { kind: "unit file", source }]);
        }
        for (const d of dropins) {
            newClaims.push([`${unitPath}.d/${d.name}`, { kind: "drop-in", source }]);
        }
        for (const [path, claim] of newClaims) {
            this.checkUnclaimed(path, claim);
        }
        for (const [path, claim] of newClaims) {
            this.claims.set(path, claim);
        }

        if (!entry) {
            entry = { name, dropins: new Map() };
            this.units.set(name, entry);
        }
        if (isPrimary) {
            entry.primary = { source, contents: unit.contents, enabled: unit.enabled, mask: unit.mask === true };
        }
        for (const d of dropins) {
            entry.dropins.set(d.name, { contents: d.contents, source });
        }
        return this;
    }

    /**
     * Ensure a user exists with these SSH public keys (written by Ignition to
     * `~/.ssh/authorized_keys.d/ignition`). `groups` are supplementary groups for users the image
     * does not ship; leave them out for existing users such as `core`.
     */
    addUser(name: string, sshAuthorizedKeys: string[], source: string, groups: string[] = []): this {
        if (!USER_NAME.test(name)) {
            throw new IgnitionBuildError(`${source}: ${JSON.stringify(name)} is not a POSIX user name`);
        }
        const earlier = this.users.get(name);
        if (earlier) {
            throw new IgnitionBuildError(
                `duplicate user ${name}: added by ${earlier.source} and again by ${source} — add each user once`,
            );
        }
        const keyIndex = new Map<string, number>();
        sshAuthorizedKeys.forEach((k, i) => {
            const first = keyIndex.get(k);
            if (first !== undefined) {
                throw new IgnitionBuildError(
                    `${source}: SSH key ${i} of user ${name} repeats key ${first}; Ignition requires unique keys — remove the duplicate`,
                );
            }
            keyIndex.set(k, i);
        });
        const user: IgnitionUser = { name };
        if (sshAuthorizedKeys.length > 0) {
            user.sshAuthorizedKeys = [...sshAuthorizedKeys];
        }
        if (groups.length > 0) {
            user.groups = [...new Set(groups)].sort(compareStrings);
        }
        this.users.set(name, { user, source });
        return this;
    }

    /** The config, every list sorted, empty lists and sections omitted. */
    build(): IgnitionConfig {
        this.checkAncestors();
        const config: IgnitionConfig = { ignition: { version: IGNITION_VERSION } };

        const users = sortedValues(this.users).map(({ user }) => ({
            ...user,
            ...(user.sshAuthorizedKeys ? { sshAuthorizedKeys: [...user.sshAuthorizedKeys] } : {}),
            ...(user.groups ? { groups: [...user.groups] } : {}),
        }));
        if (users.length > 0) {
            config.passwd = { users };
        }

        const files = sortedValues(this.files).map((f) => ({ ...f, contents: { ...f.contents } }));
        const directories = sortedValues(this.directories).map((d) => ({ ...d }));
        const links = sortedValues(this.links).map((l) => ({ ...l }));
        if (files.length + directories.length + links.length > 0) {
            config.storage = {};
            if (files.length > 0) config.storage.files = files;
            if (directories.length > 0) config.storage.directories = directories;
            if (links.length > 0) config.storage.links = links;
        }

        const units = sortedValues(this.units).map((entry) => {
            const unit: IgnitionUnit = { name: entry.name };
            const p = entry.primary;
            if (p?.contents !== undefined) unit.contents = p.contents;
            if (p?.enabled !== undefined) unit.enabled = p.enabled;
            if (p?.mask) unit.mask = true;
            const dropins: IgnitionDropin[] = [...entry.dropins.entries()]
                .sort(([a], [b]) => compareStrings(a, b))
                .map(([name, d]) => ({ name, contents: d.contents }));
            if (dropins.length > 0) unit.dropins = dropins;
            return unit;
        });
        if (units.length > 0) {
            config.systemd = { units };
        }
        return config;
    }

    private checkUnclaimed(path: string, claim: Claim): void {
        const earlier = this.claims.get(path);
        if (earlier) {
            throw new IgnitionBuildError(
                `duplicate Ignition path ${path}: written by ${earlier.source} (${earlier.kind}) and again by ${claim.source} (${claim.kind}); ` +
                    `every path is written once — remove or rename one of them`,
            );
        }
    }

    private claim(path: string, claim: Claim): void {
        this.checkUnclaimed(path, claim);
        this.claims.set(path, claim);
    }

    /** Nothing may be written below a path that is a file, a link or a unit file. */
    private checkAncestors(): void {
        for (const [path, claim] of [...this.claims.entries()].sort(([a], [b]) => compareStrings(a, b))) {
            for (let i = path.lastIndexOf("/"); i > 0; i = path.lastIndexOf("/", i - 1)) {
                const parent = path.slice(0, i);
                const p = this.claims.get(parent);
                if (p && p.kind !== "directory") {
                    throw new IgnitionBuildError(
                        `Ignition path ${path} (${claim.kind}, by ${claim.source}) is below ${parent}, which ${p.source} writes as a ${p.kind} — move one of them`,
                    );
                }
            }
        }
    }
}

function sortedValues<T>(map: Map<string, T>): T[] {
    return [...map.entries()].sort(([a], [b]) => compareStrings(a, b)).map(([, v]) => v);
}
