/**
 * The PKI description (exact ids, subjects, SANs, usages, validity, key specs), the local backend
 * (real keys and certificates checked with the real `openssl` CLI and real TLS handshakes),
 * derived secrets and kubeconfigs.
 *
 * What these tests do NOT prove:
 *   - that @pulumi/tls produces the same certificates: the Pulumi backend is only tested under
 *     mocks (test/pki-pulumi.test.ts checks the inputs it is given, not the provider's output);
 *   - that kube-apiserver, etcd or the kubelet accept this material (no Kubernetes binaries run
 *     here; the handshakes use node:tls/OpenSSL, which Go's crypto/tls may judge differently,
 *     e.g. Go ignores key_encipherment on ECDSA keys, OpenSSL does too);
 *   - anything about rotation (earlyRenewalHours is only passed through) or revocation.
 */
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tls from "node:tls";
import { parse as parseYaml } from "yaml";
import { ClusterConfig, ClusterConfigInput } from "../lib/config/schema";
import { describeEtcdPki, describeKubernetesPki, describePki, deriveSecrets, generateLocalPki, kubeconfig } from "../lib/pki";
import { checkPkiDescription } from "../lib/pki/local";
import type { CertSpec, PkiDescription, PkiMaterial } from "../lib/pki/spec";
import { devConfig, devControllers } from "./helpers/fixtures";

/** c0..c2 (10.0.0.10-12), the controllers of `config()`. */
const CONTROLLERS = devControllers();

/** The PKI tests' "dev" cluster: 3 controllers + 3 workers, schema-parsed. */
function config(overrides: Partial<ClusterConfigInput> = {}): ClusterConfig {
    return devConfig(overrides);
}

const cert = (d: PkiDescription, id: string): CertSpec => {
    const c = d.certificates.find((x) => x.id === id);
    if (!c) throw new Error(`no certificate ${id}`);
    return c;
};

