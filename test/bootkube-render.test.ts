/**
 * modules/bootkube renderers: kubelet and control-plane units for Ignition; kubelet files, PKI,
 * kubeconfigs, static pods, encryption config, audit policy, cluster manifests and scripts for
 * the SSH push.
 *
 * What these tests do NOT prove:
 *   - that kube-apiserver / kube-controller-manager / kube-scheduler / kubelet v1.36 accept these
 *     flags and config files, that the apiserver becomes ready, that a kubelet's bootstrap CSR is
 *     auto-approved and signed, or that Secrets end up encrypted in etcd — a later end-to-end test
 *     starts the real binaries from exactly these files;
 *   - that docker/podman run the units as written on Flatcar/Fedora CoreOS (`systemd-analyze
 *     verify` only proves the unit files parse);
 *   - that the scripts work against a real API server: they are linted with the real shellcheck
 *     and run against a fake `kubectl` that records its arguments.
 * Certificates here are fake PEM blocks (deterministic, so snapshots are stable), except in the
 * test marked "real PKI"; the secrets seed is a real ED25519 key from a fixed seed.
 */
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse, parseAllDocuments } from "yaml";
import { IgnitionParts, NodeFile } from "../lib/assets";
import { ClusterConfig, ClusterNode, clusterNodes } from "../lib/config/schema";
import { deriveSecrets } from "../lib/pki/derive";
import { generateLocalPki } from "../lib/pki/local";
import { PkiMaterial } from "../lib/pki/spec";
import {
    adminKubeconfig,
    apiserverCommand,
    applyScript,
    clusterManifests,
    controllerManagerCommand,
    controlPlaneIgnition,
    describeKubernetesPki,
    INPUTS_ANNOTATION,
    isKubeletLabel,
    kubeletIgnition,
    kubeUpgradeScript,
    nodeFiles,
    schedulerCommand,
} from "../modules/bootkube";
import { describeEtcdPki } from "../modules/etcd";
import { demoConfig, fakeMaterial, fakePem } from "./helpers/fixtures";

/** The renderer tests' "demo" cluster; worker w1 carries a custom label set and a taint. */
function config(overrides: Record<string, unknown> = {}): ClusterConfig {
    return demoConfig(overrides, {
        labels: { "example.com/pool": "blue", "node.kubernetes.io/disk": "ssd" },
        taints: [{ key: "example.com/dedicated", value: "db", effect: "NoSchedule" }],
    });
}

function node(cfg: ClusterConfig, name: string): ClusterNode {
    const n = clusterNodes(cfg).find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
}

function fileAt(files: NodeFile[], p: string): NodeFile {
    const f = files.find((x) => x.path === p);
    if (!f) throw new Error(`no file ${p}`);
    return f;
}

function ignitionOf(cfg: ClusterConfig): IgnitionParts[] {
    return clusterNodes(cfg).flatMap((n) => [kubeletIgnition(cfg, n), controlPlaneIgnition(cfg, n)]);
}

function unitText(parts: IgnitionParts, name: string): string {
    const u = parts.units.find((x) => x.name === name);
    if (!u?.contents) throw new Error(`no unit ${name}`);
    return u.contents;
}

