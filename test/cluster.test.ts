/**
 * The Cluster component under Pulumi mocks: exact resource types, counts, names, parents and
 * secretness for the dev stack (3 controllers, 3 workers).
 *
 * What this does not prove: what a real engine diffs or replaces (resource options are invisible
 * to mocks) — the engine end-to-end test covers that.
 */
import * as pulumi from "@pulumi/pulumi";
import * as path from "node:path";
import { outputValue, PulumiMocks, setupPulumiMocks } from "./helpers/mocks";

const ROOT = path.resolve(__dirname, "..");

describe("Cluster component (dev stack)", () => {
    let mocks: PulumiMocks;
    let cluster: import("../stacks/cluster").Cluster;

    beforeAll(async () => {
        mocks = await setupPulumiMocks();
        const { loadStackFile } = require("../lib/config") as typeof import("../lib/config");
        const { Cluster } = require("../stacks/cluster") as typeof import("../stacks/cluster");
        const cfg = loadStackFile(ROOT, "dev", ["pki.algorithm=ECDSA"]);
        cluster = new Cluster("dev", { config: cfg });
        await outputValue(cluster.material);
        await Promise.all(cluster.nodes.map((n) => outputValue(n.ssh)));
        await outputValue(cluster.adminKubeconfig);
    });

    test("registers exactly these resources", () => {
        const components = mocks.resources.filter((r) => !r.custom).map((r) => `${r.type} ${r.name}`);
        expect(components.sort()).toEqual([
            "opke:bootkube:ControlPlane dev-bootkube",
            "opke:etcd:EtcdCluster dev-etcd",
            "opke:ignition:NodeConfigs dev-ignition",
            "opke:index:Cluster dev",
        ]);
        expect(mocks.countsByType()).toEqual({
            "pulumi:providers:tls": 1,
            "tls:index/privateKey:PrivateKey": 18,
            "tls:index/selfSignedCert:SelfSignedCert": 3,
            "tls:index/certRequest:CertRequest": 13,
            "tls:index/locallySignedCert:LocallySignedCert": 13,
        });
    });

    test("child names derive from the component names", () => {
        const names = mocks.resources.map((r) => r.name);
        expect(names.filter((n) => !n.startsWith("dev"))).toEqual([]);
        expect(mocks.get("tls:index/selfSignedCert:SelfSignedCert", "dev-etcd-etcd-ca")).toBeDefined();
        expect(mocks.get("tls:index/locallySignedCert:LocallySignedCert", "dev-etcd-etcd-server-c2")).toBeDefined();
        expect(mocks.get("tls:index/locallySignedCert:LocallySignedCert", "dev-bootkube-kube-apiserver")).toBeDefined();
        expect(mocks.get("tls:index/privateKey:PrivateKey", "dev-bootkube-secrets-seed-key")).toBeDefined();
    });

    test("every tls resource uses the explicit provider", () => {
        const tlsResources = mocks.resources.filter((r) => r.type.startsWith("tls:"));
        expect(tlsResources.length).toBe(47);
        for (const r of tlsResources) {
            expect(r.provider).toMatch(/\$pulumi:providers:tls::dev-tls::/);
        }
    });

    test("key material, SSH trees and the admin kubeconfig are secret; Ignition is plain", async () => {
        expect(await pulumi.isSecret(cluster.material)).toBe(true);
        expect(await pulumi.isSecret(cluster.adminKubeconfig)).toBe(true);
        expect(await pulumi.isSecret(cluster.controlPlane.manifests)).toBe(true);
        for (const n of cluster.nodes) {
            expect(await pulumi.isSecret(n.ssh)).toBe(true);
            expect(await pulumi.isSecret(n.sshHash)).toBe(false);
            expect(typeof n.ignition).toBe("string");
            expect(n.ignition).not.toContain("PRIVATE KEY");
        }
    });

    test("nodes are listed controllers first with their roles and indexes", () => {
        expect(cluster.nodes.map((n) => [n.name, n.role, n.index, n.ip])).toEqual([
            ["c1", "controller", 0, "10.0.0.11"],
            ["c2", "controller", 1, "10.0.0.12"],
            ["c3", "controller", 2, "10.0.0.13"],
            ["w1", "worker", 0, "10.0.0.21"],
            ["w2", "worker", 1, "10.0.0.22"],
            ["w3", "worker", 2, "10.0.0.23"],
        ]);
    });

    test("the apiserver certificate request carries the exact SANs", () => {
        const csr = mocks.get("tls:index/certRequest:CertRequest", "dev-bootkube-kube-apiserver-csr");
        expect(csr?.inputs.dnsNames).toEqual([
            "api.dev.opke.test",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "localhost",
        ]);
        expect(csr?.inputs.ipAddresses).toEqual(["10.0.0.11", "10.0.0.12", "10.0.0.13", "10.3.0.1", "127.0.0.1"]);
    });
});