describe("describePki (3 controllers, 3 workers)", () => {
    const cfg = config({
        network: { clusterDomain: "k8s.internal", serviceCidr: "10.96.0.0/12" },
        pki: { validityHours: 1000, earlyRenewalHours: 100, caValidityHours: 20000, caEarlyRenewalHours: 2000 },
    });
    const desc = describePki(cfg);

    test("exact ids, in issuing order", () => {
        expect(desc.certificates.map((c) => c.id)).toEqual([
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
        ]);
        expect(desc.keyPairs.map((k) => k.id)).toEqual(["service-account", "secrets-seed"]);
        expect(() => checkPkiDescription(desc)).not.toThrow();
    });

    test("describePki is the etcd description followed by the Kubernetes one", () => {
        const etcd = describeEtcdPki(cfg);
        const k8s = describeKubernetesPki(cfg);
        expect(desc).toEqual({ certificates: [...etcd.certificates, ...k8s.certificates], keyPairs: [...etcd.keyPairs, ...k8s.keyPairs] });
        expect(etcd.keyPairs).toEqual([]);
    });

    test("issuers and subjects", () => {
        expect(Object.fromEntries(desc.certificates.map((c) => [c.id, [c.issuer ?? null, c.subject]]))).toEqual({
            "etcd-ca": [null, { commonName: "etcd-ca" }],
            "etcd-server-c0": ["etcd-ca", { commonName: "c0" }],
            "etcd-peer-c0": ["etcd-ca", { commonName: "c0" }],
            "etcd-server-c1": ["etcd-ca", { commonName: "c1" }],
            "etcd-peer-c1": ["etcd-ca", { commonName: "c1" }],
            "etcd-server-c2": ["etcd-ca", { commonName: "c2" }],
            "etcd-peer-c2": ["etcd-ca", { commonName: "c2" }],
            "etcd-apiserver-client": ["etcd-ca", { commonName: "kube-apiserver-etcd-client" }],
            "kubernetes-ca": [null, { commonName: "kubernetes-ca" }],
            "kube-apiserver": ["kubernetes-ca", { commonName: "kube-apiserver" }],
            "kube-apiserver-kubelet-client": ["kubernetes-ca", { commonName: "kube-apiserver-kubelet-client" }],
            "kube-controller-manager": ["kubernetes-ca", { commonName: "system:kube-controller-manager" }],
            "kube-scheduler": ["kubernetes-ca", { commonName: "system:kube-scheduler" }],
            admin: ["kubernetes-ca", { commonName: "kubernetes-admin", organization: "system:masters" }],
            "front-proxy-ca": [null, { commonName: "front-proxy-ca" }],
            "front-proxy-client": ["front-proxy-ca", { commonName: "front-proxy-client" }],
        });
    });

    test("kube-apiserver SANs", () => {
        const c = cert(desc, "kube-apiserver");
        expect(c.dnsNames).toEqual([
            "api.dev.example.com",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.k8s.internal",
            "localhost",
        ]);
        expect(c.ipAddresses).toEqual(["10.0.0.10", "10.0.0.11", "10.0.0.12", "10.96.0.1", "127.0.0.1"]);
    });

    test("etcd member SANs", () => {
        for (const n of CONTROLLERS) {
            for (const kind of ["server", "peer"]) {
                const c = cert(desc, `etcd-${kind}-${n.name}`);
                expect([c.dnsNames, c.ipAddresses]).toEqual([[n.name, "localhost"], [n.ip, "127.0.0.1"]]);
            }
        }
        // Workers are not etcd members.
        expect(desc.certificates.filter((c) => /w\d$/.test(c.id))).toEqual([]);
    });

    test("no SANs on CAs and client certificates", () => {
        const withSans = desc.certificates.filter((c) => c.dnsNames.length + c.ipAddresses.length > 0).map((c) => c.id);
        expect(withSans).toEqual(["etcd-server-c0", "etcd-peer-c0", "etcd-server-c1", "etcd-peer-c1", "etcd-server-c2", "etcd-peer-c2", "kube-apiserver"]);
    });

    test("usages", () => {
        const CA = ["digital_signature", "key_encipherment", "cert_signing"];
        const BOTH = ["digital_signature", "key_encipherment", "server_auth", "client_auth"];
        const SERVER = ["digital_signature", "key_encipherment", "server_auth"];
        const CLIENT = ["digital_signature", "key_encipherment", "client_auth"];
        expect(Object.fromEntries(desc.certificates.map((c) => [c.id, [c.isCa, c.usages]]))).toEqual({
            "etcd-ca": [true, CA],
            "etcd-server-c0": [false, BOTH],
            "etcd-peer-c0": [false, BOTH],
            "etcd-server-c1": [false, BOTH],
            "etcd-peer-c1": [false, BOTH],
            "etcd-server-c2": [false, BOTH],
            "etcd-peer-c2": [false, BOTH],
            "etcd-apiserver-client": [false, CLIENT],
            "kubernetes-ca": [true, CA],
            "kube-apiserver": [false, SERVER],
            "kube-apiserver-kubelet-client": [false, CLIENT],
            "kube-controller-manager": [false, CLIENT],
            "kube-scheduler": [false, CLIENT],
            admin: [false, CLIENT],
            "front-proxy-ca": [true, CA],
            "front-proxy-client": [false, CLIENT],
        });
    });

    test("validity and early renewal come from cfg.pki (CA vs leaf)", () => {
        for (const c of desc.certificates) {
            expect([c.id, c.validityHours, c.earlyRenewalHours]).toEqual(c.isCa ? [c.id, 20000, 2000] : [c.id, 1000, 100]);
        }
    });

    test("key specs: cfg.pki for everything but the ED25519 secrets seed", () => {
        for (const c of desc.certificates) expect([c.id, c.key]).toEqual([c.id, { algorithm: "RSA", rsaBits: 2048 }]);
        expect(desc.keyPairs).toEqual([
            { id: "service-account", key: { algorithm: "RSA", rsaBits: 2048 } },
            { id: "secrets-seed", key: { algorithm: "ED25519" } },
        ]);
        const ec = describePki(config({ pki: { algorithm: "ECDSA", ecdsaCurve: "P384" } }));
        for (const c of ec.certificates) expect([c.id, c.key]).toEqual([c.id, { algorithm: "ECDSA", ecdsaCurve: "P384" }]);
        expect(ec.keyPairs.map((k) => k.key)).toEqual([{ algorithm: "ECDSA", ecdsaCurve: "P384" }, { algorithm: "ED25519" }]);
    });

    test("one controller: one etcd member", () => {
        const single = describePki(config({ controllers: [CONTROLLERS[0]] }));
        expect(single.certificates.map((c) => c.id).filter((id) => id.startsWith("etcd-"))).toEqual([
            "etcd-ca",
            "etcd-server-c0",
            "etcd-peer-c0",
            "etcd-apiserver-client",
        ]);
        expect(cert(single, "kube-apiserver").ipAddresses).toEqual(["10.0.0.10", "10.3.0.1", "127.0.0.1"]);
    });
});

