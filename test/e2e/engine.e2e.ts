/**
 * npm run test:e2e:engine — the real Pulumi engine runs the real program against local SSH hosts.
 *
 * The flow (issue "2./3./4."), each step one or more checks:
 *   1. up                     `pulumi up` of a bare-metal stack in `installed` mode whose nodes are
 *                             local SSH hosts (test/harness/hosts.ts: c1 controller, w1 worker, with
 *                             test/ssh/fake-node.js standing in for etcd, the kubelet and the
 *                             apiserver so the pushes' health gates and the bootstrap pass); the
 *                             stack file is generated from the hosts (their IPs, pinned host keys,
 *                             the client key as the secret opke:sshPrivateKey).
 *   2. preview --expect-no-changes   right after the up.
 *   3. version bump           opke:kubernetesVersion v1.36.1 → v1.36.3: `preview --json` shows
 *                             updates of the SSH pushes (e2e-push-c1, e2e-push-w1) and nothing else.
 *   4. stack export           has no private key, no bootstrap token, no line of any pushed secret
 *                             file and no line of the SSH client key in plain text.
 *   5. destroy                leaves no resource in the state; the stack is removed.
 *   6. the same flow through the Automation API (stacks/automation.ts: up, preview, the bump
 *                             preview, previewDrift, export, destroy), on a fresh stack.
 * State lives in a temporary local file:// backend with a random passphrase; the generated
 * `Pulumi.e2e-<run>.yaml` is removed at the end (also on failure and SIGINT/SIGTERM).
 *
 * Before that it checks the toolchain: the pulumi CLI, the Node.js language host and the tls and
 * command plugins (the stack uses no other provider; the CLI steps pass --skip-plugin-pre-install,
 * the Automation API has no such option, so there the engine installs every plugin the program's
 * packages declare, downloading what it lacks). When the CLI exists, two checks that need no
 * program run always: `pulumi version`, and the Automation API wiring (local backend, passphrase,
 * a secret config value encrypted in the stack file, the export). When something the flow needs is
 * missing, each step of the flow prints
 *     not run here: <step> — <the missing binaries and, for each, why it could not be built:
 *                           the Go module proxy's answer for its module>
 * and counts as skipped; nothing is skipped silently. Last line: `N passed, N failed[, N skipped]`;
 * exit 1 on any failure, else 0 (a toolchain that cannot exist on this machine is not a failure).
 * OPKE_E2E_ENGINE_FORCE=1 runs the flow anyway (debugging this test: it then fails at the first
 * step that needs what is missing).
 *
 * What this does not prove: a real Flatcar host (Debian sshd in namespaces, stand-ins instead of
 * etcd/kubelet/apiserver), PXE (mode `installed` only), OpenStack, or Argo CD (no gitops block).
 */
import { spawn, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { stringify as toYaml } from "yaml";
import { loadStackFile } from "../../lib/config";
import {
    deploymentResourceCount,
    destroy,
    findToolchain,
    openStack,
    OperationOptions,
    parseUrn,
    preview,
    previewDrift,
    ProgressEvent,
    Toolchain,
    ToolLocation,
    up,
} from "../../stacks/automation";
import { copyIntoHost, createTestHosts, TestHost, TestHosts } from "../harness/hosts";
import { expectEqual, expectTrue, Tap } from "../helpers/tap";

const ROOT = path.resolve(__dirname, "../..");
const STEPS = [
    "up",
    "preview --expect-no-changes",
    "version bump: preview --json shows only updates of the SSH pushes",
    "stack export has no plaintext private key or token",
    "destroy leaves nothing",
    "the same flow through the Automation API",
] as const;
const CIDR = "10.213.58.0/24";
const HOSTS = [
    { name: "c1", ip: "10.213.58.11", mac: "52:54:00:58:00:11", role: "controller" },
    { name: "w1", ip: "10.213.58.21", mac: "52:54:00:58:00:21", role: "worker" },
] as const;
const CLUSTER = "e2e";
const API_PORT = 6443;
const VERSION_A = "v1.36.1";
const VERSION_B = "v1.36.3";
const FAKE = path.join(ROOT, "test", "ssh", "fake-node.js");
const UP_TIMEOUT_MS = 20 * 60_000;
const CLI_TIMEOUT_MS = 5 * 60_000;

// ---------------------------------------------------------------------------------------------
// Reporting

const tap = new Tap();
const report = tap.report.bind(tap);
const check = tap.check.bind(tap);
const notRun = tap.notRun.bind(tap);
const note = tap.note.bind(tap);

// ---------------------------------------------------------------------------------------------
// Toolchain: what is missing and why it could not be built here

interface Run {
    code: number;
    stdout: string;
    stderr: string;
}

function runProcess(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; stdin?: string; timeoutMs?: number } = {}): Promise<Run> {
    return new Promise((resolve) => {
        const child = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? CLI_TIMEOUT_MS);
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
        child.stdin.on("error", () => undefined);
        child.on("error", (e) => {
            clearTimeout(timer);
            resolve({ code: -1, stdout, stderr: `${stderr}${e.message}` });
        });
        child.on("close", (code, signal) => {
            clearTimeout(timer);
            resolve({ code: code ?? -1, stdout, stderr: signal ? `${stderr}\nkilled by ${signal} (timeout ${opts.timeoutMs ?? CLI_TIMEOUT_MS} ms)` : stderr });
        });
        child.stdin.end(opts.stdin ?? "");
    });
}

