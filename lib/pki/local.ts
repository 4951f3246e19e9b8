/**
 * The local PKI backend: real, throwaway keys and X.509 certificates made in-process from a
 * `PkiDescription`, for `npm run render` and for tests. node:crypto makes the keys and
 * @peculiar/x509 (over node's WebCrypto) builds and signs the certificates; nothing shells out.
 *
 * Encodings match what @pulumi/tls puts in state, so a render looks like a real deployment:
 *   - private keys: PKCS#1 (`BEGIN RSA PRIVATE KEY`) for RSA, SEC1 (`BEGIN EC PRIVATE KEY`) for
 *     ECDSA, PKCS#8 (`BEGIN PRIVATE KEY`) for ED25519 — like `PrivateKey.privateKeyPem`;
 *   - public keys: PKIX (`BEGIN PUBLIC KEY`) — like `PrivateKey.publicKeyPem`;
 *   - certificates: random positive 128-bit serial, notBefore = now, notAfter = now + validity,
 *     basicConstraints (critical), keyUsage (critical), extKeyUsage, SANs, subject and authority
 *     key identifiers; SHA-256 signatures (SHA-384 for P-384 keys) — like the provider's Go code.
 *
 * The primitives (`generateKey`, `issueCertificate`, `createCertRequest`, `readCertRequest`) are
 * exported for test doubles of the tls provider (test/helpers/mocks.ts).
 */
import "reflect-metadata";
import * as crypto from "node:crypto";
import { promisify } from "node:util";
import * as x509 from "@peculiar/x509";
import type { CertSpec, KeySpec, KeyUsage, PkiDescription, PkiMaterial } from "./spec";

