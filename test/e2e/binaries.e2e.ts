/**
 * npm run test:e2e:binaries — proof on real binaries that what opke renders boots.
 *
 *   1. Renders a stack (default `dev`, OPKE_E2E_STACK to change) with the project's own
 *      `npm run render` code into a temporary folder.
 *   2. Creates one network namespace per controller, with the controller's IP from the stack, on
 *      a bridge of its own (test/e2e/lab.ts), plus a namespace for the clients.
 *   3. Starts one etcd per controller with exactly the ETCD_* variables of its rendered etcd.env,
 *      paths mapped through the volumes of the rendered etcd-member.service
 *      (test/e2e/mapping.ts). Checks health with the apiserver's rendered etcd client certificate,
 *      and that no certificate, or a certificate of another CA, is refused.
 *   4. Starts every static pod of every controller (/etc/kubernetes/manifests/*.yaml) with the
 *      pod's command line, paths mapped through its hostPath volumes. Checks /readyz, anonymous
 *      and foreign-CA rejection, the pods' own probes, leader leases, the rendered bootstrap
 *      scripts, kubelet TLS bootstrap (CSR auto-approved and signed), Secrets encrypted at rest
 *      (raw from etcd), service-account tokens, the audit log.
 *   5. Server-side applies every manifest under <render>/cluster (except auth/): CRDs first, then
 *      Namespaces, then the rest; any rejection fails. Objects whose kind no rendered CRD provides
 *      are listed by name as "not run here".
 *   6. Stops every process and removes the namespaces, also on failure and on signals; every wait
 *      is bounded. Last line: `N passed, N failed`; exit code 1 on any failure.
 *
 * Binaries: `bash scripts/tools.sh k8s etcd` (built from source, cached by version); their
 * versions must equal the rendered image tags (checked). Needs root, iproute2, util-linux, curl,
 * openssl.
 *
 * Environment: OPKE_E2E_STACK (default dev), OPKE_E2E_KEEP=1 (keep the workdir with the render and
 * every process log), OPKE_E2E_CRDS=<file|dir>[:…] (upstream CRDs opke does not render, applied
 * before the rendered manifests; default: Argo CD's own CRDs at lib/versions.json argocd.appVersion,
 * unmodified, from the argo-cd Go module via `go mod download`; without them the objects that need
 * them are "not run here").
 *
 * What this does NOT prove:
 *   - DNS: the API name (apiDnsName) resolves through /etc/hosts in the test's namespaces, to
 *     controller 0; no DNS server, no load balancer is involved.
 *   - containers: processes run on the host, not in docker/podman; read-only volume flags are
 *     not enforced, the image entrypoints are not used (static pods set `command`), seccomp and
 *     SELinux labels are not applied, and the etcd-member/kubelet systemd units never run.
 *   - the kubelet (not built): kubelet.yaml, kubelet.service, static-pod admission by a kubelet,
 *     mirror pods, the apiserver→kubelet client certificate and the CNI are not exercised.
 *   - the aggregation layer (front-proxy certificates) is configured but no aggregated API
 *     server is registered, so requestheader authentication is not exercised.
 *   - Ignition and the SSH push: files are used from the render folder, not from a provisioned
 *     host (test:ssh covers the push).
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as os from "node:os";
import { spawnSync } from "node:child_process";
import { parse, parseAllDocuments } from "yaml";
import { loadStackFile } from "../../lib/config";
import { clusterNodes, ClusterConfig } from "../../lib/config/schema";
import { createCertRequest, generateKey, generateLocalPki } from "../../lib/pki/local";
import { main as renderMain } from "../../scripts/render";
import { Daemon, ExecResult, Lab, sleep, sweepStale } from "./lab";
import { Mount, parseEnvFile, readStaticPod, rewriteArgs, rewriteEnv, ResolveHost, unitVolumes } from "./mapping";

const ROOT = path.resolve(__dirname, "../..");
const STACK = process.env.OPKE_E2E_STACK ?? "dev";
const KEEP = process.env.OPKE_E2E_KEEP === "1";
const FIELD_MANAGER = "opke-e2e";
const ETCD_UNIT = "etcd-member.service";
const CLIENT = "e2e-client";

// ---------------------------------------------------------------------------------------------------
// Reporting

let passed = 0;
let failed = 0;
const notRun: string[] = [];
const timings: string[] = [];


/**
 * The directory of Argo CD's own CRD manifests for the release pinned in lib/versions.json
 * (argocd.appVersion), from the argo-cd Go module via `go mod download` (cached in GOMODCACHE).
 * Returns "" (and the objects that need them are then reported "not run here") when Go or the
 * module is unavailable.
 */
function argoCdCrdsFromGoModule(): string {
    const versions = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "lib", "versions.json"), "utf8")) as { argocd?: { appVersion?: string } };
    const v = versions.argocd?.appVersion;
    if (!v) return "";
    const r = spawnSync("go", ["mod", "download", "-json", `github.com/argoproj/argo-cd/v3@${v}`], {
        cwd: os.tmpdir(),
        encoding: "utf8",
        timeout: 600_000,
        env: { ...process.env, PATH: `${process.env.PATH ?? ""}:/usr/local/go/bin`, GOFLAGS: "-mod=mod" },
    });
    if (r.status !== 0) return "";
    const dir = (JSON.parse(r.stdout) as { Dir?: string }).Dir;
    return dir && fs.existsSync(path.join(dir, "manifests", "crds")) ? path.join(dir, "manifests", "crds") : "";
}

function ok(name: string, detail?: string): void {
    passed++;
    out(`ok - ${name}${detail ? ` (${detail})` : ""}`);
}

function fail(name: string, reason: string): void {
    failed++;
    out(`FAIL - ${name}: ${reason.trim().replace(/\n+/g, "\n    ")}`);
}

function notRunHere(name: string, because: string): void {
    notRun.push(name);
    out(`not run here - ${name}: because ${because}`);
}

function note(text: string): void {
    out(`# ${text}`);
}

function out(line: string): void {
    process.stdout.write(line + "\n");
}

/** Runs a check: a returned string is the ok detail; a thrown error is the failure reason. */
async function check(name: string, fn: () => Promise<string | void>): Promise<boolean> {
    try {
        const detail = await fn();
        ok(name, detail || undefined);
        return true;
    } catch (e) {
        fail(name, e instanceof Error ? e.message : String(e));
        return false;
    }
}

class NotYet extends Error {}

/** Polls `fn` (throw NotYet or anything to retry) until it returns, at most `timeoutMs`. */
async function until<T>(what: string, timeoutMs: number, intervalMs: number, fn: () => Promise<T>, abort?: () => string | undefined): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    for (;;) {
        const why = abort?.();
        if (why) throw new Error(`${what}: ${why}`);
        try {
            return await fn();
        } catch (e) {
            last = e instanceof Error ? e.message : String(e);
        }
        if (Date.now() >= deadline) throw new Error(`${what}: not within ${Math.round(timeoutMs / 1000)} s; last: ${last.trim().slice(0, 1500)}`);
        await sleep(intervalMs);
    }
}

function seconds(ms: number): string {
    return `${(ms / 1000).toFixed(2)} s`;
}

function tail(file: string, n = 12): string {
    try {
        return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-n).join("\n");
    } catch {
        return "(no log)";
    }
}

function short(r: ExecResult): string {
    return `exit ${r.code}: ${(r.stderr.trim() || r.out.trim()).slice(0, 1500)}`;
}

// ---------------------------------------------------------------------------------------------------
// Tools

function toolsBin(group: string): string {
    const r = spawnSync("bash", [path.join(ROOT, "scripts/tools.sh"), "path", group], { encoding: "utf8", timeout: 30_000 });
    if (r.status !== 0) throw new Error(`bash scripts/tools.sh path ${group}: ${r.stderr.trim()}`);
    return r.stdout.trim();
}

function binaryVersion(bin: string, args: string[], re: RegExp): string {
    const r = spawnSync(bin, args, { encoding: "utf8", timeout: 30_000 });
    const m = re.exec((r.stdout ?? "") + (r.stderr ?? ""));
    if (!m) throw new Error(`${bin} ${args.join(" ")} printed no version: ${r.stdout} ${r.stderr}`);
    return m[1];
}

// ---------------------------------------------------------------------------------------------------
// The run

interface Controller {
    name: string;
    ip: string;
    /** <render>/nodes/<name>/ssh: the node's pushed files. */
    tree: string;
    /** Run-time folders the node would create (data dir, audit log dir). */
    state: string;
    resolve: ResolveHost;
    /** Per static pod: the mapped argv and volume mounts. */
    pods: Map<string, { file: string; argv: string[]; mounts: Mount[]; image: string; probes: ReturnType<typeof readStaticPod>["probes"] }>;
}

