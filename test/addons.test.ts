/**
 * modules/addons: the pod network (flannel or Cilium), kube-proxy (flannel only) and CoreDNS as
 * manifests; `addons.service` for Ignition; /opt/addons on controller 0 for the SSH push; and the
 * wiring into lib/render.
 *
 * What these tests do NOT prove:
 *   - that kube-apiserver v1.36 accepts the manifests (field names, enums, validation): they are
 *     parsed and checked structurally here; a later test server-side applies every manifest opke
 *     renders to a real kube-apiserver;
 *   - that the pods run: that the pinned images exist and hold the binaries the commands name
 *     (cp, flanneld, /flannel, /install-plugin.sh, cilium-mount, kube-proxy, coredns), that flannel
 *     or Cilium give pods a working network, that kube-proxy/Cilium program Services, that
 *     CoreDNS answers at the 10th service address — that needs real nodes (end-to-end tests);
 *   - that Cilium 1.18 reads every key of cilium-config as intended (unknown keys are ignored by
 *     Cilium, so a misspelt key would go unnoticed here);
 *   - that docker/podman run addons.service as written (`systemd-analyze verify` only proves the
 *     unit parses), or that the SSH push restarts it: the script runs here against a fake kubectl
 *     that records its arguments, and is linted with the real shellcheck.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse, parseAllDocuments, visit } from "yaml";
import { ClusterConfig, ClusterNode, clusterNodes, NodeRole } from "../lib/config/schema";
import versions from "../lib/versions.json";
import {
    ADDONS_UNIT,
    addonManifests,
    addonsApplyScript,
    addonsFiles,
    addonsIgnition,
    addonsUnit,
    AddonImages,
} from "../modules/addons";
import { CONTROLLER_LABEL_KEY, CONTROLLER_TAINT_KEY, K8sObject } from "../modules/addons/objects";
import { kubeletConfig } from "../modules/bootkube";
import { bootstrapUnit } from "../modules/bootkube/units";
import { roleLabels, roleTaints } from "../modules/bootkube/kubelet";
import { renderClusterFiles, renderNodeIgnition, renderNodeSsh } from "../lib/render";
import { demoConfig, fakeMaterial } from "./helpers/fixtures";

/** The renderer tests' "demo" cluster with `network`; worker w1 carries a taint. */
function config(overrides: Record<string, unknown> = {}, network: Record<string, unknown> = {}): ClusterConfig {
    return demoConfig({ network, ...overrides }, { taints: [{ key: "example.com/dedicated", value: "db", effect: "NoSchedule" }] });
}

const flannel = () => config();
const cilium = () => config({}, { cni: "cilium" });

function node(cfg: ClusterConfig, name: string): ClusterNode {
    const n = clusterNodes(cfg).find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
}

/** Every document of every manifest, parsed; fails on YAML errors, warnings and aliases. */
function docsOf(manifests: { name: string; content: string }[]): { file: string; obj: K8sObject }[] {
    return manifests.flatMap((m) => {
        const docs = parseAllDocuments(m.content);
        return docs.map((d) => {
            expect({ file: m.name, errors: d.errors.map(String), warnings: d.warnings.map(String) }).toEqual({ file: m.name, errors: [], warnings: [] });
            let aliases = 0;
            visit(d, { Alias: () => void aliases++ });
            expect({ file: m.name, aliases }).toEqual({ file: m.name, aliases: 0 });
            return { file: m.name, obj: d.toJS() as K8sObject };
        });
    });
}

function find(cfg: ClusterConfig, kind: string, name: string): K8sObject {
    const hit = docsOf(addonManifests(cfg)).find((d) => d.obj.kind === kind && d.obj.metadata.name === name);
    if (!hit) throw new Error(`no ${kind} ${name}`);
    return hit.obj;
}

