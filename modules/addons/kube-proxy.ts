/**
 * kube-proxy (with flannel; Cilium replaces it): a host-network DaemonSet running
 * `<images.kubernetesRegistry>/kube-proxy:<kubernetesVersion>` — the control plane's version, so a
 * Kubernetes upgrade changes this manifest and re-applies it — configured by a
 * KubeProxyConfiguration in a ConfigMap, kubeadm style.
 *
 * Mode: iptables, kube-proxy's default and the mode flannel's own iptables rules (masquerade,
 * forward) are written for. ipvs is being deprecated upstream (KEP-5495); nftables is GA but would
 * mix nftables Service rules with flannel's iptables rules. Revisit together with flannel's
 * `EnableNFTables`.
 *
 * API access: kube-proxy programs the Service rules, so it cannot use the `kubernetes` Service
 * to find the API server. Its kubeconfig points at `apiServerUrl(cfg)` and authenticates with the
 * pod's projected ServiceAccount token, verified against the cluster CA from the same projection
 * (what Typhoon's `kubeconfig-in-cluster` ConfigMap does).
 */
import { stringify } from "yaml";
import { apiServerUrl } from "../../lib/config/network";
import { ClusterConfig } from "../../lib/config/schema";
import { clusterRoleBinding, fieldEnv, hostPathVolume, K8sObject, KUBE_SYSTEM, serviceAccount, TOLERATE_EVERYTHING } from "./objects";

const LABELS = { "k8s-app": "kube-proxy" };
const CONFIG_DIR = "/var/lib/kube-proxy";
const SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** The kube-proxy image: the control plane's registry and version. */
export function kubeProxyImage(cfg: ClusterConfig): string {
    return `${cfg.images.kubernetesRegistry}/kube-proxy:${cfg.kubernetesVersion}`;
}

/** config.conf: the KubeProxyConfiguration. */
export function kubeProxyConfiguration(cfg: ClusterConfig): string {
    return stringify(
        {
            apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
            kind: "KubeProxyConfiguration",
            bindAddress: "0.0.0.0",
            clientConnection: { kubeconfig: `${CONFIG_DIR}/kubeconfig.conf` },
            clusterCIDR: cfg.network.podCidr,
            healthzBindAddress: "0.0.0.0:10256",
            // Scraped by the cluster's monitoring; 10249 carries no secrets (Typhoon does the same).
            metricsBindAddress: "0.0.0.0:10249",
            mode: "iptables",
        },
        { lineWidth: 0 },
    );
}

/** kubeconfig.conf: the API server URL from the config, the pod's ServiceAccount token. */
export function kubeProxyKubeconfig(cfg: ClusterConfig): string {
    return stringify(
        {
            apiVersion: "v1",
            kind: "Config",
            clusters: [{ name: "default", cluster: { "certificate-authority": `${SA_DIR}/ca.crt`, server: apiServerUrl(cfg) } }],
            contexts: [{ name: "default", context: { cluster: "default", namespace: "default", user: "default" } }],
            "current-context": "default",
            users: [{ name: "default", user: { tokenFile: `${SA_DIR}/token` } }],
        },
        { lineWidth: 0 },
    );
}

export function kubeProxyManifests(cfg: ClusterConfig): K8sObject[] {
    const sa = { name: "kube-proxy", namespace: KUBE_SYSTEM };
    return [
        serviceAccount(sa.name, sa.namespace, LABELS),
        clusterRoleBinding("opke:kube-proxy", "system:node-proxier", sa, LABELS),
        {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: "kube-proxy", namespace: KUBE_SYSTEM, labels: LABELS },
            data: { "config.conf": kubeProxyConfiguration(cfg), "kubeconfig.conf": kubeProxyKubeconfig(cfg) },
        },
        {
            apiVersion: "apps/v1",
            kind: "DaemonSet",
            metadata: { name: "kube-proxy", namespace: KUBE_SYSTEM, labels: LABELS },
            spec: {
                selector: { matchLabels: LABELS },
                updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
                template: {
                    metadata: { labels: LABELS },
                    spec: {
                        hostNetwork: true,
                        nodeSelector: { "kubernetes.io/os": "linux" },
                        priorityClassName: "system-node-critical",
                        serviceAccountName: sa.name,
                        tolerations: TOLERATE_EVERYTHING,
                        containers: [
                            {
                                name: "kube-proxy",
                                image: kubeProxyImage(cfg),
                                imagePullPolicy: "IfNotPresent",
                                command: ["/usr/local/bin/kube-proxy", `--config=${CONFIG_DIR}/config.conf`, "--hostname-override=$(NODE_NAME)"],
                                env: [fieldEnv("NODE_NAME", "spec.nodeName")],
                                securityContext: { privileged: true },
                                volumeMounts: [
                                    { name: "kube-proxy", mountPath: CONFIG_DIR, readOnly: true },
                                    { name: "xtables-lock", mountPath: "/run/xtables.lock" },
                                    { name: "lib-modules", mountPath: "/lib/modules", readOnly: true },
                                ],
                            },
                        ],
                        volumes: [
                            { name: "kube-proxy", configMap: { name: "kube-proxy" } },
                            hostPathVolume("xtables-lock", "/run/xtables.lock", "FileOrCreate"),
                            hostPathVolume("lib-modules", "/lib/modules"),
                        ],
                    },
                },
            },
        },
    ];
}