describe("static pod command lines (Kubernetes v1.36)", () => {
    test("kube-apiserver on c2: exact flags", () => {
        const cfg = config();
        expect(apiserverCommand(cfg, node(cfg, "c2"))).toEqual([
            "kube-apiserver",
            "--advertise-address=10.0.0.12",
            "--allow-privileged=true",
            "--anonymous-auth=false",
            "--audit-log-maxage=30",
            "--audit-log-maxbackup=10",
            "--audit-log-maxsize=100",
            "--audit-log-path=/var/log/kubernetes/audit/audit.log",
            "--audit-policy-file=/etc/kubernetes/pki/audit-policy.yaml",
            "--authorization-mode=Node,RBAC",
            "--client-ca-file=/etc/kubernetes/pki/ca.crt",
            "--enable-admission-plugins=NodeRestriction",
            "--enable-bootstrap-token-auth=true",
            "--encryption-provider-config=/etc/kubernetes/pki/encryption-config.yaml",
            "--encryption-provider-config-automatic-reload=true",
            "--etcd-cafile=/etc/kubernetes/pki/etcd-ca.crt",
            "--etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt",
            "--etcd-keyfile=/etc/kubernetes/pki/apiserver-etcd-client.key",
            "--etcd-servers=https://10.0.0.11:2379,https://10.0.0.12:2379,https://10.0.0.13:2379",
            "--kubelet-client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt",
            "--kubelet-client-key=/etc/kubernetes/pki/apiserver-kubelet-client.key",
            "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
            "--proxy-client-cert-file=/etc/kubernetes/pki/front-proxy-client.crt",
            "--proxy-client-key-file=/etc/kubernetes/pki/front-proxy-client.key",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-username-headers=X-Remote-User",
            "--secure-port=6443",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--service-account-jwks-uri=https://api.demo.example.com:6443/openid/v1/jwks",
            "--service-account-key-file=/etc/kubernetes/pki/sa.pub",
            "--service-account-signing-key-file=/etc/kubernetes/pki/sa.key",
            "--service-cluster-ip-range=10.3.0.0/16",
            "--tls-cert-file=/etc/kubernetes/pki/apiserver.crt",
            "--tls-private-key-file=/etc/kubernetes/pki/apiserver.key",
        ]);
    });

    test("kube-controller-manager: exact flags", () => {
        const cfg = config({ network: { podCidr: "10.40.0.0/16", nodePodPrefix: 25 } });
        expect(controllerManagerCommand(cfg)).toEqual([
            "kube-controller-manager",
            "--allocate-node-cidrs=true",
            "--authentication-kubeconfig=/etc/kubernetes/controller-manager.conf",
            "--authorization-kubeconfig=/etc/kubernetes/controller-manager.conf",
            "--bind-address=127.0.0.1",
            "--client-ca-file=/etc/kubernetes/pki/ca.crt",
            "--cluster-cidr=10.40.0.0/16",
            "--cluster-name=demo",
            "--cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt",
            "--cluster-signing-duration=720h",
            "--cluster-signing-key-file=/etc/kubernetes/pki/ca.key",
            "--controllers=*,bootstrapsigner,tokencleaner",
            "--kubeconfig=/etc/kubernetes/controller-manager.conf",
            "--leader-elect=true",
            "--node-cidr-mask-size=25",
            "--requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt",
            "--root-ca-file=/etc/kubernetes/pki/ca.crt",
            "--service-account-private-key-file=/etc/kubernetes/pki/sa.key",
            "--service-cluster-ip-range=10.3.0.0/16",
            "--use-service-account-credentials=true",
        ]);
    });

    test("kube-scheduler: exact flags", () => {
        expect(schedulerCommand()).toEqual([
            "kube-scheduler",
            "--authentication-kubeconfig=/etc/kubernetes/scheduler.conf",
            "--authorization-kubeconfig=/etc/kubernetes/scheduler.conf",
            "--bind-address=127.0.0.1",
            "--kubeconfig=/etc/kubernetes/scheduler.conf",
            "--leader-elect=true",
        ]);
    });

    test("no flag removed from recent Kubernetes releases", () => {
        const cfg = config();
        const flags = [...apiserverCommand(cfg, node(cfg, "c1")), ...controllerManagerCommand(cfg), ...schedulerCommand()].map((a) => a.split("=")[0]);
        for (const removed of ["--insecure-port", "--insecure-bind-address", "--address", "--port", "--kubelet-https", "--experimental-cluster-signing-duration", "--apiserver-count", "--admission-control", "--basic-auth-file", "--service-account-api-audiences", "--cloud-provider"]) {
            expect(flags).not.toContain(removed);
        }
    });
});