// Narrow accessors for the parts of pod templates the tests read.
type Container = { name: string; image: string; command?: string[]; args?: string[]; env?: { name: string; value?: string }[] };
type PodSpec = {
    tolerations: { key?: string; operator: string; effect?: string }[];
    containers: Container[];
    initContainers?: Container[];
    hostNetwork?: boolean;
};
function podSpec(o: K8sObject): PodSpec {
    return (o as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;
}
function env(c: Container): Record<string, string | undefined> {
    return Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
}

/** Whether a toleration list tolerates a taint (the scheduler's rule for the fields used here). */
function tolerates(tols: PodSpec["tolerations"], taint: { key: string; effect: string }): boolean {
    return tols.some((t) => (t.key === undefined || t.key === taint.key) && t.operator === "Exists" && (t.effect === undefined || t.effect === taint.effect));
}

const NAMESPACED = new Set(["ServiceAccount", "ConfigMap", "DaemonSet", "Deployment", "Service", "PodDisruptionBudget"]);
const API_VERSION: Record<string, string> = {
    Namespace: "v1",
    ServiceAccount: "v1",
    ConfigMap: "v1",
    Service: "v1",
    ClusterRole: "rbac.authorization.k8s.io/v1",
    ClusterRoleBinding: "rbac.authorization.k8s.io/v1",
    DaemonSet: "apps/v1",
    Deployment: "apps/v1",
    PodDisruptionBudget: "policy/v1",
};

describe("addonManifests", () => {
    test("exact manifest names per CNI, in apply order", () => {
        expect(addonManifests(flannel()).map((m) => m.name)).toEqual(["10-flannel.yaml", "20-kube-proxy.yaml", "30-coredns.yaml"]);
        expect(addonManifests(cilium()).map((m) => m.name)).toEqual(["10-cilium.yaml", "30-coredns.yaml"]);
    });

    test.each([["flannel", flannel], ["cilium", cilium]])("%s: every document parses, with a GA apiVersion, kind, name and namespace", (_n, mk) => {
        const docs = docsOf(addonManifests(mk()));
        for (const { file, obj } of docs) {
            expect({ file, kind: obj.kind, apiVersion: obj.apiVersion }).toEqual({ file, kind: obj.kind, apiVersion: API_VERSION[obj.kind] });
            expect(typeof obj.metadata.name).toBe("string");
            expect(obj.metadata.name.length).toBeGreaterThan(0);
            expect({ file, kind: obj.kind, namespaced: typeof obj.metadata.namespace === "string" }).toEqual({ file, kind: obj.kind, namespaced: NAMESPACED.has(obj.kind) });
        }
        const keys = docs.map((d) => `${d.obj.kind}/${d.obj.metadata.namespace ?? ""}/${d.obj.metadata.name}`);
        expect(new Set(keys).size).toBe(keys.length);
    });

    test("exact object lists", () => {
        const list = (cfg: ClusterConfig) => docsOf(addonManifests(cfg)).map((d) => [d.file, d.obj.kind, d.obj.metadata.namespace ?? "", d.obj.metadata.name]);
        const coredns = [
            ["30-coredns.yaml", "ServiceAccount", "kube-system", "coredns"],
            ["30-coredns.yaml", "ClusterRole", "", "opke:coredns"],
            ["30-coredns.yaml", "ClusterRoleBinding", "", "opke:coredns"],
            ["30-coredns.yaml", "ConfigMap", "kube-system", "coredns"],
            ["30-coredns.yaml", "Deployment", "kube-system", "coredns"],
            ["30-coredns.yaml", "PodDisruptionBudget", "kube-system", "coredns"],
            ["30-coredns.yaml", "Service", "kube-system", "kube-dns"],
        ];
        expect(list(flannel())).toEqual([
            ["10-flannel.yaml", "Namespace", "", "kube-flannel"],
            ["10-flannel.yaml", "ServiceAccount", "kube-flannel", "flannel"],
            ["10-flannel.yaml", "ClusterRole", "", "flannel"],
            ["10-flannel.yaml", "ClusterRoleBinding", "", "flannel"],
            ["10-flannel.yaml", "ConfigMap", "kube-flannel", "kube-flannel-cfg"],
            ["10-flannel.yaml", "DaemonSet", "kube-flannel", "kube-flannel-ds"],
            ["20-kube-proxy.yaml", "ServiceAccount", "kube-system", "kube-proxy"],
            ["20-kube-proxy.yaml", "ClusterRoleBinding", "", "opke:kube-proxy"],
            ["20-kube-proxy.yaml", "ConfigMap", "kube-system", "kube-proxy"],
            ["20-kube-proxy.yaml", "DaemonSet", "kube-system", "kube-proxy"],
            ...coredns,
        ]);
        expect(list(cilium())).toEqual([
            ["10-cilium.yaml", "ServiceAccount", "kube-system", "cilium"],
            ["10-cilium.yaml", "ServiceAccount", "kube-system", "cilium-operator"],
            ["10-cilium.yaml", "ClusterRole", "", "cilium"],
            ["10-cilium.yaml", "ClusterRole", "", "cilium-operator"],
            ["10-cilium.yaml", "ClusterRoleBinding", "", "cilium"],
            ["10-cilium.yaml", "ClusterRoleBinding", "", "cilium-operator"],
            ["10-cilium.yaml", "ConfigMap", "kube-system", "cilium-config"],
            ["10-cilium.yaml", "DaemonSet", "kube-system", "cilium"],
            ["10-cilium.yaml", "Deployment", "kube-system", "cilium-operator"],
            ...coredns,
        ]);
    });

    test("workloads: selectors match their pod labels; bindings name existing ServiceAccounts", () => {
        for (const cfg of [flannel(), cilium()]) {
            const docs = docsOf(addonManifests(cfg)).map((d) => d.obj);
            const sas = new Set(docs.filter((o) => o.kind === "ServiceAccount").map((o) => `${o.metadata.namespace}/${o.metadata.name}`));
            for (const o of docs) {
                if (o.kind === "DaemonSet" || o.kind === "Deployment") {
                    const spec = o.spec as { selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: { serviceAccountName: string } } };
                    expect(spec.template.metadata.labels).toEqual(expect.objectContaining(spec.selector.matchLabels));
                    expect(sas.has(`${o.metadata.namespace}/${spec.template.spec.serviceAccountName}`)).toBe(true);
                }
                if (o.kind === "ClusterRoleBinding") {
                    const subjects = o.subjects as { kind: string; name: string; namespace: string }[];
                    expect(subjects.map((s) => sas.has(`${s.namespace}/${s.name}`))).toEqual([true]);
                }
            }
        }
    });

    test("every image is pinned in lib/versions.json, except kube-proxy at the control plane's version", () => {
        const images = (cfg: ClusterConfig) =>
            [...new Set(docsOf(addonManifests(cfg)).flatMap(({ obj }) => (obj.kind === "DaemonSet" || obj.kind === "Deployment" ? [...(podSpec(obj).initContainers ?? []), ...podSpec(obj).containers].map((c) => c.image) : [])))].sort();
        expect(images(flannel())).toEqual(
            [versions.addons.cniPlugins, versions.addons.coredns, versions.addons.flannel, versions.addons.flannelCniPlugin, "registry.k8s.io/kube-proxy:v1.36.3"].sort(),
        );
        expect(images(cilium())).toEqual([versions.addons.cilium, versions.addons.ciliumOperator, versions.addons.coredns].sort());
        for (const image of Object.values(AddonImages)) {
            expect(image).toMatch(/^[a-z0-9.-]+(\/[a-z0-9._-]+)+:v[0-9]+\.[0-9]+\.[0-9]+(-[a-z0-9]+)?$/);
        }
    });

    test("deterministic: two renders give the same bytes", () => {
        expect(addonManifests(flannel())).toEqual(addonManifests(flannel()));
        expect(addonManifests(cilium())).toEqual(addonManifests(cilium()));
    });
});

