/**
 * The kubelet: a version-free unit for Ignition (`kubelet.service` + `kubelet.path`) and the
 * SSH-pushed files it reads (kubelet.env with the image and version, kubelet.yaml, the bootstrap
 * kubeconfig).
 *
 * Kubelets never get a rendered client certificate: they authenticate with the bootstrap token,
 * submit a CSR that the RBAC in manifests.ts auto-approves, get it signed by the
 * controller-manager, and rotate it themselves (`rotateCertificates: true`).
 */
import { stringify } from "yaml";
import { apiServerUrl, serviceIp } from "../../lib/config/network";
import { ClusterConfig, ClusterNode, NodeRole, OperatingSystem, Taint } from "../../lib/config/schema";
import { kubeconfig } from "../../lib/pki/kubeconfig";
import { containerRuntime, CRI_ENDPOINT, K8sPaths, KUBELET_UNIT, PkiFiles } from "./units";

/** Role label every node registers with (allowed by NodeRestriction: node.kubernetes.io/ namespace). */
export function roleLabels(node: ClusterNode): Record<string, string> {
    switch (node.role) {
        case NodeRole.Controller:
            return { "node.kubernetes.io/controller": "true" };
        case NodeRole.Worker:
            return { "node.kubernetes.io/worker": "true" };
        default: {
            const never: never = node.role;
            throw new Error(`node "${node.name}": role "${String(never)}" is not supported; use controller or worker`);
        }
    }
}

/** Taints every node of the role registers with. */
export function roleTaints(node: ClusterNode): Taint[] {
    return node.role === NodeRole.Controller ? [{ key: "node-role.kubernetes.io/controller", effect: "NoSchedule" }] : [];
}

/**
 * Labels a kubelet may set on its own Node (k8s.io/api/core/v1 `IsKubeletLabel`, enforced by the
 * kubelet at start and by the NodeRestriction admission plugin).
 */
const KUBELET_LABELS = new Set([
    "kubernetes.io/hostname",
    "kubernetes.io/arch",
    "kubernetes.io/os",
    "beta.kubernetes.io/arch",
    "beta.kubernetes.io/os",
    "beta.kubernetes.io/instance-type",
    "node.kubernetes.io/instance-type",
    "failure-domain.beta.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "topology.kubernetes.io/zone",
]);
const KUBELET_LABEL_NAMESPACES = ["kubelet.kubernetes.io", "node.kubernetes.io"];

function inDomain(namespace: string, domain: string): boolean {
    return namespace === domain || namespace.endsWith("." + domain);
}

/** True when a kubelet is allowed to set `key` with --node-labels. */
export function isKubeletLabel(key: string): boolean {
    const slash = key.indexOf("/");
    if (slash < 0) return true;
    const namespace = key.slice(0, slash);
    if (!inDomain(namespace, "kubernetes.io") && !inDomain(namespace, "k8s.io")) return true;
    return KUBELET_LABELS.has(key) || KUBELET_LABEL_NAMESPACES.some((ns) => inDomain(namespace, ns));
}

/** The `--node-labels` of a node: the role label, then its configured labels (sorted by key). */
export function nodeLabels(node: ClusterNode): [string, string][] {
    const field = `${node.role === NodeRole.Controller ? "controllers" : "workers"}[${node.index}].labels`;
    const labels = new Map(Object.entries(roleLabels(node)));
    for (const key of Object.keys(node.labels).sort()) {
        if (!isKubeletLabel(key)) {
            throw new Error(
                `${field}: "${key}" is a kubernetes.io/k8s.io label a kubelet may not set on its Node (the kubelet refuses to start and ` +
                    `NodeRestriction forbids it); use a key under node.kubernetes.io/ or your own domain, or label the node with kubectl after it joins`,
            );
        }
        labels.set(key, node.labels[key]);
    }
    return [...labels.entries()];
}

/**
 * `kubelet.service`: runs `${KUBELET_IMAGE}` (from /etc/kubernetes/kubelet.env; an image such as
 * quay.io/poseidon/kubelet that provides /usr/local/bin/kubelet) privileged in the host's
 * PID, network and cgroup namespaces. Node name, IP and labels are config, not versions, so they
 * may sit here; taints are in kubelet.yaml (`registerWithTaints`), where the kubelet wants them.
 * Not enabled: `kubelet.path` starts it once the bootstrap kubeconfig has been pushed.
 */