describe("Ignition parts: version-free, secret-free", () => {
    test("two Kubernetes versions give deep-equal Ignition; kubelet.env and static pods differ", () => {
        const a = config();
        const b = config({ kubernetesVersion: "v1.37.0", etcdVersion: "v3.6.99" });
        expect(ignitionOf(b)).toEqual(ignitionOf(a));
        const json = JSON.stringify(ignitionOf(a));
        expect(json).not.toMatch(/1\.36|1\.37|3\.6\./);
        expect(json).not.toContain("registry.k8s.io");
        expect(json).not.toContain("quay.io");

        const m = fakeMaterial(a);
        const fa = nodeFiles(a, node(a, "c1"), m).files;
        const fb = nodeFiles(b, node(b, "c1"), fakeMaterial(b)).files;
        expect(fileAt(fa, "/etc/kubernetes/kubelet.env").content).toBe("KUBELET_IMAGE=quay.io/poseidon/kubelet:v1.36.3\n");
        expect(fileAt(fb, "/etc/kubernetes/kubelet.env").content).toBe("KUBELET_IMAGE=quay.io/poseidon/kubelet:v1.37.0\n");
        expect(fileAt(fa, "/etc/kubernetes/images.env").content).toBe("KUBECTL_IMAGE=registry.k8s.io/kubectl:v1.36.3\n");
        for (const c of ["kube-apiserver", "kube-controller-manager", "kube-scheduler"]) {
            const pod = parse(fileAt(fa, `/etc/kubernetes/manifests/${c}.yaml`).content);
            expect(pod.spec.containers[0].image).toBe(`registry.k8s.io/${c}:v1.36.3`);
            expect(parse(fileAt(fb, `/etc/kubernetes/manifests/${c}.yaml`).content).spec.containers[0].image).toBe(`registry.k8s.io/${c}:v1.37.0`);
        }
        // The version lives only in the image references of the pushed files.
        const versioned = fa.filter((f) => f.content.includes("v1.36.3")).map((f) => f.path);
        expect(versioned).toEqual([
            "/etc/kubernetes/images.env",
            "/etc/kubernetes/kubelet.env",
            "/etc/kubernetes/manifests/kube-apiserver.yaml",
            "/etc/kubernetes/manifests/kube-controller-manager.yaml",
            "/etc/kubernetes/manifests/kube-scheduler.yaml",
        ]);
    });

    test("no key, certificate, token or encryption key in Ignition", () => {
        const cfg = config();
        const m = fakeMaterial(cfg);
        const s = deriveSecrets(m.keyPairs["secrets-seed"].privateKeyPem);
        const json = JSON.stringify(ignitionOf(cfg));
        expect(json).not.toContain("-----BEGIN");
        expect(json).not.toContain(s.bootstrapTokenId);
        expect(json).not.toContain(s.bootstrapTokenSecret);
        expect(json).not.toContain(s.encryptionKey);
        for (const c of Object.values(m.certificates)) expect(json).not.toContain(c.certPem.split("\n")[1]);
    });

    test("kubelet units: path enabled, service started by it; controllers get the one-shots, not enabled", () => {
        const cfg = config();
        const k = kubeletIgnition(cfg, node(cfg, "c1"));
        expect(k.files).toEqual([]);
        expect(k.units.map((u) => [u.name, u.enabled])).toEqual([
            ["kubelet.path", true],
            ["kubelet.service", undefined],
        ]);
        expect(unitText(k, "kubelet.path")).toContain("PathExists=/etc/kubernetes/bootstrap-kubeconfig\n");
        const cp = controlPlaneIgnition(cfg, node(cfg, "c2"));
        expect(cp.units.map((u) => [u.name, u.enabled])).toEqual([
            ["bootstrap.service", false],
            ["kube-upgrade.service", false],
        ]);
        expect(controlPlaneIgnition(cfg, node(cfg, "w1"))).toEqual({ files: [], units: [] });
    });

    test("one-shots re-run on `systemctl start` (no RemainAfterExit); bootstrap before, kube-upgrade after bootstrap.done", () => {
        const cfg = config();
        const cp = controlPlaneIgnition(cfg, node(cfg, "c1"));
        for (const u of cp.units) {
            expect(u.contents).toContain("Type=oneshot\n");
            expect(u.contents).not.toMatch(/RemainAfterExit/);
            expect(u.contents).toContain("EnvironmentFile=/etc/kubernetes/images.env\n");
            expect(u.contents).toContain("  ${KUBECTL_IMAGE}\n");
            expect(u.contents).toContain("  --volume /etc/kubernetes/admin.conf:/etc/kubernetes/admin.conf:ro \\\n");
            expect(u.contents).toContain("  --volume /opt/bootstrap:/opt/bootstrap:rw \\\n");
            expect(u.contents).not.toContain("[Install]");
        }
        expect(unitText(cp, "bootstrap.service")).toContain("ConditionPathExists=!/opt/bootstrap/bootstrap.done\n");
        expect(unitText(cp, "bootstrap.service")).toContain("  --entrypoint /opt/bootstrap/apply \\\n");
        expect(unitText(cp, "kube-upgrade.service")).toContain("ConditionPathExists=/opt/bootstrap/bootstrap.done\n");
        expect(unitText(cp, "kube-upgrade.service")).not.toContain("ConditionPathExists=!/opt/bootstrap/bootstrap.done");
        expect(unitText(cp, "kube-upgrade.service")).toContain("  --entrypoint /opt/bootstrap/kube-upgrade \\\n");
    });

    test("kubelet unit: docker on flatcar, podman on fedora-coreos; labels, no shell snippets", () => {
        const flat = config();
        const fcos = config({ os: "fedora-coreos" });
        const c = unitText(kubeletIgnition(flat, node(flat, "c1")), "kubelet.service");
        const w = unitText(kubeletIgnition(fcos, node(fcos, "w1")), "kubelet.service");
        expect(c).toMatchSnapshot("flatcar controller kubelet.service");
        expect(w).toMatchSnapshot("fedora-coreos worker kubelet.service");
        expect(c).toContain("ExecStart=/usr/bin/docker run --rm --name kubelet");
        expect(w).toContain("ExecStart=/usr/bin/podman run --rm --name kubelet");
        expect(w).not.toContain("docker");
        expect(c).toContain("  --node-labels=node.kubernetes.io/controller=true\n");
        expect(w).toContain("  --node-labels=node.kubernetes.io/worker=true,example.com/pool=blue,node.kubernetes.io/disk=ssd\n");
        expect(c).toContain("  --hostname-override=c1 \\\n");
        expect(c).toContain("  --node-ip=10.0.0.11 \\\n");
        expect(c).toContain("EnvironmentFile=/etc/kubernetes/kubelet.env\n");
        for (const u of [c, w]) expect(u).not.toMatch(/\b(ba)?sh -c\b/);
    });

    test("labels a kubelet may not set are refused, naming the field", () => {
        expect(isKubeletLabel("node-role.kubernetes.io/worker")).toBe(false);
        expect(isKubeletLabel("kubernetes.io/role")).toBe(false);
        expect(isKubeletLabel("node.kubernetes.io/controller")).toBe(true);
        expect(isKubeletLabel("topology.kubernetes.io/zone")).toBe(true);
        expect(isKubeletLabel("example.com/x")).toBe(true);
        const cfg = config({ workers: [{ name: "w1", ip: "10.0.0.21", labels: { "node-role.kubernetes.io/db": "" } }] });
        expect(() => kubeletIgnition(cfg, node(cfg, "w1"))).toThrow(/workers\[0\]\.labels: "node-role\.kubernetes\.io\/db"/);
    });
});