x509.cryptoProvider.set(crypto.webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const generateKeyPair = promisify(crypto.generateKeyPair);

/** A generated private key in the encodings @pulumi/tls `PrivateKey` exposes. */
export interface KeyMaterial {
    /** PKCS#1 (RSA), SEC1 (ECDSA) or PKCS#8 (ED25519) PEM. */
    privateKeyPem: string;
    /** PKCS#8 PEM. */
    privateKeyPemPkcs8: string;
    /** PKIX (SubjectPublicKeyInfo) PEM. */
    publicKeyPem: string;
}

/** Generates a key pair. Asynchronous (libuv thread pool), so several run in parallel. */
export async function generateKey(spec: KeySpec): Promise<KeyMaterial> {
    let pair: crypto.KeyPairKeyObjectResult;
    switch (spec.algorithm) {
        case "RSA":
            pair = await generateKeyPair("rsa", { modulusLength: spec.rsaBits ?? 2048, publicExponent: 0x10001 });
            break;
        case "ECDSA":
            pair = await generateKeyPair("ec", { namedCurve: nodeCurve(spec.ecdsaCurve ?? "P256") });
            break;
        case "ED25519":
            pair = await generateKeyPair("ed25519");
            break;
        default:
            throw new Error(`key algorithm "${(spec as KeySpec).algorithm}" is not supported; use RSA, ECDSA or ED25519`);
    }
    return keyMaterial(pair.privateKey);
}

/** The @pulumi/tls encodings of an existing private key. */
export function keyMaterial(key: crypto.KeyObject | string): KeyMaterial {
    const privateKey = typeof key === "string" ? crypto.createPrivateKey(key) : key;
    const type = privateKey.asymmetricKeyType;
    const native = type === "rsa" ? "pkcs1" : type === "ec" ? "sec1" : "pkcs8";
    return {
        privateKeyPem: pemString(privateKey.export({ type: native, format: "pem" })),
        privateKeyPemPkcs8: pemString(privateKey.export({ type: "pkcs8", format: "pem" })),
        publicKeyPem: pemString(crypto.createPublicKey(privateKey).export({ type: "spki", format: "pem" })),
    };
}

export interface Subject {
    commonName: string;
    organization?: string;
}

export interface IssueParams {
    subject: Subject;
    dnsNames: string[];
    ipAddresses: string[];
    /** @pulumi/tls spelling: digital_signature, key_encipherment, cert_signing, crl_signing, server_auth, client_auth. */
    usages: readonly string[];
    isCa: boolean;
    validityHours: number;
    /** The public key being certified: PEM (any encoding node reads) of a public or private key. */
    publicKeyPem: string;
    /** The signing key (PEM) and, unless self-signed, the issuer's certificate (PEM). */
    signer: { keyPem: string; certPem?: string };
    /** Start of validity; defaults to now (whole seconds, as X.509 stores it). */
    notBefore?: Date;
}

/**
 * Issues an X.509 v3 certificate. Self-signed when `signer.certPem` is absent (issuer = subject,
 * signed with `signer.keyPem`, which must then be the certified key).
 */
export async function issueCertificate(p: IssueParams): Promise<string> {
    const spki = crypto.createPublicKey(p.publicKeyPem).export({ type: "spki", format: "der" });
    const signerKey = crypto.createPrivateKey(p.signer.keyPem);
    const { importAlg, signAlg } = webCryptoAlgorithms(signerKey);
    const signingKey = await crypto.webcrypto.subtle.importKey(
        "pkcs8",
        signerKey.export({ type: "pkcs8", format: "der" }),
        importAlg,
        false,
        ["sign"],
    );
    let issuerName: x509.Name | x509.JsonName;
    let issuerSpki: Buffer;
    if (p.signer.certPem) {
        const issuerCert = new x509.X509Certificate(p.signer.certPem);
        issuerName = issuerCert.subjectName;
        issuerSpki = Buffer.from(issuerCert.publicKey.rawData);
        const signerSpki = crypto.createPublicKey(signerKey).export({ type: "spki", format: "der" });
        if (!signerSpki.equals(issuerSpki)) {
            throw new Error(`the issuer key does not belong to the issuer certificate "${issuerCert.subject}"; pass the CA's own private key`);
        }
    } else {
        issuerName = jsonName(p.subject);
        issuerSpki = crypto.createPublicKey(signerKey).export({ type: "spki", format: "der" });
        if (!issuerSpki.equals(spki)) {
            throw new Error(`self-signed certificate "${p.subject.commonName}": the signing key must be the certified key`);
        }
    }

    const { keyUsage, extKeyUsage } = splitUsages(p.usages);
    const extensions: x509.Extension[] = [
        new x509.BasicConstraintsExtension(p.isCa, undefined, true),
        new x509.KeyUsagesExtension(keyUsage, true),
    ];
    if (extKeyUsage.length > 0) extensions.push(new x509.ExtendedKeyUsageExtension(extKeyUsage, false));
    const sans = sanList(p.dnsNames, p.ipAddresses);
    if (sans.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(sans, false));
    extensions.push(await x509.SubjectKeyIdentifierExtension.create(spki, false));
    extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuerSpki, false));

    const notBefore = new Date(Math.floor((p.notBefore ?? new Date()).getTime() / 1000) * 1000);
    const notAfter = new Date(notBefore.getTime() + p.validityHours * 3_600_000);
    const cert = await x509.X509CertificateGenerator.create({
        serialNumber: randomSerial(),
        subject: jsonName(p.subject),
        issuer: issuerName,
        notBefore,
        notAfter,
        publicKey: spki,
        signingKey: signingKey as unknown as x509.X509CertificateCreateWithKeyParams["signingKey"],
        signingAlgorithm: signAlg,
        extensions,
    });
    return pemString(cert.toString("pem"));
}

/** A PKCS#10 certificate request (subject + SANs), signed with `privateKeyPem`. */
export async function createCertRequest(p: {
    privateKeyPem: string;
    subject: Subject;
    dnsNames: string[];
    ipAddresses: string[];
}): Promise<string> {
    const privateKey = crypto.createPrivateKey(p.privateKeyPem);
    const { importAlg, signAlg } = webCryptoAlgorithms(privateKey);
    const subtle = crypto.webcrypto.subtle;
    const keys = {
        privateKey: await subtle.importKey("pkcs8", privateKey.export({ type: "pkcs8", format: "der" }), importAlg, true, ["sign"]),
        publicKey: await subtle.importKey(
            "spki",
            crypto.createPublicKey(privateKey).export({ type: "spki", format: "der" }),
            importAlg,
            true,
            ["verify"],
        ),
    };
    const sans = sanList(p.dnsNames, p.ipAddresses);
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
        name: jsonName(p.subject),
        keys: keys as unknown as x509.Pkcs10CertificateRequestCreateParams["keys"],
        signingAlgorithm: signAlg,
        extensions: sans.length > 0 ? [new x509.SubjectAlternativeNameExtension(sans, false)] : [],
    });
    return pemString(csr.toString("pem"));
}

