/**
 * modules/bootkube: the Kubernetes control plane as static pods on every controller (no
 * self-hosted pivot) and the kubelet on every node.
 *
 * Split along the OPKE rule (lib/assets.ts):
 *   - Ignition: `kubeletIgnition` (kubelet.service + kubelet.path, every node) and
 *     `controlPlaneIgnition` (bootstrap.service + kube-upgrade.service, controllers). Version-free
 *     and secret-free: images come from env files, every setting from pushed files.
 *   - SSH push: `nodeFiles` — kubelet.env/images.env (the versions), kubelet.yaml, the bootstrap
 *     kubeconfig and CA on every node; on controllers also the PKI, the component kubeconfigs,
 *     the encryption config, the audit policy, the static pods and /opt/bootstrap.
 *
 * Bootstrap files (/opt/bootstrap/{apply,kube-upgrade,manifests/}) go to EVERY controller, not
 * only controller 0: they are identical, the controllers hold the cluster CA key anyway, and any
 * controller can then run bootstrap or kube-upgrade if controller 0 is gone. The SSH step starts
 * `bootstrap.service` on controller 0 only; /opt/bootstrap/bootstrap.done (never pushed, never
 * deleted by the push) keeps it from running twice.
 *
 * Pure: config and PEM strings in, text out. No Pulumi imports.
 */
import { IgnitionParts, NodeDirectory, NodeFile, NodeSshAssets, sortFiles } from "../../lib/assets";
import { apiServerUrl } from "../../lib/config/network";
import { ClusterConfig, ClusterNode, NodeRole } from "../../lib/config/schema";
import { deriveSecrets } from "../../lib/pki/derive";
import { kubeconfig } from "../../lib/pki/kubeconfig";
import { PkiMaterial } from "../../lib/pki/spec";
import { EtcdPkiIds } from "../etcd/pki";
import { KubernetesPkiIds } from "./pki";
import { bootstrapKubeconfig, imagesEnv, kubeletConfig, kubeletEnv, kubeletPathUnit, kubeletUnit } from "./kubelet";
import {
    apiserverPod,
    auditPolicy,
    controllerManagerPod,
    encryptionConfig,
    inputsDigest,
    renderClusterManifests,
    schedulerPod,
    STATIC_POD_INPUTS,
} from "./manifests";
import { applyScript, kubeUpgradeScript } from "./scripts";
import {
    BOOTSTRAP_UNIT,
    bootstrapUnit,
    K8sPaths,
    KUBE_UPGRADE_UNIT,
    KUBELET_PATH_UNIT,
    KUBELET_UNIT,
    kubeUpgradeUnit,
    PkiFiles,
} from "./units";

/** `kubelet.service` (started by `kubelet.path`) and `kubelet.path` (enabled), for every node. */
export function kubeletIgnition(cfg: ClusterConfig, node: ClusterNode): IgnitionParts {
    return {
        files: [],
        units: [
            { name: KUBELET_PATH_UNIT, contents: kubeletPathUnit(), enabled: true },
            { name: KUBELET_UNIT, contents: kubeletUnit(cfg.os, node) },
        ],
    };
}

/**
 * Controllers: `bootstrap.service` and `kube-upgrade.service`, installed but not enabled (the SSH
 * step starts them). Workers: nothing.
 */
export function controlPlaneIgnition(cfg: ClusterConfig, node: ClusterNode): IgnitionParts {
    if (node.role !== NodeRole.Controller) return { files: [], units: [] };
    return {
        files: [],
        units: [
            { name: BOOTSTRAP_UNIT, contents: bootstrapUnit(cfg.os), enabled: false },
            { name: KUBE_UPGRADE_UNIT, contents: kubeUpgradeUnit(cfg.os), enabled: false },
        ],
    };
}

/** The cluster manifests /opt/bootstrap/apply applies (bootstrap-token Secret, kubelet RBAC). */
export function clusterManifests(cfg: ClusterConfig, m: PkiMaterial): { name: string; content: string }[] {
    void cfg; // config-independent today; kept in the signature for manifests that will need it
    const s = secrets(m);
    return renderClusterManifests({ id: s.bootstrapTokenId, secret: s.bootstrapTokenSecret });
}

/** kubeconfig of `kubernetes-admin` (O=system:masters) for `apiServerUrl(cfg)`. Secret. */
export function adminKubeconfig(cfg: ClusterConfig, m: PkiMaterial): string {
    const admin = cert(m, KubernetesPkiIds.admin);
    return kubeconfig({
        clusterName: cfg.clusterName,
        server: apiServerUrl(cfg),
        caPem: cert(m, KubernetesPkiIds.ca).certPem,
        userName: "kubernetes-admin",
        certPem: admin.certPem,
        keyPem: admin.keyPem,
    });
}