async function run(): Promise<void> {
    const started = Date.now();
    const removed = sweepStale();
    if (removed.length) note(`removed leftovers of earlier runs: ${removed.join(", ")}`);

    // --- tools -------------------------------------------------------------------------------
    let k8sBin = "";
    let etcdBin = "";
    const toolsOk = await check("tools: kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd and etcdctl are built", async () => {
        k8sBin = toolsBin("k8s");
        etcdBin = toolsBin("etcd");
        const missing = [
            ...["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"].map((b) => path.join(k8sBin, b)),
            ...["etcd", "etcdctl"].map((b) => path.join(etcdBin, b)),
        ].filter((p) => !fs.existsSync(p));
        if (missing.length) throw new Error(`missing ${missing.join(", ")}; build them with: bash scripts/tools.sh k8s etcd`);
        return `${k8sBin}, ${etcdBin}`;
    });
    if (!toolsOk) return;
    const k8sVersion = binaryVersion(path.join(k8sBin, "kube-apiserver"), ["--version"], /Kubernetes (v\S+)/);
    const etcdVersion = "v" + binaryVersion(path.join(etcdBin, "etcd"), ["--version"], /etcd Version: (\S+)/);
    const PATH = [k8sBin, etcdBin, "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"].join(":");

    // --- config and lab ----------------------------------------------------------------------
    const cfg: ClusterConfig = loadStackFile(ROOT, STACK);
    const nodes = clusterNodes(cfg);
    const controllersCfg = nodes.filter((n) => n.role === "controller");
    const prefixLength = Number(cfg.network.nodeCidr.split("/")[1]);
    const clientIp = freeAddress(cfg.network.nodeCidr, nodes.map((n) => n.ip));
    const apiHost = cfg.apiDnsName;
    const apiPort = cfg.apiPort;
    note(`stack ${STACK}: controllers ${controllersCfg.map((c) => `${c.name}=${c.ip}`).join(", ")}; clients at ${clientIp}; ` +
        `${apiHost} → ${controllersCfg[0].ip} through /etc/hosts in the test's namespaces (DNS is not exercised)`);

    const lab = await Lab.create({
        hosts: controllersCfg.map((c) => ({ name: c.name, ip: c.ip })),
        client: { name: CLIENT, ip: clientIp },
        prefixLength,
        etcHosts: `127.0.0.1 localhost\n::1 localhost\n${controllersCfg[0].ip} ${apiHost}\n`,
        path: PATH,
        onInterrupt: (signal) => {
            fail("e2e run", `interrupted by ${signal}; every process was stopped and the namespaces removed`);
            out(`${passed} passed, ${failed} failed`);
        },
    });
    let leftovers: string[] = [];
    try {
        await scenario(lab, cfg, { k8sVersion, etcdVersion, apiHost, apiPort });
    } catch (e) {
        fail("e2e run", e instanceof Error ? e.stack ?? e.message : String(e));
    } finally {
        const exitedEarly = lab.daemons.filter((d) => d.exit);
        if (failed > 0) {
            for (const d of lab.daemons) {
                note(`--- last lines of ${d.label} (${d.exit ? `exited ${d.exit.code ?? d.exit.signal}` : "running"}):`);
                for (const l of tail(d.logFile, 8).split("\n")) note(`  ${l.slice(0, 400)}`);
            }
        }
        if (lab.daemons.length) {
            if (exitedEarly.length) fail("every started process was still running at the end", exitedEarly.map((d) => `${d.label} exited ${d.exit!.code ?? d.exit!.signal}`).join(", "));
            else ok("every started process was still running at the end", `${lab.daemons.length} processes`);
        }
        const t = Date.now();
        leftovers = await lab.cleanup({ keepWorkdir: KEEP });
        if (leftovers.length) fail("cleanup: every process stopped, namespaces, links and workdir removed", `left: ${leftovers.join(", ")}`);
        else ok("cleanup: every process stopped, namespaces, links and workdir removed", `${seconds(Date.now() - t)}${KEEP ? `; workdir kept: ${lab.workdir}` : ""}`);
    }
    timings.push(`total test time ${seconds(Date.now() - started)}`);
}

interface Versions {
    k8sVersion: string;
    etcdVersion: string;
    apiHost: string;
    apiPort: number;
}