describe("nodeFiles", () => {
    const cfg = config();
    const m = fakeMaterial(cfg);
    const secrets = deriveSecrets(m.keyPairs["secrets-seed"].privateKeyPem);

    test("worker: kubelet files only, sorted, with modes and restarts", () => {
        const a = nodeFiles(cfg, node(cfg, "w1"), m);
        expect(a.directories).toEqual([
            { path: "/etc/kubernetes", mode: 0o755, owner: "root:root" },
            { path: "/etc/kubernetes/manifests", mode: 0o755, owner: "root:root" },
            { path: "/etc/kubernetes/pki", mode: 0o700, owner: "root:root" },
        ]);
        expect(a.files.map((f) => [f.path, f.mode.toString(8), f.owner, f.secret, f.restarts])).toEqual([
            ["/etc/kubernetes/bootstrap-kubeconfig", "600", "root:root", true, []],
            ["/etc/kubernetes/images.env", "644", "root:root", false, []],
            ["/etc/kubernetes/kubelet.env", "644", "root:root", false, ["kubelet.service"]],
            ["/etc/kubernetes/kubelet.yaml", "644", "root:root", false, ["kubelet.service"]],
            ["/etc/kubernetes/pki/ca.crt", "644", "root:root", false, ["kubelet.service"]],
        ]);
    });

    test("controller: every contract path, sorted; keys and credentials 0600 secret, scripts 0755", () => {
        const a = nodeFiles(cfg, node(cfg, "c1"), m);
        expect(a.directories.map((d) => [d.path, d.mode.toString(8)])).toEqual([
            ["/etc/kubernetes", "755"],
            ["/etc/kubernetes/manifests", "755"],
            ["/etc/kubernetes/pki", "700"],
            ["/opt/bootstrap", "700"],
            ["/opt/bootstrap/manifests", "700"],
            ["/var/log/kubernetes", "755"],
            ["/var/log/kubernetes/audit", "700"],
        ]);
        expect(a.files.map((f) => [f.path, f.mode.toString(8), f.secret])).toEqual([
            ["/etc/kubernetes/admin.conf", "600", true],
            ["/etc/kubernetes/bootstrap-kubeconfig", "600", true],
            ["/etc/kubernetes/controller-manager.conf", "600", true],
            ["/etc/kubernetes/images.env", "644", false],
            ["/etc/kubernetes/kubelet.env", "644", false],
            ["/etc/kubernetes/kubelet.yaml", "644", false],
            ["/etc/kubernetes/manifests/kube-apiserver.yaml", "644", false],
            ["/etc/kubernetes/manifests/kube-controller-manager.yaml", "644", false],
            ["/etc/kubernetes/manifests/kube-scheduler.yaml", "644", false],
            ["/etc/kubernetes/pki/apiserver-etcd-client.crt", "644", false],
            ["/etc/kubernetes/pki/apiserver-etcd-client.key", "600", true],
            ["/etc/kubernetes/pki/apiserver-kubelet-client.crt", "644", false],
            ["/etc/kubernetes/pki/apiserver-kubelet-client.key", "600", true],
            ["/etc/kubernetes/pki/apiserver.crt", "644", false],
            ["/etc/kubernetes/pki/apiserver.key", "600", true],
            ["/etc/kubernetes/pki/audit-policy.yaml", "644", false],
            ["/etc/kubernetes/pki/ca.crt", "644", false],
            ["/etc/kubernetes/pki/ca.key", "600", true],
            ["/etc/kubernetes/pki/encryption-config.yaml", "600", true],
            ["/etc/kubernetes/pki/etcd-ca.crt", "644", false],
            ["/etc/kubernetes/pki/front-proxy-ca.crt", "644", false],
            ["/etc/kubernetes/pki/front-proxy-client.crt", "644", false],
            ["/etc/kubernetes/pki/front-proxy-client.key", "600", true],
            ["/etc/kubernetes/pki/sa.key", "600", true],
            ["/etc/kubernetes/pki/sa.pub", "644", false],
            ["/etc/kubernetes/scheduler.conf", "600", true],
            ["/opt/bootstrap/apply", "755", false],
            ["/opt/bootstrap/kube-upgrade", "755", false],
            ["/opt/bootstrap/manifests/bootstrap-token-secret.yaml", "600", true],
            ["/opt/bootstrap/manifests/crb-kube-apiserver-kubelet-client.yaml", "644", false],
            ["/opt/bootstrap/manifests/crb-kubelet-bootstrap.yaml", "644", false],
            ["/opt/bootstrap/manifests/crb-node-client-csr-approve.yaml", "644", false],
            ["/opt/bootstrap/manifests/crb-node-client-csr-renew.yaml", "644", false],
        ]);
        for (const f of a.files) {
            expect(f.owner).toBe("root:root");
            // Anything holding key material, a token or the encryption key is secret and 0600.
            const sensitive =
                f.content.includes("PRIVATE KEY") || f.content.includes("client-key-data") || f.content.includes(secrets.bootstrapTokenSecret) ||
                f.content.includes(Buffer.from(secrets.bootstrapTokenSecret).toString("base64")) || f.content.includes(secrets.encryptionKey);
            expect([f.path, f.secret]).toEqual([f.path, sensitive]);
            if (f.secret) expect([f.path, f.mode]).toEqual([f.path, 0o600]);
        }
        // The static pods are picked up by the kubelet; kubelet files restart the kubelet; changed
        // cluster manifests (and the script) are re-applied by kube-upgrade.service.
        expect(a.files.filter((f) => f.restarts.length > 0).map((f) => [f.path, f.restarts])).toEqual([
            ["/etc/kubernetes/kubelet.env", ["kubelet.service"]],
            ["/etc/kubernetes/kubelet.yaml", ["kubelet.service"]],
            ["/etc/kubernetes/pki/ca.crt", ["kubelet.service"]],
            ["/opt/bootstrap/kube-upgrade", ["kube-upgrade.service"]],
            ["/opt/bootstrap/manifests/bootstrap-token-secret.yaml", ["kube-upgrade.service"]],
            ["/opt/bootstrap/manifests/crb-kube-apiserver-kubelet-client.yaml", ["kube-upgrade.service"]],
            ["/opt/bootstrap/manifests/crb-kubelet-bootstrap.yaml", ["kube-upgrade.service"]],
            ["/opt/bootstrap/manifests/crb-node-client-csr-approve.yaml", ["kube-upgrade.service"]],
            ["/opt/bootstrap/manifests/crb-node-client-csr-renew.yaml", ["kube-upgrade.service"]],
        ]);
    });

    test("PEMs land in the contract paths", () => {
        const f = nodeFiles(cfg, node(cfg, "c2"), m).files;
        const expectContent = (p: string, v: string) => expect([p, fileAt(f, p).content]).toEqual([p, v]);
        expectContent("/etc/kubernetes/pki/ca.crt", m.certificates["kubernetes-ca"].certPem);
        expectContent("/etc/kubernetes/pki/ca.key", m.certificates["kubernetes-ca"].keyPem);
        expectContent("/etc/kubernetes/pki/apiserver.crt", m.certificates["kube-apiserver"].certPem);
        expectContent("/etc/kubernetes/pki/apiserver.key", m.certificates["kube-apiserver"].keyPem);
        expectContent("/etc/kubernetes/pki/apiserver-kubelet-client.crt", m.certificates["kube-apiserver-kubelet-client"].certPem);
        expectContent("/etc/kubernetes/pki/apiserver-etcd-client.key", m.certificates["etcd-apiserver-client"].keyPem);
        expectContent("/etc/kubernetes/pki/etcd-ca.crt", m.certificates["etcd-ca"].certPem);
        expectContent("/etc/kubernetes/pki/front-proxy-ca.crt", m.certificates["front-proxy-ca"].certPem);
        expectContent("/etc/kubernetes/pki/front-proxy-client.crt", m.certificates["front-proxy-client"].certPem);
        expectContent("/etc/kubernetes/pki/sa.key", m.keyPairs["service-account"].privateKeyPem);
        expectContent("/etc/kubernetes/pki/sa.pub", m.keyPairs["service-account"].publicKeyPem);
    });

    test("kubeconfigs: local apiserver for the controller-manager and scheduler, API URL for admin and kubelets", () => {
        const f = nodeFiles(cfg, node(cfg, "c1"), m).files;
        const kc = (p: string) => parse(fileAt(f, p).content);
        const b64 = (s: string) => Buffer.from(s).toString("base64");
        const cm = kc("/etc/kubernetes/controller-manager.conf");
        expect(cm.clusters[0].cluster.server).toBe("https://127.0.0.1:6443");
        expect(cm.users[0].user["client-certificate-data"]).toBe(b64(m.certificates["kube-controller-manager"].certPem));
        const sch = kc("/etc/kubernetes/scheduler.conf");
        expect(sch.clusters[0].cluster.server).toBe("https://127.0.0.1:6443");
        expect(sch.users[0].user["client-key-data"]).toBe(b64(m.certificates["kube-scheduler"].keyPem));
        const admin = kc("/etc/kubernetes/admin.conf");
        expect(admin.clusters[0].cluster.server).toBe("https://api.demo.example.com:6443");
        expect(admin.users[0].user["client-certificate-data"]).toBe(b64(m.certificates.admin.certPem));
        expect(fileAt(f, "/etc/kubernetes/admin.conf").content).toBe(adminKubeconfig(cfg, m));
        const boot = kc("/etc/kubernetes/bootstrap-kubeconfig");
        expect(boot.clusters[0].cluster.server).toBe("https://api.demo.example.com:6443");
        expect(boot.clusters[0].cluster["certificate-authority-data"]).toBe(b64(m.certificates["kubernetes-ca"].certPem));
        expect(boot.users[0].user).toEqual({ token: `${secrets.bootstrapTokenId}.${secrets.bootstrapTokenSecret}` });
    });

    test("encryption config: secretbox with the derived key, then identity", () => {
        const enc = parse(fileAt(nodeFiles(cfg, node(cfg, "c1"), m).files, "/etc/kubernetes/pki/encryption-config.yaml").content);
        expect(enc.apiVersion).toBe("apiserver.config.k8s.io/v1");
        expect(enc.kind).toBe("EncryptionConfiguration");
        expect(enc.resources).toHaveLength(1);
        expect(enc.resources[0].resources).toEqual(["secrets"]);
        expect(enc.resources[0].providers).toEqual([
            { secretbox: { keys: [{ name: expect.stringMatching(/^opke-[0-9a-f]{12}$/), secret: secrets.encryptionKey }] } },
            { identity: {} },
        ]);
        expect(Buffer.from(secrets.encryptionKey, "base64")).toHaveLength(32);
    });

    test("audit policy: never RequestResponse; secrets, configmaps and tokenreviews at Metadata", () => {
        const pol = parse(fileAt(nodeFiles(cfg, node(cfg, "c1"), m).files, "/etc/kubernetes/pki/audit-policy.yaml").content);
        expect([pol.apiVersion, pol.kind]).toEqual(["audit.k8s.io/v1", "Policy"]);
        const levels = pol.rules.map((r: { level: string }) => r.level);
        expect(levels).not.toContain("RequestResponse");
        const sensitive = pol.rules.find((r: { resources?: { resources: string[] }[] }) => r.resources?.some((g) => g.resources.includes("secrets")));
        expect(sensitive.level).toBe("Metadata");
        expect(JSON.stringify(sensitive)).toContain("tokenreviews");
        expect(JSON.stringify(sensitive)).toContain("configmaps");
        // The first rule that could match a Secret read must be the Metadata one (rules match in order).
        const firstSecretRule = pol.rules.findIndex((r: { resources?: { resources: string[] }[]; verbs?: string[]; users?: string[]; userGroups?: string[]; nonResourceURLs?: string[] }) =>
            !r.nonResourceURLs && !r.users && !r.userGroups && (!r.resources || r.resources.some((g) => g.resources.includes("secrets"))));
        expect(pol.rules[firstSecretRule].level).toBe("Metadata");
        expect(pol.rules[pol.rules.length - 1]).toEqual({ level: "Metadata" });
    });

    test("every static pod: hostNetwork, system-node-critical, read-only PKI, image and probes", () => {
        const f = nodeFiles(cfg, node(cfg, "c1"), m).files;
        for (const c of ["kube-apiserver", "kube-controller-manager", "kube-scheduler"]) {
            const pod = parse(fileAt(f, `/etc/kubernetes/manifests/${c}.yaml`).content);
            expect([pod.apiVersion, pod.kind, pod.metadata.name, pod.metadata.namespace]).toEqual(["v1", "Pod", c, "kube-system"]);
            expect(pod.spec.hostNetwork).toBe(true);
            expect(pod.spec.priorityClassName).toBe("system-node-critical");
            expect(pod.metadata.annotations[INPUTS_ANNOTATION]).toMatch(/^[0-9a-f]{64}$/);
            const ctr = pod.spec.containers[0];
            for (const vm of ctr.volumeMounts) {
                const vol = pod.spec.volumes.find((v: { name: string }) => v.name === vm.name);
                expect(vol.hostPath.path).toBe(vm.mountPath);
                if (vm.mountPath.startsWith("/etc/kubernetes")) expect(vm.readOnly).toBe(true);
            }
        }
        const api = parse(fileAt(f, "/etc/kubernetes/manifests/kube-apiserver.yaml").content).spec.containers[0];
        expect(api.command).toEqual(apiserverCommand(cfg, node(cfg, "c1")));
        // Anonymous auth is off, so an HTTP probe would get 401: the apiserver has a TCP readiness probe only.
        expect(api.livenessProbe).toBeUndefined();
        expect(api.readinessProbe.tcpSocket).toEqual({ host: "127.0.0.1", port: 6443 });
        const cm = parse(fileAt(f, "/etc/kubernetes/manifests/kube-controller-manager.yaml").content).spec.containers[0];
        expect(cm.livenessProbe.httpGet).toEqual({ host: "127.0.0.1", path: "/healthz", port: 10257, scheme: "HTTPS" });
        const sch = parse(fileAt(f, "/etc/kubernetes/manifests/kube-scheduler.yaml").content).spec.containers[0];
        expect(sch.livenessProbe.httpGet).toEqual({ host: "127.0.0.1", path: "/livez", port: 10259, scheme: "HTTPS" });
    });

    test("a renewed certificate changes exactly the static pods that read it", () => {
        const renewed: PkiMaterial = JSON.parse(JSON.stringify(m));
        renewed.certificates["kube-apiserver"].certPem = fakePem("CERTIFICATE", "kube-apiserver renewed");
        const before = nodeFiles(cfg, node(cfg, "c1"), m).files;
        const after = nodeFiles(cfg, node(cfg, "c1"), renewed).files;
        const changed = after.filter((f) => f.content !== fileAt(before, f.path).content).map((f) => f.path);
        expect(changed).toEqual(["/etc/kubernetes/manifests/kube-apiserver.yaml", "/etc/kubernetes/pki/apiserver.crt"]);
    });

    test("deterministic, and identical bootstrap files on every controller", () => {
        expect(nodeFiles(cfg, node(cfg, "c1"), m)).toEqual(nodeFiles(cfg, node(cfg, "c1"), m));
        const boot = (n: string) => nodeFiles(cfg, node(cfg, n), m).files.filter((f) => f.path.startsWith("/opt/bootstrap/"));
        expect(boot("c2")).toEqual(boot("c1"));
        expect(boot("c3")).toEqual(boot("c1"));
    });

    test("missing material is named", () => {
        const partial: PkiMaterial = JSON.parse(JSON.stringify(m));
        delete partial.certificates["front-proxy-client"];
        expect(() => nodeFiles(cfg, node(cfg, "c1"), partial)).toThrow(/certificate "front-proxy-client" is missing/);
    });
});