describe("CoreDNS", () => {
    test.each([
        ["10.3.0.0/16", "10.3.0.10"],
        ["172.16.8.0/24", "172.16.8.10"],
        ["10.96.0.0/12", "10.96.0.10"],
    ])("service network %s: kube-dns at %s, the address every kubelet's clusterDNS names", (serviceCidr, ip) => {
        const cfg = config({}, { serviceCidr });
        const svc = find(cfg, "Service", "kube-dns") as unknown as { spec: { clusterIP: string; selector: Record<string, string>; ports: unknown[] } };
        expect(svc.spec.clusterIP).toBe(ip);
        expect((parse(kubeletConfig(cfg, node(cfg, "w1"))) as { clusterDNS: string[] }).clusterDNS).toEqual([ip]);
        expect(svc.spec.selector).toEqual({ "k8s-app": "kube-dns" });
        expect(svc.spec.ports).toEqual([
            { name: "dns", port: 53, protocol: "UDP", targetPort: 53 },
            { name: "dns-tcp", port: 53, protocol: "TCP", targetPort: 53 },
            { name: "metrics", port: 9153, protocol: "TCP", targetPort: 9153 },
        ]);
    });

    test("Corefile for the cluster domain, with every plugin the cluster relies on", () => {
        const cm = find(config({}, { clusterDomain: "k8s.internal" }), "ConfigMap", "coredns") as unknown as { data: { Corefile: string } };
        const lines = cm.data.Corefile.split("\n").map((l) => l.trim());
        expect(lines).toContain("kubernetes k8s.internal in-addr.arpa ip6.arpa {");
        for (const plugin of ["errors", "health {", "ready", "prometheus :9153", "forward . /etc/resolv.conf {", "cache 30", "loop", "reload", "loadbalance"]) {
            expect(lines).toContain(plugin);
        }
    });

    test.each([
        [1, 2],
        [3, 3],
        [5, 5],
    ])("%i controllers → %i replicas, spread by anti-affinity, tolerating and preferring controllers", (controllers, replicas) => {
        const cfg = config({ controllers: Array.from({ length: controllers }, (_, i) => ({ name: `c${i + 1}`, ip: `10.0.0.${11 + i}` })) });
        const d = find(cfg, "Deployment", "coredns") as unknown as {
            spec: { replicas: number; template: { spec: PodSpec & { affinity: Record<string, unknown>; dnsPolicy: string; containers: (Container & { securityContext: unknown })[] } } };
        };
        expect(d.spec.replicas).toBe(replicas);
        const spec = d.spec.template.spec;
        expect(spec.affinity).toEqual({
            nodeAffinity: {
                preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 50, preference: { matchExpressions: [{ key: "node.kubernetes.io/controller", operator: "Exists" }] } }],
            },
            podAntiAffinity: {
                preferredDuringSchedulingIgnoredDuringExecution: [
                    { weight: 100, podAffinityTerm: { labelSelector: { matchLabels: { "k8s-app": "kube-dns" } }, topologyKey: "kubernetes.io/hostname" } },
                ],
            },
        });
        const controller = node(cfg, "c1");
        for (const t of roleTaints(controller)) expect(tolerates(spec.tolerations, t)).toBe(true);
        expect(Object.keys(roleLabels(controller))).toEqual([CONTROLLER_LABEL_KEY]);
        expect(spec.dnsPolicy).toBe("Default");
        expect(spec.containers[0].securityContext).toEqual({
            allowPrivilegeEscalation: false,
            capabilities: { add: ["NET_BIND_SERVICE"], drop: ["ALL"] },
            readOnlyRootFilesystem: true,
        });
        expect(find(cfg, "PodDisruptionBudget", "coredns")).toMatchObject({ apiVersion: "policy/v1", spec: { minAvailable: 1, selector: { matchLabels: { "k8s-app": "kube-dns" } } } });
    });

    test("RBAC: read-only on what the kubernetes plugin watches", () => {
        expect((find(flannel(), "ClusterRole", "opke:coredns") as unknown as { rules: unknown }).rules).toEqual([
            { apiGroups: [""], resources: ["endpoints", "services", "pods", "namespaces"], verbs: ["list", "watch"] },
            { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] },
        ]);
    });
});

