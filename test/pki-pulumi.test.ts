/**
 * The Pulumi PKI backend (lib/pki/pulumi.ts `createPki`) under Pulumi mocks: exact resource types,
 * counts, names, parents, inputs and secretness for the 3-controller + 3-worker dev cluster.
 *
 * The mocks (test/helpers/mocks.ts) answer the tls resources with real keys, CSRs and
 * certificates made in-process, so the material is checked as a chain too.
 *
 * What these tests do NOT prove:
 *   - what the real @pulumi/tls provider does with these inputs (no provider runs: the test
 *     double signs the CSR itself); that snake_case `allowedUses` are accepted is from the
 *     upstream provider's schema, not tested here;
 *   - secretness of provider outputs in a real deployment: the mocks emulate the SDK's
 *     `additionalSecretOutputs` (the mock monitor ignores them), so `secretInputs` below shows
 *     how secrets propagate given that emulation; that `material` is secret by our own
 *     `pulumi.secret` is checked with the emulation switched off (last test);
 *   - rotation: earlyRenewalHours is asserted as an input only (see anchors-pulumi.md §B.4 for
 *     why rotation needs a refresh).
 */
import * as crypto from "node:crypto";
import type * as PulumiModule from "@pulumi/pulumi";
import { ClusterConfig, ClusterConfigInput } from "../lib/config/schema";
import type { ClusterPki } from "../lib/pki/pulumi";
import type { PkiMaterial } from "../lib/pki/spec";
import { devConfig } from "./helpers/fixtures";
import { outputValue, PulumiMocks, setupPulumiMocks, TLS_TYPES } from "./helpers/mocks";

/** The PKI tests' "dev" cluster (3 controllers + 3 workers) with short validities of its own. */
function config(overrides: Partial<ClusterConfigInput> = {}): ClusterConfig {
    return devConfig({
        pki: { validityHours: 1000, earlyRenewalHours: 100, caValidityHours: 20000, caEarlyRenewalHours: 2000 },
        ...overrides,
    });
}

const CERT_IDS = [
    "etcd-ca",
    "etcd-server-c0",
    "etcd-peer-c0",
    "etcd-server-c1",
    "etcd-peer-c1",
    "etcd-server-c2",
    "etcd-peer-c2",
    "etcd-apiserver-client",
    "kubernetes-ca",
    "kube-apiserver",
    "kube-apiserver-kubelet-client",
    "kube-controller-manager",
    "kube-scheduler",
    "admin",
    "front-proxy-ca",
    "front-proxy-client",
];
const CA_IDS = ["etcd-ca", "kubernetes-ca", "front-proxy-ca"];
const LEAF_IDS = CERT_IDS.filter((id) => !CA_IDS.includes(id));
const PAIR_IDS = ["service-account", "secrets-seed"];
const ISSUER: Record<string, string> = Object.fromEntries(
    LEAF_IDS.map((id) => [id, id.startsWith("etcd-") ? "etcd-ca" : id === "front-proxy-client" ? "front-proxy-ca" : "kubernetes-ca"]),
);

let pulumi: typeof PulumiModule;
let mocks: PulumiMocks;
let pki: ClusterPki;
let material: PkiMaterial;

beforeAll(async () => {
    mocks = await setupPulumiMocks();
    // Modules under test are loaded only after the mocks are installed. (`require`, not
    // `import()`: ts-jest with module node16 leaves `import()` native, which jest rejects.)
    pulumi = require("@pulumi/pulumi") as typeof PulumiModule;
    const { createPki } = require("../lib/pki/pulumi") as typeof import("../lib/pki/pulumi");
    const { describePki } = require("../lib/pki") as typeof import("../lib/pki");

    class TestPki extends pulumi.ComponentResource {
        public readonly pki: ClusterPki;
        constructor(name: string) {
            super("opke:test:Pki", name, {}, {});
            this.pki = createPki(name, describePki(config()), this);
            this.registerOutputs({});
        }
    }
    pki = new TestPki("dev").pki;
    material = await outputValue(pki.material);
});

const rec = (type: string, name: string) => mocks.get(type, name);