describe("snapshots", () => {
    const cfg = config();
    const m = fakeMaterial(cfg);
    test.each(["kube-apiserver", "kube-controller-manager", "kube-scheduler"])("%s static pod (c1)", (c) => {
        expect(fileAt(nodeFiles(cfg, node(cfg, "c1"), m).files, `/etc/kubernetes/manifests/${c}.yaml`).content).toMatchSnapshot();
    });
    test.each([["flatcar", "c1"], ["fedora-coreos", "w1"]])("kubelet.yaml (%s, %s)", (osName, n) => {
        const c = config({ os: osName });
        expect(fileAt(nodeFiles(c, node(c, n), fakeMaterial(c)).files, "/etc/kubernetes/kubelet.yaml").content).toMatchSnapshot();
    });
});

describe("YAML", () => {
    test("every YAML file parses; API objects have apiVersion, kind and metadata.name", () => {
        const cfg = config();
        const m = fakeMaterial(cfg);
        const files = nodeFiles(cfg, node(cfg, "c1"), m).files.filter((f) => /\.(yaml|conf)$|kubeconfig$/.test(f.path));
        expect(files.length).toBeGreaterThan(10);
        for (const f of files) {
            const docs = parseAllDocuments(f.content);
            expect([f.path, docs.length]).toEqual([f.path, 1]);
            for (const d of docs) {
                expect([f.path, d.errors]).toEqual([f.path, []]);
                const o = d.toJS();
                expect(typeof o.apiVersion).toBe("string");
                expect(typeof o.kind).toBe("string");
                if (f.path.startsWith("/etc/kubernetes/manifests/") || f.path.startsWith("/opt/bootstrap/manifests/")) {
                    expect([f.path, typeof o.metadata?.name]).toEqual([f.path, "string"]);
                }
            }
        }
    });

    test("cluster manifests: bootstrap token Secret and the kubelet TLS-bootstrap RBAC", () => {
        const cfg = config();
        const m = fakeMaterial(cfg);
        const s = deriveSecrets(m.keyPairs["secrets-seed"].privateKeyPem);
        const docs = Object.fromEntries(clusterManifests(cfg, m).map((mf) => [mf.name, parse(mf.content)]));
        expect(Object.keys(docs)).toEqual([
            "bootstrap-token-secret.yaml",
            "crb-kube-apiserver-kubelet-client.yaml",
            "crb-kubelet-bootstrap.yaml",
            "crb-node-client-csr-approve.yaml",
            "crb-node-client-csr-renew.yaml",
        ]);
        const secret = docs["bootstrap-token-secret.yaml"];
        expect(secret.metadata).toEqual({ name: `bootstrap-token-${s.bootstrapTokenId}`, namespace: "kube-system" });
        expect(secret.type).toBe("bootstrap.kubernetes.io/token");
        const data = Object.fromEntries(Object.entries(secret.data as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]));
        expect(data).toEqual({
            description: "kubelet TLS bootstrap token (opke)",
            "token-id": s.bootstrapTokenId,
            "token-secret": s.bootstrapTokenSecret,
            "usage-bootstrap-authentication": "true",
            "usage-bootstrap-signing": "true",
        });
        const binding = (name: string) => [docs[name].roleRef.name, docs[name].subjects];
        expect(binding("crb-kubelet-bootstrap.yaml")).toEqual([
            "system:node-bootstrapper",
            [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "system:bootstrappers" }],
        ]);
        expect(binding("crb-node-client-csr-approve.yaml")).toEqual([
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "system:bootstrappers" }],
        ]);
        expect(binding("crb-node-client-csr-renew.yaml")).toEqual([
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "system:nodes" }],
        ]);
        expect(binding("crb-kube-apiserver-kubelet-client.yaml")).toEqual([
            "system:kubelet-api-admin",
            [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: "kube-apiserver-kubelet-client" }],
        ]);
    });
});

