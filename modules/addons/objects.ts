/**
 * Small helpers shared by the addon renderers: the Kubernetes object shape, deterministic YAML
 * streams, the pinned addon images and the few objects every addon repeats (ServiceAccount,
 * ClusterRoleBinding).
 *
 * Every object is built as a plain literal in a fixed key order and serialised with `yaml`, so the
 * same config always gives the same bytes.
 */
import { stringify } from "yaml";
import { ClusterConfig } from "../../lib/config/schema";
import versions from "../../lib/versions.json";

/** A Kubernetes object as rendered: apiVersion, kind and metadata first, then the rest. */
export interface K8sObject {
    apiVersion: string;
    kind: string;
    metadata: {
        name: string;
        namespace?: string;
        labels?: Record<string, string>;
        annotations?: Record<string, string>;
    };
    [field: string]: unknown;
}

/** One YAML stream (documents separated by `---`), the form kubectl applies. */
export function yamlStream(objects: K8sObject[]): string {
    return objects.map((o) => stringify(o, { lineWidth: 0, aliasDuplicateObjects: false })).join("---\n");
}

/** The pinned addon images (lib/versions.json `addons`), full references with their tags. */
export const AddonImages = {
    flannel: versions.addons.flannel,
    flannelCniPlugin: versions.addons.flannelCniPlugin,
    cniPlugins: versions.addons.cniPlugins,
    cilium: versions.addons.cilium,
    ciliumOperator: versions.addons.ciliumOperator,
    coredns: versions.addons.coredns,
} as const;

export const KUBE_SYSTEM = "kube-system";

/**
 * The taint and label every controller registers with (modules/bootkube/kubelet.ts `roleTaints`,
 * `roleLabels`; test/addons.test.ts checks they agree).
 */
export const CONTROLLER_TAINT_KEY = "node-role.kubernetes.io/controller";
export const CONTROLLER_LABEL_KEY = "node.kubernetes.io/controller";

/**
 * Node agents (CNI, kube-proxy) run on every node whatever its taints: a node without them has no
 * pod network and never becomes Ready. Configured taints (`controllers[i].taints`, …) included.
 */
export const TOLERATE_EVERYTHING = [{ operator: "Exists" }];

/**
 * The API server address for pods that must reach it before Service IPs work (the CNI agents,
 * kube-proxy): `apiDnsName`/`apiPort`, not the `kubernetes` Service, which only routes once
 * kube-proxy or Cilium runs. Set as KUBERNETES_SERVICE_HOST/PORT, which client-go's in-cluster
 * config reads (the role of Typhoon's `in-cluster` ConfigMap).
 */
export function apiServerEnv(cfg: ClusterConfig): { name: string; value: string }[] {
    return [
        { name: "KUBERNETES_SERVICE_HOST", value: cfg.apiDnsName },
        { name: "KUBERNETES_SERVICE_PORT", value: String(cfg.apiPort) },
    ];
}

export function serviceAccount(name: string, namespace: string, labels: Record<string, string>): K8sObject {
    return { apiVersion: "v1", kind: "ServiceAccount", metadata: { name, namespace, labels } };
}

/** A ClusterRoleBinding of one ServiceAccount to a ClusterRole. */
export function clusterRoleBinding(
    name: string,
    clusterRole: string,
    sa: { name: string; namespace: string },
    labels: Record<string, string>,
): K8sObject {
    return {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: { name, labels },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: clusterRole },
        subjects: [{ kind: "ServiceAccount", name: sa.name, namespace: sa.namespace }],
    };
}

/** A hostPath volume. */
export function hostPathVolume(name: string, path: string, type?: "DirectoryOrCreate" | "Directory" | "FileOrCreate"): Record<string, unknown> {
    return { name, hostPath: { path, ...(type ? { type } : {}) } };
}

/** An env var from the pod's own fields (metadata.name, spec.nodeName, status.podIP, …). */
export function fieldEnv(name: string, fieldPath: string): Record<string, unknown> {
    return { name, valueFrom: { fieldRef: { apiVersion: "v1", fieldPath } } };
}
