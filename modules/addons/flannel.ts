/**
 * flannel (the default pod network): VXLAN overlay, one /nodePodPrefix subnet per node taken from
 * the Node's spec.podCIDR (`--kube-subnet-mgr`; kube-controller-manager allocates them with
 * `--allocate-node-cidrs --cluster-cidr=<podCidr> --node-cidr-mask-size=<nodePodPrefix>`).
 *
 * Modelled on upstream's kube-flannel.yml (own `kube-flannel` namespace, labelled for Pod Security
 * Admission `privileged`) with Typhoon's deviations where they matter on Flatcar/Fedora CoreOS:
 *   - the reference CNI plugins flannel delegates to (bridge, host-local; plus loopback for the
 *     runtime and portmap for hostPort) are installed by an init container from
 *     `AddonImages.cniPlugins`: neither OS ships them in /opt/cni/bin and neither flannel image
 *     contains them (flannel-cni-plugin only has the `flannel` binary);
 *   - flanneld runs privileged (it writes /run/flannel and iptables/VXLAN state on the host; as
 *     a plain container_t it is denied by SELinux on Fedora CoreOS) and binds VXLAN to the node IP
 *     (`--iface=$(POD_IP)`, the node's InternalIP since the pod uses the host network);
 *   - KUBERNETES_SERVICE_HOST/PORT point at apiDnsName/apiPort so flannel does not depend on
 *     kube-proxy having programmed the `kubernetes` Service first.
 */
import { ClusterConfig } from "../../lib/config/schema";
import {
    AddonImages,
    apiServerEnv,
    clusterRoleBinding,
    fieldEnv,
    hostPathVolume,
    K8sObject,
    serviceAccount,
    TOLERATE_EVERYTHING,
} from "./objects";

export const FLANNEL_NAMESPACE = "kube-flannel";
/** VXLAN UDP port (the Linux/flannel default; nodes must allow it between each other). */
export const FLANNEL_VXLAN_PORT = 8472;

const LABELS = { "k8s-app": "flannel" };
const POD_LABELS = { app: "flannel", "k8s-app": "flannel", tier: "node" };

/** flannel's net-conf.json: the pod network and the VXLAN backend. */
export function flannelNetConf(cfg: ClusterConfig): Record<string, unknown> {
    return {
        Network: cfg.network.podCidr,
        SubnetLen: cfg.network.nodePodPrefix,
        EnableNFTables: false,
        Backend: { Type: "vxlan", Port: FLANNEL_VXLAN_PORT },
    };
}

/** The CNI config list installed as /etc/cni/net.d/10-flannel.conflist. */
export function flannelCniConf(): Record<string, unknown> {
    return {
        name: "cbr0",
        cniVersion: "0.3.1",
        plugins: [
            { type: "flannel", delegate: { hairpinMode: true, isDefaultGateway: true } },
            { type: "portmap", capabilities: { portMappings: true } },
        ],
    };
}

/** The reference plugins copied to the host (the CNI config and containerd need them). */
const REFERENCE_PLUGINS = ["bridge", "host-local", "loopback", "portmap"];