async function scenario(lab: Lab, cfg: ClusterConfig, v: Versions): Promise<void> {
    const render = path.join(lab.workdir, "render");
    const client = path.join(lab.workdir, "client");
    fs.mkdirSync(client, { recursive: true, mode: 0o700 });

    // --- 1. render -----------------------------------------------------------------------------
    const renderOk = await check(`render: stack ${STACK} rendered by scripts/render.ts into a temporary folder`, async () => {
        const t = Date.now();
        const code = await renderMain(["--stack", STACK, "--out", render, "--quiet", "--project", ROOT]);
        if (code !== 0) throw new Error(`render exited ${code}`);
        return `${render}, ${seconds(Date.now() - t)}`;
    });
    if (!renderOk) return;
    const index = JSON.parse(fs.readFileSync(path.join(render, "index.json"), "utf8")) as { nodes: { name: string; role: string; ip: string }[] };
    const controllers: Controller[] = index.nodes
        .filter((n) => n.role === "controller")
        .map((n) => {
            const tree = path.join(render, "nodes", n.name, "ssh");
            const state = path.join(lab.workdir, "state", n.name);
            const c: Controller = { name: n.name, ip: n.ip, tree, state, pods: new Map(), resolve: () => "" };
            c.resolve = (hostPath, mount) => {
                const rendered = path.join(tree, hostPath);
                if (fs.existsSync(rendered)) return rendered;
                if (mount.type === "File" || mount.type === "Directory") {
                    throw new Error(`${n.name}: hostPath ${hostPath} (type ${mount.type}) must exist on the node but is not rendered`);
                }
                const local = path.join(state, hostPath);
                fs.mkdirSync(local, { recursive: true, mode: 0o700 });
                return local;
            };
            return c;
        });
    const c0 = controllers[0];

    // --- 2/3. etcd ---------------------------------------------------------------------------
    const etcdDaemons: Daemon[] = [];
    for (const c of controllers) {
        const ign = JSON.parse(fs.readFileSync(path.join(render, "nodes", c.name, "ignition.json"), "utf8")) as {
            systemd?: { units?: { name: string; contents?: string }[] };
        };
        const unit = ign.systemd?.units?.find((u) => u.name === ETCD_UNIT)?.contents;
        const started = await check(`etcd ${c.name}: started with the ETCD_* variables of its etcd.env, paths mapped through ${ETCD_UNIT}'s volumes`, async () => {
            if (!unit) throw new Error(`${ETCD_UNIT} is not in ${c.name}'s Ignition`);
            const mounts = unitVolumes(unit);
            if (mounts.length === 0) throw new Error(`${ETCD_UNIT} mounts no volume`);
            const envFile = unit.match(/--env-file[= ](\S+)/)?.[1];
            if (!envFile) throw new Error(`${ETCD_UNIT} has no --env-file`);
            const vars = parseEnvFile(fs.readFileSync(path.join(c.tree, envFile), "utf8"));
            const nonEtcd = vars.filter(([k]) => !k.startsWith("ETCD_")).map(([k]) => k);
            if (nonEtcd.length) throw new Error(`${envFile} sets ${nonEtcd.join(", ")}: not etcd settings`);
            const mapped = rewriteEnv(vars, mounts, c.resolve);
            if (mapped.problems.length) throw new Error(mapped.problems.join("; "));
            etcdDaemons.push(lab.start(c.name, `etcd-${c.name}`, ["etcd"], mapped.env));
            return `${vars.length} variables, ${mapped.mapped.length} paths mapped`;
        });
        if (!started) return;
    }
    const etcdStart = Date.now();
    await check(`etcd: image.env pins ${v.etcdVersion}, the version of the etcd binary under test`, async () => {
        const tags = controllers.map((c) => /^ETCD_IMAGE=\S+:(\S+)$/m.exec(fs.readFileSync(path.join(c.tree, "etc/etcd/image.env"), "utf8"))?.[1]);
        if (tags.some((t) => t !== v.etcdVersion)) throw new Error(`image.env tags ${tags.join(", ")} ≠ binary ${v.etcdVersion}`);
    });

    // The apiserver's etcd client flags, mapped: the test's etcd client uses exactly those files.
    for (const c of controllers) loadStaticPods(c);
    const apiPod = c0.pods.get("kube-apiserver");
    if (!apiPod) {
        fail("static pods", `${c0.name} renders no kube-apiserver static pod`);
        return;
    }
    const flag = (argv: string[], name: string): string | undefined => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
    const etcdTls = {
        ca: flag(apiPod.argv, "etcd-cafile")!,
        cert: flag(apiPod.argv, "etcd-certfile")!,
        key: flag(apiPod.argv, "etcd-keyfile")!,
        servers: flag(apiPod.argv, "etcd-servers")!,
    };
    const etcdctl = (args: string[], tls: { ca: string; cert?: string; key?: string } = etcdTls, endpoints = etcdTls.servers): Promise<ExecResult> =>
        lab.exec(CLIENT, [
            "etcdctl", `--endpoints=${endpoints}`, `--cacert=${tls.ca}`,
            ...(tls.cert ? [`--cert=${tls.cert}`, `--key=${tls.key}`] : []),
            "--dial-timeout=3s", "--command-timeout=5s", ...args,
        ], { timeoutMs: 20_000 });
    const etcdDied = (): string | undefined => {
        const d = etcdDaemons.find((x) => x.exit);
        return d ? `${d.label} exited ${d.exit!.code ?? d.exit!.signal}: ${tail(d.logFile, 6)}` : undefined;
    };

    const etcdHealthy = await check("etcd: all members healthy (endpoint health --cluster) with the apiserver's rendered etcd client certificate", async () => {
        const ms = await until("etcd health", 60_000, 250, async () => {
            const r = await etcdctl(["endpoint", "health", "--cluster", "-w", "json"]);
            if (r.code !== 0) throw new NotYet(short(r));
            const h = JSON.parse(r.out) as { endpoint: string; health: boolean }[];
            if (h.length !== controllers.length || !h.every((x) => x.health)) throw new NotYet(r.out);
            return Date.now() - etcdStart;
        }, etcdDied);
        timings.push(`etcd: ${controllers.length} members healthy ${seconds(ms)} after launch`);
        return `${seconds(ms)} after launch; client cert ${path.relative(render, etcdTls.cert)}`;
    });
    if (!etcdHealthy) return;

    await check("etcd: member list = the rendered ETCD_INITIAL_CLUSTER", async () => {
        const r = await etcdctl(["member", "list", "-w", "json"]);
        if (r.code !== 0) throw new Error(short(r));
        const members = (JSON.parse(r.out) as { members: { name: string; peerURLs: string[]; clientURLs: string[] }[] }).members;
        const got = members.map((m) => `${m.name}=${m.peerURLs.join("|")}`).sort().join(",");
        const want = (/^ETCD_INITIAL_CLUSTER=(.*)$/m.exec(fs.readFileSync(path.join(c0.tree, "etc/etcd/etcd.env"), "utf8"))?.[1] ?? "").split(",").sort().join(",");
        if (got !== want) throw new Error(`members ${got}, rendered ${want}`);
        return got;
    });

    await check("etcd: every rendered variable recognised, no deprecation warning in the members' logs", async () => {
        const bad: string[] = [];
        for (const d of etcdDaemons) {
            for (const line of fs.readFileSync(d.logFile, "utf8").split("\n")) {
                if (/unrecognized environment variable|deprecated/i.test(line)) bad.push(`${d.label}: ${line.slice(0, 300)}`);
            }
        }
        if (bad.length) throw new Error(bad.join("\n"));
    });

    // Rejections are shown twice: etcdctl fails, and a TLS client sees the server's alert on every
    // member, while the same request with the rendered certificate succeeds (positive control).
    const tlsAlert = /certificate required|bad certificate|unknown ca|certificate unknown|alert/i;
    const etcdRefuses = async (tls: { ca: string; cert?: string; key?: string }): Promise<string> => {
        const r = await etcdctl(["get", "/registry/namespaces/default"], tls);
        if (r.code === 0) throw new Error(`etcdctl was served: ${r.out.slice(0, 200)}`);
        const alerts: string[] = [];
        for (const c of controllers) {
            const url = `https://${c.ip}:2379/version`;
            const good = await lab.exec(CLIENT, ["curl", "-sS", "--max-time", "5", "--cacert", etcdTls.ca, "--cert", etcdTls.cert, "--key", etcdTls.key, url]);
            if (good.code !== 0 || !/etcdserver/.test(good.out)) throw new Error(`positive control failed: ${url} with the rendered certificate: ${short(good)}`);
            // TLS 1.2: the server checks the client certificate inside the handshake and answers with an
            // alert (with TLS 1.3 the client often sees only the closed connection).
            const bad = await lab.exec(CLIENT, ["curl", "-sS", "--max-time", "5", "--tls-max", "1.2", "--cacert", tls.ca, ...(tls.cert ? ["--cert", tls.cert, "--key", tls.key!] : []), url]);
            if (bad.code === 0) throw new Error(`${url} answered: ${bad.out.slice(0, 200)}`);
            const alert = /alert [a-z ]+/i.exec(bad.stderr)?.[0] ?? tlsAlert.exec(bad.stderr)?.[0];
            if (!alert) throw new Error(`${url} failed, but without a TLS alert: ${short(bad)}`);
            alerts.push(`${c.name}: ${alert}`);
        }
        return `etcdctl refused; TLS alert from every member (${alerts.join(", ")}); the rendered certificate is served`;
    };
    await check("etcd: a client without a certificate is refused", async () => etcdRefuses({ ca: etcdTls.ca }));

    // A CA of our own, with a client certificate of the very same subject as the apiserver's.
    const foreign = await generateLocalPki({
        certificates: [
            { id: "ca", isCa: true, subject: { commonName: "foreign-ca" }, dnsNames: [], ipAddresses: [], usages: ["cert_signing", "digital_signature"], validityHours: 24, earlyRenewalHours: 1, key: { algorithm: "ECDSA", ecdsaCurve: "P256" } },
            { id: "etcd", issuer: "ca", isCa: false, subject: { commonName: "kube-apiserver-etcd-client" }, dnsNames: [], ipAddresses: [], usages: ["digital_signature", "client_auth"], validityHours: 24, earlyRenewalHours: 1, key: { algorithm: "ECDSA", ecdsaCurve: "P256" } },
            { id: "admin", issuer: "ca", isCa: false, subject: { commonName: "kubernetes-admin", organization: "system:masters" }, dnsNames: [], ipAddresses: [], usages: ["digital_signature", "client_auth"], validityHours: 24, earlyRenewalHours: 1, key: { algorithm: "ECDSA", ecdsaCurve: "P256" } },
        ],
        keyPairs: [],
    });
    const fEtcd = writePair(client, "foreign-etcd", foreign.certificates.etcd);
    const fAdmin = writePair(client, "foreign-admin", foreign.certificates.admin);
    await check("etcd: a client certificate of another CA (same subject as the apiserver's) is refused", async () =>
        etcdRefuses({ ca: etcdTls.ca, cert: fEtcd.cert, key: fEtcd.key }));

    await check("etcd: plain-HTTP metrics/health answer on 127.0.0.1 only", async () => {
        const url = /^ETCD_LISTEN_METRICS_URLS=(.*)$/m.exec(fs.readFileSync(path.join(c0.tree, "etc/etcd/etcd.env"), "utf8"))?.[1];
        if (!url) return "no metrics listener rendered";
        const inside = await lab.exec(c0.name, ["curl", "-sS", "--max-time", "5", `${url}/health`]);
        if (inside.code !== 0 || !/"health":"true"/.test(inside.out)) throw new Error(`${url}/health on ${c0.name}: ${short(inside)} ${inside.out}`);
        const port = new URL(url).port;
        const outside = await lab.exec(CLIENT, ["curl", "-sS", "--max-time", "5", `http://${c0.ip}:${port}/health`]);
        if (outside.code === 0) throw new Error(`http://${c0.ip}:${port}/health answered from another host: ${outside.out}`);
        return `${url}/health ok on ${c0.name}; ${c0.ip}:${port} refused from another host`;
    });

    // --- 4. control plane ---------------------------------------------------------------------
    await check(`static pods: images tagged ${v.k8sVersion}, the version of the binaries under test`, async () => {
        const wrong: string[] = [];
        for (const c of controllers) for (const [name, p] of c.pods) if (!p.image.endsWith(`:${v.k8sVersion}`)) wrong.push(`${c.name}/${name} ${p.image}`);
        if (wrong.length) throw new Error(wrong.join(", "));
        return `${controllers.length} × ${[...c0.pods.keys()].join(", ")}`;
    });

    const cpDaemons = new Map<string, Daemon>();
    let cpStart = 0;
    for (const c of controllers) {
        for (const [name, p] of c.pods) {
            if (!cpStart) cpStart = Date.now();
            // p.argv is already mapped (loadStaticPods); mapping problems are reported below.
            cpDaemons.set(`${c.name}/${name}`, lab.start(c.name, `${name}-${c.name}`, p.argv, {}));
        }
    }
    await check("static pods: every path on every command line lies under one of the pod's hostPath volumes", async () => {
        const problems: string[] = [];
        for (const c of controllers) for (const [name, p] of c.pods) problems.push(...(staticPodProblems.get(`${c.name}/${name}`) ?? []).map((x) => `${c.name}/${name}: ${x}`));
        if (problems.length) throw new Error(problems.join("\n"));
        return `${[...cpDaemons.keys()].length} processes started from ${controllers.length} × ${c0.pods.size} manifests`;
    });
    const cpDied = (): string | undefined => {
        const d = [...cpDaemons.values(), ...etcdDaemons].find((x) => x.exit);
        return d ? `${d.label} exited ${d.exit!.code ?? d.exit!.signal}: ${tail(d.logFile, 6)}` : undefined;
    };

    // Admin credentials from the rendered admin kubeconfig.
    const adminKc = path.join(render, "cluster/auth/kubeconfig-admin");
    const admin = kubeconfigFiles(adminKc, client, "admin");
    const curl = (args: string[], host = CLIENT): Promise<ExecResult> =>
        lab.exec(host, ["curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}", ...args]);
    const httpCode = (r: ExecResult): { code: number; body: string } => {
        const i = r.out.lastIndexOf("\n");
        return { code: Number(r.out.slice(i + 1)), body: r.out.slice(0, i) };
    };
    const apiUrl = `https://${v.apiHost}:${v.apiPort}`;
    const viaName = (ip: string): string[] => ["--resolve", `${v.apiHost}:${v.apiPort}:${ip}`];
    const adminTls = ["--cacert", admin.ca, "--cert", admin.cert!, "--key", admin.key!];

    const ready = await check(`kube-apiserver: /readyz = ok on every controller, admin client certificate, server certificate verified for ${v.apiHost}`, async () => {
        const firstReady = new Map<string, number>();
        await until("/readyz", 120_000, 500, async () => {
            const notReady: string[] = [];
            for (const c of controllers) {
                if (firstReady.has(c.name)) continue;
                const raw = await curl([...adminTls, ...viaName(c.ip), `${apiUrl}/readyz`]);
                const r = httpCode(raw);
                if (r.code === 200 && r.body.trim() === "ok") firstReady.set(c.name, Date.now() - cpStart);
                else notReady.push(`${c.name}: HTTP ${r.code} ${r.body.slice(0, 200)} ${raw.stderr.trim().slice(0, 300)}`);
            }
            if (notReady.length) throw new NotYet(notReady.join("; "));
        }, cpDied);
        const first = Math.min(...firstReady.values());
        const all = Math.max(...firstReady.values());
        timings.push(`kube-apiserver: first /readyz ${seconds(first)}, all ${controllers.length} ${seconds(all)} after launch (etcd already healthy)`);
        return [...firstReady].map(([n, ms]) => `${n} ${seconds(ms)}`).join(", ");
    });
    if (!ready) return;

    await check("kube-apiserver: serving certificate valid for every controller IP", async () => {
        for (const c of controllers) {
            const r = httpCode(await curl([...adminTls, `https://${c.ip}:${v.apiPort}/readyz`]));
            if (r.code !== 200) throw new Error(`https://${c.ip}:${v.apiPort}/readyz: ${r.code} ${r.body}`);
        }
    });

    await check("kube-apiserver: anonymous requests are rejected (401 on /api and /readyz)", async () => {
        const codes: string[] = [];
        for (const c of controllers) {
            for (const p of ["/api", "/readyz"]) {
                const r = httpCode(await curl(["--cacert", admin.ca, ...viaName(c.ip), `${apiUrl}${p}`]));
                if (r.code !== 401) throw new Error(`${c.name} ${p}: HTTP ${r.code} ${r.body.slice(0, 200)}`);
                codes.push(`${c.name}${p}=401`);
            }
        }
        return codes.join(" ");
    });

    await check("kube-apiserver: an admin-named client certificate of another CA is rejected (401)", async () => {
        const r = httpCode(await curl(["--cacert", admin.ca, "--cert", fAdmin.cert, "--key", fAdmin.key, ...viaName(c0.ip), `${apiUrl}/api`]));
        if (r.code !== 401) throw new Error(`HTTP ${r.code} ${r.body.slice(0, 200)}`);
        return "CN kubernetes-admin, O system:masters, foreign CA → 401";
    });

    for (const c of controllers) {
        await check(`static pods ${c.name}: every readiness/liveness/startup probe passes as the kubelet would run it`, async () => {
            const done: string[] = [];
            for (const [name, p] of c.pods) {
                for (const { kind, probe } of p.probes) {
                    await until(`${name} ${kind} probe`, 60_000, 1000, async () => {
                        if (probe.httpGet) {
                            const g = probe.httpGet;
                            const url = `${(g.scheme ?? "HTTP").toLowerCase()}://${g.host ?? c.ip}:${g.port}${g.path ?? "/"}`;
                            const r = httpCode(await curl(["-k", url], c.name)); // the kubelet does not verify probe certificates
                            if (!(r.code >= 200 && r.code < 400)) throw new NotYet(`${url}: HTTP ${r.code} ${r.body.slice(0, 200)}`);
                            done.push(`${name} ${kind} ${g.path}:${g.port}`);
                        } else if (probe.tcpSocket) {
                            const t = probe.tcpSocket;
                            const r = await lab.exec(c.name, ["bash", "-c", `exec 3<>/dev/tcp/${t.host ?? c.ip}/${t.port}`], { timeoutMs: 5000 });
                            if (r.code !== 0) throw new NotYet(`tcp ${t.host}:${t.port}: ${short(r)}`);
                            done.push(`${name} ${kind} tcp:${t.port}`);
                        } else {
                            throw new Error(`${name} ${kind} probe is neither httpGet nor tcpSocket; this harness cannot run it`);
                        }
                    }, cpDied);
                }
            }
            return done.join(", ");
        });
    }

    const kubectl = (args: string[], o: { kubeconfig?: string; input?: string; timeoutMs?: number } = {}): Promise<ExecResult> =>
        lab.exec(CLIENT, ["kubectl", `--kubeconfig=${o.kubeconfig ?? adminKc}`, "--request-timeout=20s", ...args], { input: o.input, timeoutMs: o.timeoutMs ?? 40_000 });

    await check("leader election: kube-controller-manager and kube-scheduler hold their leases (their kubeconfigs and RBAC work)", async () => {
        const holders = await until("leases", 90_000, 1000, async () => {
            const r = await kubectl(["get", "lease", "-n", "kube-system", "kube-controller-manager", "kube-scheduler", "-o", "json"]);
            if (r.code !== 0) throw new NotYet(short(r));
            const items = (JSON.parse(r.out) as { items: { metadata: { name: string }; spec: { holderIdentity?: string } }[] }).items;
            const h = items.map((i) => `${i.metadata.name}=${i.spec.holderIdentity ?? ""}`);
            if (items.length !== 2 || items.some((i) => !i.spec.holderIdentity)) throw new NotYet(h.join(", "));
            return h;
        }, cpDied);
        const names = controllers.map((c) => c.name);
        const bad = holders.filter((h) => !names.some((n) => h.split("=")[1].startsWith(`${n}_`)));
        if (bad.length) throw new Error(`holder is not one of the controllers: ${bad.join(", ")}`);
        return holders.join(", ");
    });

    await check("kube-apiserver: the kubernetes Service's endpoints are every controller's --advertise-address", async () => {
        const want = controllers.map((c) => flag(c.pods.get("kube-apiserver")!.argv, "advertise-address") ?? "(none)").sort().join(",");
        const got = await until("endpoints", 30_000, 1000, async () => {
            const r = await kubectl(["get", "endpointslices", "-n", "default", "-l", "kubernetes.io/service-name=kubernetes", "-o", "jsonpath={.items[*].endpoints[*].addresses[*]}"]);
            if (r.code !== 0) throw new NotYet(short(r));
            const ips = r.out.trim().split(/\s+/).sort().join(",");
            if (ips !== want) throw new NotYet(`endpoints ${ips}, want ${want}`);
            return ips;
        });
        return got;
    });

    // --- bootstrap one-shot, as bootstrap.service runs it on controller 0 ------------------------
    const bootstrapDir = path.join(c0.tree, "opt/bootstrap");
    const scriptEnv = {
        KUBECONFIG: path.join(c0.tree, "etc/kubernetes/admin.conf"),
        OPKE_BOOTSTRAP_DIR: bootstrapDir,
        OPKE_WAIT_ATTEMPTS: "12",
        OPKE_WAIT_SECONDS: "5",
        OPKE_APPLY_ATTEMPTS: "3",
    };
    if (fs.existsSync(path.join(bootstrapDir, "apply"))) {
        await check(`bootstrap: rendered /opt/bootstrap/apply on ${c0.name} applies the bootstrap manifests and writes bootstrap.done`, async () => {
            const r = await lab.exec(c0.name, [path.join(bootstrapDir, "apply")], { env: scriptEnv, timeoutMs: 120_000 });
            if (r.code !== 0) throw new Error(short(r) + "\n" + r.out);
            if (!fs.existsSync(path.join(bootstrapDir, "bootstrap.done"))) throw new Error("exit 0 but no bootstrap.done");
            return `${(r.out.match(/serverside-applied|configured|created/g) ?? []).length} objects applied`;
        });
        await check("bootstrap: a second run does nothing (bootstrap.done)", async () => {
            const r = await lab.exec(c0.name, [path.join(bootstrapDir, "apply")], { env: scriptEnv, timeoutMs: 60_000 });
            if (r.code !== 0 || !/nothing to do/.test(r.stderr)) throw new Error(short(r));
        });
        if (fs.existsSync(path.join(bootstrapDir, "kube-upgrade"))) {
            await check(`bootstrap: rendered /opt/bootstrap/kube-upgrade on ${c0.name} re-applies and reports versions`, async () => {
                const r = await lab.exec(c0.name, [path.join(bootstrapDir, "kube-upgrade")], { env: scriptEnv, timeoutMs: 120_000 });
                if (r.code !== 0) throw new Error(short(r) + "\n" + r.out);
                if (!r.out.includes(v.k8sVersion)) throw new Error(`no ${v.k8sVersion} in its output: ${r.out.slice(0, 500)}`);
            });
        }
    } else {
        notRunHere("bootstrap: /opt/bootstrap/apply", `${c0.name}'s render has no /opt/bootstrap/apply`);
    }

    // --- 5. server-side apply of every rendered cluster manifest -------------------------------
    await applyAll(render, kubectl);

    await check("static pods: every rendered static pod manifest passes server-side validation (dry-run create in kube-system)", async () => {
        const done: string[] = [];
        for (const c of controllers) {
            for (const [name, p] of c.pods) {
                await until(`${c.name}/${name}`, 60_000, 2000, async () => {
                    const r = await kubectl(["create", "--dry-run=server", "--validate=strict", "-o", "name", "-f", p.file]);
                    if (r.code !== 0) {
                        // The ServiceAccount admission needs kube-system/default, which the controller-manager creates.
                        if (/serviceaccount.*not found/i.test(r.stderr)) throw new NotYet(r.stderr);
                        throw new Error(short(r));
                    }
                    const warnings = r.stderr.split("\n").filter((l) => /^Warning:/.test(l));
                    if (warnings.length) throw new Error(warnings.join("; "));
                });
                done.push(`${c.name}/${name}`);
            }
        }
        return `${done.length} manifests`;
    });

    // --- kubelet TLS bootstrap -----------------------------------------------------------------
    await csrFlow(lab, render, client, kubectl, admin, v, fs.existsSync(path.join(c0.tree, "etc/kubernetes/pki/ca.crt")) ? path.join(c0.tree, "etc/kubernetes/pki/ca.crt") : admin.ca, c0);

    // --- encryption at rest ----------------------------------------------------------------------
    const encConfigFile = flag(apiPod.argv, "encryption-provider-config");
    const secretName = `okb-e2e-${lab.id}`;
    const plaintext = `okb-plaintext-${crypto.randomBytes(12).toString("hex")}`;
    await check("encryption at rest: a new Secret is stored encrypted in etcd (raw read), readable through every apiserver", async () => {
        if (!encConfigFile) throw new Error("kube-apiserver has no --encryption-provider-config");
        const { provider, keyName } = encryptionProvider(fs.readFileSync(encConfigFile, "utf8"));
        const r = await kubectl(["create", "secret", "generic", secretName, "-n", "default", `--from-literal=value=${plaintext}`]);
        if (r.code !== 0) throw new Error(short(r));
        const raw = await etcdGet(etcdctl, `/registry/secrets/default/${secretName}`);
        const prefix = `k8s:enc:${provider}:v1:${keyName}:`;
        if (!raw.subarray(0, prefix.length).equals(Buffer.from(prefix))) throw new Error(`raw value starts with ${JSON.stringify(raw.subarray(0, 40).toString("latin1"))}, expected ${prefix}`);
        if (raw.includes(Buffer.from(plaintext))) throw new Error("the plaintext is in the raw etcd value");
        for (const c of controllers) {
            const g = await kubectl(["--server", `https://${c.ip}:${v.apiPort}`, "--tls-server-name", v.apiHost, "get", "secret", "-n", "default", secretName, "-o", "jsonpath={.data.value}"]);
            if (g.code !== 0 || Buffer.from(g.out, "base64").toString() !== plaintext) throw new Error(`read through ${c.name}: ${short(g)} ${g.out}`);
        }
        return `raw value starts with ${prefix}; plaintext absent; decrypts on ${controllers.map((c) => c.name).join(", ")}`;
    });

    await check("encryption at rest: the bootstrap-token Secret applied at bootstrap is encrypted too", async () => {
        const r = await kubectl(["get", "secrets", "-n", "kube-system", "--field-selector", "type=bootstrap.kubernetes.io/token", "-o", "jsonpath={.items[*].metadata.name}"]);
        if (r.code !== 0 || !r.out.trim()) throw new Error(`no bootstrap-token Secret: ${short(r)}`);
        const name = r.out.trim().split(/\s+/)[0];
        const raw = await etcdGet(etcdctl, `/registry/secrets/kube-system/${name}`);
        if (!raw.subarray(0, 8).equals(Buffer.from("k8s:enc:"))) throw new Error(`kube-system/${name} is stored as ${JSON.stringify(raw.subarray(0, 30).toString("latin1"))}`);
        return `kube-system/${name}`;
    });

    const auditPath = flag(apiPod.argv, "audit-log-path");
    await check("audit log: the Secret create is logged at Metadata level, without the Secret's data, in any audit log", async () => {
        if (!auditPath) throw new Error("kube-apiserver has no --audit-log-path");
        const files = controllers.map((c) => flag(c.pods.get("kube-apiserver")!.argv, "audit-log-path")!);
        const event = await until("audit event", 15_000, 500, async () => {
            for (const f of files) {
                if (!fs.existsSync(f)) continue;
                for (const line of fs.readFileSync(f, "utf8").split("\n")) {
                    if (!line.includes(secretName)) continue;
                    const e = JSON.parse(line) as { verb: string; stage: string; level: string; objectRef?: { resource: string; name: string }; requestObject?: unknown };
                    if (e.verb === "create" && e.stage === "ResponseComplete" && e.objectRef?.resource === "secrets") return e;
                }
            }
            throw new NotYet("no ResponseComplete create event for the Secret yet");
        });
        if (event.level !== "Metadata" || event.requestObject !== undefined) throw new Error(`level ${event.level}, requestObject ${event.requestObject ? "present" : "absent"}`);
        const leaked = files.filter((f) => fs.existsSync(f) && fs.readFileSync(f, "utf8").includes(plaintext));
        if (leaked.length) throw new Error(`plaintext in ${leaked.join(", ")}`);
        return `level Metadata; ${files.filter((f) => fs.existsSync(f)).length} audit logs checked for the plaintext`;
    });

    // --- service-account tokens --------------------------------------------------------------------
    await check("service accounts: a TokenRequest token carries the rendered issuer and authenticates on another controller", async () => {
        const issuer = flag(apiPod.argv, "service-account-issuer");
        const jwks = flag(apiPod.argv, "service-account-jwks-uri");
        const token = await until("token", 60_000, 1000, async () => {
            const r = await kubectl(["create", "token", "default", "-n", "default", "--duration=10m"]);
            if (r.code !== 0) throw new NotYet(short(r)); // the controller-manager creates the default ServiceAccount
            return r.out.trim();
        }, cpDied);
        const claims = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString()) as { iss: string; sub: string };
        if (claims.iss !== issuer) throw new Error(`iss ${claims.iss} ≠ --service-account-issuer ${issuer}`);
        const last = controllers[controllers.length - 1];
        const review = httpCode(await curl(["--cacert", admin.ca, ...viaName(last.ip), "-H", `Authorization: Bearer ${token}`, "-H", "Content-Type: application/json", "-X", "POST",
            "--data", '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}', `${apiUrl}/apis/authentication.k8s.io/v1/selfsubjectreviews`]));
        if (review.code !== 201) throw new Error(`SelfSubjectReview on ${last.name}: HTTP ${review.code} ${review.body.slice(0, 300)}`);
        const user = (JSON.parse(review.body) as { status: { userInfo: { username: string } } }).status.userInfo.username;
        if (user !== "system:serviceaccount:default:default") throw new Error(`authenticated as ${user}`);
        const disc = await kubectl(["get", "--raw", "/.well-known/openid-configuration"]);
        const d = JSON.parse(disc.out || "{}") as { issuer?: string; jwks_uri?: string };
        if (d.issuer !== issuer || d.jwks_uri !== jwks) throw new Error(`discovery issuer ${d.issuer} jwks_uri ${d.jwks_uri}; rendered ${issuer} ${jwks}`);
        return `iss ${issuer}; authenticated on ${last.name} as ${user}; discovery jwks_uri ${jwks}`;
    });

    await check("control plane: no component logged a deprecated or unknown flag", async () => {
        const bad: string[] = [];
        for (const d of cpDaemons.values()) {
            for (const line of fs.readFileSync(d.logFile, "utf8").split("\n")) {
                if (/has been deprecated|flag .*is deprecated|unknown flag|unrecognized/i.test(line)) bad.push(`${d.label}: ${line.slice(0, 300)}`);
            }
        }
        if (bad.length) throw new Error(bad.join("\n"));
        return `${cpDaemons.size} logs`;
    });

    notRunHere("kubelet: kubelet.yaml, kubelet.service, static-pod admission and mirror pods, the apiserver's kubelet client certificate, the CNI",
        "no kubelet and no container runtime run here (scripts/tools.sh k8s builds kube-apiserver, kube-controller-manager, kube-scheduler and kubectl); the CSR checks above stand in for the kubelet's TLS bootstrap");
    notRunHere(`DNS and load balancing of ${v.apiHost}`, `the name resolves to ${c0.ip} through /etc/hosts in the test's namespaces; every apiserver is also checked by IP and with --resolve`);
    notRunHere("aggregation layer (front-proxy client certificate, requestheader authentication)", "no aggregated API server is registered; the flags are accepted by kube-apiserver and the files are mapped, nothing more");
}