const OWNER = "root:root";

function file(path: string, content: string, o: { mode: number; secret: boolean; restarts?: string[] }): NodeFile {
    return { path, content, mode: o.mode, owner: OWNER, secret: o.secret, restarts: o.restarts ?? [] };
}

/**
 * Everything the SSH push writes for the kubelet and the control plane on `node`.
 *
 * Modes: keys, tokens and kubeconfigs with credentials 0600 and `secret: true`; certificates and
 * plain config 0644; scripts 0755. /etc/kubernetes/pki and /opt/bootstrap are 0700 (root only:
 * the static pods and the one-shots run as root).
 *
 * Restarts: kubelet files restart `kubelet.service`. Control-plane files restart nothing: the
 * kubelet re-creates a static pod when its manifest changes, and each manifest carries a digest
 * of the files its component reads (manifests.ts `INPUTS_ANNOTATION`), so a renewed certificate
 * or a new kubeconfig changes the manifest too.
 */
export function nodeFiles(cfg: ClusterConfig, node: ClusterNode, m: PkiMaterial): NodeSshAssets {
    const ca = cert(m, KubernetesPkiIds.ca);
    const s = secrets(m);
    const kubelet = [KUBELET_UNIT];

    const directories: NodeDirectory[] = [
        { path: K8sPaths.dir, mode: 0o755, owner: OWNER },
        { path: K8sPaths.manifestsDir, mode: 0o755, owner: OWNER },
        { path: K8sPaths.pkiDir, mode: 0o700, owner: OWNER },
    ];
    const files: NodeFile[] = [
        file(K8sPaths.kubeletEnv, kubeletEnv(cfg), { mode: 0o644, secret: false, restarts: kubelet }),
        file(K8sPaths.kubeletConfig, kubeletConfig(cfg, node), { mode: 0o644, secret: false, restarts: kubelet }),
        file(PkiFiles.ca, ca.certPem, { mode: 0o644, secret: false, restarts: kubelet }),
        // kubelet.path starts the kubelet when this appears; once bootstrapped the kubelet no longer reads it.
        file(K8sPaths.bootstrapKubeconfig, bootstrapKubeconfig(cfg, ca.certPem, { id: s.bootstrapTokenId, secret: s.bootstrapTokenSecret }), {
            mode: 0o600,
            secret: true,
        }),
        file(K8sPaths.imagesEnv, imagesEnv(cfg), { mode: 0o644, secret: false }),
    ];

    if (node.role === NodeRole.Controller) {
        if (!cfg.controllers.some((c) => c.name === node.name && c.ip === node.ip)) {
            throw new Error(`bootkube: node "${node.name}" (${node.ip}) is not one of the controllers; pass a node from clusterNodes(cfg)`);
        }
        directories.push(
            { path: K8sPaths.bootstrapDir, mode: 0o700, owner: OWNER },
            { path: K8sPaths.bootstrapManifestsDir, mode: 0o700, owner: OWNER },
            { path: "/var/log/kubernetes", mode: 0o755, owner: OWNER },
            { path: K8sPaths.auditLogDir, mode: 0o700, owner: OWNER },
        );
        files.push(...controllerFiles(cfg, node, m, s));
    }

    return {
        directories: directories.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
        files: sortFiles(files),
    };
}