describe("scripts", () => {
    // Real shellcheck (apt-get install -y shellcheck). Fails, never skips, when it is missing.
    test.each([["apply", applyScript()], ["kube-upgrade", kubeUpgradeScript()]])("%s passes shellcheck", (name, script) => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "opke-sc-"));
        try {
            const file = path.join(dir, name);
            fs.writeFileSync(file, script);
            const r = spawnSync("shellcheck", ["--severity=style", "--shell=bash", file], { encoding: "utf8" });
            expect(r.error).toBeUndefined();
            expect({ status: r.status, output: r.stdout + r.stderr }).toEqual({ status: 0, output: "" });
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
        expect(script.startsWith("#!/usr/bin/env bash\n")).toBe(true);
        expect(script).toContain("\nset -euo pipefail\n");
    });

    /** Runs a script with a fake kubectl that logs its arguments and fails /readyz when told to. */
    function runWithFakeKubectl(script: string, o: { readyz: "ok" | "fail"; bootstrapDir: string }) {
        const bin = path.join(o.bootstrapDir, "..", "bin");
        fs.mkdirSync(bin, { recursive: true });
        const log = path.join(o.bootstrapDir, "..", "kubectl.log");
        fs.writeFileSync(
            path.join(bin, "kubectl"),
            `#!/usr/bin/env bash\necho "$*" >> "${log}"\nif [[ "$*" == *readyz* && "${o.readyz}" == fail ]]; then exit 1; fi\nexit 0\n`,
            { mode: 0o755 },
        );
        const file = path.join(o.bootstrapDir, "..", "script");
        fs.writeFileSync(file, script, { mode: 0o755 });
        const r = spawnSync(file, [], {
            encoding: "utf8",
            env: {
                PATH: `${bin}:${process.env.PATH}`,
                KUBECONFIG: "/nonexistent/admin.conf",
                OPKE_BOOTSTRAP_DIR: o.bootstrapDir,
                OPKE_WAIT_ATTEMPTS: "3",
                OPKE_WAIT_SECONDS: "0",
                OPKE_APPLY_ATTEMPTS: "2",
            },
        });
        const calls = fs.existsSync(log) ? fs.readFileSync(log, "utf8").trimEnd().split("\n") : [];
        fs.rmSync(log, { force: true });
        return { status: r.status, calls, stderr: r.stderr };
    }

    test("apply: waits for /readyz, applies server-side, writes bootstrap.done; a second run does nothing", () => {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "opke-apply-"));
        try {
            const dir = path.join(root, "bootstrap");
            fs.mkdirSync(path.join(dir, "manifests"), { recursive: true });
            const first = runWithFakeKubectl(applyScript(), { readyz: "ok", bootstrapDir: dir });
            expect(first.status).toBe(0);
            expect(first.calls).toEqual([
                "get --raw=/readyz",
                `apply --server-side --force-conflicts --field-manager=opke --recursive --filename=${dir}/manifests`,
            ]);
            expect(fs.existsSync(path.join(dir, "bootstrap.done"))).toBe(true);
            const second = runWithFakeKubectl(applyScript(), { readyz: "ok", bootstrapDir: dir });
            expect(second.status).toBe(0);
            expect(second.calls).toEqual([]);
        } finally {
            fs.rmSync(root, { recursive: true, force: true });
        }
    });

    test("apply: gives up after the bounded wait, without bootstrap.done", () => {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "opke-apply-"));
        try {
            const dir = path.join(root, "bootstrap");
            fs.mkdirSync(path.join(dir, "manifests"), { recursive: true });
            const r = runWithFakeKubectl(applyScript(), { readyz: "fail", bootstrapDir: dir });
            expect(r.status).toBe(1);
            expect(r.calls).toEqual(["get --raw=/readyz", "get --raw=/readyz", "get --raw=/readyz"]);
            expect(r.stderr).toContain("not ready after 3 attempts");
            expect(fs.existsSync(path.join(dir, "bootstrap.done"))).toBe(false);
        } finally {
            fs.rmSync(root, { recursive: true, force: true });
        }
    });

    test("kube-upgrade: re-applies and reports versions every time, never touching bootstrap.done", () => {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "opke-upgrade-"));
        try {
            const dir = path.join(root, "bootstrap");
            fs.mkdirSync(path.join(dir, "manifests"), { recursive: true });
            fs.writeFileSync(path.join(dir, "bootstrap.done"), "");
            for (let run = 0; run < 2; run++) {
                const r = runWithFakeKubectl(kubeUpgradeScript(), { readyz: "ok", bootstrapDir: dir });
                expect(r.status).toBe(0);
                expect(r.calls[0]).toBe("get --raw=/readyz");
                expect(r.calls[1]).toBe(`apply --server-side --force-conflicts --field-manager=opke --recursive --filename=${dir}/manifests`);
                expect(r.calls[2]).toBe("version");
                expect(r.calls.slice(3).map((c) => c.split(" ").slice(0, 2).join(" "))).toEqual(["get pods", "get nodes"]);
            }
            expect(fs.readdirSync(dir).sort()).toEqual(["bootstrap.done", "manifests"]);
        } finally {
            fs.rmSync(root, { recursive: true, force: true });
        }
    });
});