// ---------------------------------------------------------------------------------------------------
// Static pods

const staticPodProblems = new Map<string, string[]>();

function loadStaticPods(c: Controller): void {
    const dir = path.join(c.tree, "etc/kubernetes/manifests");
    for (const f of fs.readdirSync(dir).filter((x) => /\.ya?ml$/.test(x)).sort()) {
        const file = path.join(dir, f);
        const pod = readStaticPod(fs.readFileSync(file, "utf8"));
        const problems: string[] = [];
        const resolve: ResolveHost = (hostPath, mount) => {
            try {
                return c.resolve(hostPath, mount);
            } catch (e) {
                problems.push((e as Error).message);
                return path.join(c.tree, hostPath);
            }
        };
        const mapped = rewriteArgs(pod.argv, pod.mounts, resolve);
        problems.push(...mapped.problems);
        staticPodProblems.set(`${c.name}/${pod.name}`, problems);
        c.pods.set(pod.name, { file, argv: mapped.values, mounts: pod.mounts, image: pod.image, probes: pod.probes });
    }
}

// ---------------------------------------------------------------------------------------------------
// Server-side apply of everything under <render>/cluster

interface Doc {
    file: string;
    index: number;
    obj: { apiVersion: string; kind: string; metadata?: { name?: string; namespace?: string } };
    text: string;
    /**
     * Set when the file is a server-side-apply patch of an object opke does not create (its header
     * comment, e.g. "Server-side apply patch … of an object the Argo CD chart creates").
     */
    patchOf?: string;
}

