/**
 * Renders the dev stack twice with `npm run render`'s code (default versions, then other
 * Kubernetes and etcd versions) and checks every output with the real tools:
 *   - Debian's ignition-validate on every ignition.json;
 *   - shellcheck on every script pushed over SSH;
 *   - openssl verify of every certificate (files and kubeconfig-embedded) against the render's own
 *     CAs, plus SAN and extended-key-usage checks;
 *   - no ignition.json carries a PEM private key, the bootstrap token secret, the encryption key or
 *     an age secret key;
 *   - a version change leaves every ignition.json byte-identical while kubelet.env, image.env and
 *     the static pod manifests change.
 *
 * What this does not prove: that Flatcar boots these files or that the binaries accept them
 * (test:e2e:binaries starts real etcd and control-plane binaries from a render).
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { main } from "../scripts/render";

const ROOT = path.resolve(__dirname, "..");

function walk(dir: string): string[] {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
        const p = path.join(dir, e.name);
        return e.isDirectory() ? walk(p) : [p];
    });
}

function openssl(args: string[], input?: string): { code: number; out: string } {
    const r = spawnSync("openssl", args, { input, encoding: "utf8" });
    return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

interface Render {
    dir: string;
    nodes: string[];
}

async function render(dir: string, sets: string[]): Promise<Render> {
    const code = await main(["--stack", "dev", "--out", dir, "--project", ROOT, "--quiet", ...sets.flatMap((s) => ["--set", s])]);
    expect(code).toBe(0);
    const index = JSON.parse(fs.readFileSync(path.join(dir, "index.json"), "utf8")) as { nodes: { name: string }[] };
    return { dir, nodes: index.nodes.map((n) => n.name) };
}

describe("render of the dev stack, checked with real tools", () => {
    let tmp: string;
    let a: Render;
    let b: Render;

    beforeAll(async () => {
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "opke-render-dev-"));
        a = await render(path.join(tmp, "a"), []);
        b = await render(path.join(tmp, "b"), ["kubernetesVersion=1.36.1", "etcdVersion=v3.6.15"]);
    });

    afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

    test("index.json lists every node with role and IP", () => {
        const index = JSON.parse(fs.readFileSync(path.join(a.dir, "index.json"), "utf8"));
        expect(index.nodes).toEqual([
            { name: "c1", role: "controller", ip: "10.0.0.11", mac: "52:54:00:00:00:11" },
            { name: "c2", role: "controller", ip: "10.0.0.12", mac: "52:54:00:00:00:12" },
            { name: "c3", role: "controller", ip: "10.0.0.13", mac: "52:54:00:00:00:13" },
            { name: "w1", role: "worker", ip: "10.0.0.21", mac: "52:54:00:00:00:21" },
            { name: "w2", role: "worker", ip: "10.0.0.22", mac: "52:54:00:00:00:22" },
            { name: "w3", role: "worker", ip: "10.0.0.23", mac: "52:54:00:00:00:23" },
        ]);
    });

    test("ignition-validate accepts every ignition.json", () => {
        for (const r of [a, b]) {
            for (const n of r.nodes) {
                const file = path.join(r.dir, "nodes", n, "ignition.json");
                const res = spawnSync("ignition-validate", [file], { encoding: "utf8" });
                expect({ node: n, code: res.status, out: `${res.stdout}${res.stderr}`.trim() }).toEqual({ node: n, code: 0, out: "" });
            }
        }
    });

    test("shellcheck accepts every script pushed over SSH", () => {
        const scripts = walk(path.join(a.dir, "nodes")).filter((f) => f.includes("/ssh/") && fs.readFileSync(f, "utf8").startsWith("#!"));
        expect(scripts.length).toBeGreaterThanOrEqual(2);
        const res = spawnSync("shellcheck", ["--severity=style", ...scripts], { encoding: "utf8" });
        expect(`${res.stdout}${res.stderr}`).toBe("");
        expect(res.status).toBe(0);
    });

    test("every certificate verifies against the render's CAs with the right SANs and usages", () => {
        const dir = path.join(a.dir, "nodes", "c1", "ssh");
        const cas = {
            etcd: path.join(dir, "etc/ssl/etcd/ca.crt"),
            kubernetes: path.join(dir, "etc/kubernetes/pki/ca.crt"),
            frontProxy: path.join(dir, "etc/kubernetes/pki/front-proxy-ca.crt"),
        };
        const verify = (ca: string, certPem: string, label: string) => {
            const r = openssl(["verify", "-x509_strict", "-CAfile", ca], certPem);
            expect({ label, out: r.out.trim() }).toEqual({ label, out: "stdin: OK" });
        };
        const ext = (certPem: string): string => openssl(["x509", "-noout", "-ext", "subjectAltName,extendedKeyUsage"], certPem).out;

        for (const node of ["c1", "c2", "c3"]) {
            const nd = path.join(a.dir, "nodes", node, "ssh");
            const ip = { c1: "10.0.0.11", c2: "10.0.0.12", c3: "10.0.0.13" }[node];
            for (const kind of ["server", "peer"]) {
                const pem = fs.readFileSync(path.join(nd, `etc/ssl/etcd/${kind}.crt`), "utf8");
                verify(cas.etcd, pem, `${node} etcd ${kind}`);
                const e = ext(pem);
                expect(e).toContain(`DNS:${node}, DNS:localhost, IP Address:${ip}, IP Address:127.0.0.1`);
                expect(e).toContain("TLS Web Server Authentication, TLS Web Client Authentication");
            }
            const apiserver = fs.readFileSync(path.join(nd, "etc/kubernetes/pki/apiserver.crt"), "utf8");
            verify(cas.kubernetes, apiserver, `${node} apiserver`);
            expect(ext(apiserver)).toContain(
                "DNS:api.dev.opke.test, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, " +
                    "DNS:kubernetes.default.svc.cluster.local, DNS:localhost, IP Address:10.0.0.11, IP Address:10.0.0.12, " +
                    "IP Address:10.0.0.13, IP Address:10.3.0.1, IP Address:127.0.0.1",
            );
            for (const [file, ca] of [
                ["apiserver-kubelet-client.crt", cas.kubernetes],
                ["apiserver-etcd-client.crt", cas.etcd],
                ["front-proxy-client.crt", cas.frontProxy],
            ] as const) {
                const pem = fs.readFileSync(path.join(nd, "etc/kubernetes/pki", file), "utf8");
                verify(ca, pem, `${node} ${file}`);
                expect(ext(pem)).toContain("TLS Web Client Authentication");
                expect(ext(pem)).not.toContain("TLS Web Server Authentication");
            }
            // Client certificates embedded in the kubeconfigs.
            for (const conf of ["admin.conf", "controller-manager.conf", "scheduler.conf"]) {
                const kc = parseYaml(fs.readFileSync(path.join(nd, "etc/kubernetes", conf), "utf8")) as {
                    users: { user: { "client-certificate-data": string } }[];
                    clusters: { cluster: { "certificate-authority-data": string } }[];
                };
                const cert = Buffer.from(kc.users[0].user["client-certificate-data"], "base64").toString();
                verify(cas.kubernetes, cert, `${node} ${conf}`);
                expect(Buffer.from(kc.clusters[0].cluster["certificate-authority-data"], "base64").toString()).toBe(fs.readFileSync(cas.kubernetes, "utf8"));
                expect(ext(cert)).toContain("TLS Web Client Authentication");
            }
        }
        const subject = (file: string) =>
            openssl(["x509", "-noout", "-subject", "-nameopt", "compat"], Buffer.from(
                (parseYaml(fs.readFileSync(file, "utf8")) as { users: { user: Record<string, string> }[] }).users[0].user["client-certificate-data"], "base64").toString()).out.trim();
        expect(subject(path.join(a.dir, "cluster/auth/kubeconfig-admin"))).toBe("subject=/O=system:masters/CN=kubernetes-admin");
        expect(subject(path.join(dir, "etc/kubernetes/controller-manager.conf"))).toBe("subject=/CN=system:kube-controller-manager");
        expect(subject(path.join(dir, "etc/kubernetes/scheduler.conf"))).toBe("subject=/CN=system:kube-scheduler");
    });

    test("no ignition.json carries key material, the bootstrap token, the encryption key or an age key", () => {
        const kubeconfig = fs.readFileSync(path.join(a.dir, "nodes/w1/ssh/etc/kubernetes/bootstrap-kubeconfig"), "utf8");
        const token = /token: ([a-z0-9]{6}\.[a-z0-9]{16})/.exec(kubeconfig)![1];
        const encKey = /secret: (\S+)/.exec(fs.readFileSync(path.join(a.dir, "nodes/c1/ssh/etc/kubernetes/pki/encryption-config.yaml"), "utf8"))![1];
        for (const n of a.nodes) {
            const raw = fs.readFileSync(path.join(a.dir, "nodes", n, "ignition.json"), "utf8");
            const decoded = decodeURIComponent(raw);
            for (const text of [raw, decoded]) {
                expect(text).not.toMatch(/-----BEGIN [A-Z ]*PRIVATE KEY-----/);
                expect(text).not.toContain(token.split(".")[1]);
                expect(text).not.toContain(encKey);
                expect(text).not.toContain("AGE-SECRET-KEY-1");
            }
        }
    });

    test("a version change leaves Ignition byte-identical and changes the versioned SSH files", () => {
        for (const n of a.nodes) {
            expect(fs.readFileSync(path.join(b.dir, "nodes", n, "ignition.json"), "utf8")).toBe(
                fs.readFileSync(path.join(a.dir, "nodes", n, "ignition.json"), "utf8"),
            );
        }
        const read = (r: Render, node: string, p: string) => fs.readFileSync(path.join(r.dir, "nodes", node, "ssh", p), "utf8");
        expect(read(a, "w1", "etc/kubernetes/kubelet.env")).toContain("v1.36.3");
        expect(read(b, "w1", "etc/kubernetes/kubelet.env")).toContain("v1.36.1");
        expect(read(a, "c1", "etc/etcd/image.env")).toContain("v3.6.16");
        expect(read(b, "c1", "etc/etcd/image.env")).toContain("v3.6.15");
        for (const m of ["kube-apiserver", "kube-controller-manager", "kube-scheduler"]) {
            const pa = read(a, "c1", `etc/kubernetes/manifests/${m}.yaml`);
            const pb = read(b, "c1", `etc/kubernetes/manifests/${m}.yaml`);
            expect(pa).toContain(`${m}:v1.36.3`);
            expect(pb).toContain(`${m}:v1.36.1`);
        }
        // The version appears only in SSH-pushed files.
        const versioned = walk(path.join(a.dir, "nodes")).filter((f) => /v1\.36\.3|v3\.6\.16/.test(fs.readFileSync(f, "utf8")));
        expect(versioned.every((f) => f.includes(`${path.sep}ssh${path.sep}`))).toBe(true);
        expect(execFileSync("sh", ["-c", `grep -rl 'v1.36.3' ${a.dir}/nodes/*/ignition.json || true`], { encoding: "utf8" })).toBe("");
    });
});