/** The Go module scripts/tools.sh builds a tool from (same mapping as tools.sh). */
function goModuleOf(tool: ToolLocation): string {
    if (tool.name === "pulumi") return `github.com/pulumi/pulumi/pkg/v3@${tool.version}`;
    if (tool.name === "pulumi-language-nodejs") return `github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3@${tool.version}`;
    const plugin = tool.name.replace(/^pulumi-resource-/, "");
    const major = Number(tool.version.replace(/^v/, "").split(".")[0]);
    return `github.com/pulumi/pulumi-${plugin}/provider${major >= 2 ? `/v${major}` : ""}@${tool.version}`;
}

function findGo(): string | undefined {
    for (const d of [...(process.env.PATH ?? "").split(path.delimiter), "/usr/local/go/bin"]) {
        const p = path.join(d, "go");
        if (d && fs.existsSync(p)) return p;
    }
    return undefined;
}

interface Blocker {
    /** e.g. "pulumi-language-nodejs v3.248.0". */
    what: string;
    /** One short reason, e.g. "https://proxy.golang.org: 403 Forbidden (This module version is not available.)". */
    reason: string;
    /** Everything: where it was looked for, the module, the proxy's full answer. */
    detail: string;
}

/** "403 Forbidden (This module version is not available.)" out of go's error text. */
function shortProxyError(error: string): string {
    const m = /(\d{3} [A-Za-z][A-Za-z ]*?)\s*(?:server response:\s*(.+?))?\s*$/s.exec(error.replace(/\s+/g, " "));
    if (!m) return error.replace(/\s+/g, " ").trim();
    return m[2] ? `${m[1].trim()} (${m[2].trim()})` : m[1].trim();
}

