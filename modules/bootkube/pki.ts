/**
 * The Kubernetes PKI: CAs, control-plane certificates and key pairs of one cluster.
 *
 * Pure: config in, `PkiDescription` out. The same description drives the @pulumi/tls resources
 * (lib/pki/pulumi.ts) and the throwaway local PKI of `npm run render` (lib/pki/local.ts).
 */
import { serviceIp } from "../../lib/config/network";
import type { ClusterConfig } from "../../lib/config/schema";
import type { CertSpec, KeyPairSpec, PkiDescription } from "../../lib/pki/spec";
import { caCertSpec, configKeySpec, leafCertSpec } from "../etcd/pki";

/** Ids of the Kubernetes certificates and key pairs (`PkiMaterial` keys). */
export const KubernetesPkiIds = {
    ca: "kubernetes-ca",
    apiserver: "kube-apiserver",
    apiserverKubeletClient: "kube-apiserver-kubelet-client",
    frontProxyCa: "front-proxy-ca",
    frontProxyClient: "front-proxy-client",
    controllerManager: "kube-controller-manager",
    scheduler: "kube-scheduler",
    admin: "admin",
    serviceAccount: "service-account",
    secretsSeed: "secrets-seed",
} as const;

/**
 * Kubernetes CA and the certificates it signs (apiserver serving cert, apiserver→kubelet client,
 * controller-manager, scheduler, admin), the front-proxy CA and client, the service-account
 * signing key pair and the ED25519 secrets seed (see lib/pki/derive.ts).
 */
export function describeKubernetesPki(cfg: ClusterConfig): PkiDescription {
    const ids = KubernetesPkiIds;
    const client = (id: string, subject: CertSpec["subject"], issuer: string = ids.ca): CertSpec =>
        leafCertSpec(cfg, { id, issuer, subject, usages: ["client_auth"] });

    const certificates: CertSpec[] = [
        caCertSpec(cfg, ids.ca, { commonName: "kubernetes-ca" }),
        leafCertSpec(cfg, {
            id: ids.apiserver,
            issuer: ids.ca,
            subject: { commonName: "kube-apiserver" },
            dnsNames: [
                cfg.apiDnsName,
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                `kubernetes.default.svc.${cfg.network.clusterDomain}`,
                "localhost",
            ],
            ipAddresses: [...cfg.controllers.map((c) => c.ip), serviceIp(cfg, 1), "127.0.0.1"],
            usages: ["server_auth"],
        }),
        client(ids.apiserverKubeletClient, { commonName: "kube-apiserver-kubelet-client" }),
        client(ids.controllerManager, { commonName: "system:kube-controller-manager" }),
        client(ids.scheduler, { commonName: "system:kube-scheduler" }),
        client(ids.admin, { commonName: "kubernetes-admin", organization: "system:masters" }),
        caCertSpec(cfg, ids.frontProxyCa, { commonName: "front-proxy-ca" }),
        client(ids.frontProxyClient, { commonName: "front-proxy-client" }, ids.frontProxyCa),
    ];
    const keyPairs: KeyPairSpec[] = [
        { id: ids.serviceAccount, key: configKeySpec(cfg) },
        { id: ids.secretsSeed, key: { algorithm: "ED25519" } },
    ];
    return { certificates, keyPairs };
}
