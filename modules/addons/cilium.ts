/**
 * Cilium (network.cni = cilium): eBPF pod network that also replaces kube-proxy
 * (`kube-proxy-replacement: "true"`), so no kube-proxy is rendered with it.
 *
 * A minimal set in the spirit of Typhoon's (poseidon/typhoon addons/cilium), updated for 1.18:
 *   - ConfigMap `cilium-config` (the name the Helm chart and the cilium CLI use), read by agent
 *     and operator through `--config-dir`: VXLAN tunnel, cluster-pool IPAM over network.podCidr
 *     with network.nodePodPrefix per node, BPF masquerade, kube-proxy replacement, exclusive CNI
 *     config written once the agent is ready; Hubble, L7 proxy metrics, BGP and the rest off or
 *     at their defaults;
 *   - agent DaemonSet `cilium` (host network, privileged; init containers mount the cgroup2 root,
 *     clean state on request and install the CNI binaries) and operator Deployment
 *     `cilium-operator` (cilium-operator-generic, one replica);
 *   - ServiceAccounts, ClusterRoles, ClusterRoleBindings. No CRDs here: the operator registers
 *     Cilium's CRDs itself at start (hence its create/update on customresourcedefinitions).
 *
 * API access: with kube-proxy replaced, the `kubernetes` Service only works once Cilium runs, so
 * agent and operator reach the API server at apiDnsName:apiPort (KUBERNETES_SERVICE_HOST/PORT,
 * what the chart's `k8sServiceHost`/`k8sServicePort` set). The values are also kept in the
 * ConfigMap (`k8s-service-host`/`k8s-service-port`, not agent flags) so they show in one place.
 *
 * IPAM note: kube-controller-manager still allocates Node spec.podCIDRs from the same podCidr;
 * in cluster-pool mode Cilium ignores them and allocates its own per-node CIDRs (CiliumNode).
 * Changing network.cni on a running cluster is not supported (nothing is pruned).
 */
import { ClusterConfig } from "../../lib/config/schema";
import { AddonImages, apiServerEnv, clusterRoleBinding, fieldEnv, hostPathVolume, K8sObject, KUBE_SYSTEM, serviceAccount, TOLERATE_EVERYTHING } from "./objects";

const CONFIG_MAP = "cilium-config";
const CONFIG_DIR = "/tmp/cilium/config-map";
const AGENT_LABELS = { "k8s-app": "cilium", "app.kubernetes.io/part-of": "cilium" };
const OPERATOR_LABELS = { "io.cilium/app": "operator", name: "cilium-operator", "app.kubernetes.io/part-of": "cilium" };
/** The agent's health endpoint (127.0.0.1), used by its probes. */
export const CILIUM_HEALTH_PORT = 9879;
/** The operator's health endpoint (127.0.0.1), used by its probes. */
export const CILIUM_OPERATOR_HEALTH_PORT = 9234;
/** VXLAN UDP port (Cilium's default, the same as flannel's). */
export const CILIUM_VXLAN_PORT = 8472;