test("exact resource types and counts for 3 controllers + 3 workers", () => {
    expect(mocks.countsByType()).toEqual({
        [TLS_TYPES.privateKey]: 18, // 16 certificates + service-account + secrets-seed
        [TLS_TYPES.selfSignedCert]: 3, // etcd-ca, kubernetes-ca, front-proxy-ca
        [TLS_TYPES.certRequest]: 13,
        [TLS_TYPES.locallySignedCert]: 13,
    });
    expect(mocks.resources.filter((r) => !r.custom).map((r) => [r.type, r.name])).toEqual([["opke:test:Pki", "dev"]]);
});

test("exact names", () => {
    const names = (type: string) => mocks.ofType(type).map((r) => r.name).sort();
    expect(names(TLS_TYPES.privateKey)).toEqual([...CERT_IDS, ...PAIR_IDS].map((id) => `dev-${id}-key`).sort());
    expect(names(TLS_TYPES.selfSignedCert)).toEqual(CA_IDS.map((id) => `dev-${id}`).sort());
    expect(names(TLS_TYPES.certRequest)).toEqual(LEAF_IDS.map((id) => `dev-${id}-csr`).sort());
    expect(names(TLS_TYPES.locallySignedCert)).toEqual(LEAF_IDS.map((id) => `dev-${id}`).sort());
    expect(Object.keys(pki.resources.keys)).toEqual([...CERT_IDS, ...PAIR_IDS]);
    expect(Object.keys(pki.resources.certRequests)).toEqual(LEAF_IDS);
    expect(Object.keys(pki.resources.certificates)).toEqual(CERT_IDS);
});

test("every resource is a child of the calling component", async () => {
    const all = [
        ...Object.values(pki.resources.keys),
        ...Object.values(pki.resources.certRequests),
        ...Object.values(pki.resources.certificates),
    ];
    const urns = await Promise.all(all.map((r) => outputValue(r.urn)));
    expect(urns).toHaveLength(47);
    for (const urn of urns) expect(urn).toMatch(/^urn:pulumi:test::opke::opke:test:Pki\$tls:index\/\w+:\w+::dev-[a-z0-9-]+$/);
    expect(await outputValue(pki.resources.certificates["kube-apiserver"].urn)).toBe(
        "urn:pulumi:test::opke::opke:test:Pki$tls:index/locallySignedCert:LocallySignedCert::dev-kube-apiserver",
    );
});

test("PrivateKey inputs: cfg.pki for everything, ED25519 for the secrets seed", () => {
    for (const id of [...CERT_IDS, "service-account"]) {
        expect([id, rec(TLS_TYPES.privateKey, `dev-${id}-key`).inputs]).toEqual([id, { algorithm: "RSA", rsaBits: 2048 }]);
    }
    expect(rec(TLS_TYPES.privateKey, "dev-secrets-seed-key").inputs).toEqual({ algorithm: "ED25519" });
});

test("SelfSignedCert inputs (the CAs): exact", () => {
    for (const [id, cn] of [["etcd-ca", "etcd-ca"], ["kubernetes-ca", "kubernetes-ca"], ["front-proxy-ca", "front-proxy-ca"]]) {
        const r = rec(TLS_TYPES.selfSignedCert, `dev-${id}`);
        expect([id, r.inputs]).toEqual([
            id,
            {
                privateKeyPem: material.certificates[id].keyPem,
                subject: { commonName: cn },
                dnsNames: [],
                ipAddresses: [],
                allowedUses: ["digital_signature", "key_encipherment", "cert_signing"],
                validityPeriodHours: 20000,
                earlyRenewalHours: 2000,
                isCaCertificate: true,
                setSubjectKeyId: true,
                setAuthorityKeyId: true,
            },
        ]);
        expect([id, r.secretInputs]).toEqual([id, ["privateKeyPem"]]);
    }
});

