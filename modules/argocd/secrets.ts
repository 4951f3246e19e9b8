/**
 * Secrets of the GitOps bootstrap, as pure functions (no Pulumi): the age identity and its
 * recipient, the webhook secret, the registry pull credentials.
 *
 * Randomness comes from a dedicated ED25519 `tls.PrivateKey` (the "gitops seed", created by the
 * component), the same way lib/pki/derive.ts derives the bootstrap token: HKDF-SHA256 over the
 * seed's PKCS#8 DER with one `info` string per value. The values therefore live in Pulumi state
 * only as the seed key (a secret), are stable across runs, and rotate together when the seed is
 * replaced (`pulumi up --replace <seed URN>`). The repository deploy key is its own `tls.PrivateKey`
 * (ED25519, OpenSSH encoding from the provider), not derived here.
 *
 * age (https://age-encryption.org/v1): an X25519 identity is 32 random bytes, written as Bech32
 * with the HRP `AGE-SECRET-KEY-` in upper case; its recipient is the X25519 public key, Bech32 with
 * the HRP `age`. Both are computed with node:crypto and a small Bech32 (BIP-173) codec, so the
 * program never loads the ESM-only age-encryption package; test/argocd.test.ts checks the result
 * against age-encryption's `identityToRecipient` and the Debian `age` CLI.
 */
import * as crypto from "node:crypto";

/** HKDF salt. Changing it changes every derived value of every cluster: don't. */
const SALT = "opke/gitops/derive/v1";
const INFO = {
    ageIdentity: "opke age identity",
    webhookSecret: "opke webhook secret",
} as const;

export interface DerivedGitOpsSecrets {
    /** age X25519 identity, `AGE-SECRET-KEY-1…` (74 characters). */
    ageIdentity: string;
    /** Webhook shared secret: 64 lowercase hex characters (256 bits). */
    webhookSecret: string;
}

/** The gitops seed's derived values. `seedPrivateKeyPem` is the ED25519 seed key (any PEM form node reads). */
export function deriveGitOpsSecrets(seedPrivateKeyPem: string): DerivedGitOpsSecrets {
    let key: crypto.KeyObject;
    try {
        key = crypto.createPrivateKey(seedPrivateKeyPem);
    } catch (e) {
        throw new Error(`gitops seed: the private key PEM cannot be read (${(e as Error).message}); pass the seed tls.PrivateKey's privateKeyPem`);
    }
    if (key.asymmetricKeyType !== "ed25519") {
        throw new Error(`gitops seed: expected an ED25519 private key, got ${key.asymmetricKeyType}; create the seed with algorithm ED25519`);
    }
    const ikm = key.export({ type: "pkcs8", format: "der" });
    return {
        ageIdentity: ageIdentityFromBytes(hkdf(ikm, INFO.ageIdentity, 32)),
        webhookSecret: hkdf(ikm, INFO.webhookSecret, 32).toString("hex"),
    };
}

function hkdf(ikm: Buffer, info: string, length: number): Buffer {
    return Buffer.from(crypto.hkdfSync("sha256", ikm, SALT, info, length));
}

// ---------------------------------------------------------------------------------------------
// Bech32 (BIP-173), as age uses it (no 90-character limit)

const CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
const GENERATOR = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

function polymod(values: number[]): number {
    let chk = 1;
    for (const v of values) {
        const top = chk >>> 25;
        chk = (((chk & 0x1ffffff) << 5) ^ v) >>> 0;
        for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk = (chk ^ GENERATOR[i]) >>> 0;
    }
    return chk;
}

function hrpExpand(hrp: string): number[] {
    const codes = [...hrp].map((c) => c.charCodeAt(0));
    return [...codes.map((c) => c >> 5), 0, ...codes.map((c) => c & 31)];
}

function convertBits(data: Uint8Array | number[], from: number, to: number, pad: boolean): number[] | undefined {
    let acc = 0;
    let bits = 0;
    const out: number[] = [];
    const maxv = (1 << to) - 1;
    for (const value of data) {
        if (value < 0 || value >> from !== 0) return undefined;
        acc = (acc << from) | value;
        bits += from;
        while (bits >= to) {
            bits -= to;
            out.push((acc >> bits) & maxv);
        }
    }
    if (pad) {
        if (bits > 0) out.push((acc << (to - bits)) & maxv);
    } else if (bits >= from || ((acc << (to - bits)) & maxv) !== 0) {
        return undefined;
    }
    return out;
}

/** Bech32 of `bytes` with human-readable part `hrp` (lower case). */
export function bech32Encode(hrp: string, bytes: Uint8Array): string {
    const data = convertBits(bytes, 8, 5, true)!;
    const mod = polymod([...hrpExpand(hrp), ...data, 0, 0, 0, 0, 0, 0]) ^ 1;
    const checksum = [0, 1, 2, 3, 4, 5].map((i) => (mod >>> (5 * (5 - i))) & 31);
    return `${hrp}1${[...data, ...checksum].map((d) => CHARSET[d]).join("")}`;
}

/** The HRP and bytes of a Bech32 string (either case, not mixed), or undefined when it is not valid Bech32. */
export function bech32Decode(text: string): { hrp: string; bytes: Buffer } | undefined {
    if (text !== text.toLowerCase() && text !== text.toUpperCase()) return undefined;
    const s = text.toLowerCase();
    const sep = s.lastIndexOf("1");
    if (sep < 1 || sep + 7 > s.length) return undefined;
    const hrp = s.slice(0, sep);
    const data: number[] = [];
    for (const c of s.slice(sep + 1)) {
        const d = CHARSET.indexOf(c);
        if (d < 0) return undefined;
        data.push(d);
    }
    if (polymod([...hrpExpand(hrp), ...data]) !== 1) return undefined;
    const bytes = convertBits(data.slice(0, -6), 5, 8, false);
    return bytes ? { hrp, bytes: Buffer.from(bytes) } : undefined;
}

