/**
 * Node paths, the container runtime of each OS, and the control-plane one-shot units
 * (`bootstrap.service`, `kube-upgrade.service`).
 *
 * Every unit here is version-free and secret-free: it goes into Ignition. Images come from
 * environment files the SSH push writes (/etc/kubernetes/images.env, /etc/kubernetes/kubelet.env).
 */
import { OperatingSystem } from "../../lib/config/schema";

/** Paths on the nodes (contract: "Paths on the nodes"). */
export const K8sPaths = {
    dir: "/etc/kubernetes",
    pkiDir: "/etc/kubernetes/pki",
    manifestsDir: "/etc/kubernetes/manifests",
    kubeletEnv: "/etc/kubernetes/kubelet.env",
    kubeletConfig: "/etc/kubernetes/kubelet.yaml",
    bootstrapKubeconfig: "/etc/kubernetes/bootstrap-kubeconfig",
    imagesEnv: "/etc/kubernetes/images.env",
    adminConf: "/etc/kubernetes/admin.conf",
    controllerManagerConf: "/etc/kubernetes/controller-manager.conf",
    schedulerConf: "/etc/kubernetes/scheduler.conf",
    /** Written by the kubelet after TLS bootstrap. */
    kubeletKubeconfig: "/var/lib/kubelet/kubeconfig",
    kubeletCertDir: "/var/lib/kubelet/pki",
    auditLogDir: "/var/log/kubernetes/audit",
    auditLog: "/var/log/kubernetes/audit/audit.log",
    bootstrapDir: "/opt/bootstrap",
    bootstrapManifestsDir: "/opt/bootstrap/manifests",
    bootstrapApply: "/opt/bootstrap/apply",
    bootstrapDone: "/opt/bootstrap/bootstrap.done",
    kubeUpgrade: "/opt/bootstrap/kube-upgrade",
} as const;

/** Files in /etc/kubernetes/pki. */
export const PkiFiles = {
    ca: "/etc/kubernetes/pki/ca.crt",
    caKey: "/etc/kubernetes/pki/ca.key",
    apiserverCert: "/etc/kubernetes/pki/apiserver.crt",
    apiserverKey: "/etc/kubernetes/pki/apiserver.key",
    apiserverKubeletClientCert: "/etc/kubernetes/pki/apiserver-kubelet-client.crt",
    apiserverKubeletClientKey: "/etc/kubernetes/pki/apiserver-kubelet-client.key",
    apiserverEtcdClientCert: "/etc/kubernetes/pki/apiserver-etcd-client.crt",
    apiserverEtcdClientKey: "/etc/kubernetes/pki/apiserver-etcd-client.key",
    etcdCa: "/etc/kubernetes/pki/etcd-ca.crt",
    frontProxyCa: "/etc/kubernetes/pki/front-proxy-ca.crt",
    frontProxyClientCert: "/etc/kubernetes/pki/front-proxy-client.crt",
    frontProxyClientKey: "/etc/kubernetes/pki/front-proxy-client.key",
    serviceAccountKey: "/etc/kubernetes/pki/sa.key",
    serviceAccountPub: "/etc/kubernetes/pki/sa.pub",
    encryptionConfig: "/etc/kubernetes/pki/encryption-config.yaml",
    auditPolicy: "/etc/kubernetes/pki/audit-policy.yaml",
} as const;

export const KUBELET_UNIT = "kubelet.service";
export const KUBELET_PATH_UNIT = "kubelet.path";
export const BOOTSTRAP_UNIT = "bootstrap.service";
export const KUBE_UPGRADE_UNIT = "kube-upgrade.service";
/** containerd's CRI socket; both OSes ship containerd. */
export const CRI_ENDPOINT = "unix:///run/containerd/containerd.sock";

/** How units run containers on an OS. */
export interface ContainerRuntime {
    /** Absolute path of the CLI. */
    bin: string;
    /** [Unit] dependency lines. */
    unitDeps: string[];
    /** Volume options: read-only / read-write, with an SELinux relabel on Fedora CoreOS. */
    ro: string;
    rw: string;
}