test("kube-apiserver: CertRequest and LocallySignedCert inputs, exact", () => {
    const csr = rec(TLS_TYPES.certRequest, "dev-kube-apiserver-csr");
    expect(csr.inputs).toEqual({
        privateKeyPem: material.certificates["kube-apiserver"].keyPem,
        subject: { commonName: "kube-apiserver" },
        dnsNames: [
            "api.dev.example.com",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "localhost",
        ],
        ipAddresses: ["10.0.0.10", "10.0.0.11", "10.0.0.12", "10.3.0.1", "127.0.0.1"],
    });
    expect(csr.secretInputs).toEqual(["privateKeyPem"]);

    const signed = rec(TLS_TYPES.locallySignedCert, "dev-kube-apiserver");
    expect(signed.inputs).toEqual({
        certRequestPem: csr.outputs.certRequestPem,
        caCertPem: material.certificates["kubernetes-ca"].certPem,
        caPrivateKeyPem: material.certificates["kubernetes-ca"].keyPem,
        allowedUses: ["digital_signature", "key_encipherment", "server_auth"],
        validityPeriodHours: 1000,
        earlyRenewalHours: 100,
        isCaCertificate: false,
        setSubjectKeyId: true,
    });
    expect(signed.secretInputs).toEqual(["caPrivateKeyPem"]);
});

test("etcd member and client certificates: SANs, subjects and usages", () => {
    for (const n of [{ name: "c0", ip: "10.0.0.10" }, { name: "c1", ip: "10.0.0.11" }, { name: "c2", ip: "10.0.0.12" }]) {
        for (const kind of ["server", "peer"]) {
            const id = `etcd-${kind}-${n.name}`;
            expect([id, rec(TLS_TYPES.certRequest, `dev-${id}-csr`).inputs.dnsNames, rec(TLS_TYPES.certRequest, `dev-${id}-csr`).inputs.ipAddresses]).toEqual([
                id,
                [n.name, "localhost"],
                [n.ip, "127.0.0.1"],
            ]);
            expect([id, rec(TLS_TYPES.locallySignedCert, `dev-${id}`).inputs.allowedUses]).toEqual([
                id,
                ["digital_signature", "key_encipherment", "server_auth", "client_auth"],
            ]);
        }
    }
    expect(rec(TLS_TYPES.certRequest, "dev-admin-csr").inputs.subject).toEqual({ commonName: "kubernetes-admin", organization: "system:masters" });
    for (const id of ["etcd-apiserver-client", "kube-apiserver-kubelet-client", "kube-controller-manager", "kube-scheduler", "admin", "front-proxy-client"]) {
        const r = rec(TLS_TYPES.locallySignedCert, `dev-${id}`);
        expect([id, r.inputs.allowedUses, r.inputs.caCertPem]).toEqual([
            id,
            ["digital_signature", "key_encipherment", "client_auth"],
            material.certificates[ISSUER[id]].certPem,
        ]);
    }
});

test("material is a secret Output; so are the private keys", async () => {
    expect(await pulumi.isSecret(pki.material)).toBe(true);
    // Emulated additionalSecretOutputs (see the helper): secret as from the real engine.
    expect(await pulumi.isSecret(pki.resources.keys["kubernetes-ca"].privateKeyPem)).toBe(true);
    expect(await pulumi.isSecret(pki.resources.certificates["kubernetes-ca"].certPem)).toBe(false);
});

test("material: every id, PEMs from the resources, and a valid chain", async () => {
    expect(Object.keys(material.certificates)).toEqual(CERT_IDS);
    expect(Object.keys(material.keyPairs)).toEqual(PAIR_IDS);
    for (const id of CERT_IDS) {
        const c = new crypto.X509Certificate(material.certificates[id].certPem);
        expect([id, c.checkPrivateKey(crypto.createPrivateKey(material.certificates[id].keyPem))]).toEqual([id, true]);
        const issuer = new crypto.X509Certificate(material.certificates[ISSUER[id] ?? id].certPem);
        expect([id, c.checkIssued(issuer), c.verify(issuer.publicKey)]).toEqual([id, true, true]);
    }
    const apiserver = new crypto.X509Certificate(material.certificates["kube-apiserver"].certPem);
    expect(apiserver.subjectAltName).toBe(
        "DNS:api.dev.example.com, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local, DNS:localhost, " +
            "IP Address:10.0.0.10, IP Address:10.0.0.11, IP Address:10.0.0.12, IP Address:10.3.0.1, IP Address:127.0.0.1",
    );
    expect(material.keyPairs["service-account"].publicKeyPem).toBe(await outputValue(pki.resources.keys["service-account"].publicKeyPem));
    expect(crypto.createPrivateKey(material.keyPairs["secrets-seed"].privateKeyPem).asymmetricKeyType).toBe("ed25519");
});

