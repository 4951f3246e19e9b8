/**
 * Fake, deterministic PKI material of the right shape for the benchmark.
 *
 * Why fake: the benchmark measures what opke's PROGRAM costs to evaluate. Under mocks the tls
 * provider's work (key generation, signing) would run inside the mock — an RSA-2048 key costs
 * 0.3–0.5 s of CPU, about 5 s for the ~20 keys of a cluster — and a real engine does that work in
 * the provider plugin, once, at create time (never on a preview of an existing stack). So the tls
 * mock returns PEM strings:
 *   - with the right armour (`BEGIN RSA PRIVATE KEY`, `BEGIN EC PRIVATE KEY`, `BEGIN PUBLIC KEY`,
 *     `BEGIN CERTIFICATE`, `BEGIN CERTIFICATE REQUEST`, PKCS#8 `BEGIN PRIVATE KEY`), 64-column
 *     base64 lines and a trailing newline, like @pulumi/tls;
 *   - of about the size the real DER has for the algorithm (RSA-2048/3072/4096, P-256/P-384),
 *     certificates and requests growing with their SANs, so hashing, base64 and payload sizes
 *     are realistic;
 *   - filled with bytes derived (sha256 counter mode) from the resource's name and inputs, so two
 *     evaluations of the same config give byte-identical material: the no-op and upgrade diffs in
 *     bench/run.ts then show only what opke changes.
 * The renderers only embed these strings, except lib/pki/derive.ts, which reads the `secrets-seed`
 * key (ED25519, PKCS#8) with node:crypto: every ED25519 key here is a REAL key, built from a
 * deterministic 32-byte seed (PKCS#8 = fixed prefix + seed), so `deriveSecrets` works unchanged.
 */
import * as crypto from "node:crypto";
import type { KeySpec, PkiDescription, PkiMaterial } from "../lib/pki/spec";

/** DER sizes (bytes) of real keys: native private encoding, PKCS#8, SPKI public key, signature. */
interface KeySizes {
    native: number;
    pkcs8: number;
    spki: number;
    signature: number;
    armour: "RSA PRIVATE KEY" | "EC PRIVATE KEY" | "PRIVATE KEY";
}

function keySizes(k: KeySpec): KeySizes {
    switch (k.algorithm) {
        case "RSA": {
            const bits = k.rsaBits ?? 2048;
            const f = bits / 2048;
            return { native: Math.round(1192 * f), pkcs8: Math.round(1218 * f), spki: Math.round(294 * (0.13 + 0.87 * f)), signature: bits / 8, armour: "RSA PRIVATE KEY" };
        }
        case "ECDSA":
            return (k.ecdsaCurve ?? "P256") === "P384"
                ? { native: 167, pkcs8: 185, spki: 120, signature: 103, armour: "EC PRIVATE KEY" }
                : { native: 121, pkcs8: 138, spki: 91, signature: 71, armour: "EC PRIVATE KEY" };
        case "ED25519":
            return { native: 48, pkcs8: 48, spki: 44, signature: 64, armour: "PRIVATE KEY" };
    }
}

/** `length` deterministic bytes from `seed` (sha256 in counter mode). */
export function fakeBytes(seed: string, length: number): Buffer {
    const out = Buffer.alloc(length);
    for (let i = 0, off = 0; off < length; i++, off += 32) {
        crypto.createHash("sha256").update(`${seed}\u0000${i}`).digest().copy(out, off);
    }
    return out;
}

export function pem(label: string, der: Buffer): string {
    const b64 = der.toString("base64");
    const lines: string[] = [];
    for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
    return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

export interface FakeKey {
    privateKeyPem: string;
    privateKeyPemPkcs8: string;
    publicKeyPem: string;
}

/**
 * A key of the shape @pulumi/tls `PrivateKey` returns, deterministic in `seed`. ED25519 keys are
 * real (see the file comment); RSA and ECDSA keys are random-looking bytes in the right armour.
 */
export function fakeKey(seed: string, k: KeySpec): FakeKey {
    if (k.algorithm === "ED25519") {
        const der = Buffer.concat([ED25519_PKCS8_PREFIX, crypto.createHash("sha256").update(`opke-bench ed25519 ${seed}`).digest()]);
        const key = crypto.createPrivateKey({ key: der, format: "der", type: "pkcs8" });
        const privateKeyPem = String(key.export({ type: "pkcs8", format: "pem" }));
        return { privateKeyPem, privateKeyPemPkcs8: privateKeyPem, publicKeyPem: String(crypto.createPublicKey(key).export({ type: "spki", format: "pem" })) };
    }
    const s = keySizes(k);
    return {
        privateKeyPem: pem(s.armour, fakeBytes(`${seed}/key`, s.native)),
        privateKeyPemPkcs8: pem("PRIVATE KEY", fakeBytes(`${seed}/pkcs8`, s.pkcs8)),
        publicKeyPem: pem("PUBLIC KEY", fakeBytes(`${seed}/pub`, s.spki)),
    };
}

export interface FakeCertInput {
    commonName: string;
    organization?: string;
    dnsNames: readonly string[];
    ipAddresses: readonly string[];
}

function sanBytes(c: FakeCertInput): number {
    return c.dnsNames.reduce((n, d) => n + d.length + 2, 0) + c.ipAddresses.length * 6 + c.commonName.length + (c.organization?.length ?? 0);
}

/** A certificate PEM of the size a real one with this subject, SANs and key algorithm has. */
export function fakeCert(seed: string, c: FakeCertInput, k: KeySpec): string {
    const s = keySizes(k);
    return pem("CERTIFICATE", fakeBytes(`${seed}/cert`, 240 + s.spki + s.signature + sanBytes(c)));
}

/** A PKCS#10 request PEM of about the real size. */
export function fakeCsr(seed: string, c: FakeCertInput, k: KeySpec): string {
    const s = keySizes(k);
    return pem("CERTIFICATE REQUEST", fakeBytes(`${seed}/csr`, 120 + s.spki + s.signature + sanBytes(c)));
}

/** Key algorithm of a PEM produced here (the fakes cannot be parsed). */
export function keySpecOfPem(privateKeyPem: string, fallback: KeySpec): KeySpec {
    if (privateKeyPem.startsWith("-----BEGIN RSA PRIVATE KEY-----")) return fallback.algorithm === "RSA" ? fallback : { algorithm: "RSA", rsaBits: 2048 };
    if (privateKeyPem.startsWith("-----BEGIN EC PRIVATE KEY-----")) return fallback.algorithm === "ECDSA" ? fallback : { algorithm: "ECDSA", ecdsaCurve: "P256" };
    return { algorithm: "ED25519" };
}

/**
 * The whole material of a PKI description, built with the same fakes (for the render benchmark,
 * which has no tls mock). Deterministic in the description.
 */
export function fakeMaterial(desc: PkiDescription): PkiMaterial {
    const m: PkiMaterial = { certificates: {}, keyPairs: {} };
    for (const c of desc.certificates) {
        const key = fakeKey(`material/${c.id}`, c.key);
        const input = { commonName: c.subject.commonName, organization: c.subject.organization, dnsNames: c.dnsNames, ipAddresses: c.ipAddresses };
        m.certificates[c.id] = { certPem: fakeCert(`material/${c.id}/${JSON.stringify(input)}`, input, c.key), keyPem: key.privateKeyPem };
    }
    for (const p of desc.keyPairs) {
        const key = fakeKey(`material/${p.id}`, p.key);
        m.keyPairs[p.id] = { publicKeyPem: key.publicKeyPem, privateKeyPem: key.privateKeyPem };
    }
    return m;
}