export function flannelManifests(cfg: ClusterConfig): K8sObject[] {
    const ns = FLANNEL_NAMESPACE;
    const sa = { name: "flannel", namespace: ns };
    return [
        {
            apiVersion: "v1",
            kind: "Namespace",
            metadata: {
                name: ns,
                labels: {
                    ...LABELS,
                    "pod-security.kubernetes.io/enforce": "privileged",
                    "pod-security.kubernetes.io/audit": "privileged",
                    "pod-security.kubernetes.io/warn": "privileged",
                },
            },
        },
        serviceAccount(sa.name, ns, LABELS),
        {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "ClusterRole",
            metadata: { name: "flannel", labels: LABELS },
            rules: [
                { apiGroups: [""], resources: ["pods"], verbs: ["get"] },
                { apiGroups: [""], resources: ["nodes"], verbs: ["get", "list", "watch"] },
                { apiGroups: [""], resources: ["nodes/status"], verbs: ["patch"] },
            ],
        },
        clusterRoleBinding("flannel", "flannel", sa, LABELS),
        {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: "kube-flannel-cfg", namespace: ns, labels: { ...LABELS, tier: "node" } },
            data: {
                "cni-conf.json": JSON.stringify(flannelCniConf(), null, 2) + "\n",
                "net-conf.json": JSON.stringify(flannelNetConf(cfg), null, 2) + "\n",
            },
        },
        {
            apiVersion: "apps/v1",
            kind: "DaemonSet",
            metadata: { name: "kube-flannel-ds", namespace: ns, labels: POD_LABELS },
            spec: {
                selector: { matchLabels: { app: "flannel", "k8s-app": "flannel" } },
                updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
                template: {
                    metadata: { labels: POD_LABELS },
                    spec: {
                        hostNetwork: true,
                        nodeSelector: { "kubernetes.io/os": "linux" },
                        priorityClassName: "system-node-critical",
                        serviceAccountName: sa.name,
                        tolerations: TOLERATE_EVERYTHING,
                        initContainers: [
                            {
                                name: "install-cni-plugins",
                                image: AddonImages.cniPlugins,
                                command: ["cp"],
                                args: ["-f", ...REFERENCE_PLUGINS.map((p) => `/opt/cni/bin/${p}`), "/host/opt/cni/bin/"],
                                volumeMounts: [{ name: "cni-plugin", mountPath: "/host/opt/cni/bin" }],
                            },
                            {
                                // After install-cni-plugins: the flannel binary of the pinned release wins.
                                name: "install-cni-plugin",
                                image: AddonImages.flannelCniPlugin,
                                command: ["cp"],
                                args: ["-f", "/flannel", "/opt/cni/bin/flannel"],
                                volumeMounts: [{ name: "cni-plugin", mountPath: "/opt/cni/bin" }],
                            },
                            {
                                name: "install-cni",
                                image: AddonImages.flannel,
                                command: ["cp"],
                                args: ["-f", "/etc/kube-flannel/cni-conf.json", "/etc/cni/net.d/10-flannel.conflist"],
                                volumeMounts: [
                                    { name: "cni", mountPath: "/etc/cni/net.d" },
                                    { name: "flannel-cfg", mountPath: "/etc/kube-flannel/" },
                                ],
                            },
                        ],
                        containers: [
                            {
                                name: "kube-flannel",
                                image: AddonImages.flannel,
                                command: ["/opt/bin/flanneld"],
                                args: ["--ip-masq", "--kube-subnet-mgr", "--iface=$(POD_IP)"],
                                env: [
                                    fieldEnv("POD_NAME", "metadata.name"),
                                    fieldEnv("POD_NAMESPACE", "metadata.namespace"),
                                    fieldEnv("POD_IP", "status.podIP"),
                                    { name: "EVENT_QUEUE_DEPTH", value: "5000" },
                                    ...apiServerEnv(cfg),
                                ],
                                resources: { requests: { cpu: "100m", memory: "50Mi" } },
                                securityContext: { privileged: true },
                                volumeMounts: [
                                    { name: "run", mountPath: "/run/flannel" },
                                    { name: "flannel-cfg", mountPath: "/etc/kube-flannel/" },
                                    { name: "xtables-lock", mountPath: "/run/xtables.lock" },
                                ],
                            },
                        ],
                        volumes: [
                            hostPathVolume("run", "/run/flannel"),
                            hostPathVolume("cni-plugin", "/opt/cni/bin", "DirectoryOrCreate"),
                            hostPathVolume("cni", "/etc/cni/net.d", "DirectoryOrCreate"),
                            { name: "flannel-cfg", configMap: { name: "kube-flannel-cfg" } },
                            hostPathVolume("xtables-lock", "/run/xtables.lock", "FileOrCreate"),
                        ],
                    },
                },
            },
        },
    ];
}
