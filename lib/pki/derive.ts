/**
 * Secrets derived from the `secrets-seed` key pair, so the kubelet bootstrap token and the
 * Secrets encryption-at-rest key live in Pulumi state (as secrets, through the seed's
 * `tls.PrivateKey`) without another provider such as @pulumi/random.
 *
 * HKDF-SHA256 (RFC 5869, node:crypto `hkdfSync`) over the seed's PKCS#8 DER, a fixed project salt
 * and one `info` string per output. Pure and deterministic: the same seed always gives the same
 * values; a new seed (replacing the key) rotates all of them.
 */
import * as crypto from "node:crypto";

export interface DerivedSecrets {
    /** Bootstrap token id: 6 characters of [a-z0-9]. */
    bootstrapTokenId: string;
    /** Bootstrap token secret: 16 characters of [a-z0-9]. */
    bootstrapTokenSecret: string;
    /** Key of the `aescbc`/`secretbox` encryption provider: base64 of 32 bytes. */
    encryptionKey: string;
}

/** HKDF salt. Changing it changes every derived secret of every cluster: don't. */
const SALT = "opke/pki/derive/v1";
const INFO = {
    bootstrapTokenId: "opke bootstrap-token-id",
    bootstrapTokenSecret: "opke bootstrap-token-secret",
    encryptionKey: "opke encryption-key",
} as const;

const TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";
/** 252 = 7 × 36: bytes at or above it are skipped, so every character is equally likely. */
const TOKEN_BYTE_LIMIT = Math.floor(256 / TOKEN_ALPHABET.length) * TOKEN_ALPHABET.length;
/** HKDF-SHA256 can produce at most 255 × 32 bytes. */
const HKDF_MAX = 255 * 32;

/**
 * Results by seed PEM. The renderers call `deriveSecrets` once per node (nodeFiles) and per
 * controller manifest set, always with the same seed; parsing the PEM (`createPrivateKey`) costs
 * about 1 ms, which made it ~40% of a 1000-node render (bench/, BENCHMARKS.md). The function is
 * pure, so a hit returns exactly what a fresh derivation would (as a new object: callers may
 * mutate theirs). Bounded: a process sees one seed per cluster; failures are never cached.
 */
const derived = new Map<string, Readonly<DerivedSecrets>>();
const DERIVED_MAX = 16;

export function deriveSecrets(seedPrivateKeyPem: string): DerivedSecrets {
    const hit = derived.get(seedPrivateKeyPem);
    if (hit) return { ...hit };
    const result = deriveUncached(seedPrivateKeyPem);
    if (derived.size >= DERIVED_MAX) derived.delete(derived.keys().next().value as string);
    derived.set(seedPrivateKeyPem, Object.freeze({ ...result }));
    return result;
}

function deriveUncached(seedPrivateKeyPem: string): DerivedSecrets {
    let key: crypto.KeyObject;
    try {
        key = crypto.createPrivateKey(seedPrivateKeyPem);
    } catch (e) {
        throw new Error(`secrets-seed: the private key PEM cannot be read (${(e as Error).message}); pass PkiMaterial.keyPairs["secrets-seed"].privateKeyPem`);
    }
    if (key.asymmetricKeyType !== "ed25519") {
        throw new Error(`secrets-seed: expected an ED25519 private key, got ${key.asymmetricKeyType}; pass PkiMaterial.keyPairs["secrets-seed"].privateKeyPem`);
    }
    const ikm = key.export({ type: "pkcs8", format: "der" });
    return {
        bootstrapTokenId: token(ikm, INFO.bootstrapTokenId, 6),
        bootstrapTokenSecret: token(ikm, INFO.bootstrapTokenSecret, 16),
        encryptionKey: hkdf(ikm, INFO.encryptionKey, 32).toString("base64"),
    };
}

function hkdf(ikm: Buffer, info: string, length: number): Buffer {
    return Buffer.from(crypto.hkdfSync("sha256", ikm, SALT, info, length));
}

/**
 * `length` characters of [a-z0-9] by rejection sampling over the HKDF output stream. HKDF output
 * of length L is a prefix of any longer output, so growing the stream never changes the result.
 */
function token(ikm: Buffer, info: string, length: number): string {
    for (let size = 64; ; size = Math.min(size * 4, HKDF_MAX)) {
        const stream = hkdf(ikm, info, size);
        let out = "";
        for (const byte of stream) {
            if (byte >= TOKEN_BYTE_LIMIT) continue;
            out += TOKEN_ALPHABET[byte % TOKEN_ALPHABET.length];
            if (out.length === length) return out;
        }
        if (size === HKDF_MAX) throw new Error(`secrets-seed: HKDF stream exhausted deriving "${info}"`); // unreachable in practice
    }
}