describe("flannel", () => {
    test.each([
        ["10.20.0.0/16", 24],
        ["10.244.0.0/14", 26],
    ])("net-conf Network %s, SubnetLen %i: VXLAN on 8472", (podCidr, nodePodPrefix) => {
        const cfg = config({}, { podCidr, nodePodPrefix });
        const cm = find(cfg, "ConfigMap", "kube-flannel-cfg") as unknown as { data: Record<string, string> };
        expect(JSON.parse(cm.data["net-conf.json"])).toEqual({ Network: podCidr, SubnetLen: nodePodPrefix, EnableNFTables: false, Backend: { Type: "vxlan", Port: 8472 } });
        expect(JSON.parse(cm.data["cni-conf.json"]).plugins.map((p: { type: string }) => p.type)).toEqual(["flannel", "portmap"]);
    });

    test("DaemonSet: every node (controllers and configured taints), host network, reference plugins then flannel then the CNI config", () => {
        const cfg = flannel();
        const ds = find(cfg, "DaemonSet", "kube-flannel-ds");
        const spec = podSpec(ds);
        for (const n of clusterNodes(cfg)) {
            for (const t of [...roleTaints(n), ...n.taints]) expect(tolerates(spec.tolerations, t)).toBe(true);
        }
        expect(spec.hostNetwork).toBe(true);
        expect(spec.initContainers!.map((c) => [c.name, c.image])).toEqual([
            ["install-cni-plugins", versions.addons.cniPlugins],
            ["install-cni-plugin", versions.addons.flannelCniPlugin],
            ["install-cni", versions.addons.flannel],
        ]);
        expect(spec.initContainers![0].args).toEqual(["-f", "/opt/cni/bin/bridge", "/opt/cni/bin/host-local", "/opt/cni/bin/loopback", "/opt/cni/bin/portmap", "/host/opt/cni/bin/"]);
        expect(spec.initContainers![2].args).toEqual(["-f", "/etc/kube-flannel/cni-conf.json", "/etc/cni/net.d/10-flannel.conflist"]);
        const c = spec.containers[0];
        expect([c.image, c.command, c.args]).toEqual([versions.addons.flannel, ["/opt/bin/flanneld"], ["--ip-masq", "--kube-subnet-mgr", "--iface=$(POD_IP)"]]);
        expect(env(c)).toMatchObject({ KUBERNETES_SERVICE_HOST: "api.demo.example.com", KUBERNETES_SERVICE_PORT: "6443" });
        expect(find(cfg, "Namespace", "kube-flannel").metadata.labels).toMatchObject({ "pod-security.kubernetes.io/enforce": "privileged" });
    });
});