describe("checkPkiDescription", () => {
    const base = describePki(config());
    test("rejects an issuer listed after its certificate, a non-CA issuer and a duplicate id", () => {
        const [ca, ...rest] = base.certificates;
        expect(() => checkPkiDescription({ certificates: [...rest, ca], keyPairs: [] })).toThrow(
            'certificate "etcd-server-c0": issuer "etcd-ca" is not a certificate listed before it; list the CA first',
        );
        const admin = cert(base, "admin");
        expect(() => checkPkiDescription({ certificates: [...base.certificates, { ...admin, id: "x", issuer: "admin" }], keyPairs: [] })).toThrow(
            'issuer "admin" is not a CA',
        );
        expect(() => checkPkiDescription({ certificates: base.certificates, keyPairs: [{ id: "admin", key: { algorithm: "ED25519" } }] })).toThrow(
            'key pair "admin": the id is used twice',
        );
    });
});

// ---------------------------------------------------------------------------------------------
// The local backend, checked with real tools.

interface Generated {
    cfg: ClusterConfig;
    desc: PkiDescription;
    material: PkiMaterial;
    dir: string;
    startedAt: number;
    ms: number;
}

async function generate(cfg: ClusterConfig, label: string): Promise<Generated> {
    const desc = describePki(cfg);
    const startedAt = Date.now();
    const material = await generateLocalPki(desc);
    const ms = Date.now() - startedAt;
    // Visible in the jest output; the brief asks for the number.
    process.stdout.write(`generateLocalPki(${label}): ${desc.certificates.length} certificates + ${desc.keyPairs.length} key pairs in ${ms} ms\n`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `opke-pki-${label}-`));
    for (const [id, m] of Object.entries(material.certificates)) {
        fs.writeFileSync(path.join(dir, `${id}.crt`), m.certPem);
        fs.writeFileSync(path.join(dir, `${id}.key`), m.keyPem, { mode: 0o600 });
    }
    return { cfg, desc, material, dir, startedAt, ms };
}