function controllerFiles(cfg: ClusterConfig, node: ClusterNode, m: PkiMaterial, s: ReturnType<typeof deriveSecrets>): NodeFile[] {
    const ids = KubernetesPkiIds;
    const ca = cert(m, ids.ca);
    const apiserver = cert(m, ids.apiserver);
    const kubeletClient = cert(m, ids.apiserverKubeletClient);
    const etcdClient = cert(m, EtcdPkiIds.apiserverClient);
    const etcdCa = cert(m, EtcdPkiIds.ca);
    const frontProxyCa = cert(m, ids.frontProxyCa);
    const frontProxyClient = cert(m, ids.frontProxyClient);
    const sa = keyPair(m, ids.serviceAccount);
    const localServer = `https://127.0.0.1:${cfg.apiPort}`;
    const componentKubeconfig = (id: string, userName: string): string => {
        const c = cert(m, id);
        return kubeconfig({ clusterName: cfg.clusterName, server: localServer, caPem: ca.certPem, userName, certPem: c.certPem, keyPem: c.keyPem });
    };

    const pub = { mode: 0o644, secret: false };
    const key = { mode: 0o600, secret: true };
    const controlPlane: NodeFile[] = [
        // The static pods' own inputs. ca.crt is in the common files (every node).
        file(PkiFiles.caKey, ca.keyPem, key),
        file(PkiFiles.apiserverCert, apiserver.certPem, pub),
        file(PkiFiles.apiserverKey, apiserver.keyPem, key),
        file(PkiFiles.apiserverKubeletClientCert, kubeletClient.certPem, pub),
        file(PkiFiles.apiserverKubeletClientKey, kubeletClient.keyPem, key),
        file(PkiFiles.apiserverEtcdClientCert, etcdClient.certPem, pub),
        file(PkiFiles.apiserverEtcdClientKey, etcdClient.keyPem, key),
        file(PkiFiles.etcdCa, etcdCa.certPem, pub),
        file(PkiFiles.frontProxyCa, frontProxyCa.certPem, pub),
        file(PkiFiles.frontProxyClientCert, frontProxyClient.certPem, pub),
        file(PkiFiles.frontProxyClientKey, frontProxyClient.keyPem, key),
        file(PkiFiles.serviceAccountKey, sa.privateKeyPem, key),
        file(PkiFiles.serviceAccountPub, sa.publicKeyPem, pub),
        file(PkiFiles.encryptionConfig, encryptionConfig(s.encryptionKey), key),
        file(PkiFiles.auditPolicy, auditPolicy(), pub),
        // The controller-manager and scheduler talk to the apiserver on their own controller.
        file(K8sPaths.controllerManagerConf, componentKubeconfig(ids.controllerManager, "system:kube-controller-manager"), key),
        file(K8sPaths.schedulerConf, componentKubeconfig(ids.scheduler, "system:kube-scheduler"), key),
        file(K8sPaths.adminConf, adminKubeconfig(cfg, m), key),
    ];

    const contents = new Map<string, string>([[PkiFiles.ca, ca.certPem], ...controlPlane.map((f): [string, string] => [f.path, f.content])]);
    const digest = (c: keyof typeof STATIC_POD_INPUTS): string => inputsDigest(contents, STATIC_POD_INPUTS[c]);
    const staticPods: NodeFile[] = [
        file(`${K8sPaths.manifestsDir}/kube-apiserver.yaml`, apiserverPod(cfg, node, digest("kube-apiserver")), pub),
        file(`${K8sPaths.manifestsDir}/kube-controller-manager.yaml`, controllerManagerPod(cfg, digest("kube-controller-manager")), pub),
        file(`${K8sPaths.manifestsDir}/kube-scheduler.yaml`, schedulerPod(cfg, digest("kube-scheduler")), pub),
    ];

    // A changed cluster manifest (a rotated bootstrap token, new RBAC) or kube-upgrade script is
    // re-applied by kube-upgrade.service, which the push restarts; the unit only runs where the
    // cluster was bootstrapped (controller 0), elsewhere its condition makes the restart a no-op.
    const reapply = [KUBE_UPGRADE_UNIT];
    const bootstrap: NodeFile[] = [
        file(K8sPaths.bootstrapApply, applyScript(), { mode: 0o755, secret: false }),
        file(K8sPaths.kubeUpgrade, kubeUpgradeScript(), { mode: 0o755, secret: false, restarts: reapply }),
        ...clusterManifests(cfg, m).map((mf) => {
            const isSecret = mf.name.startsWith("bootstrap-token");
            return file(`${K8sPaths.bootstrapManifestsDir}/${mf.name}`, mf.content, { ...(isSecret ? key : pub), restarts: reapply });
        }),
    ];

    return [...controlPlane, ...staticPods, ...bootstrap];
}

function secrets(m: PkiMaterial): ReturnType<typeof deriveSecrets> {
    return deriveSecrets(keyPair(m, KubernetesPkiIds.secretsSeed).privateKeyPem);
}

function cert(m: PkiMaterial, id: string): { certPem: string; keyPem: string } {
    const c = m.certificates[id];
    if (c === undefined) {
        throw new Error(`bootkube: certificate "${id}" is missing from the PKI material; generate it from describePki(cfg) (lib/pki)`);
    }
    return c;
}

function keyPair(m: PkiMaterial, id: string): { publicKeyPem: string; privateKeyPem: string } {
    const k = m.keyPairs[id];
    if (k === undefined) {
        throw new Error(`bootkube: key pair "${id}" is missing from the PKI material; generate it from describePki(cfg) (lib/pki)`);
    }
    return k;
}
