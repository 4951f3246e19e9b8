/**
 * CoreDNS: cluster DNS at the 10th address of the service network (`serviceIp(cfg, 10)`, the
 * address every kubelet's `clusterDNS` names), kubeadm's Corefile, and a Deployment of
 * max(2, controllers) replicas spread over nodes (preferred anti-affinity, so a one-controller
 * cluster still schedules both), preferring controllers (which they tolerate) as Typhoon does,
 * with a read-only root filesystem and only NET_BIND_SERVICE. A PodDisruptionBudget keeps one
 * replica through drains.
 *
 * Upstream DNS: `forward . /etc/resolv.conf` with `dnsPolicy: Default`, i.e. the kubelet's
 * `resolvConf` (the host's real upstream servers; see modules/bootkube/kubelet.ts `resolvConf`).
 */
import { serviceIp } from "../../lib/config/network";
import { ClusterConfig } from "../../lib/config/schema";
import { AddonImages, clusterRoleBinding, CONTROLLER_LABEL_KEY, CONTROLLER_TAINT_KEY, K8sObject, KUBE_SYSTEM, serviceAccount } from "./objects";

const SELECTOR = { "k8s-app": "kube-dns" };
const LABELS = { "k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS" };

/** The Corefile: kubeadm's, for the configured cluster domain. */
export function corefile(cfg: ClusterConfig): string {
    const domain = cfg.network.clusterDomain;
    return `.:53 {
    errors
    health {
        lameduck 5s
    }
    ready
    kubernetes ${domain} in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
        max_concurrent 1000
    }
    cache 30
    loop
    reload
    loadbalance
}
`;
}

/** Replicas: one per controller, at least two. */
export function corednsReplicas(cfg: ClusterConfig): number {
    return Math.max(2, cfg.controllers.length);
}

export function corednsManifests(cfg: ClusterConfig): K8sObject[] {
    const sa = { name: "coredns", namespace: KUBE_SYSTEM };
    return [
        serviceAccount(sa.name, sa.namespace, LABELS),
        {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "ClusterRole",
            metadata: { name: "opke:coredns", labels: LABELS },
            rules: [
                { apiGroups: [""], resources: ["endpoints", "services", "pods", "namespaces"], verbs: ["list", "watch"] },
                { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] },
            ],
        },
        clusterRoleBinding("opke:coredns", "opke:coredns", sa, LABELS),
        {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: "coredns", namespace: KUBE_SYSTEM, labels: LABELS },
            data: { Corefile: corefile(cfg) },
        },
        {
            apiVersion: "apps/v1",
            kind: "Deployment",
            metadata: { name: "coredns", namespace: KUBE_SYSTEM, labels: LABELS },
            spec: {
                replicas: corednsReplicas(cfg),
                selector: { matchLabels: SELECTOR },
                strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
                template: {
                    metadata: { labels: LABELS },
                    spec: {
                        affinity: {
                            nodeAffinity: {
                                preferredDuringSchedulingIgnoredDuringExecution: [
                                    { weight: 50, preference: { matchExpressions: [{ key: CONTROLLER_LABEL_KEY, operator: "Exists" }] } },
                                ],
                            },
                            podAntiAffinity: {
                                preferredDuringSchedulingIgnoredDuringExecution: [
                                    { weight: 100, podAffinityTerm: { labelSelector: { matchLabels: SELECTOR }, topologyKey: "kubernetes.io/hostname" } },
                                ],
                            },
                        },
                        containers: [
                            {
                                name: "coredns",
                                image: AddonImages.coredns,
                                imagePullPolicy: "IfNotPresent",
                                args: ["-conf", "/etc/coredns/Corefile"],
                                ports: [
                                    { name: "dns", containerPort: 53, protocol: "UDP" },
                                    { name: "dns-tcp", containerPort: 53, protocol: "TCP" },
                                    { name: "metrics", containerPort: 9153, protocol: "TCP" },
                                ],
                                resources: { requests: { cpu: "100m", memory: "70Mi" }, limits: { memory: "170Mi" } },
                                livenessProbe: {
                                    httpGet: { path: "/health", port: 8080, scheme: "HTTP" },
                                    initialDelaySeconds: 60,
                                    timeoutSeconds: 5,
                                    successThreshold: 1,
                                    failureThreshold: 5,
                                },
                                readinessProbe: { httpGet: { path: "/ready", port: 8181, scheme: "HTTP" } },
                                securityContext: {
                                    allowPrivilegeEscalation: false,
                                    capabilities: { add: ["NET_BIND_SERVICE"], drop: ["ALL"] },
                                    readOnlyRootFilesystem: true,
                                },
                                volumeMounts: [{ name: "config-volume", mountPath: "/etc/coredns", readOnly: true }],
                            },
                        ],
                        dnsPolicy: "Default",
                        nodeSelector: { "kubernetes.io/os": "linux" },
                        priorityClassName: "system-cluster-critical",
                        securityContext: { seccompProfile: { type: "RuntimeDefault" } },
                        serviceAccountName: sa.name,
                        tolerations: [
                            { key: CONTROLLER_TAINT_KEY, operator: "Exists", effect: "NoSchedule" },
                            { key: "CriticalAddonsOnly", operator: "Exists" },
                        ],
                        volumes: [{ name: "config-volume", configMap: { name: "coredns", items: [{ key: "Corefile", path: "Corefile" }] } }],
                    },
                },
            },
        },
        {
            apiVersion: "policy/v1",
            kind: "PodDisruptionBudget",
            metadata: { name: "coredns", namespace: KUBE_SYSTEM, labels: LABELS },
            spec: { minAvailable: 1, selector: { matchLabels: SELECTOR } },
        },
        {
            apiVersion: "v1",
            kind: "Service",
            metadata: {
                name: "kube-dns",
                namespace: KUBE_SYSTEM,
                labels: LABELS,
                annotations: { "prometheus.io/port": "9153", "prometheus.io/scrape": "true" },
            },
            spec: {
                selector: SELECTOR,
                clusterIP: serviceIp(cfg, 10),
                ports: [
                    { name: "dns", port: 53, protocol: "UDP", targetPort: 53 },
                    { name: "dns-tcp", port: 53, protocol: "TCP", targetPort: 53 },
                    { name: "metrics", port: 9153, protocol: "TCP", targetPort: 9153 },
                ],
            },
        },
    ];
}
