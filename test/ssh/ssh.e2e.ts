/**
 * `npm run test:ssh` — the pushes over real SSH.
 *
 * Five local hosts (test/harness/hosts.ts: network + mount + PID namespaces, Debian's sshd, per-host
 * /etc, /opt, /var/lib, /run, and a recording stand-in for systemctl): controllers c1, c2, c3 and
 * workers w1, w2. The program's resources are built under Pulumi mocks for a config whose node IPs
 * are the hosts' (test/ssh/capture.ts), and every captured `remote.Command` is executed exactly as
 * registered — its `create` as the remote command line, its `stdin` on stdin — over OpenSSH as the
 * login user, in the order the recorded `dependsOn` options dictate. A small engine model decides
 * what runs, like Pulumi does for @pulumi/command: a command runs when it is new or one of its
 * inputs (create, stdin, connection) differs from the last SUCCESSFUL run; it waits for its
 * dependencies and is skipped when one of them failed.
 *
 * On each host, test/ssh/fake-node.js stands in for the kubelet, etcd, the kube-apiserver static
 * pod and bootstrap.service, so the installer's health gates have something real to probe (over
 * loopback, with the pushed certificates).
 *
 * Scenarios: first up; no-op up (and a forced re-run of every command); a Kubernetes upgrade
 * (rolling, gated on the apiserver coming back with the new version); an etcd upgrade whose member
 * on c2 does not come back (the push fails within its bound, nothing after it runs; after the member
 * heals, the re-run re-checks c2 and continues); a push cut while its stdin is in flight and one
 * cut in the middle of writing files (sshd and every session of the host killed); a scan of every
 * recorded stdout/stderr and command line for secrets.
 *
 * Sessions per node are MEASURED on the hosts: "Accepted publickey" lines in each host's sshd log
 * within a scenario (the checks read files through nsenter, not ssh).
 *
 * What this does not prove: that @pulumi/command's Go SSH client behaves like OpenSSH here (the
 * engine e2e test drives the real provider), that a real kubelet/etcd/apiserver restart behaves
 * like the stand-ins, or that the Pulumi engine's diff is exactly the model above.
 *
 * Prints one line per check and a last line `N passed, N failed`; exits 1 on any failure. Needs
 * root (namespaces). Cleans up the hosts also on failure and on SIGINT/SIGTERM.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { spawn } from "node:child_process";
import { copyIntoHost, createTestHosts, hostLocalPath, sshOptions, TestHost, TestHosts } from "../harness/hosts";
import { captureProgram, CapturedCommand, CaptureResult, TlsCache } from "./capture";
import { parseClusterConfig } from "../../lib/config/validate";
import type { ClusterConfig, ClusterConfigInput } from "../../lib/config/schema";
import type { NodeSshAssets } from "../../lib/assets";
import { sshConnection } from "../../lib/provision/connection";
import { BOOTSTRAP } from "../../lib/provision/installer";
import { expectEqual, expectTrue, Tap } from "../helpers/tap";

const CIDR = "10.213.47.0/24";
const HOSTS = [
    { name: "c1", ip: "10.213.47.11", mac: "52:54:00:47:00:11", role: "controller" },
    { name: "c2", ip: "10.213.47.12", mac: "52:54:00:47:00:12", role: "controller" },
    { name: "c3", ip: "10.213.47.13", mac: "52:54:00:47:00:13", role: "controller" },
    { name: "w1", ip: "10.213.47.21", mac: "52:54:00:47:00:21", role: "worker" },
    { name: "w2", ip: "10.213.47.22", mac: "52:54:00:47:00:22", role: "worker" },
];
const API_PORT = 6443;
const GATE_WAITS = { attempts: 24, intervalSeconds: 0.25 };
const BOOTSTRAP_WAITS = { attempts: 60, intervalSeconds: 0.25 };
const FAKE = path.join(__dirname, "fake-node.js");
const SSH_TIMEOUT_MS = 120_000;

// ---------------------------------------------------------------------------------------------
// Reporting

const tap = new Tap();
const check = tap.check.bind(tap);
const note = tap.note.bind(tap);
const report = tap.report.bind(tap);

// ---------------------------------------------------------------------------------------------
// Engine model

interface Exec {
    name: string;
    node: string;
    kind: string;
    start: number;
    end: number;
    code: number;
    stdout: string;
    stderr: string;
}

class Engine {
    /** Inputs of the last successful run of each command (the model of Pulumi state). */
    private state = new Map<string, string>();
    readonly all: Exec[] = [];

    constructor(private readonly hosts: Map<string, TestHost>) {}

    static key(c: CapturedCommand): string {
        return JSON.stringify([c.create, c.stdin ?? null, c.connection]);
    }

    /** What an `up` would run. */
    pending(commands: CapturedCommand[]): string[] {
        return commands.filter((c) => this.state.get(c.name) !== Engine.key(c)).map((c) => c.name);
    }

    async up(commands: CapturedCommand[], o: { force?: boolean; exec?: (c: CapturedCommand) => Promise<Exec> } = {}): Promise<Exec[]> {
        const byName = new Map(commands.map((c) => [c.name, c]));
        const toRun = new Set(o.force ? commands.map((c) => c.name) : this.pending(commands));
        const done = new Map<string, Promise<boolean>>();
        const runs: Exec[] = [];
        const visit = (c: CapturedCommand): Promise<boolean> => {
            let p = done.get(c.name);
            if (!p) {
                p = (async () => {
                    const deps = await Promise.all(c.dependsOn.filter((d) => byName.has(d)).map((d) => visit(byName.get(d)!)));
                    if (deps.some((ok) => !ok)) return false;
                    if (!toRun.has(c.name)) return true;
                    const e = await (o.exec ? o.exec(c) : this.exec(c));
                    runs.push(e);
                    if (e.code !== 0) return false;
                    this.state.set(c.name, Engine.key(c));
                    return true;
                })();
                done.set(c.name, p);
            }
            return p;
        };
        await Promise.all(commands.map(visit));
        return runs.sort((a, b) => a.start - b.start);
    }

    async exec(c: CapturedCommand): Promise<Exec> {
        const host = this.hosts.get(c.node)!;
        const start = Date.now();
        const r = await host.ssh(c.create, { stdin: c.stdin ?? "", timeoutMs: SSH_TIMEOUT_MS });
        const e = { name: c.name, node: c.node, kind: c.kind, start, end: Date.now(), code: r.code, stdout: r.stdout, stderr: r.stderr };
        this.all.push(e);
        return e;
    }

    record(e: Exec): void {
        this.all.push(e);
    }

    /** Forget a command's state (as after a failed or interrupted update). */
    forget(name: string): void {
        this.state.delete(name);
    }
}