/** Why `bash scripts/tools.sh pulumi` cannot provide a tool here: the module proxy's own answer. */
async function whyNotBuildable(tool: ToolLocation, go: string | undefined, proxy: string | undefined): Promise<Blocker> {
    const what = `${tool.name} ${tool.version}`;
    const looked = `looked in ${tool.searched.join(", ")}`;
    const mod = goModuleOf(tool);
    if (!go) return { what, reason: "go is not installed to build it", detail: `${what}: missing (${looked}); go is not installed, so bash scripts/tools.sh pulumi cannot build it from ${mod}` };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "opke-e2e-probe-"));
    try {
        const r = await runProcess(go, ["mod", "download", "-json", mod], {
            cwd: dir,
            env: { ...process.env, GOFLAGS: "-mod=mod", GONOSUMDB: "github.com/pulumi", ...(proxy ? { GOPROXY: proxy } : {}) },
            timeoutMs: 60_000,
        });
        let error: string | undefined;
        try {
            error = (JSON.parse(r.stdout) as { Error?: string }).Error;
        } catch {
            error = r.code === 0 ? undefined : (r.stderr || r.stdout).trim().split("\n").pop();
        }
        if (!error) {
            return { what, reason: "not built yet: bash scripts/tools.sh pulumi", detail: `${what}: missing (${looked}); ${mod} is downloadable from ${proxy ?? "the module proxy"}: build it with bash scripts/tools.sh pulumi` };
        }
        return {
            what,
            reason: `${proxy ?? "module proxy"}: ${shortProxyError(error)}`,
            detail: `${what}: missing (${looked}); go mod download ${mod} (GOPROXY=${proxy ?? "default"}): ${error.replace(/\s*\n\s*/g, " ")}`,
        };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** Everything that keeps the flow from running here. */
async function flowBlockers(tc: Toolchain): Promise<Blocker[]> {
    const missing: ToolLocation[] = [
        ...(tc.cli.path ? [] : [tc.cli]),
        ...(tc.languageHost.path ? [] : [tc.languageHost]),
        ...tc.plugins.filter((p) => p.always && !p.path),
    ];
    const blockers: Blocker[] = [];
    if (missing.length > 0) {
        const go = findGo();
        const proxy = go ? spawnSync(go, ["env", "GOPROXY"], { encoding: "utf8" }).stdout.trim().split(/[,|]/)[0] || undefined : undefined;
        blockers.push(...(await Promise.all(missing.map((m) => whyNotBuildable(m, go, proxy)))));
    }
    if (typeof process.getuid === "function" && process.getuid() !== 0) {
        const why = "the local SSH hosts need network, mount and PID namespaces (test/harness/hosts.ts)";
        blockers.push({ what: "root", reason: why, detail: `not root: ${why}` });
    }
    for (const bin of ["/usr/sbin/sshd", "/usr/bin/ssh", "/usr/bin/sudo"]) {
        if (!fs.existsSync(bin)) blockers.push({ what: bin, reason: "not installed", detail: `${bin} is missing: apt-get install -y openssh-server openssh-client sudo iproute2 systemd` });
    }
    return blockers;
}

// ---------------------------------------------------------------------------------------------
// The CLI and the generated stack

interface Ctx {
    tc: Toolchain;
    backendDir: string;
    passphrase: string;
    /** Stack files this run created in the project (removed at the end). */
    stackFiles: Set<string>;
}

function cliEnv(ctx: Ctx): NodeJS.ProcessEnv {
    return {
        ...process.env,
        PATH: [...ctx.tc.binDirs, ...(process.env.PATH ?? "").split(path.delimiter)].join(path.delimiter),
        PULUMI_BACKEND_URL: `file://${ctx.backendDir}`,
        PULUMI_CONFIG_PASSPHRASE: ctx.passphrase,
        PULUMI_SKIP_UPDATE_CHECK: "true",
    };
}

async function pulumi(ctx: Ctx, args: string[], opts: { stdin?: string; timeoutMs?: number } = {}): Promise<Run> {
    const t0 = Date.now();
    const r = await runProcess(ctx.tc.cli.path!, [...args, "--non-interactive"], { env: cliEnv(ctx), ...opts });
    note(`pulumi ${args.filter((a) => !a.startsWith("--stack")).join(" ")}: exit ${r.code} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return r;
}

function tailOf(r: Run, lines = 25): string {
    return `exit ${r.code}\n${`${r.stdout}\n${r.stderr}`.trim().split("\n").slice(-lines).join("\n")}`;
}

function writeStackFile(ctx: Ctx, stack: string, text: string): string {
    const file = path.join(ROOT, `Pulumi.${stack}.yaml`);
    fs.writeFileSync(file, text);
    ctx.stackFiles.add(file);
    return file;
}

function removeStackFiles(files: Set<string>): void {
    for (const f of files) fs.rmSync(f, { force: true });
    files.clear();
}

/** The stack file of the flow, generated from the hosts. */
function stackYaml(t: TestHosts, clientPub: string, version: string): string {
    const node = (h: (typeof HOSTS)[number]) => ({ name: h.name, ip: h.ip, mac: h.mac });
    const doc = {
        config: {
            "opke:clusterName": CLUSTER,
            "opke:platform": "bare-metal",
            "opke:apiDnsName": `api.${CLUSTER}.opke.test`,
            "opke:apiPort": API_PORT,
            "opke:kubernetesVersion": version,
            "opke:network": { nodeCidr: CIDR },
            "opke:controllers": HOSTS.filter((h) => h.role === "controller").map(node),
            "opke:workers": HOSTS.filter((h) => h.role === "worker").map(node),
            "opke:ssh": { user: t.user, authorizedKeys: [clientPub], hostKeys: Object.fromEntries(t.hosts.map((h) => [h.name, h.hostKeyPublic])) },
            "opke:pki": { algorithm: "ECDSA" },
            "opke:bareMetal": { mode: "installed" },
        },
    };
    return `# Generated by test/e2e/engine.e2e.ts for one run; removed when the test ends.\n${toYaml(doc)}`;
}

// ---------------------------------------------------------------------------------------------
// Hosts

function control(h: TestHost): Promise<unknown> {
    return new Promise((resolve, reject) => {
        const req = http.get({ host: h.ip, port: 9900, path: "/state", timeout: 3000 }, (res) => {
            let body = "";
            res.on("data", (d: Buffer) => (body += d.toString("utf8")));
            res.on("end", () => resolve(body));
        });
        req.on("error", reject);
        req.on("timeout", () => req.destroy(new Error(`control ${h.name} timed out`)));
    });
}

/** Starts test/ssh/fake-node.js on a host (the stand-ins the gates and the bootstrap probe). */
async function startFake(t: TestHosts, h: TestHost, role: string): Promise<void> {
    // Copied into the host: the checkout may live under a directory the host has its own copy of.
    const inHost = copyIntoHost(t, h, FAKE, "/var/lib/opke-test/fake-node.js");
    const r = await h.ssh(`sudo -n /usr/bin/setsid ${process.execPath} ${inHost} ${role} ${h.ip} ${API_PORT} </dev/null >/tmp/opke-fake.log 2>&1 &`);
    if (r.code !== 0) throw new Error(`${h.name}: cannot start the stand-ins: ${r.stderr}`);
    for (let i = 0; i < 100; i++) {
        try {
            await control(h);
            return;
        } catch {
            await new Promise((res) => setTimeout(res, 50));
        }
    }
    throw new Error(`${h.name}: the stand-ins do not answer on ${h.ip}:9900 (see /tmp/opke-fake.log on the host)`);
}

/** Lines (≥ 16 characters, no PEM armour) of the secret files pushed to the hosts, the bootstrap token, the client key. */
async function secretNeedles(t: TestHosts): Promise<Set<string>> {
    const needles = new Set<string>();
    const add = (text: string) => {
        for (const line of text.split("\n").map((l) => l.trim())) if (line.length >= 16 && !line.startsWith("-----")) needles.add(line);
    };
    const c1 = t.hosts.find((h) => h.name === "c1")!;
    for (const f of [
        "/etc/kubernetes/pki/ca.key",
        "/etc/kubernetes/pki/apiserver.key",
        "/etc/kubernetes/pki/sa.key",
        "/etc/kubernetes/pki/encryption-config.yaml",
        "/etc/ssl/etcd/server.key",
        "/etc/kubernetes/admin.conf",
    ]) {
        add((await c1.readFile(f)).toString("utf8"));
    }
    for (const h of t.hosts) {
        const kubeconfig = (await h.readFile("/etc/kubernetes/bootstrap-kubeconfig")).toString("utf8");
        const token = /token: *"?([a-z0-9]{6})\.([a-z0-9]{16})/.exec(kubeconfig);
        if (!token) throw new Error(`${h.name}: no bootstrap token in /etc/kubernetes/bootstrap-kubeconfig`);
        needles.add(`${token[1]}.${token[2]}`);
        needles.add(token[2]);
    }
    add(t.privateKeyPem);
    return needles;
}

function leaks(text: string, needles: Set<string>): string[] {
    const found: string[] = [];
    if (text.includes("PRIVATE KEY")) found.push("PRIVATE KEY");
    for (const n of needles) if (text.includes(n)) found.push(`${n.slice(0, 8)}…`);
    return found;
}

const pushNames = HOSTS.map((h) => `${CLUSTER}-push-${h.name}`).sort();

// ---------------------------------------------------------------------------------------------
// Checks that need only the CLI

async function preflight(tc: Toolchain, stackFiles: Set<string>): Promise<void> {
    await check(`toolchain: \`pulumi version\` of ${tc.cli.path} is ${tc.cli.version}`, async () => {
        const r = await runProcess(tc.cli.path!, ["version"], { env: { ...process.env, PULUMI_SKIP_UPDATE_CHECK: "true" }, timeoutMs: 30_000 });
        expectEqual(r.stdout.trim(), tc.cli.version, "pulumi version");
    });
    const stack = `e2e-pre-${crypto.randomBytes(3).toString("hex")}`;
    const backendDir = fs.mkdtempSync(path.join(os.tmpdir(), "opke-e2e-backend-"));
    const secret = `opke-e2e-${crypto.randomBytes(12).toString("hex")}`;
    const file = path.join(ROOT, `Pulumi.${stack}.yaml`);
    try {
        await check(
            "Automation API on a local file:// backend (no program run): the stack is created with the passphrase provider, a secret config value is stored encrypted in the stack file and read back, the export holds no plaintext",
            async () => {
                // The keys Pulumi.yaml declares without a default must be present for `pulumi config`.
                fs.writeFileSync(file, "config:\n  opke:clusterName: pre\n  opke:apiDnsName: api.pre.test\n  opke:controllers: []\n  opke:ssh: {}\n");
                stackFiles.add(file);
                const opts: OperationOptions = { backendUrl: `file://${backendDir}`, passphrase: crypto.randomBytes(16).toString("hex"), toolchain: tc };
                const { stack: s, settings } = await openStack(stack, { ...opts, create: true, needsProgram: false });
                expectEqual(settings.backendUrl, `file://${backendDir}`, "backend");
                expectTrue(fs.existsSync(path.join(backendDir, ".pulumi", "stacks", "opke", `${stack}.json`)), `no stack state under ${backendDir}/.pulumi/stacks/opke`);
                await s.setConfig("opke:sshPrivateKey", { value: secret, secret: true });
                const text = fs.readFileSync(file, "utf8");
                expectTrue(/^encryptionsalt: v1:/m.test(text), `no encryptionsalt in the stack file:\n${text}`);
                expectTrue(/opke:sshPrivateKey:\n\s+secure: v1:/.test(text), `opke:sshPrivateKey is not a secure value:\n${text}`);
                expectTrue(!text.includes(secret), "the secret is in the stack file in plain text");
                expectEqual(await s.getConfig("opke:sshPrivateKey"), { value: secret, secret: true }, "read back");
                const exported = JSON.stringify(await s.exportStack());
                expectTrue(!exported.includes(secret), "the secret is in the export");
                expectTrue(exported.includes('"type":"passphrase"'), "the export does not name the passphrase provider");
                await s.workspace.removeStack(stack);
            },
        );
    } finally {
        fs.rmSync(file, { force: true });
        stackFiles.delete(file);
        fs.rmSync(backendDir, { recursive: true, force: true });
    }
}

// ---------------------------------------------------------------------------------------------
// The flow

async function flow(tc: Toolchain, stackFiles: Set<string>): Promise<void> {
    const varLogKubernetesExisted = fs.existsSync("/var/log/kubernetes");
    let t: TestHosts | undefined;
    const ctx: Ctx = {
        tc,
        backendDir: fs.mkdtempSync(path.join(os.tmpdir(), "opke-e2e-backend-")),
        passphrase: crypto.randomBytes(24).toString("base64"),
        stackFiles,
    };
    const missingPlugins = tc.plugins.filter((p) => !p.path).map((p) => `${p.name} ${p.version}`);
    try {
        t = await createTestHosts({ hosts: HOSTS.map(({ name, ip }) => ({ name, ip })), cidr: CIDR });
        const tt = t;
        const H = (n: string) => tt.hosts.find((h) => h.name === n)!;
        for (const h of HOSTS) await startFake(tt, H(h.name), h.role);
        const clientPub = fs.readFileSync(`${t.privateKeyPath}.pub`, "utf8").trim();
        const stack = `e2e-${t.id}`;
        const writeConfig = (version: string) => writeStackFile(ctx, stack, stackYaml(tt, clientPub, version));
        note(`hosts up (run ${t.id}); stack ${stack}; backend file://${ctx.backendDir}`);

        // ---- setup: the stack, its secret key -------------------------------------------------
        writeConfig(VERSION_A);
        const cfgOk = await check("the generated stack file validates (lib/config loadStackFile)", () => {
            const cfg = loadStackFile(ROOT, stack);
            expectEqual([cfg.platform, cfg.bareMetal.mode, cfg.kubernetesVersion], ["bare-metal", "installed", VERSION_A], "config");
        });
        const init = await pulumi(ctx, ["stack", "init", stack]);
        const setKey = await pulumi(ctx, ["config", "set", "--secret", "opke:sshPrivateKey", "--stack", stack], { stdin: t.privateKeyPem });
        const setupOk = cfgOk && init.code === 0 && setKey.code === 0;
        if (!setupOk) report(false, "stack init and the secret opke:sshPrivateKey", `${tailOf(init)}\n${tailOf(setKey)}`);

        // ---- 1. up --------------------------------------------------------------------------------
        let upOk = false;
        if (setupOk) {
            upOk = await check(`${STEPS[0]}: pulumi up provisions both hosts (${VERSION_A} files pushed, bootstrap started on c1); secret outputs stay secret`, async () => {
                const r = await pulumi(ctx, ["up", "--yes", "--skip-plugin-pre-install", "--stack", stack], { timeoutMs: UP_TIMEOUT_MS });
                if (r.code !== 0) throw new Error(tailOf(r));
                for (const h of tt.hosts) {
                    const env = (await h.readFile("/etc/kubernetes/kubelet.env")).toString("utf8");
                    expectTrue(env.includes(`:${VERSION_A}`), `${h.name}: kubelet.env is ${JSON.stringify(env)}`);
                }
                expectTrue((await H("c1").systemctlLog()).includes("start bootstrap.service"), "c1: bootstrap.service was not started");
                const o = await pulumi(ctx, ["stack", "output", "--json", "--stack", stack]);
                const outputs = JSON.parse(o.stdout) as Record<string, unknown>;
                expectEqual([outputs.apiServer, outputs.kubeconfig], [`https://api.${CLUSTER}.opke.test:${API_PORT}`, "[secret]"], "outputs");
            });
        } else notRun(STEPS[0], "the stack could not be set up (above)");

        // ---- 2. preview --expect-no-changes -----------------------------------------------------
        if (upOk) {
            await check(`${STEPS[1]}: exit 0, every resource unchanged`, async () => {
                const r = await pulumi(ctx, ["preview", "--expect-no-changes", "--json", "--skip-plugin-pre-install", "--stack", stack]);
                if (r.code !== 0) throw new Error(tailOf(r));
                const summary = (JSON.parse(r.stdout) as { changeSummary?: Record<string, number> }).changeSummary ?? {};
                expectEqual(Object.keys(summary), ["same"], "changeSummary kinds");
            });
        } else report(false, STEPS[1], "not run: up failed");

        // ---- 3. version bump ------------------------------------------------------------------------
        if (upOk) {
            await check(`${STEPS[2]} (${VERSION_A} → ${VERSION_B}: ${pushNames.join(", ")})`, async () => {
                const set = await pulumi(ctx, ["config", "set", "opke:kubernetesVersion", VERSION_B, "--stack", stack]);
                if (set.code !== 0) throw new Error(tailOf(set));
                try {
                    const r = await pulumi(ctx, ["preview", "--json", "--skip-plugin-pre-install", "--stack", stack]);
                    if (r.code !== 0) throw new Error(tailOf(r));
                    const steps = (JSON.parse(r.stdout) as { steps?: { op: string; urn: string }[] }).steps ?? [];
                    const changes = steps.filter((s) => s.op !== "same").map((s) => `${s.op} ${parseUrn(s.urn)?.type} ${parseUrn(s.urn)?.name}`).sort();
                    expectEqual(changes, pushNames.map((n) => `update command:remote:Command ${n}`), "non-same steps");
                } finally {
                    await pulumi(ctx, ["config", "set", "opke:kubernetesVersion", VERSION_A, "--stack", stack]);
                }
            });
        } else report(false, STEPS[2], "not run: up failed");

        // ---- 4. stack export ------------------------------------------------------------------------
        let needles = new Set<string>();
        if (upOk) {
            await check(`${STEPS[3]} (no PRIVATE KEY, no bootstrap token, no line of a pushed secret file or of the SSH client key)`, async () => {
                needles = await secretNeedles(tt);
                const r = await pulumi(ctx, ["stack", "export", "--stack", stack]);
                if (r.code !== 0) throw new Error(tailOf(r));
                expectTrue(deploymentResourceCount(JSON.parse(r.stdout)) > 10, "the export has (almost) no resources");
                expectTrue(r.stdout.includes('"ciphertext"'), "the export holds no ciphertext: were the secrets exported at all?");
                expectEqual(leaks(r.stdout, needles), [], "plaintext in the export");
            });
        } else report(false, STEPS[3], "not run: up failed");

        // ---- 5. destroy ---------------------------------------------------------------------------
        if (upOk) {
            await check(`${STEPS[4]}: no resource left in the state; the stack is removed from the backend`, async () => {
                const r = await pulumi(ctx, ["destroy", "--yes", "--skip-plugin-pre-install", "--stack", stack], { timeoutMs: UP_TIMEOUT_MS });
                if (r.code !== 0) throw new Error(tailOf(r));
                const ex = await pulumi(ctx, ["stack", "export", "--stack", stack]);
                expectEqual(deploymentResourceCount(JSON.parse(ex.stdout)), 0, "resources after destroy");
                const rm = await pulumi(ctx, ["stack", "rm", "--yes", "--stack", stack]);
                if (rm.code !== 0) throw new Error(tailOf(rm));
                const ls = await pulumi(ctx, ["stack", "ls", "--json"]);
                expectEqual((JSON.parse(ls.stdout) as { name: string }[]).map((s) => s.name), [], "stacks in the backend");
            });
        } else report(false, STEPS[4], "not run: up failed");

        // ---- 6. the Automation API ----------------------------------------------------------------
        if (missingPlugins.length > 0) {
            note(`Automation API: the engine installs every plugin the program's packages declare (no --skip-plugin-pre-install there); not installed here: ${missingPlugins.join(", ")} — downloaded from get.pulumi.com, which fails offline`);
        }
        const api = `${stack}-api`;
        const progress: ProgressEvent[] = [];
        const opts: OperationOptions = { backendUrl: `file://${ctx.backendDir}`, passphrase: ctx.passphrase, toolchain: tc, onProgress: (e) => progress.push(e) };
        writeStackFile(ctx, api, stackYaml(tt, clientPub, VERSION_A));
        const opened = await openStack(api, { ...opts, create: true }).catch((e: unknown) => e as Error);
        if (opened instanceof Error) {
            report(false, `${STEPS[5]}: open the stack`, opened.message);
            return;
        }
        await opened.stack.setConfig("opke:sshPrivateKey", { value: tt.privateKeyPem, secret: true });
        const apiUp = await check(`${STEPS[5]}: up() creates everything, streams a done step per resource, masks the secret outputs`, async () => {
            const r = await up(api, opts);
            expectTrue(r.changed && r.changes.create > 10 && r.changes.delete === 0, `changes ${JSON.stringify(r.changes)}`);
            expectEqual(r.outputs.kubeconfig, { value: "[secret]", secret: true }, "kubeconfig output");
            expectEqual(r.outputs.apiServer, { value: `https://api.${CLUSTER}.opke.test:${API_PORT}`, secret: false }, "apiServer output");
            const done = progress.filter((e) => e.type === "step" && e.status === "done").map((e) => (e as { name: string }).name);
            for (const n of pushNames) expectTrue(done.includes(n), `no done progress event for ${n}`);
            expectEqual(progress.filter((e) => e.type === "step" && e.status === "failed").length, 0, "failed steps");
        });
        if (!apiUp) return;
        await check(`${STEPS[5]}: preview() right after reports no changes`, async () => {
            const r = await preview(api, opts);
            expectEqual([r.changed, r.changes.same > 10], [false, true], "changed / unchanged");
        });
        await check(`${STEPS[5]}: the version bump preview() lists only the pushes as updates`, async () => {
            await opened.stack.setConfig("opke:kubernetesVersion", { value: VERSION_B });
            try {
                const r = await preview(api, opts);
                const byKind = Object.fromEntries(Object.entries(r.resources).filter(([k, v]) => k !== "same" && v.length > 0).map(([k, v]) => [k, v.map((u) => parseUrn(u)?.name).sort()]));
                expectEqual(byKind, { update: pushNames }, "changes by kind");
            } finally {
                await opened.stack.setConfig("opke:kubernetesVersion", { value: VERSION_A });
            }
        });
        await check(`${STEPS[5]}: previewDrift() (refresh --preview-only) finds no drift`, async () => {
            const r = await previewDrift(api, opts);
            expectEqual(r.changed, false, `drift (${r.summary})`);
        });
        await check(`${STEPS[5]}: the exported state holds no plaintext secret`, async () => {
            expectEqual(leaks(JSON.stringify(await opened.stack.exportStack()), needles.size ? needles : await secretNeedles(tt)), [], "plaintext in the export");
        });
        await check(`${STEPS[5]}: destroy() deletes everything; nothing left in the state`, async () => {
            const r = await destroy(api, opts);
            expectTrue(r.changes.delete > 10, `changes ${JSON.stringify(r.changes)}`);
            expectEqual(deploymentResourceCount(await opened.stack.exportStack()), 0, "resources after destroy");
            await opened.stack.workspace.removeStack(api);
        });
    } catch (e) {
        report(false, "the engine flow itself", e instanceof Error ? (e.stack ?? e.message) : String(e));
    } finally {
        if (t) {
            try {
                await t.cleanup();
            } catch (e) {
                report(false, "cleanup of the test hosts", e instanceof Error ? e.message : String(e));
            }
        }
        fs.rmSync(ctx.backendDir, { recursive: true, force: true });
        if (!varLogKubernetesExisted && fs.existsSync("/var/log/kubernetes")) fs.rmSync("/var/log/kubernetes", { recursive: true, force: true });
    }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
    const t0 = Date.now();
    const stackFiles = new Set<string>();
    process.on("exit", () => removeStackFiles(stackFiles));
    for (const sig of ["SIGINT", "SIGTERM"] as const) {
        process.on(sig, () => {
            removeStackFiles(stackFiles);
            process.exit(sig === "SIGINT" ? 130 : 143);
        });
    }
    const tc = findToolchain({ projectRoot: ROOT });
    note(`pulumi CLI ${tc.cli.version}: ${tc.cli.path ? `${tc.cli.path} (${tc.cli.source})` : "not found"}`);
    note(`${tc.languageHost.name} ${tc.languageHost.version}: ${tc.languageHost.path ?? "not found"}`);
    for (const p of tc.plugins) note(`${p.name} ${p.version}${p.always ? "" : " (not used by this test's stack)"}: ${p.path ?? "not found"}`);

    if (tc.cli.path) await preflight(tc, stackFiles);
    const blockers = await flowBlockers(tc);
    if (blockers.length > 0 && process.env.OPKE_E2E_ENGINE_FORCE === "1" && tc.cli.path) {
        // Debugging this test: run the flow anyway; it fails where the missing binary is first needed.
        for (const b of blockers) note(`OPKE_E2E_ENGINE_FORCE=1, running although: ${b.detail}`);
        await flow(tc, stackFiles);
    } else if (blockers.length > 0) {
        for (const b of blockers) note(b.detail);
        const reason = `missing ${blockers.map((b) => `${b.what} (${b.reason})`).join(", ")}`;
        for (const step of STEPS) notRun(step, reason);
        console.log(`blocked: ${blockers.map((b) => b.what).join(", ")} missing; the Pulumi engine cannot run here (README: "Status")`);
    } else {
        await flow(tc, stackFiles);
    }
    removeStackFiles(stackFiles);
    note(`test:e2e:engine took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    console.log(tap.summary());
    process.exitCode = tap.failed === 0 ? 0 : 1;
}

main()
    .catch((e) => {
        console.error(e);
        console.log(tap.summary(1));
        process.exitCode = 1;
    })
    .finally(() => process.exit());