function walk(dir: string): string[] {
    if (!fs.existsSync(dir)) return [];
    return fs
        .readdirSync(dir, { withFileTypes: true })
        .sort((a, b) => (a.name < b.name ? -1 : 1))
        .flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

type Kubectl = (args: string[], o?: { kubeconfig?: string; input?: string; timeoutMs?: number }) => Promise<ExecResult>;

/** A rendered description of a Helm release (not a Kubernetes object): chart + version/repository. */
interface HelmRelease {
    file: string;
    chart: string;
    version?: string;
    repo?: string;
}

function asHelmRelease(file: string, o: Record<string, unknown>): HelmRelease | undefined {
    if (typeof o.chart !== "string" || (o.version === undefined && o.repositoryOpts === undefined)) return undefined;
    const repo = (o.repositoryOpts as { repo?: string } | undefined)?.repo;
    return { file, chart: o.chart, ...(typeof o.version === "string" ? { version: o.version } : {}), ...(repo ? { repo } : {}) };
}

async function applyAll(render: string, kubectl: Kubectl): Promise<void> {
    const clusterDir = path.join(render, "cluster");
    // manifests/ first (what the bootstrap applies), then every other folder; auth/ holds the kubeconfig.
    const dirs = fs.readdirSync(clusterDir).filter((d) => d !== "auth" && fs.statSync(path.join(clusterDir, d)).isDirectory())
        .sort((a, b) => (a === "manifests" ? -1 : b === "manifests" ? 1 : a < b ? -1 : 1));
    note(`server-side apply: folders under cluster/: ${dirs.join(", ")} (field manager ${FIELD_MANAGER})`);
    for (const expected of ["addons", "gitops"]) {
        if (!dirs.includes(expected)) note(`cluster/${expected}/ is not rendered by this tree (yet); nothing of it to apply`);
    }
    const docs: Doc[] = [];
    const files: string[] = [];
    const releases: HelmRelease[] = [];
    for (const d of dirs) {
        for (const file of walk(path.join(clusterDir, d))) {
            const rel = path.relative(render, file);
            files.push(rel);
            if (!/\.(ya?ml|json)$/.test(file)) {
                fail(`server-side apply ${rel}`, "not a .yaml/.yml/.json file; every file under cluster/ (except auth/) is expected to be a manifest");
                continue;
            }
            const text = fs.readFileSync(file, "utf8");
            const header = /^(#[^\n]*\n)+/.exec(text)?.[0].replace(/^#\s?/gm, "").replace(/\n/g, " ").trim();
            const isPatch = /\.patch\.ya?ml$/.test(file) || /^server-side apply patch/i.test(header ?? "");
            const parsed = parseAllDocuments(text);
            let i = 0;
            for (const doc of parsed) {
                i++;
                if (doc.errors.length) {
                    fail(`server-side apply ${rel}`, `document ${i}: ${doc.errors.map((e) => e.message).join("; ")}`);
                    continue;
                }
                const obj = doc.toJS() as (Doc["obj"] & Record<string, unknown>) | null;
                if (obj === null || obj === undefined) continue; // an empty document (e.g. a trailing ---)
                if (typeof obj !== "object" || !obj.apiVersion || !obj.kind) {
                    const release = typeof obj === "object" ? asHelmRelease(rel, obj) : undefined;
                    if (release) releases.push(release);
                    else fail(`server-side apply ${rel}`, `document ${i} is not a Kubernetes object (no apiVersion/kind)`);
                    continue;
                }
                if (obj.kind.endsWith("List")) {
                    fail(`server-side apply ${rel}`, `document ${i} is a ${obj.kind}; render objects one by one`);
                    continue;
                }
                docs.push({ file: rel, index: i, obj, text: doc.toString(), ...(isPatch ? { patchOf: header ?? "a server-side apply patch" } : {}) });
            }
        }
    }
    const chartNote = releases.length
        ? ` (${releases.map((r) => `the Helm chart ${r.chart}${r.version ? ` ${r.version}` : ""}${r.repo ? ` from ${r.repo}` : ""}, ${r.file}`).join("; ")}, is not available offline)`
        : "";
    for (const r of releases) {
        notRunHere(`install ${r.file}: Helm chart ${r.chart}${r.version ? ` ${r.version}` : ""}${r.repo ? ` from ${r.repo}` : ""}`,
            "this file describes a Helm release, not Kubernetes objects, and the chart cannot be fetched here (no network, no helm); the objects the chart creates (CRDs, workloads, settings) are therefore absent below");
    }

    const id = (d: Doc): string => `${d.obj.kind} ${d.obj.metadata?.namespace ? `${d.obj.metadata.namespace}/` : ""}${d.obj.metadata?.name ?? "(no name)"}`;
    const byFile = new Map<string, { applied: string[]; failed: string[]; warnings: string[]; skipped: { d: Doc; why: string; fatal: boolean }[] }>();
    for (const f of new Set(docs.map((d) => d.file))) byFile.set(f, { applied: [], failed: [], warnings: [], skipped: [] });

    const apply = async (group: Doc[]): Promise<void> => {
        for (const [file, ds] of groupBy(group, (d) => d.file)) {
            const st = byFile.get(file)!;
            const r = await kubectl(["apply", "--server-side", `--field-manager=${FIELD_MANAGER}`, "--validate=strict", "-f", "-"], { input: ds.map((d) => `---\n${d.text}`).join(""), timeoutMs: 60_000 });
            st.warnings.push(...r.stderr.split("\n").filter((l) => /^Warning:/.test(l)));
            if (r.code !== 0) st.failed.push(`${ds.map(id).join(", ")}: ${short(r)}`);
            else st.applied.push(...ds.map(id));
        }
    };

    // Phase 0 (optional): upstream CRDs opke does not render (e.g. the Argo CD chart's), from
    // OPKE_E2E_CRDS=<file|dir>[:…] — unmodified upstream files, never hand-written copies.
    // Default: the Argo CD CRDs of the release the pinned chart ships (lib/versions.json
    // argocd.appVersion), unmodified, from the argo-cd Go module (manifests/crds) through the Go
    // module proxy — the same offline source the tool builds use.
    const upstreamSources = process.env.OPKE_E2E_CRDS ?? argoCdCrdsFromGoModule();
    const upstream = upstreamSources.split(":").filter((p) => p).flatMap((p) => (fs.statSync(p).isDirectory() ? walk(p) : [p])).filter((f) => /\.ya?ml$/.test(f) && !/kustomization\.ya?ml$/.test(f));
    for (const f of upstream) {
        // Their own field manager, as the chart's would be: opke's patches of these objects must
        // not take ownership of (and so drop) the upstream spec.
        const r = await kubectl(["apply", "--server-side", "--field-manager=upstream-chart", "-f", "-"], { input: fs.readFileSync(f, "utf8"), timeoutMs: 60_000 });
        const names = r.out.split("\n").filter((l) => l.trim()).map((l) => l.split(" ")[0]);
        // `kubectl wait` errors (instead of waiting) while a new CRD has no status yet: retry, bounded.
        let waited = r;
        for (let attempt = 0; r.code === 0 && attempt < 30; attempt++) {
            waited = await kubectl(["wait", "--for=condition=Established", "--timeout=60s", ...names], { timeoutMs: 70_000 });
            if (waited.code === 0 || !/accessor error/.test(`${waited.out}${waited.stderr}`)) break;
            await sleep(500);
        }
        if (waited.code !== 0) fail(`upstream CRDs ${path.basename(f)} (not rendered by opke)`, short(waited));
        else ok(`upstream CRDs ${path.basename(f)} (not rendered by opke)`, names.join(", "));
    }
    // Phase 1: CRDs opke renders (not patches of CRDs created by someone else), until Established.
    const crds = docs.filter((d) => !d.patchOf && d.obj.kind === "CustomResourceDefinition" && d.obj.apiVersion.startsWith("apiextensions.k8s.io/"));
    await apply(crds);
    for (const d of crds) {
        const r = await kubectl(["wait", "--for=condition=Established", "--timeout=60s", `crd/${d.obj.metadata?.name}`], { timeoutMs: 70_000 });
        if (r.code !== 0) byFile.get(d.file)!.failed.push(`CRD ${d.obj.metadata?.name} not Established: ${short(r)}`);
    }
    // Which kinds the apiserver serves now (built-ins + the CRDs just applied).
    const served = new Map<string, Set<string> | undefined>();
    for (const gv of new Set(docs.map((d) => d.obj.apiVersion))) {
        const r = await kubectl(["get", "--raw", gv.includes("/") ? `/apis/${gv}` : `/api/${gv}`]);
        served.set(gv, r.code === 0 ? new Set((JSON.parse(r.out) as { resources: { kind: string; name: string }[] }).resources.filter((x) => !x.name.includes("/")).map((x) => x.kind)) : undefined);
    }
    const rest = docs.filter((d) => !crds.includes(d));
    const isServed = (d: Doc): boolean => served.get(d.obj.apiVersion)?.has(d.obj.kind) === true;
    for (const d of rest.filter((x) => !isServed(x))) {
        const group = d.obj.apiVersion.includes("/") ? d.obj.apiVersion.split("/")[0] : "";
        const builtin = group === "" || !group.includes(".") || group.endsWith(".k8s.io");
        byFile.get(d.file)!.skipped.push(builtin
            ? { d, fatal: true, why: `${d.obj.apiVersion} ${d.obj.kind} is not served by kube-apiserver (a built-in API that does not exist in this version)` }
            : { d, fatal: false, why: `kind ${d.obj.kind} of ${group} is not served: no CustomResourceDefinition for it is among the rendered manifests, and no offline copy of it exists in the repository${chartNote}; OPKE_E2E_CRDS=<upstream CRD files> applies them first` });
    }
    // Phase 2: Namespaces. Phase 3: everything else opke creates, in file order.
    const own = rest.filter((d) => isServed(d) && !d.patchOf);
    await apply(own.filter((d) => d.obj.kind === "Namespace"));
    await apply(own.filter((d) => d.obj.kind !== "Namespace"));
    // Phase 4: patches of objects created by others (e.g. the Argo CD chart): applied when the object exists.
    const patches: Doc[] = [];
    for (const d of rest.filter((x) => isServed(x) && x.patchOf)) {
        const r = await kubectl(["get", "-f", "-", "-o", "name"], { input: d.text });
        if (r.code === 0) patches.push(d);
        else if (/NotFound|not found/i.test(r.stderr)) {
            byFile.get(d.file)!.skipped.push({ d, fatal: false, why: `it is a server-side apply patch ("${d.patchOf}") and ${id(d)} does not exist in this cluster${chartNote}` });
        } else byFile.get(d.file)!.failed.push(`${id(d)}: looking up the patch target: ${short(r)}`);
    }
    await apply(patches);

    for (const [file, st] of byFile) {
        const name = `server-side apply ${file}`;
        if (st.failed.length) fail(name, st.failed.join("\n"));
        else if (st.applied.length) ok(name, `${summarize(st.applied)}${st.warnings.length ? `; server warnings: ${st.warnings.join(" | ")}` : ""}`);
        for (const { d, why, fatal } of st.skipped) {
            if (fatal) fail(`server-side apply ${file}: ${id(d)}`, why);
            else notRunHere(`server-side apply ${file}: ${id(d)} (${d.obj.apiVersion})`, why);
        }
    }
    const applied = [...byFile.values()].reduce((n, st) => n + st.applied.length, 0);
    note(`server-side apply: ${applied} of ${docs.length} objects in ${files.length} files applied`);
}

function groupBy<T>(xs: T[], key: (x: T) => string): Map<string, T[]> {
    const m = new Map<string, T[]>();
    for (const x of xs) m.set(key(x), [...(m.get(key(x)) ?? []), x]);
    return m;
}

function summarize(ids: string[]): string {
    return ids.length <= 4 ? ids.join(", ") : `${ids.length} objects: ${ids.slice(0, 3).join(", ")}, …`;
}

// ---------------------------------------------------------------------------------------------------
// Kubelet TLS bootstrap: CSR with the bootstrap token, auto-approval, signing, renewal

async function csrFlow(
    lab: Lab,
    render: string,
    client: string,
    kubectl: Kubectl,
    admin: { ca: string },
    v: Versions,
    kubernetesCa: string,
    c0: Controller,
): Promise<void> {
    const index = JSON.parse(fs.readFileSync(path.join(render, "index.json"), "utf8")) as { nodes: { name: string; role: string }[] };
    const node = index.nodes.find((n) => n.role === "worker") ?? index.nodes[0];
    const bootstrapKc = path.join(render, "nodes", node.name, "ssh/etc/kubernetes/bootstrap-kubeconfig");
    const signingDuration = c0.pods.get("kube-controller-manager")?.argv.find((a) => a.startsWith("--cluster-signing-duration="))?.split("=")[1];
    const user = `system:node:${node.name}`;

    const csrObject = async (name: string): Promise<{ json: string; keyPem: string }> => {
        const key = await generateKey({ algorithm: "ECDSA", ecdsaCurve: "P256" });
        const pem = await createCertRequest({ privateKeyPem: key.privateKeyPem, subject: { commonName: user, organization: "system:nodes" }, dnsNames: [], ipAddresses: [] });
        const obj = {
            apiVersion: "certificates.k8s.io/v1",
            kind: "CertificateSigningRequest",
            metadata: { name },
            spec: { request: Buffer.from(pem).toString("base64"), signerName: "kubernetes.io/kube-apiserver-client-kubelet", usages: ["digital signature", "client auth"] },
        };
        return { json: JSON.stringify(obj), keyPem: key.privateKeyPem };
    };
    const waitIssued = async (name: string): Promise<{ certPem: string; reason: string; username: string }> =>
        until(`CSR ${name} approved and signed`, 60_000, 1000, async () => {
            const r = await kubectl(["get", "csr", name, "-o", "json"]);
            if (r.code !== 0) throw new NotYet(short(r));
            const csr = JSON.parse(r.out) as { spec: { username: string }; status?: { certificate?: string; conditions?: { type: string; reason?: string }[] } };
            const conds = csr.status?.conditions ?? [];
            const denied = conds.find((c) => c.type === "Denied" || c.type === "Failed");
            if (denied) throw new Error(`${denied.type}: ${denied.reason}`);
            const approved = conds.find((c) => c.type === "Approved");
            if (!approved || !csr.status?.certificate) throw new NotYet(`conditions ${JSON.stringify(conds)}, certificate ${csr.status?.certificate ? "present" : "absent"}`);
            return { certPem: Buffer.from(csr.status.certificate, "base64").toString(), reason: approved.reason ?? "", username: csr.spec.username };
        });

    let nodeCert: { cert: string; key: string } | undefined;
    await check(`kubelet TLS bootstrap: the bootstrap token of ${node.name} creates a node client CSR that is auto-approved and signed by kubernetes-ca`, async () => {
        const name = `okb-e2e-${node.name}-${lab.id}`;
        const { json, keyPem } = await csrObject(name);
        const r = await kubectl(["create", "-f", "-"], { kubeconfig: bootstrapKc, input: json });
        if (r.code !== 0) throw new Error(`create with the bootstrap kubeconfig: ${short(r)}`);
        const issued = await waitIssued(name);
        if (!/^system:bootstrap:[a-z0-9]{6}$/.test(issued.username)) throw new Error(`the CSR was made by ${issued.username}, not a bootstrap token`);
        nodeCert = writePair(client, `node-${node.name}`, { certPem: issued.certPem, keyPem });
        const verify = spawnSync("openssl", ["verify", "-CAfile", kubernetesCa, nodeCert.cert], { encoding: "utf8", timeout: 10_000 });
        if (verify.status !== 0) throw new Error(`openssl verify: ${verify.stdout}${verify.stderr}`);
        const x = new crypto.X509Certificate(issued.certPem);
        const subject = x.subject.split("\n").sort().join(",");
        if (subject !== `CN=${user},O=system:nodes`) throw new Error(`subject ${subject}`);
        const hours = (Date.parse(x.validTo) - Date.parse(x.validFrom)) / 3_600_000;
        const want = signingDuration ? Number(/^(\d+)h$/.exec(signingDuration)?.[1]) : NaN;
        // The signer backdates notBefore by up to 5 minutes.
        if (!Number.isNaN(want) && !(hours > want - 0.01 && hours <= want + 0.1)) throw new Error(`validity ${hours.toFixed(2)} h, --cluster-signing-duration ${signingDuration}`);
        return `by ${issued.username}, ${issued.reason}; openssl verify OK; ${subject}; valid ${hours.toFixed(1)} h`;
    });

    await check(`kubelet TLS bootstrap: the issued certificate authenticates as ${user} in system:nodes`, async () => {
        if (!nodeCert) throw new Error("no certificate from the previous check");
        const r = await kubectl(["--kubeconfig=/dev/null", "--server", `https://${v.apiHost}:${v.apiPort}`, "--certificate-authority", admin.ca,
            "--client-certificate", nodeCert.cert, "--client-key", nodeCert.key, "auth", "whoami", "-o", "json"]);
        if (r.code !== 0) throw new Error(short(r));
        const info = (JSON.parse(r.out) as { status: { userInfo: { username: string; groups: string[] } } }).status.userInfo;
        if (info.username !== user || !info.groups.includes("system:nodes")) throw new Error(JSON.stringify(info));
        return `${info.username} [${info.groups.join(", ")}]`;
    });

    await check(`kubelet certificate renewal: ${user} renews with its own certificate and the CSR is auto-approved (selfnodeclient)`, async () => {
        if (!nodeCert) throw new Error("no certificate from the previous check");
        const name = `okb-e2e-${node.name}-renew-${lab.id}`;
        const { json } = await csrObject(name);
        const r = await lab.exec(CLIENT, ["kubectl", "--kubeconfig=/dev/null", "--server", `https://${v.apiHost}:${v.apiPort}`, "--certificate-authority", admin.ca,
            "--client-certificate", nodeCert.cert, "--client-key", nodeCert.key, "--request-timeout=20s", "create", "-f", "-"], { input: json, timeoutMs: 40_000 });
        if (r.code !== 0) throw new Error(`create as ${user}: ${short(r)}`);
        const issued = await waitIssued(name);
        if (issued.username !== user) throw new Error(`made by ${issued.username}`);
        return `${issued.reason}`;
    });

    await check("kubelet TLS bootstrap: the bootstrap token may not read Secrets (403)", async () => {
        const r = await kubectl(["get", "secrets", "-n", "kube-system"], { kubeconfig: bootstrapKc });
        if (r.code === 0) throw new Error(`allowed: ${r.out.slice(0, 200)}`);
        if (!/forbidden/i.test(r.stderr)) throw new Error(`failed, but not with Forbidden: ${short(r)}`);
        return firstLine(r.stderr);
    });
}

// ---------------------------------------------------------------------------------------------------
// Helpers

function firstLine(s: string): string {
    return s.trim().split("\n")[0].slice(0, 200);
}

function writePair(dir: string, name: string, p: { certPem: string; keyPem: string }): { cert: string; key: string } {
    const cert = path.join(dir, `${name}.crt`);
    const key = path.join(dir, `${name}.key`);
    fs.writeFileSync(cert, p.certPem, { mode: 0o644 });
    fs.writeFileSync(key, p.keyPem, { mode: 0o600 });
    return { cert, key };
}

/** The CA and client credentials of a kubeconfig, as files (for curl). */
function kubeconfigFiles(file: string, dir: string, name: string): { ca: string; cert?: string; key?: string } {
    const kc = parse(fs.readFileSync(file, "utf8")) as {
        clusters: { cluster: { "certificate-authority-data": string } }[];
        users: { user: { "client-certificate-data"?: string; "client-key-data"?: string } }[];
    };
    const ca = path.join(dir, `${name}-ca.crt`);
    fs.writeFileSync(ca, Buffer.from(kc.clusters[0].cluster["certificate-authority-data"], "base64"));
    const u = kc.users[0].user;
    if (!u["client-certificate-data"] || !u["client-key-data"]) return { ca };
    const pair = writePair(dir, name, {
        certPem: Buffer.from(u["client-certificate-data"], "base64").toString(),
        keyPem: Buffer.from(u["client-key-data"], "base64").toString(),
    });
    return { ca, ...pair };
}

/** First provider for `secrets` in an EncryptionConfiguration: its type and first key name. */
function encryptionProvider(text: string): { provider: string; keyName: string } {
    const doc = parse(text) as { resources: { resources: string[]; providers: Record<string, { keys?: { name: string }[] }>[] }[] };
    const res = doc.resources.find((r) => r.resources.includes("secrets"));
    if (!res) throw new Error("the EncryptionConfiguration does not cover secrets");
    const [provider, conf] = Object.entries(res.providers[0])[0];
    if (provider === "identity") throw new Error("the first provider for secrets is identity: Secrets are written unencrypted");
    return { provider, keyName: conf.keys?.[0]?.name ?? "" };
}

async function etcdGet(etcdctl: (args: string[]) => Promise<ExecResult>, key: string): Promise<Buffer> {
    const r = await etcdctl(["get", key, "-w", "json"]);
    if (r.code !== 0) throw new Error(`etcdctl get ${key}: ${short(r)}`);
    const kvs = (JSON.parse(r.out) as { kvs?: { value: string }[] }).kvs ?? [];
    if (kvs.length !== 1) throw new Error(`etcdctl get ${key}: ${kvs.length} keys`);
    return Buffer.from(kvs[0].value, "base64");
}

/** The highest host address of `cidr` that no node uses (the clients' namespace). */
function freeAddress(cidr: string, used: string[]): string {
    const [base, len] = cidr.split("/");
    const toNum = (s: string): number => s.split(".").reduce((a, o) => a * 256 + Number(o), 0);
    const size = 2 ** (32 - Number(len));
    const start = toNum(base) - (toNum(base) % size);
    const taken = new Set(used.map(toNum));
    for (let n = start + size - 2; n > start; n--) {
        if (!taken.has(n)) return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
    }
    throw new Error(`no free address in ${cidr} for the test clients`);
}

// ---------------------------------------------------------------------------------------------------

if (require.main === module) {
    if (process.getuid?.() !== 0) {
        out("FAIL - e2e binaries: needs root (network namespaces)");
        out("0 passed, 1 failed");
        process.exit(1);
    }
    run()
        .catch((e) => fail("e2e run", e instanceof Error ? e.stack ?? e.message : String(e)))
        .finally(() => {
            for (const t of timings) note(`time: ${t}`);
            if (notRun.length) note(`${notRun.length} not run here (named above)`);
            out(`${passed} passed, ${failed} failed`);
            process.exit(failed > 0 || passed === 0 ? 1 : 0);
        });
}