describe("systemd", () => {
    // systemd-analyze (Debian: apt-get install -y systemd). Fails, never skips, when absent.
    test.each(["flatcar", "fedora-coreos"])("every unit parses cleanly (%s)", (osName) => {
        const cfg = config({ os: osName });
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "opke-units-"));
        try {
            const units = [...kubeletIgnition(cfg, node(cfg, "c1")).units, ...controlPlaneIgnition(cfg, node(cfg, "c1")).units];
            const files = units.map((u) => {
                const f = path.join(dir, u.name);
                // The runtimes are not installed here: check the syntax of the units, not the host.
                fs.writeFileSync(f, u.contents!.replace(/\/usr\/bin\/(docker|podman)/g, "/bin/true").replace(/^(Requires|After)=docker\.service$/gm, ""));
                return f;
            });
            const r = spawnSync("systemd-analyze", ["verify", "--man=no", ...files], { encoding: "utf8" });
            expect(r.error).toBeUndefined();
            expect({ status: r.status, output: r.stdout + r.stderr }).toEqual({ status: 0, output: "" });
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("real PKI", () => {
    test("renders from generateLocalPki material; the bootstrap kubeconfig's token is the Secret's token", async () => {
        const cfg = config({ pki: { algorithm: "ECDSA" } });
        const desc = { certificates: [...describeEtcdPki(cfg).certificates, ...describeKubernetesPki(cfg).certificates], keyPairs: describeKubernetesPki(cfg).keyPairs };
        const m = await generateLocalPki(desc);
        const files = nodeFiles(cfg, node(cfg, "c1"), m).files;
        const boot = parse(fileAt(files, "/etc/kubernetes/bootstrap-kubeconfig").content);
        const secret = parse(fileAt(files, "/opt/bootstrap/manifests/bootstrap-token-secret.yaml").content);
        const dec = (v: string) => Buffer.from(v, "base64").toString();
        expect(boot.users[0].user.token).toBe(`${dec(secret.data["token-id"])}.${dec(secret.data["token-secret"])}`);
        expect(boot.users[0].user.token).toMatch(/^[a-z0-9]{6}\.[a-z0-9]{16}$/);
        // The admin kubeconfig's client certificate parses and is the admin certificate.
        const admin = parse(fileAt(files, "/etc/kubernetes/admin.conf").content);
        const x = new crypto.X509Certificate(Buffer.from(admin.users[0].user["client-certificate-data"], "base64"));
        expect(x.subject).toContain("CN=kubernetes-admin");
        expect(x.checkIssued(new crypto.X509Certificate(fileAt(files, "/etc/kubernetes/pki/ca.crt").content))).toBe(true);
    });
});