// ---------------------------------------------------------------------------------------------
// Host helpers

async function sessions(h: TestHost): Promise<number> {
    const text = fs.existsSync(h.sshdLogPath) ? fs.readFileSync(h.sshdLogPath, "utf8") : "";
    return text.split("\n").filter((l) => l.includes("Accepted publickey")).length;
}

async function sessionCounts(hosts: TestHost[]): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const h of hosts) out[h.name] = await sessions(h);
    return out;
}

function diffCounts(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
    return Object.fromEntries(Object.keys(after).map((k) => [k, after[k] - before[k]]));
}

function control(h: TestHost, query: string): Promise<{ role: string; etcdHealthy: boolean; apiserverPid?: number; events: { t: number; what: string; version?: string; pid?: number }[] }> {
    return new Promise((resolve, reject) => {
        const req = http.get({ host: h.ip, port: 9900, path: query, timeout: 3000 }, (res) => {
            let body = "";
            res.on("data", (d: Buffer) => (body += d.toString("utf8")));
            res.on("end", () => {
                try {
                    resolve(JSON.parse(body));
                } catch (e) {
                    reject(e);
                }
            });
        });
        req.on("error", reject);
        req.on("timeout", () => req.destroy(new Error(`control ${h.name} timed out`)));
    });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startFake(t: TestHosts, h: TestHost, role: string): Promise<void> {
    // The stand-ins run inside the host, whose /tmp, /home, /opt and /var/lib are its own: the
    // repository may live under any of them (CI clones anywhere), so copy the script into the
    // host's /var/lib through the test's view of it instead of running it from the checkout.
    const inHost = copyIntoHost(t, h, FAKE, "/var/lib/opke-test/fake-node.js");
    const r = await h.ssh(`sudo -n /usr/bin/setsid ${process.execPath} ${inHost} ${role} ${h.ip} ${API_PORT} </dev/null >/tmp/opke-fake.log 2>&1 &`);
    if (r.code !== 0) throw new Error(`${h.name}: cannot start the stand-ins: ${r.stderr}`);
    for (let i = 0; i < 100; i++) {
        try {
            await control(h, "/state");
            return;
        } catch {
            await sleep(50);
        }
    }
    throw new Error(`${h.name}: the stand-ins do not answer on ${h.ip}:9900 (see /tmp/opke-fake.log on the host)`);
}


/** The units a push must restart going from tree `from` (undefined: nothing there) to `to`, in the installer's order. */
function expectedRestarts(from: NodeSshAssets | undefined, to: NodeSshAssets): string[] {
    const old = new Map((from?.files ?? []).map((f) => [f.path, f.content]));
    const units = new Set(to.files.filter((f) => old.get(f.path) !== f.content).flatMap((f) => f.restarts));
    const first = ["etcd-member.service", "kubelet.service"].filter((u) => units.has(u));
    const rest = [...units].filter((u) => !first.includes(u)).sort();
    const all = [...first, ...rest];
    return all.length ? ["daemon-reload", ...all.map((u) => `restart ${u}`)] : [];
}

/** What the bootstrap command starts: bootstrap.service once; addons.service when the bootstrap program starts it. */
const STARTS_ADDONS = BOOTSTRAP.includes("systemctl start addons.service");
const bootstrapStarts = (first: boolean) => [...(first ? ["start bootstrap.service"] : []), ...(STARTS_ADDONS ? ["start addons.service"] : [])];

async function systemctlLog(h: TestHost): Promise<string[]> {
    return h.systemctlLog();
}

/** Every file and directory of `tree` is on `h` with this content, mode and owner; no temp file left. */
async function checkTree(t: TestHosts, h: TestHost, tree: NodeSshAssets): Promise<void> {
    const problems: string[] = [];
    const statOf = async (p: string): Promise<{ type: string; mode: number; owner: string }> => {
        const local = hostLocalPath(t, h, p);
        if (local) {
            const st = fs.statSync(local);
            const name = (id: number) => (id === 0 ? "root" : String(id));
            return { type: st.isDirectory() ? "directory" : st.isFile() ? "file" : "other", mode: st.mode & 0o7777, owner: `${name(st.uid)}:${name(st.gid)}` };
        }
        const st = await h.stat(p);
        return { type: st.type, mode: st.mode, owner: `${st.owner}:${st.group}` };
    };
    const read = async (p: string) => {
        const local = hostLocalPath(t, h, p);
        return local ? fs.readFileSync(local, "utf8") : (await h.readFile(p)).toString("utf8");
    };
    const exists = async (p: string) => {
        const local = hostLocalPath(t, h, p);
        return local ? fs.existsSync(local) : h.exists(p);
    };
    for (const d of tree.directories) {
        const st = await statOf(d.path);
        if (st.type !== "directory" || st.mode !== d.mode || st.owner !== d.owner) {
            problems.push(`${d.path}: ${st.type} ${st.mode.toString(8)} ${st.owner}, want directory ${d.mode.toString(8)} ${d.owner}`);
        }
    }
    for (const f of tree.files) {
        const st = await statOf(f.path);
        if (st.type !== "file" || st.mode !== f.mode || st.owner !== f.owner) {
            problems.push(`${f.path}: ${st.type} ${st.mode.toString(8)} ${st.owner}, want file ${f.mode.toString(8)} ${f.owner}`);
        }
        if ((await read(f.path)) !== f.content) problems.push(`${f.path}: content differs`);
        const tmp = path.posix.join(path.posix.dirname(f.path), `.opke-push.${path.posix.basename(f.path)}`);
        if (await exists(tmp)) problems.push(`${tmp}: temp file left behind`);
    }
    if (problems.length) throw new Error(`${h.name}:\n${problems.join("\n")}`);
}

async function checkState(h: TestHost): Promise<void> {
    const st = await h.stat("/var/lib/opke");
    expectEqual([st.mode.toString(8), st.owner], ["700", "root"], `${h.name}: /var/lib/opke`);
    expectEqual(await h.exists("/var/lib/opke/pending-restarts"), false, `${h.name}: restart journal left`);
    expectEqual(await h.exists("/var/lib/opke/gates-pending"), false, `${h.name}: pending gates left`);
}

const summaryOf = (e: Exec) => Object.fromEntries(e.stdout.trim().split(/\s+/).map((kv) => kv.split("=") as [string, string]));

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
    const t0 = Date.now();
    const varLogKubernetesExisted = fs.existsSync("/var/log/kubernetes");
    let t: TestHosts | undefined;
    const metrics: Record<string, Record<string, number>> = {};
    try {
        t = await createTestHosts({ hosts: HOSTS.map(({ name, ip }) => ({ name, ip })), cidr: CIDR });
        const tt = t;
        note(`hosts up in ${Date.now() - t0} ms (run ${t.id})`);
        const hosts = new Map(t.hosts.map((h) => [h.name, h]));
        const H = (n: string) => hosts.get(n)!;
        const role = (n: string) => HOSTS.find((x) => x.name === n)!.role;
        const engine = new Engine(hosts);
        const cache: TlsCache = new Map();
        const clientPub = fs.readFileSync(`${t.privateKeyPath}.pub`, "utf8").trim();

        const rawCfg = (over: Partial<ClusterConfigInput>): ClusterConfig =>
            parseClusterConfig({
                clusterName: "sshtest",
                apiDnsName: "api.sshtest.test",
                apiPort: API_PORT,
                network: { nodeCidr: CIDR },
                controllers: HOSTS.filter((h) => h.role === "controller").map(({ name, ip, mac }) => ({ name, ip, mac })),
                workers: HOSTS.filter((h) => h.role === "worker").map(({ name, ip, mac }) => ({ name, ip, mac })),
                ssh: { user: tt.user, authorizedKeys: [clientPub], hostKeys: Object.fromEntries(tt.hosts.map((h) => [h.name, h.hostKeyPublic])) },
                pki: { algorithm: "ECDSA" },
                upgrade: { maxUnavailable: 1 },
                ...over,
            });
        const capture = (cfg: ClusterConfig): Promise<CaptureResult> =>
            captureProgram(cfg, {
                tlsCache: cache,
                gateWaits: GATE_WAITS,
                bootstrapWaits: BOOTSTRAP_WAITS,
                connection: (c, n) => sshConnection(c, n, undefined, tt.privateKeyPem),
            });
        const logs = async () => Object.fromEntries(await Promise.all(t!.hosts.map(async (h) => [h.name, await systemctlLog(h)] as const)));
        const logDelta = (after: Record<string, string[]>, before: Record<string, string[]>) =>
            Object.fromEntries(Object.keys(after).map((k) => [k, after[k].slice(before[k].length)]));
        const ordered = (runs: Exec[], names: string[]) => {
            const ex = names.map((n) => runs.find((r) => r.name === n));
            for (let i = 1; i < ex.length; i++) {
                const a = ex[i - 1];
                const b = ex[i];
                if (!a || !b) throw new Error(`missing run: ${names[i - 1]} or ${names[i]}`);
                if (b.start < a.end) throw new Error(`${b.name} started ${a.end - b.start} ms before ${a.name} ended`);
            }
        };

        for (const h of t.hosts) await startFake(t, h, role(h.name));

        // ---- 1. first up -------------------------------------------------------------------
        let tScenario = Date.now();
        const scenarioDone = (n: number) => {
            note(`scenario ${n} took ${((Date.now() - tScenario) / 1000).toFixed(1)} s`);
            tScenario = Date.now();
        };
        note("scenario 1: first up (kubernetes v1.36.1, etcd v3.6.15)");
        const cfgA = rawCfg({ kubernetesVersion: "v1.36.1", etcdVersion: "v3.6.15" });
        const A = await capture(cfgA);
        await check("the captured commands: 5 pushes and 1 bootstrap, the connection pins each host key", () => {
            expectEqual(A.commands.map((c) => c.name), ["sshtest-push-c1", "sshtest-push-c2", "sshtest-push-c3", "sshtest-bootstrap", "sshtest-push-w1", "sshtest-push-w2"], "commands");
            for (const c of A.commands) expectEqual(c.connection.hostKey, H(c.node).hostKeyPublic, `${c.name} hostKey`);
        });
        let before = await sessionCounts(t.hosts);
        let logBefore = await logs();
        const up1 = await engine.up(A.commands);
        metrics.first = diffCounts(await sessionCounts(t.hosts), before);
        await check("first up: every command ran and succeeded", () => {
            expectEqual(up1.map((e) => `${e.name}=${e.code}`).sort(), A.commands.map((c) => `${c.name}=0`).sort(), "runs");
        });
        await check("first up: controllers one at a time, then the bootstrap, then the workers (dependsOn order)", () =>
            ordered(up1, ["sshtest-push-c1", "sshtest-push-c2", "sshtest-push-c3", "sshtest-bootstrap", "sshtest-push-w1", "sshtest-push-w2"]),
        );
        await check("first up: one SSH session per node (c1: two, with the bootstrap)", () =>
            expectEqual(metrics.first, { c1: 2, c2: 1, c3: 1, w1: 1, w2: 1 }, "sessions"),
        );
        await check("first up: every file and directory landed with its content, mode and owner; no temp files", async () => {
            for (const h of t!.hosts) await checkTree(t!, h, A.ssh[h.name]);
        });
        await check("first up: journal and pending gates cleared, /var/lib/opke is 0700 root", async () => {
            for (const h of t!.hosts) await checkState(h);
        });
        let logAfter = await logs();
        await check("first up: daemon-reload and one restart of exactly the units whose files changed (etcd-member, kubelet first); bootstrap started once on c1", () => {
            const want = Object.fromEntries(HOSTS.map((h) => [h.name, expectedRestarts(undefined, A.ssh[h.name])]));
            want.c1 = [...want.c1, ...bootstrapStarts(true)];
            // kube-upgrade.service last: its inputs (the cluster manifests) are new too; on a real
            // host its ConditionPathExists=/opt/bootstrap/bootstrap.done makes this restart a no-op
            // until controller 0 has bootstrapped.
            expectEqual(want.c2, ["daemon-reload", "restart etcd-member.service", "restart kubelet.service", "restart kube-upgrade.service"], "the render's restarts of a controller");
            expectEqual(want.w1, ["daemon-reload", "restart kubelet.service"], "the render's restarts of a worker");
            expectEqual(logDelta(logAfter, logBefore), want, "systemctl calls");
        });
        await check("first up: no push waited on a gate (nothing was healthy before it); the bootstrap waited for etcd and /readyz", () => {
            for (const e of up1.filter((x) => x.kind === "push")) expectTrue(e.stderr.includes("gated: none"), `${e.name}: ${e.stderr.trim().split("\n").pop()}`);
            const b = up1.find((x) => x.kind === "bootstrap")!;
            expectTrue(/gate etcd: healthy/.test(b.stderr) && /gate apiserver: healthy/.test(b.stderr) && /cluster bootstrapped/.test(b.stderr), b.stderr);
        });

        scenarioDone(1);

        // ---- 2. no-op up ----------------------------------------------------------------------
        note("scenario 2: no-op up, then a forced re-run of every command");
        const A2 = await capture(cfgA);
        before = await sessionCounts(t.hosts);
        logBefore = await logs();
        const up2 = await engine.up(A2.commands);
        metrics.noop = diffCounts(await sessionCounts(t.hosts), before);
        await check("no-op up: identical inputs, nothing runs, zero SSH sessions", () => {
            expectEqual(A2.commands.map(Engine.key), A.commands.map(Engine.key), "inputs");
            expectEqual(up2.length, 0, "runs");
            expectEqual(metrics.noop, { c1: 0, c2: 0, c3: 0, w1: 0, w2: 0 }, "sessions");
        });
        const forced = await engine.up(A2.commands, { force: true });
        logAfter = await logs();
        await check("forced re-run: every command succeeds; the pushes write nothing and restart nothing", () => {
            expectEqual(forced.map((e) => `${e.name}=${e.code}`).sort(), A.commands.map((c) => `${c.name}=0`).sort(), "runs");
            for (const e of forced.filter((x) => x.kind === "push")) expectEqual([summaryOf(e).written, summaryOf(e).restarted], ["0", ""], `${e.name} summary`);
            expectTrue(forced.find((e) => e.kind === "bootstrap")!.stdout.includes("bootstrap=already-done"), "bootstrap not skipped");
            // The bootstrap program re-applies the addons even when the cluster is bootstrapped (idempotent).
            expectEqual(logDelta(logAfter, logBefore), { c1: bootstrapStarts(false), c2: [], c3: [], w1: [], w2: [] }, "systemctl calls");
        });
        await check("forced re-run: the gates applied (everything was healthy) and passed", () => {
            for (const e of forced.filter((x) => x.kind === "push")) {
                const want = role(e.node) === "controller" ? "gated: etcd kubelet apiserver" : "gated: kubelet";
                expectTrue(e.stderr.includes(want), `${e.name}: ${e.stderr.trim().split("\n").pop()}`);
            }
        });
        await check("forced re-run: files unchanged", async () => {
            for (const h of t!.hosts) await checkTree(t!, h, A.ssh[h.name]);
        });

        scenarioDone(2);

        // ---- 3. Kubernetes upgrade ------------------------------------------------------------
        note("scenario 3: Kubernetes v1.36.1 -> v1.36.3");
        const cfgB = rawCfg({ kubernetesVersion: "v1.36.3", etcdVersion: "v3.6.15" });
        const B = await capture(cfgB);
        before = await sessionCounts(t.hosts);
        logBefore = await logs();
        const up3 = await engine.up(B.commands);
        metrics.upgrade = diffCounts(await sessionCounts(t.hosts), before);
        logAfter = await logs();
        await check("upgrade: exactly the five pushes ran (not the bootstrap) and succeeded; one SSH session per node", () => {
            expectEqual(up3.map((e) => `${e.name}=${e.code}`), ["sshtest-push-c1=0", "sshtest-push-c2=0", "sshtest-push-c3=0", "sshtest-push-w1=0", "sshtest-push-w2=0"], "runs");
            expectEqual(metrics.upgrade, { c1: 1, c2: 1, c3: 1, w1: 1, w2: 1 }, "sessions");
        });
        await check("upgrade: each kubelet restarted exactly once; only units whose files changed restarted, none twice", () => {
            const want = Object.fromEntries(HOSTS.map((h) => [h.name, expectedRestarts(A.ssh[h.name], B.ssh[h.name])]));
            for (const h of HOSTS) expectEqual(want[h.name].filter((l) => l === "restart kubelet.service").length, 1, `${h.name}: kubelet restarts in the render`);
            expectEqual(logDelta(logAfter, logBefore), want, "systemctl calls");
        });
        await check("upgrade: controllers one at a time, then workers one at a time (maxUnavailable 1)", () =>
            ordered(up3, ["sshtest-push-c1", "sshtest-push-c2", "sshtest-push-c3", "sshtest-push-w1", "sshtest-push-w2"]),
        );
        await check("upgrade: each controller's push waited until its apiserver was back with v1.36.3 before the next node started", async () => {
            const names = ["c1", "c2", "c3"];
            for (const [i, n] of names.entries()) {
                const e = up3.find((x) => x.node === n)!;
                const ev = (await control(H(n), "/state")).events.filter((x) => x.what === "apiserver-ready" && x.version === "v1.36.3" && x.t >= e.start);
                if (ev.length === 0) throw new Error(`${n}: no apiserver v1.36.3 came up during its push`);
                expectTrue(ev[0].t <= e.end, `${n}: push ended ${ev[0].t - e.end} ms before the new apiserver was ready`);
                const next = up3.find((x) => x.node === (names[i + 1] ?? "w1"))!;
                expectTrue(next.start >= ev[0].t, `${next.node} started before ${n}'s apiserver was back`);
                expectTrue(e.stderr.includes("gate apiserver: healthy"), `${n}: ${e.stderr}`);
            }
        });
        await check("upgrade: every node holds the v1.36.3 tree (content, mode, owner)", async () => {
            for (const h of t!.hosts) await checkTree(t!, h, B.ssh[h.name]);
            for (const h of t!.hosts) await checkState(h);
        });

        scenarioDone(3);

        // ---- 4. etcd upgrade with a member that does not come back ---------------------------
        note("scenario 4: etcd v3.6.15 -> v3.6.16; c2's member does not come back healthy");
        const cfgC = rawCfg({ kubernetesVersion: "v1.36.3", etcdVersion: "v3.6.16" });
        const C = await capture(cfgC);
        await control(H("c2"), "/etcd?breakOnRestart=1");
        logBefore = await logs();
        const up4 = await engine.up(C.commands);
        await check("etcd upgrade: c1 succeeds, c2 fails its etcd gate within the bound, c3 and the workers are not touched", () => {
            expectEqual(up4.map((e) => `${e.name}=${e.code}`), ["sshtest-push-c1=0", "sshtest-push-c2=4"], "runs");
            const c2 = up4[1];
            expectTrue(c2.stderr.includes("FAILED: gate etcd"), c2.stderr);
            const bound = GATE_WAITS.attempts * GATE_WAITS.intervalSeconds * 1000;
            const took = c2.end - c2.start;
            expectTrue(took >= (GATE_WAITS.attempts - 1) * GATE_WAITS.intervalSeconds * 1000 && took < bound * 3 + 10_000, `c2 took ${took} ms (bound ${bound} ms)`);
        });
        await check("etcd upgrade: c2 keeps its etcd gate pending for the next push", async () => {
            expectEqual((await H("c2").readFile("/var/lib/opke/gates-pending")).toString("utf8").split("\n").filter(Boolean).includes("etcd"), true, "gates-pending has etcd");
        });
        await control(H("c2"), "/etcd?healthy=1");
        const up4b = await engine.up(C.commands);
        logAfter = await logs();
        await check("after c2's member heals, the next up re-runs c2 (re-checking its gate, writing nothing) and then c3", () => {
            expectEqual(up4b.map((e) => `${e.name}=${e.code}`), ["sshtest-push-c2=0", "sshtest-push-c3=0"], "runs");
            expectEqual(summaryOf(up4b[0]).written, "0", "c2 written");
            expectTrue(up4b[0].stderr.includes("gate etcd: healthy"), up4b[0].stderr);
        });
        await check("etcd upgrade: each etcd member restarted exactly once; kubelets and workers untouched", () => {
            const want = ["daemon-reload", "restart etcd-member.service"];
            for (const h of HOSTS) expectEqual(expectedRestarts(B.ssh[h.name], C.ssh[h.name]), h.role === "controller" ? want : [], `${h.name}: the render's restarts`);
            expectEqual(logDelta(logAfter, logBefore), { c1: want, c2: want, c3: want, w1: [], w2: [] }, "systemctl calls");
        });
        await check("etcd upgrade: controllers hold the new image.env; no journal or pending gate left", async () => {
            for (const n of ["c1", "c2", "c3"]) {
                expectEqual((await H(n).readFile("/etc/etcd/image.env")).toString("utf8"), "ETCD_IMAGE=quay.io/coreos/etcd:v3.6.16\n", `${n} image.env`);
                await checkState(H(n));
            }
        });

        scenarioDone(4);

        // ---- 5. pushes cut by killing sshd -------------------------------------------------------
        note("scenario 5: pushes to c1 cut by killing sshd and all its sessions");
        const restartHost = async (h: TestHost) => {
            await h.startSshd();
            await startFake(t!, h, role(h.name));
            await sleep(1500); // the stand-in apiserver comes back after its restart delay
        };
        const cutInTransfer = async (c: CapturedCommand): Promise<Exec> => {
            const h = H(c.node);
            const start = Date.now();
            const child = spawn("ssh", [...sshOptions(tt), "--", `${tt.user}@${h.ip}`, c.create], { stdio: ["pipe", "pipe", "pipe"] });
            let stdout = "";
            let stderr = "";
            child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
            child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
            child.stdin.on("error", () => undefined);
            const closed = new Promise<number>((resolve) => child.on("close", (code) => resolve(code ?? -1)));
            child.stdin.write(c.stdin!.slice(0, Math.floor(c.stdin!.length / 2)));
            await sleep(700);
            await h.stopSshd();
            const code = await closed;
            const e = { name: c.name, node: c.node, kind: c.kind, start, end: Date.now(), code, stdout, stderr };
            engine.record(e);
            return e;
        };
        const journalPath = path.join(t.workdir, "hosts", "c1", "var-lib", "opke", "pending-restarts");
        let cutAt = "";
        const cutMidApply = async (c: CapturedCommand): Promise<Exec> => {
            const h = H(c.node);
            const start = Date.now();
            const running = h.ssh(c.create, { stdin: c.stdin, timeoutMs: SSH_TIMEOUT_MS }).catch((err: Error) => ({ code: -1, stdout: "", stderr: err.message }));
            // The journal appears when the first file with restarts is about to be renamed.
            const deadline = Date.now() + 20_000;
            let seen = false;
            while (Date.now() < deadline) {
                // A complete journal line, not just the file: the installer may create it and write
                // the line in two steps, and a cut in between would leave nothing to assert on.
                if (fs.existsSync(journalPath) && fs.readFileSync(journalPath, "utf8").endsWith("\n")) {
                    seen = true;
                    break;
                }
                await new Promise((r) => setImmediate(r));
            }
            if (seen) {
                freezeInstaller(c);
                await h.stopSshd();
            }
            cutAt = seen ? `journal seen after ${Date.now() - start} ms` : "journal never seen";
            const r = await running;
            const e = { name: c.name, node: c.node, kind: c.kind, start, end: Date.now(), code: r.code, stdout: r.stdout, stderr: r.stderr };
            engine.record(e);
            return e;
        };

        /**
         * SIGSTOPs the bash running exactly this push (argv: /bin/bash -c <installer> opke-push <node>
         * <sha> …) so the cut lands right here; stopSshd then kills it (SIGKILL reaches stopped
         * processes). Matched by its full argument list, never by a name pattern.
         */
        const freezeInstaller = (c: CapturedCommand) => {
            const sha = c.create.split(" opke-push ")[1]?.split(" ")[1];
            for (const pid of fs.readdirSync("/proc").filter((p) => /^[0-9]+$/.test(p))) {
                let argv: string[];
                try {
                    argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
                } catch {
                    continue;
                }
                if (argv[0] === "/bin/bash" && argv[1] === "-c" && argv[3] === "opke-push" && argv[4] === c.node && argv[5] === sha) {
                    try {
                        process.kill(Number(pid), "SIGSTOP");
                    } catch {
                        /* already gone */
                    }
                }
            }
        };

        const cfgD = rawCfg({ kubernetesVersion: "v1.37.0", etcdVersion: "v3.6.16" });
        const D = await capture(cfgD);
        const c1D = D.commands.find((c) => c.name === "sshtest-push-c1")!;
        logBefore = await logs();
        const kubeletEnvBefore = (await H("c1").readFile("/etc/kubernetes/kubelet.env")).toString("utf8");
        const cut1 = await cutInTransfer(c1D);
        await check("cut while stdin was in flight: the push failed and nothing on c1 changed", async () => {
            expectTrue(cut1.code !== 0, `exit ${cut1.code}`);
            expectEqual((await H("c1").readFile("/etc/kubernetes/kubelet.env")).toString("utf8"), kubeletEnvBefore, "kubelet.env");
            expectEqual(await H("c1").exists("/var/lib/opke/pending-restarts"), false, "journal");
            expectEqual((await systemctlLog(H("c1"))).slice(logBefore.c1.length), [], "systemctl calls");
        });
        await restartHost(H("c1"));

        const cut2 = await cutMidApply(c1D);
        note(`mid-apply cut: ${cutAt}, ssh exit ${cut2.code}`);
        const journalAfterCut = (await H("c1").exists("/var/lib/opke/pending-restarts")) ? (await H("c1").readFile("/var/lib/opke/pending-restarts")).toString("utf8") : "";
        const restartsAfterCut = (await systemctlLog(H("c1"))).slice(logBefore.c1.length);
        await check("cut in the middle of writing files: the push failed with kubelet.service journalled and not yet restarted", () => {
            expectTrue(cut2.code !== 0, `exit ${cut2.code} (${cutAt})`);
            expectEqual(journalAfterCut, "kubelet.service\n", "journal");
            expectEqual(restartsAfterCut, [], "systemctl calls before the re-run");
        });
        await restartHost(H("c1"));
        const up5 = await engine.up(D.commands);
        logAfter = await logs();
        await check("re-run after the cuts converges: every push succeeds, every node holds the v1.37.0 tree", async () => {
            expectEqual(up5.map((e) => `${e.name}=${e.code}`), ["sshtest-push-c1=0", "sshtest-push-c2=0", "sshtest-push-c3=0", "sshtest-push-w1=0", "sshtest-push-w2=0"], "runs");
            for (const h of t!.hosts) await checkTree(t!, h, D.ssh[h.name]);
            for (const h of t!.hosts) await checkState(h);
        });
        await check("re-run after the cuts: the journal replayed c1's kubelet restart; every kubelet restarted exactly once", () => {
            const want = Object.fromEntries(HOSTS.map((h) => [h.name, expectedRestarts(C.ssh[h.name], D.ssh[h.name])]));
            expectEqual(logDelta(logAfter, logBefore), want, "systemctl calls");
            const c1 = up5.find((e) => e.node === "c1")!;
            const changedFiles = D.ssh.c1.files.filter((f) => C.ssh.c1.files.find((g) => g.path === f.path)?.content !== f.content).length;
            expectTrue(Number(summaryOf(c1).written) < changedFiles, `c1 wrote ${summaryOf(c1).written} of ${changedFiles} changed files: the cut push had written none`);
            expectEqual(summaryOf(c1).restarted, want.c1.slice(1).map((l) => l.replace("restart ", "")).join(","), "c1 restarted");
        });
        await check("nothing the cut pushes left behind: no work directory in /run/opke", async () => {
            const r = await H("c1").ssh("sudo -n find /run/opke -mindepth 1 -maxdepth 1 -name 'push.*' -print");
            expectEqual(r.stdout.trim().split("\n").filter(Boolean).length, 0, "push.* directories");
        });

        scenarioDone(5);

        // ---- 6. secrets ---------------------------------------------------------------------------
        await check("no private key, token or secret file content in any recorded stdout/stderr or command line", () => {
            const secrets = new Set<string>();
            for (const r of [A, B, C, D]) {
                for (const tree of Object.values(r.ssh)) {
                    for (const f of tree.files.filter((x) => x.secret)) {
                        for (const line of f.content.split("\n")) if (line.trim().length >= 16) secrets.add(line.trim());
                    }
                    const kubeconfig = tree.files.find((f) => f.path === "/etc/kubernetes/bootstrap-kubeconfig")!;
                    const token = /token: *"?([a-z0-9]{6}\.[a-z0-9]{16})/.exec(kubeconfig.content);
                    if (!token) throw new Error("no bootstrap token in bootstrap-kubeconfig");
                    secrets.add(token[1]);
                    secrets.add(token[1].split(".")[1]);
                }
            }
            for (const line of tt.privateKeyPem.split("\n")) if (line.trim().length >= 16 && !line.includes("-----")) secrets.add(line.trim());
            const texts = [
                ...engine.all.flatMap((e) => [[`${e.name} stdout`, e.stdout], [`${e.name} stderr`, e.stderr]]),
                ...[A, B, C, D].flatMap((r) => r.commands.map((c) => [`${c.name} create`, c.create])),
            ];
            expectTrue(engine.all.length >= 20, `only ${engine.all.length} recorded runs`);
            const leaks: string[] = [];
            for (const [where, text] of texts) {
                if (text.includes("PRIVATE KEY")) leaks.push(`${where}: PRIVATE KEY`);
                for (const s of secrets) if (text.includes(s)) leaks.push(`${where}: ${s.slice(0, 8)}…`);
            }
            expectEqual(leaks, [], "leaks");
        });
    } catch (e) {
        report(false, "the test itself", e instanceof Error ? (e.stack ?? e.message) : String(e));
    } finally {
        if (t) {
            try {
                await t.cleanup();
            } catch (e) {
                report(false, "cleanup", e instanceof Error ? e.message : String(e));
            }
        }
        if (!varLogKubernetesExisted && fs.existsSync("/var/log/kubernetes")) fs.rmSync("/var/log/kubernetes", { recursive: true, force: true });
    }
    const fmt = (m?: Record<string, number>) => (m ? Object.entries(m).map(([k, v]) => `${k}=${v}`).join(" ") : "n/a");
    note(`SSH sessions per node (sshd "Accepted publickey" lines): first up: ${fmt(metrics.first)}; no-op up: ${fmt(metrics.noop)}; upgrade: ${fmt(metrics.upgrade)}`);
    note(`test:ssh took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    console.log(tap.summary());
    process.exitCode = tap.failed === 0 ? 0 : 1;
}

main()
    .catch((e) => {
        console.error(e);
        console.log(tap.summary(1));
        process.exitCode = 1;
    })
    // The Pulumi runtime may keep handles open after the mocks; the result is printed, so leave.
    .finally(() => process.exit());