/** The data of the `cilium-config` ConfigMap (every value a string, as Cilium reads files). */
export function ciliumConfig(cfg: ClusterConfig): Record<string, string> {
    return {
        // Identities and state as CRDs (no kvstore).
        "identity-allocation-mode": "crd",
        "cilium-endpoint-gc-interval": "5m0s",
        "nodes-gc-interval": "5m0s",
        debug: "false",
        "enable-policy": "default",
        "enable-ipv4": "true",
        "enable-ipv6": "false",
        // Encapsulation between nodes.
        "routing-mode": "tunnel",
        "tunnel-protocol": "vxlan",
        "tunnel-port": String(CILIUM_VXLAN_PORT),
        "auto-direct-node-routes": "false",
        // Masquerade pod traffic leaving the cluster, in BPF.
        "enable-ipv4-masquerade": "true",
        "enable-ipv6-masquerade": "false",
        "enable-bpf-masquerade": "true",
        "install-iptables-rules": "true",
        // kube-proxy replacement: Services (ClusterIP, NodePort, ExternalIPs, HostPort) in BPF.
        "kube-proxy-replacement": "true",
        "kube-proxy-replacement-healthz-bind-address": "0.0.0.0:10256",
        "bpf-lb-sock": "true",
        // The API server for the agent and the operator (see the module comment).
        "k8s-service-host": cfg.apiDnsName,
        "k8s-service-port": String(cfg.apiPort),
        // IPAM: per-node CIDRs out of the pod network.
        ipam: "cluster-pool",
        "cluster-pool-ipv4-cidr": cfg.network.podCidr,
        "cluster-pool-ipv4-mask-size": String(cfg.network.nodePodPrefix),
        // Health.
        "agent-health-port": String(CILIUM_HEALTH_PORT),
        "enable-health-checking": "true",
        "enable-endpoint-health-checking": "true",
        "operator-api-serve-addr": `127.0.0.1:${CILIUM_OPERATOR_HEALTH_PORT}`,
        // L7 policy with the Envoy embedded in the agent image (no cilium-envoy DaemonSet).
        "enable-l7-proxy": "true",
        "external-envoy-proxy": "false",
        "enable-hubble": "false",
        "enable-k8s-networkpolicy": "true",
        // CNI: written only once the agent is ready; removes other CNI configs.
        "cni-exclusive": "true",
        "write-cni-conf-when-ready": "/host/etc/cni/net.d/05-cilium.conflist",
        "cni-log-file": "/var/run/cilium/cilium-cni.log",
        "cgroup-root": "/run/cilium/cgroupv2",
        "cluster-name": "default",
        "cluster-id": "0",
    };
}

function configEnv(name: string, key: string): Record<string, unknown> {
    return { name, valueFrom: { configMapKeyRef: { name: CONFIG_MAP, key, optional: true } } };
}

/*
 * RBAC: modelled on the Helm chart's default rules for the features enabled above. Rules on
 * cilium.io (Cilium's own API group) cover the whole group: its set of CRDs changes with every
 * minor release, and a pinned list would silently break an upgrade.
 */

function agentClusterRole(): K8sObject {
    return {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: "cilium", labels: AGENT_LABELS },
        rules: [
            { apiGroups: ["networking.k8s.io"], resources: ["networkpolicies"], verbs: ["get", "list", "watch"] },
            { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["get", "list", "watch"] },
            { apiGroups: [""], resources: ["namespaces", "services", "pods", "endpoints", "nodes"], verbs: ["get", "list", "watch"] },
            { apiGroups: [""], resources: ["nodes", "nodes/status"], verbs: ["patch"] },
            { apiGroups: ["apiextensions.k8s.io"], resources: ["customresourcedefinitions"], verbs: ["get", "list", "watch"] },
            { apiGroups: ["cilium.io"], resources: ["*"], verbs: ["*"] },
        ],
    };
}

