/**
 * The etcd PKI: which certificates an etcd cluster of `cfg.controllers` needs.
 *
 * Pure: config in, `PkiDescription` out. The same description drives the @pulumi/tls resources
 * (lib/pki/pulumi.ts) and the throwaway local PKI of `npm run render` (lib/pki/local.ts).
 *
 * The helpers at the bottom (`configKeySpec`, `caCertSpec`, `leafCertSpec`) are the single place
 * where the PKI conventions live (key algorithm from `cfg.pki`, CA vs leaf validity and usages);
 * modules/bootkube/pki.ts builds its description with them too.
 */
import type { ClusterConfig } from "../../lib/config/schema";
import type { CertSpec, KeySpec, KeyUsage, PkiDescription } from "../../lib/pki/spec";

/** Ids of the etcd certificates (`PkiMaterial.certificates` keys). */
export const EtcdPkiIds = {
    ca: "etcd-ca",
    server: (node: string) => `etcd-server-${node}`,
    peer: (node: string) => `etcd-peer-${node}`,
    apiserverClient: "etcd-apiserver-client",
} as const;

/**
 * etcd CA; per controller a server and a peer certificate (SANs: member name, member IP,
 * localhost, 127.0.0.1; server_auth + client_auth: members are both ends on the peer port, and
 * etcd's gRPC gateway dials its own client port with the server certificate); and the apiserver's
 * client certificate (CN kube-apiserver-etcd-client). Subjects follow kubeadm (member CN = node).
 */
export function describeEtcdPki(cfg: ClusterConfig): PkiDescription {
    const certificates: CertSpec[] = [caCertSpec(cfg, EtcdPkiIds.ca, { commonName: "etcd-ca" })];
    for (const node of cfg.controllers) {
        const sans = { dnsNames: [node.name, "localhost"], ipAddresses: [node.ip, "127.0.0.1"] };
        certificates.push(
            leafCertSpec(cfg, {
                id: EtcdPkiIds.server(node.name),
                issuer: EtcdPkiIds.ca,
                subject: { commonName: node.name },
                ...sans,
                usages: ["server_auth", "client_auth"],
            }),
            leafCertSpec(cfg, {
                id: EtcdPkiIds.peer(node.name),
                issuer: EtcdPkiIds.ca,
                subject: { commonName: node.name },
                ...sans,
                usages: ["server_auth", "client_auth"],
            }),
        );
    }
    certificates.push(
        leafCertSpec(cfg, {
            id: EtcdPkiIds.apiserverClient,
            issuer: EtcdPkiIds.ca,
            subject: { commonName: "kube-apiserver-etcd-client" },
            usages: ["client_auth"],
        }),
    );
    return { certificates, keyPairs: [] };
}

// ---- shared description helpers (also used by modules/bootkube/pki.ts) ----

/** Usages of every CA certificate. */
export const CA_USAGES: readonly KeyUsage[] = ["digital_signature", "key_encipherment", "cert_signing"];
/** Usages every leaf certificate starts with; server_auth / client_auth are appended per cert. */
export const LEAF_BASE_USAGES: readonly KeyUsage[] = ["digital_signature", "key_encipherment"];

/** The key of every certificate and of the service-account key pair: `cfg.pki.algorithm`. */
export function configKeySpec(cfg: ClusterConfig): KeySpec {
    return cfg.pki.algorithm === "ECDSA"
        ? { algorithm: "ECDSA", ecdsaCurve: cfg.pki.ecdsaCurve }
        : { algorithm: "RSA", rsaBits: cfg.pki.rsaBits };
}

/** A self-signed CA with the CA validity and early renewal of `cfg.pki`. */
export function caCertSpec(cfg: ClusterConfig, id: string, subject: CertSpec["subject"]): CertSpec {
    return {
        id,
        isCa: true,
        subject,
        dnsNames: [],
        ipAddresses: [],
        usages: [...CA_USAGES],
        validityHours: cfg.pki.caValidityHours,
        earlyRenewalHours: cfg.pki.caEarlyRenewalHours,
        key: configKeySpec(cfg),
    };
}

/** A leaf certificate signed by `issuer`, with the leaf validity and early renewal of `cfg.pki`. */
export function leafCertSpec(
    cfg: ClusterConfig,
    leaf: {
        id: string;
        issuer: string;
        subject: CertSpec["subject"];
        dnsNames?: string[];
        ipAddresses?: string[];
        usages: ("server_auth" | "client_auth")[];
    },
): CertSpec {
    return {
        id: leaf.id,
        issuer: leaf.issuer,
        isCa: false,
        subject: leaf.subject,
        dnsNames: unique(leaf.dnsNames ?? []),
        ipAddresses: unique(leaf.ipAddresses ?? []),
        usages: [...LEAF_BASE_USAGES, ...leaf.usages],
        validityHours: cfg.pki.validityHours,
        earlyRenewalHours: cfg.pki.earlyRenewalHours,
        key: configKeySpec(cfg),
    };
}

/** Drops repeated entries, keeping the first occurrence (stable order). */
function unique(values: string[]): string[] {
    return [...new Set(values)];
}
