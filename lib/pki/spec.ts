/**
 * The PKI description: which keys and certificates exist, their subjects, SANs, usages and
 * validity. One description drives two backends that must agree:
 *   - lib/pki/pulumi.ts: @pulumi/tls resources (what `pulumi up` creates and keeps in state);
 *   - lib/pki/local.ts: real, throwaway keys and X.509 certificates made in-process for
 *     `npm run render` (node:crypto + @peculiar/x509, never openssl).
 * Renderers only ever see `PkiMaterial` (PEM strings), so both paths render identical files.
 */

/** Key usages, spelled as @pulumi/tls spells them. */
export type KeyUsage =
    | "digital_signature"
    | "key_encipherment"
    | "cert_signing"
    | "crl_signing"
    | "server_auth"
    | "client_auth";

export interface KeySpec {
    algorithm: "RSA" | "ECDSA" | "ED25519";
    /** RSA only. */
    rsaBits?: number;
    /** ECDSA only. */
    ecdsaCurve?: "P256" | "P384";
}

export interface CertSpec {
    /** Stable id, also used in resource names (e.g. `etcd-server-c1`). */
    id: string;
    /** Id of the issuing CA; absent for a self-signed CA. */
    issuer?: string;
    isCa: boolean;
    subject: { commonName: string; organization?: string };
    dnsNames: string[];
    ipAddresses: string[];
    usages: KeyUsage[];
    validityHours: number;
    earlyRenewalHours: number;
    key: KeySpec;
}

/** A bare key pair (the service-account signing key, the secrets seed). */
export interface KeyPairSpec {
    id: string;
    key: KeySpec;
}

export interface PkiDescription {
    /** In issuing order: a CA always precedes the certificates it signs. */
    certificates: CertSpec[];
    keyPairs: KeyPairSpec[];
}

/** The generated material, keyed by spec id. PEM strings end with a newline. */
export interface PkiMaterial {
    certificates: Record<string, { certPem: string; keyPem: string }>;
    keyPairs: Record<string, { publicKeyPem: string; privateKeyPem: string }>;
}

/** Merge the material of several PKI descriptions (etcd + Kubernetes); ids never collide. */
export function mergeMaterial(...parts: PkiMaterial[]): PkiMaterial {
    const merged: PkiMaterial = { certificates: {}, keyPairs: {} };
    for (const p of parts) {
        for (const [id, v] of Object.entries(p.certificates)) {
            if (id in merged.certificates) throw new Error(`PKI id ${id} is described twice`);
            merged.certificates[id] = v;
        }
        for (const [id, v] of Object.entries(p.keyPairs)) {
            if (id in merged.keyPairs) throw new Error(`PKI id ${id} is described twice`);
            merged.keyPairs[id] = v;
        }
    }
    return merged;
}