describe("kube-proxy", () => {
    test("control-plane image and version; KubeProxyConfiguration from the config; kubeconfig at the API URL with the SA token", () => {
        const cfg = config({ images: { kubernetesRegistry: "registry.example.com/k8s" } }, { podCidr: "10.40.0.0/16" });
        const spec = podSpec(find(cfg, "DaemonSet", "kube-proxy"));
        expect(spec.containers[0].image).toBe("registry.example.com/k8s/kube-proxy:v1.36.3");
        expect(spec.containers[0].command).toEqual(["/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf", "--hostname-override=$(NODE_NAME)"]);
        expect(spec.hostNetwork).toBe(true);
        for (const n of clusterNodes(cfg)) {
            for (const t of [...roleTaints(n), ...n.taints]) expect(tolerates(spec.tolerations, t)).toBe(true);
        }
        const cm = find(cfg, "ConfigMap", "kube-proxy") as unknown as { data: Record<string, string> };
        expect(parse(cm.data["config.conf"])).toEqual({
            apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
            kind: "KubeProxyConfiguration",
            bindAddress: "0.0.0.0",
            clientConnection: { kubeconfig: "/var/lib/kube-proxy/kubeconfig.conf" },
            clusterCIDR: "10.40.0.0/16",
            healthzBindAddress: "0.0.0.0:10256",
            metricsBindAddress: "0.0.0.0:10249",
            mode: "iptables",
        });
        const kc = parse(cm.data["kubeconfig.conf"]);
        expect(kc.clusters).toEqual([{ name: "default", cluster: { "certificate-authority": "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt", server: "https://api.demo.example.com:6443" } }]);
        expect(kc.users).toEqual([{ name: "default", user: { tokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token" } }]);
        expect((find(cfg, "ClusterRoleBinding", "opke:kube-proxy") as unknown as { roleRef: unknown }).roleRef).toEqual({
            apiGroup: "rbac.authorization.k8s.io",
            kind: "ClusterRole",
            name: "system:node-proxier",
        });
    });
});

describe("Cilium", () => {
    test("no kube-proxy: no object, no image, no file", () => {
        const manifests = addonManifests(cilium());
        expect(manifests.map((m) => m.name).some((n) => n.includes("kube-proxy"))).toBe(false);
        for (const { obj } of docsOf(manifests)) {
            expect(obj.metadata.name).not.toContain("kube-proxy");
        }
        expect(manifests.map((m) => m.content).join("")).not.toContain("/kube-proxy:");
        expect(manifests.map((m) => m.content).join("")).not.toContain("CustomResourceDefinition\n");
    });

    test.each([
        ["10.20.0.0/16", 24],
        ["10.128.0.0/12", 23],
    ])("cilium-config: kube-proxy replacement, API at apiDnsName:apiPort, cluster-pool %s /%i, VXLAN", (podCidr, nodePodPrefix) => {
        const cfg = config({ apiDnsName: "k8s.example.org", apiPort: 8443 }, { cni: "cilium", podCidr, nodePodPrefix });
        const data = (find(cfg, "ConfigMap", "cilium-config") as unknown as { data: Record<string, unknown> }).data;
        expect(Object.values(data).every((v) => typeof v === "string")).toBe(true);
        expect(data).toMatchObject({
            "kube-proxy-replacement": "true",
            "k8s-service-host": "k8s.example.org",
            "k8s-service-port": "8443",
            ipam: "cluster-pool",
            "cluster-pool-ipv4-cidr": podCidr,
            "cluster-pool-ipv4-mask-size": String(nodePodPrefix),
            "routing-mode": "tunnel",
            "tunnel-protocol": "vxlan",
            "tunnel-port": "8472",
        });
        for (const [kind, name] of [["DaemonSet", "cilium"], ["Deployment", "cilium-operator"]]) {
            const spec = podSpec(find(cfg, kind, name));
            const main = spec.containers[0];
            expect(env(main)).toMatchObject({ KUBERNETES_SERVICE_HOST: "k8s.example.org", KUBERNETES_SERVICE_PORT: "8443" });
            expect(main.args![0]).toBe("--config-dir=/tmp/cilium/config-map");
            for (const n of clusterNodes(cfg)) {
                for (const t of [...roleTaints(n), ...n.taints]) expect(tolerates(spec.tolerations, t)).toBe(true);
            }
        }
        expect(podSpec(find(cfg, "DaemonSet", "cilium")).containers[0].image).toBe(versions.addons.cilium);
        expect(podSpec(find(cfg, "Deployment", "cilium-operator")).containers[0].command).toEqual(["cilium-operator-generic"]);
    });

    test("the operator may register Cilium's CRDs (none are rendered)", () => {
        const rules = (find(cilium(), "ClusterRole", "cilium-operator") as unknown as { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] }).rules;
        expect(rules).toContainEqual({ apiGroups: ["apiextensions.k8s.io"], resources: ["customresourcedefinitions"], verbs: ["create", "get", "list", "watch", "update"] });
    });
});

describe("addons.service (Ignition)", () => {
    const expectedFlatcar = `[Unit]
Description=opke addons: apply /opt/addons/manifests (pod network, kube-proxy, CoreDNS)
Requires=docker.service
After=docker.service
Wants=network-online.target
After=network-online.target
ConditionPathExists=/etc/kubernetes/images.env
ConditionPathExists=/etc/kubernetes/admin.conf
ConditionPathExists=/opt/addons/apply
ConditionPathExists=/opt/bootstrap/bootstrap.done

[Service]
Type=oneshot
EnvironmentFile=/etc/kubernetes/images.env
ExecStartPre=-/usr/bin/docker rm --force opke-addons
ExecStart=/usr/bin/docker run --rm --name opke-addons \\
  --network host \\
  --volume /etc/kubernetes/admin.conf:/etc/kubernetes/admin.conf:ro \\
  --volume /opt/addons:/opt/addons:ro \\
  --env KUBECONFIG=/etc/kubernetes/admin.conf \\
  --entrypoint /opt/addons/apply \\
  \${KUBECTL_IMAGE}
TimeoutStartSec=30min
`;

    test("controllers: one unit, not enabled, exactly this text (flatcar); built like bootstrap.service", () => {
        const cfg = flannel();
        for (const name of ["c1", "c2", "c3"]) {
            expect(addonsIgnition(cfg, node(cfg, name))).toEqual({ files: [], units: [{ name: ADDONS_UNIT, contents: expectedFlatcar, enabled: false }] });
        }
        expect(addonsIgnition(cfg, node(cfg, "w1"))).toEqual({ files: [], units: [] });
        // The same builder as bootkube's one-shots: only the lines that name the script, container,
        // condition and mount differ from bootstrap.service.
        const differing = (a: string, b: string) => a.split("\n").filter((l, i) => l !== b.split("\n")[i]);
        expect(differing(addonsUnit("flatcar"), bootstrapUnit("flatcar"))).toEqual([
            "Description=opke addons: apply /opt/addons/manifests (pod network, kube-proxy, CoreDNS)",
            "ConditionPathExists=/opt/addons/apply",
            "ConditionPathExists=/opt/bootstrap/bootstrap.done",
            "ExecStartPre=-/usr/bin/docker rm --force opke-addons",
            "ExecStart=/usr/bin/docker run --rm --name opke-addons \\",
            "  --volume /opt/addons:/opt/addons:ro \\",
            "  --entrypoint /opt/addons/apply \\",
        ]);
        expect(addonsUnit("fedora-coreos")).toContain("  --volume /opt/addons:/opt/addons:ro,z \\\n");
        expect(addonsUnit("fedora-coreos")).toContain("ExecStart=/usr/bin/podman run --rm --name opke-addons \\\n");
        expect(expectedFlatcar).not.toContain("RemainAfterExit");
    });

    test("version-free: two Kubernetes versions give deep-equal parts and identical node Ignition; the files differ in kube-proxy's image only", () => {
        const a = config({ kubernetesVersion: "v1.36.3" });
        const b = config({ kubernetesVersion: "v1.35.2" });
        for (const cni of ["flannel", "cilium"]) {
            const ca = config({ kubernetesVersion: "v1.36.3" }, { cni });
            const cb = config({ kubernetesVersion: "v1.35.2" }, { cni });
            for (const n of clusterNodes(ca)) {
                expect(addonsIgnition(cb, node(cb, n.name))).toEqual(addonsIgnition(ca, n));
                expect(renderNodeIgnition(cb, node(cb, n.name))).toBe(renderNodeIgnition(ca, n));
            }
        }
        const text = JSON.stringify(clusterNodes(a).map((n) => addonsIgnition(a, n)));
        for (const v of ["1.36.3", "1.35.2", ...Object.values(AddonImages).map((i) => i.split(":")[1])]) {
            expect(text).not.toContain(v);
        }
        const fa = addonsFiles(a, node(a, "c1")).files;
        const fb = addonsFiles(b, node(b, "c1")).files;
        expect(fa.map((f) => f.path)).toEqual(fb.map((f) => f.path));
        expect(fa.filter((f, i) => f.content !== fb[i].content).map((f) => f.path)).toEqual(["/opt/addons/manifests/20-kube-proxy.yaml"]);
        const i = fa.findIndex((f) => f.path === "/opt/addons/manifests/20-kube-proxy.yaml");
        const [la, lb] = [fa[i].content.split("\n"), fb[i].content.split("\n")];
        expect(la.length).toBe(lb.length);
        expect(la.flatMap((l, j) => (l === lb[j] ? [] : [[l, lb[j]]]))).toEqual([
            ["          image: registry.k8s.io/kube-proxy:v1.36.3", "          image: registry.k8s.io/kube-proxy:v1.35.2"],
        ]);
    });

    // systemd-analyze (Debian: apt-get install -y systemd). Fails, never skips, when absent.
    test.each(["flatcar", "fedora-coreos"])("the unit parses cleanly (%s)", (osName) => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "opke-addons-unit-"));
        try {
            const f = path.join(dir, ADDONS_UNIT);
            // The runtimes are not installed here: check the syntax of the unit, not the host.
            fs.writeFileSync(f, addonsUnit(osName as "flatcar").replace(/\/usr\/bin\/(docker|podman)/g, "/bin/true").replace(/^(Requires|After)=docker\.service$/gm, ""));
            const r = spawnSync("systemd-analyze", ["verify", "--man=no", f], { encoding: "utf8" });
            expect(r.error).toBeUndefined();
            expect({ status: r.status, output: r.stdout + r.stderr }).toEqual({ status: 0, output: "" });
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("addonsFiles (SSH push)", () => {
    test.each([["flannel", flannel], ["cilium", cilium]])("%s: controller 0 gets /opt/addons; other controllers and workers get nothing", (_n, mk) => {
        const cfg = mk();
        const a = addonsFiles(cfg, node(cfg, "c1"));
        expect(a.directories).toEqual([
            { path: "/opt/addons", mode: 0o755, owner: "root:root" },
            { path: "/opt/addons/manifests", mode: 0o755, owner: "root:root" },
        ]);
        const manifests = addonManifests(cfg);
        expect(a.files).toEqual([
            { path: "/opt/addons/apply", content: addonsApplyScript(), mode: 0o755, owner: "root:root", secret: false, restarts: [] },
            ...manifests.map((m) => ({ path: `/opt/addons/manifests/${m.name}`, content: m.content, mode: 0o644, owner: "root:root", secret: false, restarts: ["addons.service"] })),
        ]);
        for (const name of ["c2", "c3", "w1"]) {
            expect(addonsFiles(cfg, node(cfg, name))).toEqual({ directories: [], files: [] });
        }
        expect(() => addonsFiles(cfg, { ...node(cfg, "c1"), name: "x9" })).toThrow('addons: node "x9" (10.0.0.11) is not controllers[0]; pass a node from clusterNodes(cfg)');
    });

    test("lib/render: controller 0's SSH tree and the cluster files carry the addons; its Ignition has addons.service, workers' do not", () => {
        const cfg = flannel();
        // Fake certificates (never parsed here); a real secrets seed of this file's own.
        const m = fakeMaterial(cfg, { seedText: "opke addons test seed" });
        const c1 = renderNodeSsh(cfg, node(cfg, "c1"), m);
        const own = addonsFiles(cfg, node(cfg, "c1"));
        for (const f of own.files) expect(c1.files).toContainEqual(f);
        for (const d of own.directories) expect(c1.directories).toContainEqual(d);
        for (const name of ["c2", "c3", "w1"]) {
            expect(renderNodeSsh(cfg, node(cfg, name), m).files.filter((f) => f.path.startsWith("/opt/addons"))).toEqual([]);
        }
        expect(renderClusterFiles(cfg, m).addons).toEqual(addonManifests(cfg));
        const units = (name: string) => (JSON.parse(renderNodeIgnition(cfg, node(cfg, name))) as { systemd: { units: { name: string; enabled?: boolean }[] } }).systemd.units;
        expect(units("c2").find((u) => u.name === ADDONS_UNIT)).toEqual(expect.objectContaining({ name: ADDONS_UNIT }));
        expect(units("c2").find((u) => u.name === ADDONS_UNIT)?.enabled).not.toBe(true);
        expect(units("w1").map((u) => u.name)).not.toContain(ADDONS_UNIT);
    });
});

describe("/opt/addons/apply", () => {
    // Real shellcheck (apt-get install -y shellcheck). Fails, never skips, when it is missing.
    test("passes shellcheck", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "opke-addons-sc-"));
        try {
            const file = path.join(dir, "apply");
            fs.writeFileSync(file, addonsApplyScript());
            const r = spawnSync("shellcheck", ["--severity=style", "--shell=bash", file], { encoding: "utf8" });
            expect(r.error).toBeUndefined();
            expect({ status: r.status, output: r.stdout + r.stderr }).toEqual({ status: 0, output: "" });
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
        expect(addonsApplyScript().startsWith("#!/usr/bin/env bash\n")).toBe(true);
        expect(addonsApplyScript()).toContain("\nset -euo pipefail\n");
    });

    /** Runs the script with a fake kubectl that logs its arguments and fails the named calls. */
    function run(o: { fail: ("readyz" | "rollout")[] }) {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "opke-addons-run-"));
        try {
            const dir = path.join(root, "addons");
            fs.mkdirSync(path.join(dir, "manifests"), { recursive: true });
            const bin = path.join(root, "bin");
            fs.mkdirSync(bin);
            const log = path.join(root, "kubectl.log");
            const fails = o.fail.map((f) => `if [[ "$*" == *${f}* ]]; then exit 1; fi`).join("\n");
            fs.writeFileSync(path.join(bin, "kubectl"), `#!/usr/bin/env bash\necho "$*" >> "${log}"\n${fails}\nexit 0\n`, { mode: 0o755 });
            const file = path.join(root, "apply");
            fs.writeFileSync(file, addonsApplyScript(), { mode: 0o755 });
            const r = spawnSync(file, [], {
                encoding: "utf8",
                env: {
                    PATH: `${bin}:${process.env.PATH}`,
                    KUBECONFIG: "/nonexistent/admin.conf",
                    OPKE_ADDONS_DIR: dir,
                    OPKE_WAIT_ATTEMPTS: "3",
                    OPKE_WAIT_SECONDS: "0",
                    OPKE_APPLY_ATTEMPTS: "2",
                    OPKE_ROLLOUT_TIMEOUT: "7s",
                },
            });
            const calls = fs.existsSync(log) ? fs.readFileSync(log, "utf8").trimEnd().split("\n") : [];
            return { status: r.status, calls, stderr: r.stderr, dir, files: fs.readdirSync(dir).sort() };
        } finally {
            fs.rmSync(root, { recursive: true, force: true });
        }
    }

    test("waits for /readyz, applies server-side with its own field manager, waits for CoreDNS; writes nothing", () => {
        const r = run({ fail: [] });
        expect(r.status).toBe(0);
        expect(r.calls).toEqual([
            "get --raw=/readyz",
            `apply --server-side --force-conflicts --field-manager=opke-addons --recursive --filename=${r.dir}/manifests`,
            "--namespace=kube-system rollout status deployment/coredns --timeout=7s",
        ]);
        expect(r.files).toEqual(["manifests"]);
        expect(r.calls.join(" ")).not.toContain("--prune");
    });

    test("a CoreDNS rollout that does not finish is reported, not fatal", () => {
        const r = run({ fail: ["rollout"] });
        expect(r.status).toBe(0);
        expect(r.calls).toHaveLength(3);
        expect(r.stderr).toContain("addons: CoreDNS did not finish rolling out within 7s (the manifests are applied)");
    });

    test("gives up after the bounded API wait, without applying", () => {
        const r = run({ fail: ["readyz"] });
        expect(r.status).toBe(1);
        expect(r.calls).toEqual(["get --raw=/readyz", "get --raw=/readyz", "get --raw=/readyz"]);
        expect(r.stderr).toContain("not ready after 3 attempts");
    });
});

describe("consistency with modules/bootkube", () => {
    test("the controller taint and label the addons tolerate/prefer are the ones controllers register with", () => {
        const cfg = flannel();
        const c = node(cfg, "c1");
        expect(c.role).toBe(NodeRole.Controller);
        expect(roleTaints(c)).toEqual([{ key: CONTROLLER_TAINT_KEY, effect: "NoSchedule" }]);
        expect(roleLabels(c)).toEqual({ [CONTROLLER_LABEL_KEY]: "true" });
    });
});

describe("snapshots (review aid; the assertions above are the contract)", () => {
    test.each([["flannel", flannel], ["cilium", cilium]])("%s manifests", (_n, mk) => {
        for (const m of addonManifests(mk())) {
            expect(m.content).toMatchSnapshot(m.name);
        }
    });
    test("apply script", () => {
        expect(addonsApplyScript()).toMatchSnapshot();
    });
});