describe("another description under another component", () => {
    beforeAll(() => mocks.reset());

    test("ECDSA etcd PKI for one controller: 4 keys, 1 CA, 3 signed certs, ECDSA P256 keys", async () => {
        const { createPki } = require("../lib/pki/pulumi") as typeof import("../lib/pki/pulumi");
        const { describeEtcdPki } = require("../modules/etcd/pki") as typeof import("../modules/etcd/pki");
        const cfg = config({ controllers: [{ name: "solo", ip: "10.0.0.5" }], pki: { algorithm: "ECDSA" } });
        class Etcd extends pulumi.ComponentResource {
            public readonly pki: ClusterPki;
            constructor(name: string) {
                super("opke:etcd:EtcdCluster", name, {}, {});
                this.pki = createPki(name, describeEtcdPki(cfg), this);
                this.registerOutputs({});
            }
        }
        const etcd = new Etcd("ec").pki;
        const m = await outputValue(etcd.material);
        expect(mocks.countsByType()).toEqual({
            [TLS_TYPES.privateKey]: 4,
            [TLS_TYPES.selfSignedCert]: 1,
            [TLS_TYPES.certRequest]: 3,
            [TLS_TYPES.locallySignedCert]: 3,
        });
        for (const r of mocks.ofType(TLS_TYPES.privateKey)) expect([r.name, r.inputs]).toEqual([r.name, { algorithm: "ECDSA", ecdsaCurve: "P256" }]);
        expect(Object.keys(m.certificates)).toEqual(["etcd-ca", "etcd-server-solo", "etcd-peer-solo", "etcd-apiserver-client"]);
        expect(m.certificates["etcd-server-solo"].keyPem.split("\n")[0]).toBe("-----BEGIN EC PRIVATE KEY-----");
        expect(await outputValue(etcd.resources.certificates["etcd-ca"].urn)).toBe(
            "urn:pulumi:test::opke::opke:etcd:EtcdCluster$tls:index/selfSignedCert:SelfSignedCert::ec-etcd-ca",
        );
    });

    test("an invalid description throws before any resource is registered", async () => {
        mocks.reset();
        const { createPki } = require("../lib/pki/pulumi") as typeof import("../lib/pki/pulumi");
        const parent = new pulumi.ComponentResource("opke:test:Bad", "bad", {}, {});
        expect(() =>
            createPki("bad", { certificates: [{ id: "leaf", issuer: "missing", isCa: false, subject: { commonName: "x" }, dnsNames: [], ipAddresses: [], usages: [], validityHours: 10, earlyRenewalHours: 1, key: { algorithm: "ED25519" } }], keyPairs: [] }, parent),
        ).toThrow('certificate "leaf": issuer "missing" is not a certificate listed before it; list the CA first');
        await new Promise((r) => setTimeout(r, 50));
        expect(mocks.countsByType()).toEqual({});
    });
});

describe("without the emulated provider secrets", () => {
    test("material is still secret: createPki marks it itself", async () => {
        const bare = await setupPulumiMocks({ secretOutputs: false });
        const { createPki } = require("../lib/pki/pulumi") as typeof import("../lib/pki/pulumi");
        const { describeKubernetesPki } = require("../modules/bootkube/pki") as typeof import("../modules/bootkube/pki");
        const parent = new pulumi.ComponentResource("opke:bootkube:ControlPlane", "plain", {}, {});
        const result = createPki("plain", describeKubernetesPki(config({ pki: { algorithm: "ECDSA" } })), parent);
        await outputValue(result.material);
        expect(await pulumi.isSecret(result.resources.keys["kubernetes-ca"].privateKeyPem)).toBe(false); // the control
        expect(await pulumi.isSecret(result.material)).toBe(true);
        expect(bare.countsByType()[TLS_TYPES.privateKey]).toBe(10);
    });
});