/** Reads a PKCS#10 request (after checking its signature): subject, SANs and public key. */
export async function readCertRequest(csrPem: string): Promise<{
    subject: Subject;
    dnsNames: string[];
    ipAddresses: string[];
    publicKeyPem: string;
}> {
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    if (!(await csr.verify())) throw new Error("certificate request: the signature does not verify");
    const subject: Subject = { commonName: csr.subjectName.getField("CN")[0] ?? "" };
    const organization = csr.subjectName.getField("O")[0];
    if (organization !== undefined) subject.organization = organization;
    const dnsNames: string[] = [];
    const ipAddresses: string[] = [];
    const san = csr.getExtension("2.5.29.17");
    if (san) {
        for (const name of new x509.SubjectAlternativeNameExtension(san.rawData).names.toJSON()) {
            if (name.type === "dns") dnsNames.push(name.value);
            else if (name.type === "ip") ipAddresses.push(name.value);
        }
    }
    const publicKeyPem = pemString(
        crypto.createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: "der", type: "spki" }).export({ type: "spki", format: "pem" }),
    );
    return { subject, dnsNames, ipAddresses, publicKeyPem };
}

/**
 * Checks a description before either backend uses it: unique ids (across certificates and key
 * pairs), every issuer is a CA listed earlier, validity longer than early renewal.
 */
export function checkPkiDescription(desc: PkiDescription): void {
    const seen = new Map<string, CertSpec | undefined>();
    const problems: string[] = [];
    for (const c of desc.certificates) {
        if (seen.has(c.id)) problems.push(`certificate "${c.id}": the id is used twice; give every certificate its own id`);
        if (c.issuer !== undefined) {
            const issuer = seen.get(c.issuer);
            if (!issuer) problems.push(`certificate "${c.id}": issuer "${c.issuer}" is not a certificate listed before it; list the CA first`);
            else if (!issuer.isCa) problems.push(`certificate "${c.id}": issuer "${c.issuer}" is not a CA; set isCa on it or pick a CA`);
        } else if (!c.isCa) {
            problems.push(`certificate "${c.id}": a self-signed certificate must be a CA here; set an issuer`);
        }
        if (c.isCa && !c.usages.includes("cert_signing")) problems.push(`certificate "${c.id}": a CA needs the cert_signing usage`);
        if (c.earlyRenewalHours >= c.validityHours) {
            problems.push(`certificate "${c.id}": earlyRenewalHours (${c.earlyRenewalHours}) must be less than validityHours (${c.validityHours})`);
        }
        seen.set(c.id, c);
    }
    for (const k of desc.keyPairs) {
        if (seen.has(k.id)) problems.push(`key pair "${k.id}": the id is used twice; give every key its own id`);
        seen.set(k.id, undefined);
    }
    if (problems.length > 0) throw new Error(`invalid PKI description:\n  ${problems.join("\n  ")}`);
}

/**
 * Generates the whole PKI of `desc` locally: every key concurrently, then every certificate as
 * soon as its issuer exists. Throwaway material: each call gives new keys.
 */
export async function generateLocalPki(desc: PkiDescription): Promise<PkiMaterial> {
    checkPkiDescription(desc);
    const certKeys = new Map(desc.certificates.map((c) => [c.id, generateKey(c.key)]));
    const pairKeys = new Map(desc.keyPairs.map((k) => [k.id, generateKey(k.key)]));
    const certs = new Map<string, Promise<string>>();
    for (const c of desc.certificates) {
        certs.set(
            c.id,
            (async () => {
                const key = await certKeys.get(c.id)!;
                const issuer = c.issuer === undefined
                    ? undefined
                    : { certPem: await certs.get(c.issuer)!, keyPem: (await certKeys.get(c.issuer)!).privateKeyPem };
                return issueCertificate({
                    subject: c.subject,
                    dnsNames: c.dnsNames,
                    ipAddresses: c.ipAddresses,
                    usages: c.usages,
                    isCa: c.isCa,
                    validityHours: c.validityHours,
                    publicKeyPem: key.publicKeyPem,
                    signer: issuer ?? { keyPem: key.privateKeyPem },
                });
            })(),
        );
    }
    // Settle everything before returning so no rejection is left unhandled.
    const settled = await Promise.allSettled([...certs.values(), ...certKeys.values(), ...pairKeys.values()]);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed) throw failed.reason;

    const material: PkiMaterial = { certificates: {}, keyPairs: {} };
    for (const c of desc.certificates) {
        material.certificates[c.id] = { certPem: await certs.get(c.id)!, keyPem: (await certKeys.get(c.id)!).privateKeyPem };
    }
    for (const k of desc.keyPairs) {
        const key = await pairKeys.get(k.id)!;
        material.keyPairs[k.id] = { publicKeyPem: key.publicKeyPem, privateKeyPem: key.privateKeyPem };
    }
    return material;
}

