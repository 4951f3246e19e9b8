/**
 * Host basics every node gets through Ignition, whatever its role: host name, kernel modules,
 * sysctls, logind inhibitor delay, the container runtime units and `wait-for-dns.service`.
 *
 * Version-free by construction: the inputs are the OS, the CNI, the node's name and role — no
 * ClusterConfig, so no Kubernetes or etcd version can reach this text. Modelled on Typhoon's
 * controller/worker Butane (poseidon/typhoon, bare-metal flatcar-linux and fedora-coreos), with the
 * deviations noted at each item.
 */
import type { IgnitionFilePart, IgnitionParts, IgnitionUnitPart } from "../../lib/assets";
import { Cni, NodeRole, OperatingSystem } from "../../lib/config/schema";

/** The cluster-wide inputs of the host basics. */
export interface HostInputs {
    os: OperatingSystem;
    cni: Cni;
}

/** The node-specific inputs of the host basics. */
export interface HostNode {
    name: string;
    role: NodeRole;
}

/** Sysctls for Kubernetes nodes; `90-` sorts after the distributions' `50-default.conf`. */
export const SYSCTL_PATH = "/etc/sysctl.d/90-opke.conf";
export const MODULES_LOAD_PATH = "/etc/modules-load.d/opke.conf";
export const LOGIND_INHIBITORS_PATH = "/etc/systemd/logind.conf.d/inhibitors.conf";
export const FLANNEL_LINK_PATH = "/etc/systemd/network/50-flannel.link";
export const CONTAINERD_CONFIG_PATH = "/etc/containerd/config.toml";

// Typhoon sets fs.inotify.max_user_watches=16184, which is below the kernel's own default on
// current kernels (it scales with RAM); opke raises the limits instead of capping them.
const SYSCTLS = `# opke: kernel settings for Kubernetes nodes.
# Room for the kubelet, the runtime and controllers that watch many files.
fs.inotify.max_user_watches=524288
fs.inotify.max_user_instances=8192
# Pods are routed through the node.
net.ipv4.ip_forward=1
# Bridged pod traffic goes through iptables (needs br_netfilter, see modules-load.d/opke.conf;
# the leading "-" keeps systemd-sysctl quiet if the module is missing).
-net.bridge.bridge-nf-call-iptables=1
-net.bridge.bridge-nf-call-ip6tables=1
# CNI interfaces route asymmetrically; strict reverse-path filtering (the distributions set 2,
# also for interfaces created later through the "*" pattern) drops that traffic.
net.ipv4.conf.default.rp_filter=0
net.ipv4.conf.all.rp_filter=0
net.ipv4.conf.*.rp_filter=0
`;

const MODULES = `# opke: kernel modules Kubernetes networking needs at boot.
br_netfilter
overlay
nf_conntrack
`;

// Matches the kubelet's shutdownGracePeriod (45s) so a shutdown waits for pods to stop.
const LOGIND_INHIBITORS = `[Login]
InhibitDelayMaxSec=45s
`;

// systemd >= 242 gives flannel.1 a persistent MAC address of its own, which breaks flannel's VXLAN
// forwarding entries; let flannel pick the address.
const FLANNEL_LINK = `[Match]
OriginalName=flannel*

[Link]
MACAddressPolicy=none
`;

// Fedora CoreOS ships a containerd config with the CRI plugin disabled; the kubelet needs CRI, the
// systemd cgroup driver (kubelet.yaml sets cgroupDriver: systemd) and SELinux labelling.
// Config version 2 is read by containerd 1.7 and migrated by containerd 2.x.
const FCOS_CONTAINERD_CONFIG = `# opke: containerd as the kubelet's CRI runtime.
version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
oom_score = -999

[grpc]
  address = "/run/containerd/containerd.sock"

[plugins."io.containerd.grpc.v1.cri"]
  enable_selinux = true
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      SystemdCgroup = true
`;

/** Oneshot that blocks the kubelet (and etcd on controllers) until resolv.conf has a nameserver. */
function waitForDns(role: NodeRole): IgnitionUnitPart {
    const dependents = role === NodeRole.Controller ? ["etcd-member.service", "kubelet.service"] : ["kubelet.service"];
    return {
        name: "wait-for-dns.service",
        enabled: true,
        contents: [
            "[Unit]",
            "Description=Wait for DNS entries",
            ...dependents.map((u) => `Before=${u}`),
            "",
            "[Service]",
            "Type=oneshot",
            "RemainAfterExit=true",
            `ExecStart=/bin/sh -c 'until /usr/bin/grep -q "^[^#[:space:]]" /etc/resolv.conf; do sleep 1; done'`,
            "",
            "[Install]",
            ...dependents.map((u) => `RequiredBy=${u}`),
            "",
        ].join("\n"),
    };
}

/** Everything a node gets whatever the domain modules add. */
export function hostIgnition(host: HostInputs, node: HostNode): IgnitionParts {
    const files: IgnitionFilePart[] = [
        { path: "/etc/hostname", contents: `${node.name}\n`, mode: 0o644 },
        { path: SYSCTL_PATH, contents: SYSCTLS, mode: 0o644 },
        { path: MODULES_LOAD_PATH, contents: MODULES, mode: 0o644 },
        { path: LOGIND_INHIBITORS_PATH, contents: LOGIND_INHIBITORS, mode: 0o644 },
    ];
    const units: IgnitionUnitPart[] = [waitForDns(node.role)];

    switch (host.cni) {
        case Cni.Flannel:
            files.push({ path: FLANNEL_LINK_PATH, contents: FLANNEL_LINK, mode: 0o644 });
            break;
        case Cni.Cilium:
            // Cilium needs no host file: the rp_filter settings above cover its interfaces.
            break;
        default:
            return unreachable(host.cni, "network.cni");
    }

    switch (host.os) {
        case OperatingSystem.Flatcar:
            // docker runs etcd and the kubelet; containerd (Flatcar's own config already uses the
            // systemd cgroup driver) serves the kubelet's CRI. Reboots are not coordinated by
            // locksmith: opke leaves OS update reboots to the operator.
            units.push(
                { name: "containerd.service", enabled: true },
                { name: "docker.service", enabled: true },
                { name: "locksmithd.service", mask: true },
            );
            break;
        case OperatingSystem.FedoraCoreOS:
            // podman runs etcd and the kubelet; containerd serves CRI; docker is not used.
            files.push({ path: CONTAINERD_CONFIG_PATH, contents: FCOS_CONTAINERD_CONFIG, mode: 0o644 });
            units.push({ name: "containerd.service", enabled: true }, { name: "docker.service", mask: true });
            break;
        default:
            return unreachable(host.os, "os");
    }
    return { files, units };
}

function unreachable(value: never, field: string): never {
    throw new Error(`${field}: unsupported value ${JSON.stringify(value)}`);
}