function openssl(args: string[]): { status: number | null; out: string } {
    const r = spawnSync("openssl", args, { encoding: "utf8" });
    if (r.error) throw r.error;
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const OPENSSL_KEY_USAGE: Record<string, string> = {
    digital_signature: "Digital Signature",
    key_encipherment: "Key Encipherment",
    cert_signing: "Certificate Sign",
};
const OPENSSL_EXT_KEY_USAGE: Record<string, string> = {
    server_auth: "TLS Web Server Authentication",
    client_auth: "TLS Web Client Authentication",
};

/** What `openssl x509 -noout -ext …` must print for a certificate of this spec. */
function expectedExtensions(c: CertSpec): string {
    const ku = c.usages.filter((u) => u in OPENSSL_KEY_USAGE).map((u) => OPENSSL_KEY_USAGE[u]);
    const eku = c.usages.filter((u) => u in OPENSSL_EXT_KEY_USAGE).map((u) => OPENSSL_EXT_KEY_USAGE[u]);
    const sans = [...c.dnsNames.map((d) => `DNS:${d}`), ...c.ipAddresses.map((i) => `IP Address:${i}`)];
    const lines = [
        "X509v3 Basic Constraints: critical",
        `    CA:${c.isCa ? "TRUE" : "FALSE"}`,
        "X509v3 Key Usage: critical",
        `    ${ku.join(", ")}`,
    ];
    if (eku.length) lines.push("X509v3 Extended Key Usage:", `    ${eku.join(", ")}`);
    if (sans.length) lines.push("X509v3 Subject Alternative Name:", `    ${sans.join(", ")}`);
    return lines.join("\n");
}

describe.each([
    ["RSA", () => config()],
    ["ECDSA", () => config({ pki: { algorithm: "ECDSA" } })],
])("generateLocalPki (%s)", (label, makeConfig) => {
    let g: Generated;
    beforeAll(async () => {
        g = await generate(makeConfig(), label);
    });
    afterAll(() => {
        if (g) fs.rmSync(g.dir, { recursive: true, force: true });
    });

    test("material for exactly the described ids; PEMs end with one newline", () => {
        expect(Object.keys(g.material.certificates)).toEqual(g.desc.certificates.map((c) => c.id));
        expect(Object.keys(g.material.keyPairs)).toEqual(["service-account", "secrets-seed"]);
        for (const m of Object.values(g.material.certificates)) {
            expect(m.certPem).toMatch(/^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+\n-----END CERTIFICATE-----\n$/);
            expect(m.keyPem.endsWith("-----\n")).toBe(true);
        }
    });

    test("openssl verify: every certificate against its issuing CA (x509_strict), CAs against themselves", () => {
        for (const c of g.desc.certificates) {
            const caFile = path.join(g.dir, `${c.issuer ?? c.id}.crt`);
            const r = openssl(["verify", "-x509_strict", "-CAfile", caFile, path.join(g.dir, `${c.id}.crt`)]);
            expect([c.id, r.status, r.out.trim()]).toEqual([c.id, 0, `${path.join(g.dir, `${c.id}.crt`)}: OK`]);
        }
    });

    test("openssl verify: a certificate does not verify against a different CA", () => {
        for (const [id, wrongCa] of [["kube-apiserver", "etcd-ca"], ["etcd-server-c0", "kubernetes-ca"], ["front-proxy-client", "kubernetes-ca"]]) {
            const r = openssl(["verify", "-CAfile", path.join(g.dir, `${wrongCa}.crt`), path.join(g.dir, `${id}.crt`)]);
            expect([id, r.status]).toEqual([id, 2]);
            expect(r.out).toContain("unable to get local issuer certificate");
        }
    });

    test("openssl verify -purpose: server_auth and client_auth are enforced as described", () => {
        for (const c of g.desc.certificates.filter((x) => !x.isCa)) {
            const caFile = path.join(g.dir, `${c.issuer}.crt`);
            const file = path.join(g.dir, `${c.id}.crt`);
            const server = openssl(["verify", "-purpose", "sslserver", "-CAfile", caFile, file]).status === 0;
            const client = openssl(["verify", "-purpose", "sslclient", "-CAfile", caFile, file]).status === 0;
            expect([c.id, server, client]).toEqual([c.id, c.usages.includes("server_auth"), c.usages.includes("client_auth")]);
        }
    });

    test("openssl x509: subject, issuer, basic constraints, key usage, extended key usage, SANs", () => {
        for (const c of g.desc.certificates) {
            const file = path.join(g.dir, `${c.id}.crt`);
            const ext = openssl(["x509", "-noout", "-ext", "basicConstraints,keyUsage,extendedKeyUsage,subjectAltName", "-in", file]);
            expect(ext.status).toBe(0);
            const got = ext.out.split("\n").map((l) => l.trimEnd()).join("\n").trim();
            expect([c.id, got]).toEqual([c.id, expectedExtensions(c)]);

            const names = openssl(["x509", "-noout", "-subject", "-issuer", "-nameopt", "RFC2253", "-in", file]).out.trim().split("\n");
            const dn = (s: CertSpec["subject"]) => `CN=${s.commonName}${s.organization ? `,O=${s.organization}` : ""}`;
            const issuer = c.issuer ? cert(g.desc, c.issuer).subject : c.subject;
            expect([c.id, names]).toEqual([c.id, [`subject=${dn(c.subject)}`, `issuer=${dn(issuer)}`]]);
        }
    });

    test("subject and authority key identifiers chain up", () => {
        for (const c of g.desc.certificates) {
            const text = openssl(["x509", "-noout", "-ext", "subjectKeyIdentifier,authorityKeyIdentifier", "-in", path.join(g.dir, `${c.id}.crt`)]).out;
            const issuerText = openssl(["x509", "-noout", "-ext", "subjectKeyIdentifier", "-in", path.join(g.dir, `${c.issuer ?? c.id}.crt`)]).out;
            const ski = (t: string) => /Subject Key Identifier:\s*\n\s*([0-9A-F:]+)/.exec(t)?.[1];
            const aki = /Authority Key Identifier:\s*\n\s*(?:keyid:)?([0-9A-F:]+)/.exec(text)?.[1];
            expect(ski(text)).toMatch(/^([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
            expect([c.id, aki]).toEqual([c.id, ski(issuerText)]);
        }
    });

    test("validity: notBefore is now, notAfter - notBefore is exactly validityHours", () => {
        for (const c of g.desc.certificates) {
            const x = new crypto.X509Certificate(g.material.certificates[c.id].certPem);
            const from = Date.parse(x.validFrom);
            const to = Date.parse(x.validTo);
            expect([c.id, to - from]).toEqual([c.id, c.validityHours * 3_600_000]);
            expect(Math.abs(from - g.startedAt)).toBeLessThan(60_000);
        }
    });

    test("serial numbers are random and distinct", () => {
        const serials = Object.values(g.material.certificates).map((m) => new crypto.X509Certificate(m.certPem).serialNumber);
        expect(new Set(serials).size).toBe(serials.length);
        for (const s of serials) expect(s.length).toBeGreaterThanOrEqual(30); // ~128 bits
    });

    test(`keys: ${label} with @pulumi/tls encodings; the secrets seed is ED25519 PKCS#8`, () => {
        const expectKey = (id: string, pem: string) => {
            const key = crypto.createPrivateKey(pem);
            if (label === "RSA") {
                expect([id, pem.split("\n")[0], key.asymmetricKeyType, key.asymmetricKeyDetails?.modulusLength]).toEqual([
                    id, "-----BEGIN RSA PRIVATE KEY-----", "rsa", 2048,
                ]);
            } else {
                expect([id, pem.split("\n")[0], key.asymmetricKeyType, key.asymmetricKeyDetails?.namedCurve]).toEqual([
                    id, "-----BEGIN EC PRIVATE KEY-----", "ec", "prime256v1",
                ]);
            }
        };
        for (const [id, m] of Object.entries(g.material.certificates)) expectKey(id, m.keyPem);
        expectKey("service-account", g.material.keyPairs["service-account"].privateKeyPem);
        const seed = g.material.keyPairs["secrets-seed"];
        expect(seed.privateKeyPem.split("\n")[0]).toBe("-----BEGIN PRIVATE KEY-----");
        expect(crypto.createPrivateKey(seed.privateKeyPem).asymmetricKeyType).toBe("ed25519");
        for (const k of Object.values(g.material.keyPairs)) {
            expect(k.publicKeyPem.split("\n")[0]).toBe("-----BEGIN PUBLIC KEY-----");
            expect(crypto.createPublicKey(k.privateKeyPem).export({ type: "spki", format: "pem" })).toBe(k.publicKeyPem);
        }
        // Signature algorithm as the Go provider picks it.
        const sigAlg = openssl(["x509", "-noout", "-text", "-in", path.join(g.dir, "admin.crt")]).out;
        expect(sigAlg).toContain(label === "RSA" ? "Signature Algorithm: sha256WithRSAEncryption" : "Signature Algorithm: ecdsa-with-SHA256");
    });

    test("every certificate matches its key (checkPrivateKey and a sign/verify round trip); all keys are distinct", () => {
        const data = Buffer.from("opke pki pair check");
        const publicKeys = new Set<string>();
        for (const [id, m] of Object.entries(g.material.certificates)) {
            const x = new crypto.X509Certificate(m.certPem);
            const key = crypto.createPrivateKey(m.keyPem);
            expect([id, x.checkPrivateKey(key)]).toEqual([id, true]);
            const signature = crypto.sign("sha256", data, key);
            expect([id, crypto.verify("sha256", data, x.publicKey, signature)]).toEqual([id, true]);
            publicKeys.add(x.publicKey.export({ type: "spki", format: "pem" }).toString());
        }
        for (const k of Object.values(g.material.keyPairs)) publicKeys.add(k.publicKeyPem);
        expect(publicKeys.size).toBe(g.desc.certificates.length + g.desc.keyPairs.length);
    });

    test("TLS: the apiserver cert serves, admin/controller-manager/scheduler/kubelet-client are accepted as clients", async () => {
        const m = g.material.certificates;
        const ca = m["kubernetes-ca"].certPem;
        for (const client of ["admin", "kube-controller-manager", "kube-scheduler", "kube-apiserver-kubelet-client"]) {
            const r = await handshake({ server: m["kube-apiserver"], serverCa: ca, client: m[client], clientCa: ca });
            expect([client, r]).toEqual([client, { ok: true, peerCn: CN_OF[client] }]);
        }
        // The server identity check passes for the DNS SANs clients use.
        for (const servername of ["api.dev.example.com", "kubernetes.default.svc.cluster.local", "localhost"]) {
            const r = await handshake({ server: m["kube-apiserver"], serverCa: ca, client: m.admin, clientCa: ca, servername });
            expect([servername, r.ok]).toEqual([servername, true]);
        }
    });

    test("TLS: clients from another CA are rejected, and the apiserver cert fails for names outside its SANs", async () => {
        const m = g.material.certificates;
        const ca = m["kubernetes-ca"].certPem;
        for (const client of ["etcd-apiserver-client", "front-proxy-client"]) {
            // requestCert + rejectUnauthorized: node drops the connection (no alert text to check).
            const r = await handshake({ server: m["kube-apiserver"], serverCa: ca, client: m[client], clientCa: ca });
            expect([client, r.ok, r.serverError]).toEqual([client, false, "socket hang up"]);
            // The same server in report-only mode says why: no trusted issuer for the (lone) client certificate.
            const why = await handshake({ server: m["kube-apiserver"], serverCa: ca, client: m[client], clientCa: ca, reportOnly: true });
            expect([client, why]).toEqual([client, { ok: false, peerCn: CN_OF[client], authorizationError: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" }]);
        }
        const wrongName = await handshake({ server: m["kube-apiserver"], serverCa: ca, client: m.admin, clientCa: ca, servername: "other.example.com" });
        expect(wrongName.ok).toBe(false);
        expect(wrongName.clientError).toContain("Hostname/IP does not match certificate's altnames");
        // A client that trusts only the etcd CA refuses the apiserver.
        const wrongTrust = await handshake({ server: m["kube-apiserver"], serverCa: ca, client: m.admin, clientCa: m["etcd-ca"].certPem });
        expect(wrongTrust.ok).toBe(false);
        expect(wrongTrust.clientError).toMatch(/unable to get local issuer certificate|self.signed/i);
    });

    test("TLS: etcd members serve and peer with their certs; the apiserver's etcd client is accepted", async () => {
        const m = g.material.certificates;
        const ca = m["etcd-ca"].certPem;
        const clients = ["etcd-apiserver-client", "etcd-peer-c1", "etcd-server-c2"];
        for (const client of clients) {
            const r = await handshake({ server: m["etcd-server-c0"], serverCa: ca, client: m[client], clientCa: ca });
            expect([client, r.ok]).toEqual([client, true]);
        }
        const peer = await handshake({ server: m["etcd-peer-c0"], serverCa: ca, client: m["etcd-peer-c2"], clientCa: ca, servername: "c0" });
        expect(peer.ok).toBe(true);
        const foreign = await handshake({ server: m["etcd-server-c0"], serverCa: ca, client: m.admin, clientCa: ca });
        expect(foreign.ok).toBe(false);
    });
});

const CN_OF: Record<string, string> = {
    "etcd-apiserver-client": "kube-apiserver-etcd-client",
    "front-proxy-client": "front-proxy-client",
    admin: "kubernetes-admin",
    "kube-controller-manager": "system:kube-controller-manager",
    "kube-scheduler": "system:kube-scheduler",
    "kube-apiserver-kubelet-client": "kube-apiserver-kubelet-client",
};

type Pair = { certPem: string; keyPem: string };
interface HandshakeResult {
    /** The server accepted the client certificate and the client read the server's answer. */
    ok: boolean;
    peerCn?: string;
    /** Report-only mode: why the server would have rejected the client. */
    authorizationError?: string;
    serverError?: string;
    clientError?: string;
}

/**
 * One mutual-TLS connection on 127.0.0.1: the server requires and verifies a client certificate
 * (requestCert + rejectUnauthorized, unless `reportOnly`, which accepts the connection and reports
 * the verification result instead) and answers with the client's CN; the client verifies the
 * server against `clientCa` (and `servername`, or 127.0.0.1). Bounded by a 5 s timeout.
 */
function handshake(p: { server: Pair; serverCa: string; client: Pair; clientCa: string; servername?: string; reportOnly?: boolean }): Promise<HandshakeResult> {
    return new Promise((resolve, reject) => {
        let serverError: string | undefined;
        let clientError: string | undefined;
        let answer = "";
        const server = tls.createServer(
            { cert: p.server.certPem, key: p.server.keyPem, ca: [p.serverCa], requestCert: true, rejectUnauthorized: !p.reportOnly },
            (socket) => {
                const peer = socket.getPeerCertificate();
                const err = socket.authorizationError ? String(socket.authorizationError) : "";
                socket.end(`cn=${peer.subject?.CN} authorized=${socket.authorized} error=${err}\n`);
            },
        );
        server.on("tlsClientError", (e) => (serverError = e.message));
        const timer = setTimeout(() => finish(), 5000);
        let done = false;
        const finish = () => {
            if (done) return;
            done = true;
            clearTimeout(timer);
            server.close();
            const m = /^cn=(.*) authorized=(true|false) error=(.*)\n$/.exec(answer);
            resolve({
                ok: m !== null && m[2] === "true",
                ...(m ? { peerCn: m[1] } : {}),
                ...(m && m[3] ? { authorizationError: m[3] } : {}),
                ...(serverError !== undefined ? { serverError } : {}),
                ...(clientError !== undefined ? { clientError } : {}),
            });
        };
        server.listen(0, "127.0.0.1", () => {
            const { port } = server.address() as { port: number };
            const socket = tls.connect({
                host: "127.0.0.1",
                port,
                ca: [p.clientCa],
                cert: p.client.certPem,
                key: p.client.keyPem,
                ...(p.servername ? { servername: p.servername } : {}),
            });
            socket.setEncoding("utf8");
            socket.on("data", (d: string) => (answer += d));
            socket.on("error", (e) => (clientError = e.message));
            // Give the server's tlsClientError a moment to be recorded before reporting.
            socket.on("close", () => setTimeout(finish, 20));
        });
        server.on("error", reject);
    });
}

// ---------------------------------------------------------------------------------------------

describe("deriveSecrets", () => {
    /** An ED25519 key from a fixed 32-byte seed (RFC 8410 PKCS#8 prefix + seed). */
    const fixedSeed = (byte: number) =>
        crypto
            .createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), Buffer.alloc(32, byte)]), format: "der", type: "pkcs8" })
            .export({ type: "pkcs8", format: "pem" })
            .toString();

    test("format", () => {
        const s = deriveSecrets(fixedSeed(1));
        expect(s.bootstrapTokenId).toMatch(/^[a-z0-9]{6}$/);
        expect(s.bootstrapTokenSecret).toMatch(/^[a-z0-9]{16}$/);
        expect(Buffer.from(s.encryptionKey, "base64")).toHaveLength(32);
        expect(Buffer.from(s.encryptionKey, "base64").toString("base64")).toBe(s.encryptionKey);
    });

    test("deterministic, and pinned: changing the salt or an info string would rotate every cluster's token and key", () => {
        expect(deriveSecrets(fixedSeed(1))).toEqual(deriveSecrets(fixedSeed(1)));
        expect(deriveSecrets(fixedSeed(1))).toEqual(GOLDEN);
    });

    test("agrees with an independent HKDF-SHA256 (openssl kdf) and rejection sampling written out here", () => {
        const pem = fixedSeed(7);
        const der = crypto.createPrivateKey(pem).export({ type: "pkcs8", format: "der" }).toString("hex");
        const okm = (info: string, len: number) => {
            const r = openssl(["kdf", "-keylen", String(len), "-kdfopt", "digest:SHA256", "-kdfopt", `hexkey:${der}`, "-kdfopt", "salt:opke/pki/derive/v1", "-kdfopt", `info:${info}`, "HKDF"]);
            expect(r.status).toBe(0);
            return Buffer.from(r.out.trim().replace(/:/g, ""), "hex");
        };
        const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
        const sample = (bytes: Buffer, n: number) => [...bytes].filter((b) => b < 252).slice(0, n).map((b) => alphabet[b % 36]).join("");
        expect(deriveSecrets(pem)).toEqual({
            bootstrapTokenId: sample(okm("opke bootstrap-token-id", 64), 6),
            bootstrapTokenSecret: sample(okm("opke bootstrap-token-secret", 64), 16),
            encryptionKey: okm("opke encryption-key", 32).toString("base64"),
        });
    });

    test("independent of the PEM encoding of the same key", () => {
        const pem = fixedSeed(1);
        const reencoded = crypto.createPrivateKey(pem).export({ type: "pkcs8", format: "pem" }).toString().replace(/\n/g, "\r\n");
        expect(deriveSecrets(reencoded)).toEqual(deriveSecrets(pem));
    });

    test("different seeds give different values; outputs differ from each other", () => {
        const a = deriveSecrets(fixedSeed(1));
        const b = deriveSecrets(fixedSeed(2));
        expect(a.bootstrapTokenId).not.toBe(b.bootstrapTokenId);
        expect(a.bootstrapTokenSecret).not.toBe(b.bootstrapTokenSecret);
        expect(a.encryptionKey).not.toBe(b.encryptionKey);
        expect(a.bootstrapTokenSecret.startsWith(a.bootstrapTokenId)).toBe(false);
    });

    test("characters are spread over the whole alphabet (no modulo bias toward a-d)", () => {
        const counts = new Map<string, number>();
        for (let i = 0; i < 200; i++) {
            for (const ch of deriveSecrets(fixedSeed(i)).bootstrapTokenSecret) counts.set(ch, (counts.get(ch) ?? 0) + 1);
        }
        expect(counts.size).toBe(36);
        // 3200 characters, 36 symbols: expect ~89 each; a gross bias would show far outside this band.
        for (const [, n] of counts) expect(n).toBeGreaterThan(45);
        for (const [, n] of counts) expect(n).toBeLessThan(140);
    });

    test("rejects keys that are not an ED25519 seed, naming the fix", () => {
        const rsa = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey.export({ type: "sec1", format: "pem" }).toString();
        expect(() => deriveSecrets(rsa)).toThrow('secrets-seed: expected an ED25519 private key, got ec; pass PkiMaterial.keyPairs["secrets-seed"].privateKeyPem');
        expect(() => deriveSecrets("not a pem")).toThrow(/secrets-seed: the private key PEM cannot be read/);
    });
});

const GOLDEN = { bootstrapTokenId: "fg75w3", bootstrapTokenSecret: "ou05k8h29c8kz3p9", encryptionKey: "dsAJ2/sSb5inRp3YkSCDubJOX/pBPR+uqGaATn0XroI=" };

describe("kubeconfig", () => {
    const caPem = "-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n";
    const certPem = "-----BEGIN CERTIFICATE-----\nQ0VSVA==\n-----END CERTIFICATE-----\n";
    const keyPem = "-----BEGIN RSA PRIVATE KEY-----\nS0VZ\n-----END RSA PRIVATE KEY-----\n";
    const b64 = (s: string) => Buffer.from(s).toString("base64");

    test("client certificate: exact text", () => {
        const text = kubeconfig({ clusterName: "dev", server: "https://api.dev.example.com:6443", caPem, userName: "system:kube-scheduler", certPem, keyPem });
        expect(text).toBe(
            [
                "apiVersion: v1",
                "kind: Config",
                "clusters:",
                "  - name: dev",
                "    cluster:",
                "      server: https://api.dev.example.com:6443",
                `      certificate-authority-data: ${b64(caPem)}`,
                "users:",
                "  - name: system:kube-scheduler",
                "    user:",
                `      client-certificate-data: ${b64(certPem)}`,
                `      client-key-data: ${b64(keyPem)}`,
                "contexts:",
                "  - name: system:kube-scheduler@dev",
                "    context:",
                "      cluster: dev",
                "      user: system:kube-scheduler",
                "current-context: system:kube-scheduler@dev",
                "preferences: {}",
                "",
            ].join("\n"),
        );
        const doc = parseYaml(text);
        expect(Buffer.from(doc.users[0].user["client-key-data"], "base64").toString()).toBe(keyPem);
        expect(doc["current-context"]).toBe(doc.contexts[0].name);
    });

    test("token, with the contract's short option names; deterministic", () => {
        const opts = { cluster: "dev", server: "https://10.0.0.10:6443", caPem, user: "kubelet-bootstrap", token: "abcdef.0123456789abcdef" };
        const text = kubeconfig(opts);
        expect(text).toBe(kubeconfig({ ...opts }));
        const doc = parseYaml(text);
        expect(doc.users).toEqual([{ name: "kubelet-bootstrap", user: { token: "abcdef.0123456789abcdef" } }]);
        expect(doc.clusters[0].cluster.server).toBe("https://10.0.0.10:6443");
    });

    test("errors", () => {
        const base = { clusterName: "dev", server: "https://api:6443", caPem, userName: "u" };
        expect(() => kubeconfig({ ...base })).toThrow('kubeconfig for user "u": pass either a client certificate (certPem + keyPem) or a token, not neither');
        expect(() => kubeconfig({ ...base, certPem, keyPem, token: "t" })).toThrow("not both");
        expect(() => kubeconfig({ ...base, certPem })).toThrow("pass both certPem and keyPem, or neither");
        expect(() => kubeconfig({ ...base, server: "http://api:6443", token: "t" })).toThrow('server "http://api:6443" is not an https URL');
    });
});