// ---------------------------------------------------------------------------------------------
// age

const AGE_SECRET_HRP = "age-secret-key-";
const AGE_RECIPIENT_HRP = "age";
/** PKCS#8 DER prefix of an X25519 private key (RFC 8410), followed by the 32 key bytes. */
const X25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");

/** `AGE-SECRET-KEY-1…` for 32 identity bytes. */
export function ageIdentityFromBytes(bytes: Uint8Array): string {
    if (bytes.length !== 32) throw new Error(`an age X25519 identity is 32 bytes, got ${bytes.length}`);
    return bech32Encode(AGE_SECRET_HRP, bytes).toUpperCase();
}

/** The recipient (`age1…`) of an X25519 identity (`AGE-SECRET-KEY-1…`). */
export function ageRecipient(identity: string): string {
    const decoded = bech32Decode(identity);
    if (!decoded || decoded.hrp !== AGE_SECRET_HRP || decoded.bytes.length !== 32) {
        throw new Error("the age identity is not an X25519 AGE-SECRET-KEY-1… string");
    }
    const priv = crypto.createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, decoded.bytes]), format: "der", type: "pkcs8" });
    const spki = crypto.createPublicKey(priv).export({ format: "der", type: "spki" });
    return bech32Encode(AGE_RECIPIENT_HRP, spki.subarray(spki.length - 32));
}

/**
 * The X25519 identity in a supplied `opke:sopsAgeKey`: a bare `AGE-SECRET-KEY-1…` or a keys.txt
 * (as `age-keygen` writes it; `#` comments allowed). Exactly one identity.
 *
 * @throws Error naming the key and the fix (never echoing the secret).
 */
export function parseAgeIdentity(text: string): string {
    const lines = text
        .split(/\r?\n/)
        .map((l) => l.trim())
        .filter((l) => l !== "" && !l.startsWith("#"));
    const where = "opke:sopsAgeKey";
    if (lines.length === 0) throw new Error(`${where}: holds no age identity; set it to an AGE-SECRET-KEY-1… line (age-keygen output) or remove it to let opke derive one`);
    if (lines.length > 1) throw new Error(`${where}: holds ${lines.length} lines; give exactly one AGE-SECRET-KEY-1… identity (SOPS decrypts with the first one only)`);
    const identity = lines[0];
    if (identity.startsWith("AGE-PLUGIN-")) throw new Error(`${where}: is a plugin identity; the repo server has no age plugins, use an X25519 identity (age-keygen)`);
    const decoded = bech32Decode(identity);
    if (!decoded || decoded.hrp !== AGE_SECRET_HRP || decoded.bytes.length !== 32 || identity !== identity.toUpperCase()) {
        throw new Error(`${where}: is not an age X25519 identity; paste the AGE-SECRET-KEY-1… line of age-keygen's output`);
    }
    return identity;
}

/** The `keys.txt` of Secret `sops-age` (SOPS_AGE_KEY_FILE): comments with the origin and recipient, then the identity. */
export function ageKeysFile(identity: string, recipient: string, origin: "derived" | "supplied"): string {
    const from = origin === "derived" ? "derived by opke from the gitops seed key (Pulumi state)" : "supplied as opke:sopsAgeKey";
    return `# age identity for SOPS, ${from}\n# public key: ${recipient}\n${identity}\n`;
}

// ---------------------------------------------------------------------------------------------
// Registry pull credentials

/** `.dockerconfigjson` with no registries: the source Secret exists (and is replicated) even without credentials. */
export const EMPTY_DOCKER_CONFIG = '{"auths":{}}';

/**
 * Validates the text of `opke:registryCredentials` (a `.dockerconfigjson`: `{"auths": {"<registry>":
 * {"auth": "<base64 user:password>"} …}}`) and returns it unchanged.
 *
 * @throws Error naming the key and the fix (never echoing the secret).
 */
export function parseDockerConfigJson(text: string): string {
    const where = "opke:registryCredentials";
    let doc: unknown;
    try {
        doc = JSON.parse(text);
    } catch {
        throw new Error(`${where}: is not JSON; set it to a .dockerconfigjson such as {"auths":{"registry.example.com":{"auth":"<base64 of user:password>"}}}`);
    }
    const auths = doc !== null && typeof doc === "object" && !Array.isArray(doc) ? (doc as Record<string, unknown>).auths : undefined;
    if (auths === null || typeof auths !== "object" || Array.isArray(auths)) {
        throw new Error(`${where}: has no "auths" mapping; set it to a .dockerconfigjson such as {"auths":{"registry.example.com":{"auth":"<base64 of user:password>"}}}`);
    }
    for (const [registry, entry] of Object.entries(auths as Record<string, unknown>)) {
        const e = entry !== null && typeof entry === "object" ? (entry as Record<string, unknown>) : {};
        const hasAuth = typeof e.auth === "string" || (typeof e.username === "string" && typeof e.password === "string");
        if (!hasAuth) throw new Error(`${where}: auths[${JSON.stringify(registry)}] has neither "auth" nor "username" and "password"; give one of them`);
    }
    return text;
}