// ---- internals ----

const KEY_USAGE_FLAGS: Record<string, x509.KeyUsageFlags> = {
    digital_signature: x509.KeyUsageFlags.digitalSignature,
    content_commitment: x509.KeyUsageFlags.nonRepudiation,
    key_encipherment: x509.KeyUsageFlags.keyEncipherment,
    data_encipherment: x509.KeyUsageFlags.dataEncipherment,
    key_agreement: x509.KeyUsageFlags.keyAgreement,
    cert_signing: x509.KeyUsageFlags.keyCertSign,
    crl_signing: x509.KeyUsageFlags.cRLSign,
};
const EXT_KEY_USAGES: Record<string, string> = {
    server_auth: x509.ExtendedKeyUsage.serverAuth,
    client_auth: x509.ExtendedKeyUsage.clientAuth,
};

function splitUsages(usages: readonly (KeyUsage | string)[]): { keyUsage: x509.KeyUsageFlags; extKeyUsage: string[] } {
    let keyUsage = 0;
    const extKeyUsage: string[] = [];
    for (const u of usages) {
        if (u in KEY_USAGE_FLAGS) keyUsage |= KEY_USAGE_FLAGS[u];
        else if (u in EXT_KEY_USAGES) extKeyUsage.push(EXT_KEY_USAGES[u]);
        else throw new Error(`key usage "${u}" is not supported; use ${[...Object.keys(KEY_USAGE_FLAGS), ...Object.keys(EXT_KEY_USAGES)].join(", ")}`);
    }
    return { keyUsage, extKeyUsage };
}

function sanList(dnsNames: string[], ipAddresses: string[]): x509.JsonGeneralNames {
    return [
        ...dnsNames.map((value) => ({ type: "dns" as const, value })),
        ...ipAddresses.map((value) => ({ type: "ip" as const, value })),
    ];
}

/** Subject as Go's pkix.Name writes it: O before CN. */
function jsonName(s: Subject): x509.JsonName {
    return [...(s.organization !== undefined ? [{ O: [s.organization] }] : []), { CN: [s.commonName] }];
}

function randomSerial(): string {
    const bytes = crypto.randomBytes(16);
    bytes[0] = (bytes[0] & 0x7f) || 0x01; // positive, minimal DER encoding
    return bytes.toString("hex");
}

function nodeCurve(curve: string): string {
    switch (curve) {
        case "P256":
            return "prime256v1";
        case "P384":
            return "secp384r1";
        default:
            throw new Error(`ECDSA curve "${curve}" is not supported; use P256 or P384`);
    }
}

type SigningAlgorithm = { name: string; hash?: string };

function webCryptoAlgorithms(key: crypto.KeyObject): {
    importAlg: crypto.webcrypto.AlgorithmIdentifier | crypto.webcrypto.RsaHashedImportParams | crypto.webcrypto.EcKeyImportParams;
    /** For @peculiar/x509 (its DOM `Algorithm`/`EcdsaParams` types are not in our lib set). */
    signAlg: SigningAlgorithm;
} {
    switch (key.asymmetricKeyType) {
        case "rsa":
            return {
                importAlg: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
                signAlg: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
            };
        case "ec": {
            const curve = key.asymmetricKeyDetails?.namedCurve;
            const [namedCurve, hash] = curve === "prime256v1" ? ["P-256", "SHA-256"] : curve === "secp384r1" ? ["P-384", "SHA-384"] : [];
            if (!namedCurve) throw new Error(`ECDSA curve "${curve}" is not supported for signing; use P256 or P384`);
            return { importAlg: { name: "ECDSA", namedCurve }, signAlg: { name: "ECDSA", hash: hash! } };
        }
        case "ed25519":
            return { importAlg: { name: "Ed25519" }, signAlg: { name: "Ed25519" } };
        default:
            throw new Error(`keys of type "${key.asymmetricKeyType}" cannot sign certificates here; use RSA, ECDSA or ED25519`);
    }
}

/** PEM text with "\n" line ends and exactly one trailing newline. */
function pemString(pem: string | Buffer): string {
    return pem.toString().replace(/\r\n/g, "\n").trimEnd() + "\n";
}
