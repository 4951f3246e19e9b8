/**
 * The last line of defence for the OPKE rule: Ignition carries only immutable, version-free,
 * secret-free content (it travels as cloud user data or over plain HTTP from matchbox, and a
 * changed Ignition re-creates the node).
 *
 * `assertIgnitionSafe` parses the serialized config and inspects every string in it — and, for
 * `data:` URLs, the decoded contents (percent-encoded or base64, gzip-compressed or not) — for:
 * - a PEM private key block (`-----BEGIN … PRIVATE KEY-----`), also base64-wrapped as in a
 *   kubeconfig's `client-key-data`;
 * - an age secret key (`AGE-SECRET-KEY-1…`);
 * - something shaped like a Kubernetes bootstrap token (`[a-z0-9]{6}.[a-z0-9]{16}`);
 * - any of the versions passed in `knownVersions` (`v1.36.3` also matches `1.36.3`, never
 *   `11.36.3`, `1.36.30` or the inside of an address such as `10.1.36.3`). Version checks only
 *   look for the versions given, so unrelated numbers never trip it.
 *
 * Error messages name the JSON location and never echo a secret.
 */
import { gunzipSync } from "node:zlib";
import { decodeDataUrlBytes } from "./builder";

export class IgnitionSafetyError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "IgnitionSafetyError";
    }
}

const FIX_SECRET = "Ignition is unencrypted user data: push secrets over SSH as a NodeFile with secret: true (lib/assets.ts)";
const FIX_VERSION =
    "Ignition must be version-free so an upgrade never re-creates a node: put versioned content in a NodeFile pushed over SSH (lib/assets.ts)";

const PEM_PRIVATE_KEY = /-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----/;
/** base64 of "-----BEGIN" at a 3-byte boundary, followed by the rest of the encoded block. */
const BASE64_PEM = /LS0tLS1CRUdJTi[A-Za-z0-9+/=]*/g;
const AGE_SECRET_KEY = /AGE-SECRET-KEY-1/i;
const BOOTSTRAP_TOKEN = /(?<![A-Za-z0-9])([a-z0-9]{6})\.[a-z0-9]{16}(?![A-Za-z0-9])/;

interface Text {
    /** JSON location, e.g. `storage.files[2].contents.source (/etc/hostname)`. */
    at: string;
    text: string;
}

/**
 * Throw an `IgnitionSafetyError` if the serialized Ignition config `json` carries a secret or one
 * of `knownVersions`. `where` names the config in the message (e.g. `Ignition of node worker-0`).
 */
export function assertIgnitionSafe(json: string, where: string, knownVersions: readonly string[] = []): void {
    let parsed: unknown;
    try {
        parsed = JSON.parse(json);
    } catch (e) {
        throw new IgnitionSafetyError(`${where}: not valid JSON (${(e as Error).message})`);
    }
    const versions = [...new Set(knownVersions.map((v) => v.trim().replace(/^v/, "")).filter((v) => v !== ""))].map(
        (v) => ({ v, re: new RegExp(`(?<![0-9A-Za-z.])v?${escapeRegExp(v)}(?![0-9]|\\.[0-9])`) }),
    );
    for (const { at, text } of collectTexts(parsed, "$", "")) {
        const pem = PEM_PRIVATE_KEY.exec(text);
        if (pem) {
            throw new IgnitionSafetyError(`${where}: ${at} contains a PEM private key (${pem[0]}); ${FIX_SECRET}`);
        }
        for (const m of text.matchAll(BASE64_PEM)) {
            const decoded = Buffer.from(m[0], "base64").toString("latin1");
            const inner = PEM_PRIVATE_KEY.exec(decoded);
            if (inner) {
                throw new IgnitionSafetyError(
                    `${where}: ${at} contains a base64-encoded PEM private key (${inner[0]}); ${FIX_SECRET}`,
                );
            }
        }
        if (AGE_SECRET_KEY.test(text)) {
            throw new IgnitionSafetyError(`${where}: ${at} contains an age secret key (AGE-SECRET-KEY-1…); ${FIX_SECRET}`);
        }
        const token = BOOTSTRAP_TOKEN.exec(text);
        if (token) {
            throw new IgnitionSafetyError(
                `${where}: ${at} contains what looks like a bootstrap token (${token[1]}.****************); ${FIX_SECRET}`,
            );
        }
        for (const { v, re } of versions) {
            const hit = re.exec(text);
            if (hit) {
                throw new IgnitionSafetyError(`${where}: ${at} contains the version ${hit[0]} (known version ${v}); ${FIX_VERSION}`);
            }
        }
    }
}

/** Every string (keys included) with its JSON location; `data:` URLs also decoded. */
function collectTexts(value: unknown, at: string, label: string): Text[] {
    const where = (p: string) => (label ? `${p} (${label})` : p);
    if (typeof value === "string") {
        return [{ at: where(at), text: value }];
    }
    if (Array.isArray(value)) {
        return value.flatMap((v, i) => collectTexts(v, `${at}[${i}]`, label));
    }
    if (value !== null && typeof value === "object") {
        const obj = value as Record<string, unknown>;
        const own = typeof obj.path === "string" ? obj.path : typeof obj.name === "string" ? obj.name : "";
        const lbl = own ? (label && label !== own ? `${label} ${own}` : own) : label;
        const out: Text[] = [];
        for (const [k, v] of Object.entries(obj)) {
            const p = `${at}.${k}`;
            out.push({ at: where(p) + " [key]", text: k });
            out.push(...collectTexts(v, p, lbl));
            if (typeof v === "string" && v.startsWith("data:")) {
                out.push({ at: (lbl ? `${p} (${lbl})` : p) + " [decoded]", text: decodeForScan(v, obj.compression) });
            }
        }
        return out;
    }
    return [];
}

function decodeForScan(url: string, compression: unknown): string {
    let bytes: Buffer;
    try {
        bytes = decodeDataUrlBytes(url);
    } catch {
        return "";
    }
    if (compression === "gzip") {
        try {
            bytes = gunzipSync(bytes);
        } catch {
            // Not gzip after all: scan the bytes as they are.
        }
    }
    return bytes.toString("utf8");
}

function escapeRegExp(s: string): string {
    return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