export function kubeletUnit(os: OperatingSystem, node: ClusterNode): string {
    const rt = containerRuntime(os);
    const volumes: [string, string, string][] = [
        ["/etc/cni/net.d", "/etc/cni/net.d", rt.ro],
        [K8sPaths.dir, K8sPaths.dir, rt.ro],
        ["/etc/machine-id", "/etc/machine-id", "ro"],
        ["/usr/lib/os-release", "/etc/os-release", "ro"],
        ["/lib/modules", "/lib/modules", "ro"],
        ["/run", "/run", "rw"],
        ["/dev", "/dev", "rw"],
        ["/sys/fs/cgroup", "/sys/fs/cgroup", "rw"],
        ["/var/lib/containerd", "/var/lib/containerd", "rw"],
        ["/var/lib/kubelet", "/var/lib/kubelet", os === OperatingSystem.FedoraCoreOS ? "rshared,z" : "rshared"],
        ["/var/log", "/var/log", "rw"],
        ["/opt/cni/bin", "/opt/cni/bin", rt.rw],
        ...(os === OperatingSystem.FedoraCoreOS
            ? ([["/etc/selinux", "/etc/selinux", "rw"], ["/sys/fs/selinux", "/sys/fs/selinux", "rw"]] as [string, string, string][])
            : []),
    ];
    const labels = nodeLabels(node).map(([k, v]) => `${k}=${v}`).join(",");
    const args = [
        `--bootstrap-kubeconfig=${K8sPaths.bootstrapKubeconfig}`,
        `--cert-dir=${K8sPaths.kubeletCertDir}`,
        `--config=${K8sPaths.kubeletConfig}`,
        `--hostname-override=${node.name}`,
        `--kubeconfig=${K8sPaths.kubeletKubeconfig}`,
        `--node-ip=${node.ip}`,
        `--node-labels=${labels}`,
    ];
    return [
        "[Unit]",
        "Description=Kubernetes kubelet (opke)",
        "Documentation=https://kubernetes.io/docs/reference/command-line-tools-reference/kubelet/",
        ...rt.unitDeps,
        "Wants=containerd.service network-online.target rpc-statd.service",
        "After=containerd.service network-online.target",
        "",
        "[Service]",
        `EnvironmentFile=${K8sPaths.kubeletEnv}`,
        `ExecStartPre=/usr/bin/mkdir -p /etc/cni/net.d ${K8sPaths.manifestsDir} /opt/cni/bin /var/lib/containerd /var/lib/kubelet /var/log/pods`,
        `ExecStartPre=-${rt.bin} rm --force kubelet`,
        `ExecStart=${rt.bin} run --rm --name kubelet \\`,
        "  --privileged \\",
        "  --pid host \\",
        "  --network host \\",
        "  --cgroupns host \\",
        ...volumes.map(([host, ctr, opts]) => `  --volume ${host}:${ctr}:${opts} \\`),
        "  --entrypoint /usr/local/bin/kubelet \\",
        "  ${KUBELET_IMAGE} \\",
        ...args.map((a, i) => `  ${a}${i < args.length - 1 ? " \\" : ""}`),
        `ExecStop=-${rt.bin} stop kubelet`,
        "Restart=always",
        "RestartSec=10s",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ].join("\n");
}

/** `kubelet.path`: starts the kubelet once the SSH push has written the bootstrap kubeconfig. Enabled. */
export function kubeletPathUnit(): string {
    return [
        "[Unit]",
        "Description=Start the kubelet once its bootstrap kubeconfig exists (opke)",
        "",
        "[Path]",
        `PathExists=${K8sPaths.bootstrapKubeconfig}`,
        `Unit=${KUBELET_UNIT}`,
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ].join("\n");
}

/** `KUBELET_IMAGE=<images.kubelet>:<kubernetesVersion>`. The only versioned kubelet file. */
export function kubeletEnv(cfg: ClusterConfig): string {
    return `KUBELET_IMAGE=${cfg.images.kubelet}:${cfg.kubernetesVersion}\n`;
}

/** `KUBECTL_IMAGE=<kubernetesRegistry>/kubectl:<kubernetesVersion>`, for the control-plane one-shots. */
export function imagesEnv(cfg: ClusterConfig): string {
    return `KUBECTL_IMAGE=${cfg.images.kubernetesRegistry}/kubectl:${cfg.kubernetesVersion}\n`;
}

/**
 * The resolv.conf with the host's real upstream servers, passed to pods with dnsPolicy Default
 * and to CoreDNS. Fedora CoreOS's /etc/resolv.conf is systemd-resolved's stub (127.0.0.53, which
 * would loop inside pods); Flatcar's /etc/resolv.conf already lists the upstream servers.
 */
export function resolvConf(os: OperatingSystem): string {
    switch (os) {
        case OperatingSystem.Flatcar:
            return "/etc/resolv.conf";
        case OperatingSystem.FedoraCoreOS:
            return "/run/systemd/resolve/resolv.conf";
        default: {
            const never: never = os;
            throw new Error(`os: "${String(never)}" is not supported; use "flatcar" or "fedora-coreos"`);
        }
    }
}

/** /etc/kubernetes/kubelet.yaml (KubeletConfiguration) of one node. */
export function kubeletConfig(cfg: ClusterConfig, node: ClusterNode): string {
    const taints = [...roleTaints(node), ...node.taints].map((t) => ({
        key: t.key,
        ...(t.value !== undefined ? { value: t.value } : {}),
        effect: t.effect,
    }));
    const doc = {
        apiVersion: "kubelet.config.k8s.io/v1beta1",
        kind: "KubeletConfiguration",
        authentication: {
            anonymous: { enabled: false },
            webhook: { enabled: true },
            x509: { clientCAFile: PkiFiles.ca },
        },
        authorization: { mode: "Webhook" },
        cgroupDriver: "systemd",
        clusterDNS: [serviceIp(cfg, 10)],
        clusterDomain: cfg.network.clusterDomain,
        containerRuntimeEndpoint: CRI_ENDPOINT,
        healthzBindAddress: "127.0.0.1",
        healthzPort: 10248,
        readOnlyPort: 0,
        ...(taints.length > 0 ? { registerWithTaints: taints } : {}),
        resolvConf: resolvConf(cfg.os),
        rotateCertificates: true,
        shutdownGracePeriod: "45s",
        shutdownGracePeriodCriticalPods: "30s",
        staticPodPath: K8sPaths.manifestsDir,
    };
    return stringify(doc, { lineWidth: 0 });
}

/** The bootstrap-token kubeconfig every kubelet starts with (secret: it carries the token). */
export function bootstrapKubeconfig(cfg: ClusterConfig, caPem: string, token: { id: string; secret: string }): string {
    return kubeconfig({
        clusterName: cfg.clusterName,
        server: apiServerUrl(cfg),
        caPem,
        userName: "kubelet-bootstrap",
        token: `${token.id}.${token.secret}`,
    });
}
