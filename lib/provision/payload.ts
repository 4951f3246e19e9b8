/**
 * The push payload: one node's whole SSH asset tree (exactly what the render writes under
 * `nodes/<node>/ssh/`) as one line-based text archive. It travels on the installer's stdin, so a
 * node gets all of its files in one SSH session and no file content (secret or not) is ever part
 * of a command line, an environment variable or a log line.
 *
 * Format, version 1 (LF-separated lines, nothing else):
 *
 *     opke-payload 1
 *     d <mode> <owner> <path>                                   one per directory, parents first
 *     f <mode> <owner> <sha256> <flags> <restarts> <path>       one per file, sorted by path,
 *     <base64 of the content, on one line; empty for an empty file>   followed by its content line
 *     end <directories> <files>
 *
 *   - mode: 4 octal digits ("0600"); owner: "user:group" names;
 *   - sha256: hex of the UTF-8 content (the installer checks it after decoding);
 *   - flags: "s" for a secret file, "-" otherwise (informational: the installer never prints
 *     contents of any file);
 *   - restarts: comma-separated systemd units to restart when the content changes, "-" for none;
 *   - path: absolute, no whitespace, no "." or ".." segments (checked here, so the installer can
 *     split lines on spaces).
 *
 * The trailer makes a truncated payload detectable even without the hash (the installer checks
 * both: the sha256 of the whole payload comes in the command line).
 *
 * Pure: no Pulumi, no I/O.
 */
import { createHash } from "node:crypto";
import { NodeDirectory, NodeFile, NodeSshAssets } from "../assets";

export const PAYLOAD_MAGIC = "opke-payload 1";

const PATH_RE = /^(\/[A-Za-z0-9_@%+=:,.~-]+)+$/;
const OWNER_RE = /^[a-z_][a-z0-9_-]*:[a-z_][a-z0-9_-]*$/;
const UNIT_RE = /^[A-Za-z0-9:_.@\\-]+\.(service|socket|timer|path|mount|target)$/;

function checkPath(path: string, what: string): void {
    if (!PATH_RE.test(path) || path.split("/").some((s) => s === "." || s === "..")) {
        throw new Error(`payload: ${what} path ${JSON.stringify(path)} is not a plain absolute path (letters, digits, _@%+=:,.~- and '/', no . or .. segments, no whitespace)`);
    }
}

function checkMode(mode: number, path: string): string {
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new Error(`payload: ${path}: mode ${mode} is not a permission value (0 to 0o7777)`);
    return mode.toString(8).padStart(4, "0");
}

function checkOwner(owner: string, path: string): void {
    if (!OWNER_RE.test(owner)) throw new Error(`payload: ${path}: owner ${JSON.stringify(owner)} is not "user:group"`);
}

/** Parents before children, then by path: the order the installer creates directories in. */
function byDepthThenPath(a: NodeDirectory, b: NodeDirectory): number {
    const da = a.path.split("/").length;
    const db = b.path.split("/").length;
    if (da !== db) return da - db;
    return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

export function sha256Hex(data: string | Buffer): string {
    return createHash("sha256").update(data).digest("hex");
}

/**
 * Encodes a node's SSH asset tree. Deterministic: the same tree gives the same bytes (directories
 * by depth then path, files by path), so the payload hash changes exactly when something pushed
 * would change.
 *
 * @throws Error when a path, mode, owner or unit name cannot be carried safely, or a path repeats.
 */
export function encodePayload(assets: NodeSshAssets): string {
    const lines: string[] = [PAYLOAD_MAGIC];
    const seen = new Set<string>();
    const dirs = [...assets.directories].sort(byDepthThenPath);
    for (const d of dirs) {
        checkPath(d.path, "directory");
        if (seen.has(d.path)) throw new Error(`payload: directory ${d.path} is listed twice`);
        seen.add(d.path);
        checkOwner(d.owner, d.path);
        lines.push(`d ${checkMode(d.mode, d.path)} ${d.owner} ${d.path}`);
    }
    const files = [...assets.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    for (const f of files) {
        checkPath(f.path, "file");
        if (seen.has(f.path)) throw new Error(`payload: ${f.path} is listed twice (or also as a directory)`);
        seen.add(f.path);
        checkOwner(f.owner, f.path);
        for (const u of f.restarts) {
            if (!UNIT_RE.test(u)) throw new Error(`payload: ${f.path}: restarts ${JSON.stringify(u)} is not a systemd unit name`);
        }
        const restarts = f.restarts.length > 0 ? [...new Set(f.restarts)].join(",") : "-";
        lines.push(`f ${checkMode(f.mode, f.path)} ${f.owner} ${sha256Hex(f.content)} ${f.secret ? "s" : "-"} ${restarts} ${f.path}`);
        lines.push(Buffer.from(f.content, "utf8").toString("base64"));
    }
    lines.push(`end ${dirs.length} ${files.length}`);
    return lines.join("\n") + "\n";
}

/** The sha256 of a payload, as the installer computes it (`sha256sum` of stdin). */
export function payloadSha256(payload: string): string {
    return sha256Hex(Buffer.from(payload, "utf8"));
}

/**
 * Decodes a payload back into the asset tree (for tests and tooling). Checks the magic line, each
 * file's sha256 and the trailer counts.
 */
export function decodePayload(payload: string): NodeSshAssets {
    const lines = payload.split("\n");
    if (lines[lines.length - 1] !== "") throw new Error("payload: does not end with a newline");
    lines.pop();
    if (lines[0] !== PAYLOAD_MAGIC) throw new Error(`payload: first line is ${JSON.stringify(lines[0])}, expected ${JSON.stringify(PAYLOAD_MAGIC)}`);
    const directories: NodeDirectory[] = [];
    const files: NodeFile[] = [];
    let i = 1;
    for (; i < lines.length; i++) {
        const parts = lines[i].split(" ");
        if (parts[0] === "d" && parts.length === 4) {
            directories.push({ mode: parseInt(parts[1], 8), owner: parts[2], path: parts[3] });
        } else if (parts[0] === "f" && parts.length === 7) {
            const content = Buffer.from(lines[++i] ?? "", "base64").toString("utf8");
            if (sha256Hex(content) !== parts[3]) throw new Error(`payload: ${parts[6]}: content does not match its sha256`);
            files.push({
                path: parts[6],
                content,
                mode: parseInt(parts[1], 8),
                owner: parts[2],
                secret: parts[4] === "s",
                restarts: parts[5] === "-" ? [] : parts[5].split(","),
            });
        } else if (parts[0] === "end" && parts.length === 3) {
            if (Number(parts[1]) !== directories.length || Number(parts[2]) !== files.length) {
                throw new Error(`payload: trailer says ${parts[1]} directories and ${parts[2]} files, found ${directories.length} and ${files.length}`);
            }
            if (i !== lines.length - 1) throw new Error("payload: lines after the trailer");
            return { directories, files };
        } else {
            throw new Error(`payload: line ${i + 1} is not a d/f/end record`);
        }
    }
    throw new Error("payload: no trailer (truncated)");
}