function operatorClusterRole(): K8sObject {
    return {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: "cilium-operator", labels: OPERATOR_LABELS },
        rules: [
            // Restarts pods (CoreDNS) that started before Cilium managed them.
            { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch", "delete"] },
            { apiGroups: [""], resources: ["configmaps"], resourceNames: [CONFIG_MAP], verbs: ["patch"] },
            { apiGroups: [""], resources: ["nodes"], verbs: ["list", "watch"] },
            // Removes Cilium's startup taint and sets NetworkUnavailable=false.
            { apiGroups: [""], resources: ["nodes", "nodes/status"], verbs: ["patch"] },
            { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["get", "list", "watch"] },
            { apiGroups: [""], resources: ["services/status"], verbs: ["update", "patch"] },
            { apiGroups: [""], resources: ["namespaces", "services", "endpoints"], verbs: ["get", "list", "watch"] },
            { apiGroups: ["cilium.io"], resources: ["*"], verbs: ["*"] },
            // Registers (and upgrades) Cilium's CRDs.
            { apiGroups: ["apiextensions.k8s.io"], resources: ["customresourcedefinitions"], verbs: ["create", "get", "list", "watch", "update"] },
            // Leader election.
            { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create", "get", "update"] },
        ],
    };
}

function agentDaemonSet(cfg: ClusterConfig): K8sObject {
    const image = AddonImages.cilium;
    const privileged = { privileged: true };
    const healthProbe = {
        httpGet: { host: "127.0.0.1", path: "/healthz", port: CILIUM_HEALTH_PORT, scheme: "HTTP", httpHeaders: [{ name: "brief", value: "true" }] },
    };
    return {
        apiVersion: "apps/v1",
        kind: "DaemonSet",
        metadata: { name: "cilium", namespace: KUBE_SYSTEM, labels: AGENT_LABELS },
        spec: {
            selector: { matchLabels: { "k8s-app": "cilium" } },
            updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
            template: {
                metadata: { labels: AGENT_LABELS },
                spec: {
                    hostNetwork: true,
                    nodeSelector: { "kubernetes.io/os": "linux" },
                    priorityClassName: "system-node-critical",
                    serviceAccountName: "cilium",
                    automountServiceAccountToken: true,
                    enableServiceLinks: false,
                    tolerations: TOLERATE_EVERYTHING,
                    initContainers: [
                        {
                            // Mounts a cgroup2 root for Cilium's socket-LB hooks in the host's namespaces.
                            name: "mount-cgroup",
                            image,
                            command: ["sh", "-ec"],
                            args: [
                                'cp /usr/bin/cilium-mount /hostbin/cilium-mount; nsenter --cgroup=/hostproc/1/ns/cgroup --mount=/hostproc/1/ns/mnt "${BIN_PATH}/cilium-mount" $CGROUP_ROOT; rm /hostbin/cilium-mount',
                            ],
                            env: [
                                { name: "CGROUP_ROOT", value: "/run/cilium/cgroupv2" },
                                { name: "BIN_PATH", value: "/opt/cni/bin" },
                            ],
                            securityContext: privileged,
                            volumeMounts: [
                                { name: "hostproc", mountPath: "/hostproc" },
                                { name: "cni-path", mountPath: "/hostbin" },
                            ],
                        },
                        {
                            name: "clean-cilium-state",
                            image,
                            command: ["/init-container.sh"],
                            env: [
                                configEnv("CILIUM_ALL_STATE", "clean-cilium-state"),
                                configEnv("CILIUM_BPF_STATE", "clean-cilium-bpf-state"),
                                configEnv("WRITE_CNI_CONF_WHEN_READY", "write-cni-conf-when-ready"),
                            ],
                            securityContext: privileged,
                            volumeMounts: [
                                { name: "bpf-maps", mountPath: "/sys/fs/bpf" },
                                { name: "cilium-cgroup", mountPath: "/run/cilium/cgroupv2", mountPropagation: "HostToContainer" },
                                { name: "cilium-run", mountPath: "/var/run/cilium" },
                            ],
                        },
                        {
                            name: "install-cni-binaries",
                            image,
                            command: ["/install-plugin.sh"],
                            securityContext: privileged,
                            volumeMounts: [{ name: "cni-path", mountPath: "/host/opt/cni/bin" }],
                        },
                    ],
                    containers: [
                        {
                            name: "cilium-agent",
                            image,
                            command: ["cilium-agent"],
                            args: [`--config-dir=${CONFIG_DIR}`],
                            env: [
                                fieldEnv("K8S_NODE_NAME", "spec.nodeName"),
                                fieldEnv("CILIUM_K8S_NAMESPACE", "metadata.namespace"),
                                ...apiServerEnv(cfg),
                            ],
                            startupProbe: { ...healthProbe, failureThreshold: 105, periodSeconds: 2, successThreshold: 1 },
                            livenessProbe: { ...healthProbe, periodSeconds: 30, successThreshold: 1, failureThreshold: 10, timeoutSeconds: 5 },
                            readinessProbe: { ...healthProbe, periodSeconds: 30, successThreshold: 1, failureThreshold: 3, timeoutSeconds: 5 },
                            securityContext: privileged,
                            volumeMounts: [
                                { name: "lib-modules", mountPath: "/lib/modules", readOnly: true },
                                { name: "xtables-lock", mountPath: "/run/xtables.lock" },
                                { name: "cilium-run", mountPath: "/var/run/cilium" },
                                { name: "bpf-maps", mountPath: "/sys/fs/bpf", mountPropagation: "Bidirectional" },
                                { name: "cilium-cgroup", mountPath: "/run/cilium/cgroupv2", mountPropagation: "HostToContainer" },
                                { name: "config", mountPath: CONFIG_DIR, readOnly: true },
                                { name: "etc-cni-netd", mountPath: "/host/etc/cni/net.d" },
                            ],
                        },
                    ],
                    terminationGracePeriodSeconds: 1,
                    volumes: [
                        hostPathVolume("lib-modules", "/lib/modules"),
                        hostPathVolume("xtables-lock", "/run/xtables.lock", "FileOrCreate"),
                        hostPathVolume("cilium-run", "/var/run/cilium", "DirectoryOrCreate"),
                        hostPathVolume("bpf-maps", "/sys/fs/bpf", "DirectoryOrCreate"),
                        hostPathVolume("hostproc", "/proc", "Directory"),
                        hostPathVolume("cilium-cgroup", "/run/cilium/cgroupv2", "DirectoryOrCreate"),
                        hostPathVolume("cni-path", "/opt/cni/bin", "DirectoryOrCreate"),
                        hostPathVolume("etc-cni-netd", "/etc/cni/net.d", "DirectoryOrCreate"),
                        { name: "config", configMap: { name: CONFIG_MAP } },
                    ],
                },
            },
        },
    };
}

function operatorDeployment(cfg: ClusterConfig): K8sObject {
    const probe = { httpGet: { host: "127.0.0.1", path: "/healthz", port: CILIUM_OPERATOR_HEALTH_PORT, scheme: "HTTP" } };
    return {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "cilium-operator", namespace: KUBE_SYSTEM, labels: OPERATOR_LABELS },
        spec: {
            // One replica (as Typhoon): it only reconciles (IPAM, CRDs, garbage collection) and running
            // agents do not need it; a second replica would need a second node (host network, :9234).
            replicas: 1,
            selector: { matchLabels: { "io.cilium/app": "operator", name: "cilium-operator" } },
            strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } },
            template: {
                metadata: { labels: OPERATOR_LABELS },
                spec: {
                    hostNetwork: true,
                    nodeSelector: { "kubernetes.io/os": "linux" },
                    priorityClassName: "system-cluster-critical",
                    serviceAccountName: "cilium-operator",
                    automountServiceAccountToken: true,
                    enableServiceLinks: false,
                    // It must run before any node has a pod network, so it tolerates everything.
                    tolerations: TOLERATE_EVERYTHING,
                    containers: [
                        {
                            name: "cilium-operator",
                            image: AddonImages.ciliumOperator,
                            command: ["cilium-operator-generic"],
                            args: [`--config-dir=${CONFIG_DIR}`, "--debug=$(CILIUM_DEBUG)"],
                            env: [
                                fieldEnv("K8S_NODE_NAME", "spec.nodeName"),
                                fieldEnv("CILIUM_K8S_NAMESPACE", "metadata.namespace"),
                                configEnv("CILIUM_DEBUG", "debug"),
                                ...apiServerEnv(cfg),
                            ],
                            livenessProbe: { ...probe, initialDelaySeconds: 60, periodSeconds: 10, timeoutSeconds: 3 },
                            readinessProbe: { ...probe, initialDelaySeconds: 0, periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 5 },
                            volumeMounts: [{ name: "config", mountPath: CONFIG_DIR, readOnly: true }],
                        },
                    ],
                    volumes: [{ name: "config", configMap: { name: CONFIG_MAP } }],
                },
            },
        },
    };
}

export function ciliumManifests(cfg: ClusterConfig): K8sObject[] {
    const agent = { name: "cilium", namespace: KUBE_SYSTEM };
    const operator = { name: "cilium-operator", namespace: KUBE_SYSTEM };
    return [
        serviceAccount(agent.name, agent.namespace, AGENT_LABELS),
        serviceAccount(operator.name, operator.namespace, OPERATOR_LABELS),
        agentClusterRole(),
        operatorClusterRole(),
        clusterRoleBinding("cilium", "cilium", agent, AGENT_LABELS),
        clusterRoleBinding("cilium-operator", "cilium-operator", operator, OPERATOR_LABELS),
        { apiVersion: "v1", kind: "ConfigMap", metadata: { name: CONFIG_MAP, namespace: KUBE_SYSTEM }, data: ciliumConfig(cfg) },
        agentDaemonSet(cfg),
        operatorDeployment(cfg),
    ];
}