/** docker on Flatcar, podman on Fedora CoreOS. Exhaustive over `OperatingSystem`. */
export function containerRuntime(os: OperatingSystem): ContainerRuntime {
    switch (os) {
        case OperatingSystem.Flatcar:
            return { bin: "/usr/bin/docker", unitDeps: ["Requires=docker.service", "After=docker.service"], ro: "ro", rw: "rw" };
        case OperatingSystem.FedoraCoreOS:
            // `z`: shared SELinux label (these host paths are read by several containers).
            return { bin: "/usr/bin/podman", unitDeps: [], ro: "ro,z", rw: "rw,z" };
        default: {
            const never: never = os;
            throw new Error(`os: "${String(never)}" is not supported; use "flatcar" or "fedora-coreos"`);
        }
    }
}

/** A host directory a one-shot container mounts at the same path. */
export interface OneshotMount {
    path: string;
    writable: boolean;
}

/** What a control-plane one-shot runs; see `oneshotUnit`. */
export interface OneshotUnitOptions {
    description: string;
    /** Container name (removed before each run, so an interrupted run cannot block the next). */
    container: string;
    /** Absolute path of the script; also a ConditionPathExists and the container's entrypoint. */
    script: string;
    /** Extra [Unit] condition lines. */
    conditions: string[];
    /** Directories mounted besides the admin kubeconfig. Defaults to /opt/bootstrap, writable. */
    mounts?: OneshotMount[];
}

/**
 * A control-plane one-shot: runs `script` inside `${KUBECTL_IMAGE}` (registry.k8s.io/kubectl,
 * Debian-based, ships bash and coreutils; its entrypoint is replaced by the script) with the
 * admin kubeconfig and `mounts` (default /opt/bootstrap) mounted at the same paths. Also used by
 * modules/addons for `addons.service`.
 *
 * Type=oneshot WITHOUT RemainAfterExit: after a run the unit goes back to inactive, so the next
 * `systemctl start` runs the script again (with RemainAfterExit=yes it would stay "active
 * (exited)" and `systemctl start` would be a silent no-op — the OPKE upgrade bug). Not enabled:
 * the SSH step starts it.
 */
export function oneshotUnit(os: OperatingSystem, o: OneshotUnitOptions): string {
    const rt = containerRuntime(os);
    const mounts = o.mounts ?? [{ path: K8sPaths.bootstrapDir, writable: true }];
    return [
        "[Unit]",
        `Description=${o.description}`,
        ...rt.unitDeps,
        "Wants=network-online.target",
        "After=network-online.target",
        `ConditionPathExists=${K8sPaths.imagesEnv}`,
        `ConditionPathExists=${K8sPaths.adminConf}`,
        `ConditionPathExists=${o.script}`,
        ...o.conditions,
        "",
        "[Service]",
        "Type=oneshot",
        `EnvironmentFile=${K8sPaths.imagesEnv}`,
        `ExecStartPre=-${rt.bin} rm --force ${o.container}`,
        `ExecStart=${rt.bin} run --rm --name ${o.container} \\`,
        "  --network host \\",
        `  --volume ${K8sPaths.adminConf}:${K8sPaths.adminConf}:${rt.ro} \\`,
        ...mounts.map((m) => `  --volume ${m.path}:${m.path}:${m.writable ? rt.rw : rt.ro} \\`),
        `  --env KUBECONFIG=${K8sPaths.adminConf} \\`,
        `  --entrypoint ${o.script} \\`,
        "  ${KUBECTL_IMAGE}",
        "TimeoutStartSec=30min",
        "",
    ].join("\n");
}

/**
 * `bootstrap.service` (controllers): applies /opt/bootstrap/manifests once. Skipped when
 * /opt/bootstrap/bootstrap.done exists, so starting it against a live cluster does nothing.
 */
export function bootstrapUnit(os: OperatingSystem): string {
    return oneshotUnit(os, {
        description: "opke cluster bootstrap: apply /opt/bootstrap/manifests once",
        container: "opke-bootstrap",
        script: K8sPaths.bootstrapApply,
        conditions: [`ConditionPathExists=!${K8sPaths.bootstrapDone}`],
    });
}

/** `kube-upgrade.service` (controllers): re-applies the cluster manifests after a version change. */
export function kubeUpgradeUnit(os: OperatingSystem): string {
    return oneshotUnit(os, {
        description: "opke kube-upgrade: re-apply /opt/bootstrap/manifests and report versions",
        container: "opke-kube-upgrade",
        script: K8sPaths.kubeUpgrade,
        // Only after the bootstrap: before it there is nothing to upgrade, and on the controllers
        // that did not bootstrap the cluster the push's restart of this unit is a no-op.
        conditions: [`ConditionPathExists=${K8sPaths.bootstrapDone}`],
    });
}
