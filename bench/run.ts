/**
 * npm run bench — what opke costs as clusters grow.
 *
 * Measures, for 3 controllers + N workers (N = 10, 100, 1000) on the openstack and bare-metal
 * platforms:
 *   - program evaluation under the mock engine (bench/eval-worker.ts, one fresh child process per
 *     run): median wall time of OPKE_BENCH_RUNS runs (default 3), peak RSS of the child, resources
 *     registered (custom resources, providers included) and resources per worker (against the
 *     same platform with 0 workers);
 *   - render time (lib/render renderCluster) for the same configs;
 *   - SSH sessions per node for a first `up`, a no-op `up` and a version upgrade
 *     (v1.36.1 → v1.36.3), from the registered commands and the diff of their inputs between two
 *     evaluations (bench/sessions.ts);
 *   - `pulumi preview` of an unchanged e2e stack when the real engine is available;
 * writes bench-results.json and BENCHMARKS.md. Exits non-zero only when something crashes, never
 * because of a timing.
 *
 * Knobs (environment):
 *   OPKE_BENCH_RUNS=3            runs per measurement (median)
 *   OPKE_BENCH_SIZES=10,100,1000 worker counts
 *   OPKE_BENCH_PLATFORMS=openstack,bare-metal
 *   OPKE_BENCH_SESSIONS_WORKERS=10  cluster size of the SSH-session diffs
 *   OPKE_BENCH_PROFILE=1         one extra --cpu-prof run of the largest size per platform: where
 *                                the evaluation time goes (bench/profile-top.ts)
 *   OPKE_BENCH_DIAGNOSTICS=1     extra single runs of the largest size: without ts-node's
 *                                stack-trace source mapping, and OpenStack with sshVia bastion
 *   OPKE_BENCH_E2E_STACK=<stack> the deployed stack to `pulumi preview` (real engine)
 *   OPKE_BENCH_OUT=<dir>         where to write bench-results.json and BENCHMARKS.md (default: repo root)
 *
 * `npm run bench -- --report <bench-results.json>` only rewrites BENCHMARKS.md from a previous
 * run's results (no measurement).
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { benchNodes, type BenchPlatform, floatingIpAddress, MATCHBOX_HOST, type SshVia } from "./configs";
import type { EvalResult, Job, PkiResult, RenderResult } from "./eval-worker";
import { type Bucket, bucketTimes, cutProfile, readProfile, topFrames } from "./profile-top";
import { renderMarkdown } from "./report";
import { type Attribution, firstUp, nextUp, type PhaseSessions } from "./sessions";

const ROOT = path.resolve(__dirname, "..");

export interface Settings {
    runs: number;
    sizes: number[];
    platforms: BenchPlatform[];
    sessionsWorkers: number;
    profile: boolean;
    diagnostics: boolean;
}

export interface Row {
    platform: BenchPlatform;
    controllers: number;
    workers: number;
    evalSecondsMedian: number;
    /** Highest peak RSS of the eval runs (each run's child process). */
    peakRssMb: number;
    resources: number;
    /** (resources − resources with 0 workers) / workers: what one worker adds. */
    resourcesPerWorker: number;
    renderSecondsMedian: number;
    evalSecondsRuns: number[];
    loadSecondsMedian: number;
    components: number;
    renderSecondsRuns: number[];
    renderPeakRssMb: number;
}

export interface WorkerResources {
    /** What one worker adds, by resource type. */
    byType: Record<string, number>;
    perWorker: number;
}

export interface ProfileSummary {
    platform: BenchPlatform;
    workers: number;
    evalSeconds: number;
    sampledSeconds: number;
    sourceMapsSeconds: number;
    byBucket: Record<Bucket, number>;
    top: { frame: string; selfMs: number; totalMs: number }[];
}

export interface Results {
    generatedAt: string;
    command: string;
    machine: Record<string, string | number>;
    settings: Settings;
    rows: Array<Row>;
    workerResources: Record<string, WorkerResources>;
    sshSessions: {
        workers: number;
        first: { min: number; max: number };
        noop: { min: number; max: number };
        upgrade: { min: number; max: number };
        byPlatform: Record<string, { first: PhaseSessions; noop: PhaseSessions; upgrade: PhaseSessions }>;
    };
    localPki: { algorithm: string; seconds: number; certificates: number; keyPairs: number } | null;
    realEngine: { available: boolean; reason: string; previewSecondsMedian: number | null; previewSecondsRuns?: number[] };
    profiles: ProfileSummary[];
    diagnostics: { what: string; platform: BenchPlatform; workers: number; evalSeconds: number; peakRssMb: number; resources: number }[];
}

function envInt(name: string, fallback: number, min: number): number {
    const v = process.env[name];
    if (v === undefined || v === "") return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`${name}=${v}: use a whole number ≥ ${min}`);
    return n;
}

function envFlag(name: string): boolean {
    return ["1", "true", "yes"].includes((process.env[name] ?? "").toLowerCase());
}

export function settingsFromEnv(): Settings {
    const sizes = (process.env.OPKE_BENCH_SIZES ?? "10,100,1000").split(",").map((s) => Number(s.trim()));
    if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`OPKE_BENCH_SIZES=${process.env.OPKE_BENCH_SIZES}: use worker counts ≥ 1 such as 10,100,1000`);
    const platforms = (process.env.OPKE_BENCH_PLATFORMS ?? "openstack,bare-metal").split(",").map((s) => s.trim());
    for (const p of platforms) if (p !== "openstack" && p !== "bare-metal") throw new Error(`OPKE_BENCH_PLATFORMS: ${p} is not openstack or bare-metal`);
    return {
        runs: envInt("OPKE_BENCH_RUNS", 3, 1),
        sizes: [...new Set(sizes)].sort((a, b) => a - b),
        platforms: platforms as BenchPlatform[],
        sessionsWorkers: envInt("OPKE_BENCH_SESSIONS_WORKERS", 10, 1),
        profile: envFlag("OPKE_BENCH_PROFILE"),
        diagnostics: envFlag("OPKE_BENCH_DIAGNOSTICS"),
    };
}

export function median(xs: readonly number[]): number {
    const s = [...xs].sort((a, b) => a - b);
    const m = Math.floor(s.length / 2);
    return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const round = (x: number, digits = 3) => Number(x.toFixed(digits));

let tmpDir: string;
let jobCounter = 0;

/** Runs one job in a fresh child process; throws (a crash) when it fails. */
type JobSpec = Job extends infer J ? (J extends Job ? Omit<J, "out"> : never) : never;

async function child<R>(job: JobSpec, o: { profileDir?: string } = {}): Promise<R> {
    const out = path.join(tmpDir, `job-${++jobCounter}.json`);
    const full = { ...job, out } as Job;
    const args = [
        ...(o.profileDir ? ["--cpu-prof", `--cpu-prof-dir=${o.profileDir}`] : []),
        "-r",
        "ts-node/register/transpile-only",
        path.join(ROOT, "bench", "eval-worker.ts"),
        JSON.stringify(full),
    ];
    const stderr: string[] = [];
    const code = await new Promise<number | null>((resolve, reject) => {
        const p = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
        p.stderr.on("data", (d: Buffer) => stderr.push(d.toString()));
        p.on("error", reject);
        p.on("close", resolve);
    });
    if (!fs.existsSync(out)) {
        throw new Error(`bench job ${JSON.stringify(job)} crashed (exit ${code}):\n${stderr.join("").slice(-4000)}`);
    }
    if (code !== 0) process.stderr.write(`warning: job ${JSON.stringify(job)} wrote its result but exited ${code}:\n${stderr.join("").slice(-2000)}\n`);
    return JSON.parse(fs.readFileSync(out, "utf8")) as R;
}

function log(line: string): void {
    process.stdout.write(`${line}\n`);
}

function machineInfo(): Record<string, string | number> {
    const git = (args: string[]) => spawnSync("git", args, { cwd: ROOT, encoding: "utf8" }).stdout?.trim() ?? "";
    const dirty = git(["status", "--porcelain", "--untracked-files=no"]) !== "";
    const cpus = os.cpus();
    return {
        nproc: cpus.length,
        cpuModel: cpus[0]?.model ?? "unknown",
        memoryGb: round(os.totalmem() / 2 ** 30, 1),
        node: process.version,
        os: `${os.type()} ${os.release()} ${os.arch()}`,
        loadAverage1mAtStart: round(os.loadavg()[0], 2),
        commit: `${git(["rev-parse", "--short", "HEAD"])}${dirty ? " (+ uncommitted changes in the working tree)" : ""}`,
        pulumiSdk: (require("@pulumi/pulumi/package.json") as { version: string }).version,
    };
}

/**
 * `pulumi preview` of the deployed e2e stack, when the real engine can run here: the CLI, the
 * Node.js language host and the tls and command plugins (stacks/automation.ts `findToolchain`,
 * the same lookup test:e2e:engine uses; its stack is bare metal in mode installed, so no other
 * plugin), and a stack that exists (OPKE_BENCH_E2E_STACK, with its backend logged in or
 * PULUMI_BACKEND_URL set). Otherwise the reason, and null.
 */
async function realEngine(runs: number): Promise<Results["realEngine"]> {
    const { findToolchain } = require("../stacks/automation") as typeof import("../stacks/automation");
    const tc = findToolchain({ projectRoot: ROOT });
    const missing: string[] = [];
    if (!tc.cli.path) missing.push(`no pulumi CLI ${tc.cli.version} (searched ${tc.cli.searched.join(", ")})`);
    if (!tc.languageHost.path) missing.push(`no ${tc.languageHost.name} ${tc.languageHost.version}, the Node.js language host (searched ${tc.languageHost.searched.join(", ")}; scripts/tools.sh cannot build it here: the Go module proxy does not serve it)`);
    const plugins = tc.plugins.filter((p) => p.always && !p.path);
    if (plugins.length > 0) missing.push(`no provider plugins ${plugins.map((p) => `${p.name} ${p.version}`).join(", ")}`);
    const stack = process.env.OPKE_BENCH_E2E_STACK;
    if (!stack) missing.push("no deployed e2e stack to preview (set OPKE_BENCH_E2E_STACK=<stack>; test:e2e:engine deploys one and destroys it again)");
    if (missing.length > 0 || !tc.cli.path || !stack) return { available: false, reason: missing.join("; "), previewSecondsMedian: null };

    const env = { ...process.env, PATH: [...tc.binDirs, process.env.PATH ?? ""].join(path.delimiter), PULUMI_SKIP_UPDATE_CHECK: "true" };
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        const r = spawnSync(tc.cli.path, ["preview", "--stack", stack, "--non-interactive", "--expect-no-changes", "--diff=false", "--skip-plugin-pre-install"], {
            cwd: ROOT,
            env,
            encoding: "utf8",
            maxBuffer: 1 << 28,
        });
        const s = (performance.now() - t0) / 1000;
        if (r.status !== 0) {
            return { available: true, reason: `pulumi preview --stack ${stack} failed (exit ${r.status}): ${(r.stderr || r.stdout).slice(-500)}`, previewSecondsMedian: null, previewSecondsRuns: times };
        }
        times.push(round(s));
        log(`real engine: pulumi preview --stack ${stack} run ${i + 1}/${runs}: ${s.toFixed(2)} s`);
    }
    return { available: true, reason: `pulumi preview --stack ${stack} --expect-no-changes`, previewSecondsMedian: round(median(times)), previewSecondsRuns: times };
}

function attribution(platform: BenchPlatform, workers: number, sshVia: SshVia = "floating-ip"): Attribution {
    const nodes = benchNodes(workers);
    const hostToNode = new Map<string, string>();
    nodes.forEach((n, i) => {
        hostToNode.set(n.ip, n.name);
        if (platform === "openstack" && sshVia === "floating-ip") hostToNode.set(floatingIpAddress(i), n.name);
    });
    return { hostToNode, nodes: nodes.map((n) => n.name), controller0: nodes[0].name, ...(platform === "bare-metal" ? { provisioningHost: MATCHBOX_HOST } : {}) };
}

function perWorker(byN: Record<string, number>, by0: Record<string, number>, n: number): WorkerResources {
    const byType: Record<string, number> = {};
    for (const t of Object.keys(byN).sort()) {
        const d = (byN[t] - (by0[t] ?? 0)) / n;
        if (d !== 0) byType[t] = round(d, 3);
    }
    return { byType, perWorker: round(Object.values(byType).reduce((a, b) => a + b, 0), 3) };
}

async function main(argv: string[]): Promise<number> {
    const outDir = path.resolve(process.env.OPKE_BENCH_OUT ?? ROOT);
    if (argv[0] === "--report") {
        if (!argv[1]) throw new Error("usage: npm run bench -- --report <bench-results.json>");
        const results = JSON.parse(fs.readFileSync(argv[1], "utf8")) as Results;
        fs.writeFileSync(path.join(outDir, "BENCHMARKS.md"), renderMarkdown(results));
        log(`wrote ${path.join(outDir, "BENCHMARKS.md")} from ${argv[1]}`);
        return 0;
    }
    const settings = settingsFromEnv();
    tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), "opke-bench-"));
    const started = performance.now();
    const machine = machineInfo();
    log(`opke bench: ${settings.platforms.join(", ")} × 3 controllers + {${settings.sizes.join(", ")}} workers, ${settings.runs} run(s) each; ${machine.nproc} CPUs, ${machine.memoryGb} GiB, node ${machine.node}`);

    try {
        // Resources with 0 workers: the fixed part, so per-worker counts are exact.
        const baseline: Record<string, EvalResult> = {};
        for (const platform of settings.platforms) {
            baseline[platform] = await child<EvalResult>({ kind: "eval", platform, workers: 0 });
            log(`baseline ${platform} 0 workers: ${baseline[platform].resources} resources`);
        }

        const rows: Row[] = [];
        for (const workers of settings.sizes) {
            for (const platform of settings.platforms) {
                const evals: EvalResult[] = [];
                for (let i = 0; i < settings.runs; i++) {
                    const r = await child<EvalResult>({ kind: "eval", platform, workers });
                    evals.push(r);
                    log(`eval   ${platform} ${workers} workers run ${i + 1}/${settings.runs}: ${r.evalSeconds.toFixed(2)} s, peak RSS ${r.peakRssMb.toFixed(0)} MB, ${r.resources} resources`);
                }
                const renders: RenderResult[] = [];
                for (let i = 0; i < settings.runs; i++) {
                    const r = await child<RenderResult>({ kind: "render", platform, workers });
                    renders.push(r);
                    log(`render ${platform} ${workers} workers run ${i + 1}/${settings.runs}: ${r.renderSeconds.toFixed(2)} s`);
                }
                const resources = evals[0].resources;
                if (evals.some((e) => e.resources !== resources)) throw new Error(`${platform} ${workers}: resource counts differ between runs (${evals.map((e) => e.resources).join(", ")})`);
                rows.push({
                    platform,
                    controllers: 3,
                    workers,
                    evalSecondsMedian: round(median(evals.map((e) => e.evalSeconds))),
                    peakRssMb: round(Math.max(...evals.map((e) => e.peakRssMb)), 1),
                    resources,
                    resourcesPerWorker: round((resources - baseline[platform].resources) / workers, 3),
                    renderSecondsMedian: round(median(renders.map((r) => r.renderSeconds))),
                    evalSecondsRuns: evals.map((e) => round(e.evalSeconds)),
                    loadSecondsMedian: round(median(evals.map((e) => e.loadSeconds))),
                    components: evals[0].components,
                    renderSecondsRuns: renders.map((r) => round(r.renderSeconds)),
                    renderPeakRssMb: round(Math.max(...renders.map((r) => r.peakRssMb)), 1),
                });
            }
        }

        // What one worker adds, by type (3 + sessionsWorkers against 3 + 0), and OpenStack with sshVia bastion.
        const workerResources: Results["workerResources"] = {};
        const largest = settings.sizes[settings.sizes.length - 1];
        for (const platform of settings.platforms) {
            const n = settings.sessionsWorkers;
            const r = await child<EvalResult>({ kind: "eval", platform, workers: n });
            workerResources[platform === "openstack" ? "openstack (sshVia floating-ip)" : `${platform} (mode matchbox)`] = perWorker(r.byType, baseline[platform].byType, n);
            if (platform === "openstack") {
                const b0 = await child<EvalResult>({ kind: "eval", platform, workers: 0, sshVia: "bastion" });
                const bn = await child<EvalResult>({ kind: "eval", platform, workers: n, sshVia: "bastion" });
                workerResources["openstack (sshVia bastion)"] = perWorker(bn.byType, b0.byType, n);
            }
        }
        for (const [k, v] of Object.entries(workerResources)) log(`per worker, ${k}: ${v.perWorker} (${Object.entries(v.byType).map(([t, c]) => `${t.split(":").pop()} ${c}`).join(", ")})`);

        // SSH sessions: record inputs of two evaluations and diff them.
        const byPlatform: Results["sshSessions"]["byPlatform"] = {};
        for (const platform of settings.platforms) {
            const n = settings.sessionsWorkers;
            const before = await child<EvalResult>({ kind: "eval", platform, workers: n, kubernetesVersion: "v1.36.1", record: true });
            const again = await child<EvalResult>({ kind: "eval", platform, workers: n, kubernetesVersion: "v1.36.1", record: true });
            const upgraded = await child<EvalResult>({ kind: "eval", platform, workers: n, kubernetesVersion: "v1.36.3", record: true });
            const a = attribution(platform, n);
            byPlatform[platform] = {
                first: firstUp(before.recorded!, a),
                noop: nextUp(before.recorded!, again.recorded!, a),
                upgrade: nextUp(before.recorded!, upgraded.recorded!, a),
            };
            const s = byPlatform[platform];
            log(`ssh sessions ${platform} (${n} workers): first ${s.first.perNode.min}-${s.first.perNode.max}/node, no-op ${s.noop.perNode.min}-${s.noop.perNode.max}, upgrade ${s.upgrade.perNode.min}-${s.upgrade.perNode.max}; provisioning host ${s.first.provisioningHost}/${s.noop.provisioningHost}/${s.upgrade.provisioningHost}`);
        }
        const span = (k: "first" | "noop" | "upgrade") => ({
            min: Math.min(...Object.values(byPlatform).map((p) => p[k].perNode.min)),
            max: Math.max(...Object.values(byPlatform).map((p) => p[k].perNode.max)),
        });

        // The local PKI backend (npm run render): real crypto, independent of the worker count.
        const pki = await child<PkiResult>({ kind: "pki", platform: settings.platforms[0] });
        log(`local PKI (${pki.algorithm}, ${pki.certificates} certificates + ${pki.keyPairs} key pairs): ${pki.pkiSeconds.toFixed(2)} s`);

        const profiles: ProfileSummary[] = [];
        if (settings.profile) {
            for (const platform of settings.platforms) {
                const dir = fs.mkdtempSync(path.join(tmpDir, "prof-"));
                const r = await child<EvalResult>({ kind: "eval", platform, workers: largest }, { profileDir: dir });
                const file = fs.readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
                if (!file) throw new Error(`no CPU profile written in ${dir}`);
                const profile = cutProfile(readProfile(path.join(dir, file)), r.windowUs);
                const b = bucketTimes(profile);
                profiles.push({
                    platform,
                    workers: largest,
                    evalSeconds: round(r.evalSeconds),
                    sampledSeconds: round(b.sampledMs / 1000),
                    sourceMapsSeconds: round(b.sourceMapsMs / 1000),
                    byBucket: Object.fromEntries(Object.entries(b.byBucket).map(([k, v]) => [k, round(v / 1000)])) as Record<Bucket, number>,
                    top: topFrames(profile, 12, "selfMs").map((f) => ({ frame: f.frame, selfMs: Math.round(f.selfMs), totalMs: Math.round(f.totalMs) })),
                });
                log(`profile ${platform} ${largest} workers (${r.evalSeconds.toFixed(1)} s with the profiler): ${Object.entries(b.byBucket).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`).join(", ")}`);
            }
        }

        const diagnostics: Results["diagnostics"] = [];
        if (settings.diagnostics) {
            for (const platform of settings.platforms) {
                const r = await child<EvalResult>({ kind: "eval", platform, workers: largest, sourceMaps: false });
                diagnostics.push({ what: "without ts-node's stack-trace source mapping", platform, workers: largest, evalSeconds: round(r.evalSeconds), peakRssMb: round(r.peakRssMb, 1), resources: r.resources });
                log(`diagnostic ${platform} ${largest} workers without source mapping: ${r.evalSeconds.toFixed(2)} s`);
            }
            if (settings.platforms.includes("openstack")) {
                const r = await child<EvalResult>({ kind: "eval", platform: "openstack", workers: largest, sshVia: "bastion" });
                diagnostics.push({ what: "sshVia bastion (no floating IP per node)", platform: "openstack", workers: largest, evalSeconds: round(r.evalSeconds), peakRssMb: round(r.peakRssMb, 1), resources: r.resources });
                log(`diagnostic openstack ${largest} workers with sshVia bastion: ${r.evalSeconds.toFixed(2)} s, ${r.resources} resources`);
            }
        }

        const engine = await realEngine(settings.runs);
        log(engine.available ? `real engine: ${engine.reason}: ${engine.previewSecondsMedian ?? "failed"}` : `real engine: not available (${engine.reason})`);

        machine.loadAverage1mAtEnd = round(os.loadavg()[0], 2);
        machine.benchMinutes = round((performance.now() - started) / 60000, 1);
        const results: Results = {
            generatedAt: new Date().toISOString(),
            command: "npm run bench",
            machine,
            settings,
            rows,
            workerResources,
            sshSessions: { workers: settings.sessionsWorkers, first: span("first"), noop: span("noop"), upgrade: span("upgrade"), byPlatform },
            localPki: { algorithm: pki.algorithm, seconds: round(pki.pkiSeconds), certificates: pki.certificates, keyPairs: pki.keyPairs },
            realEngine: engine,
            profiles,
            diagnostics,
        };
        fs.mkdirSync(outDir, { recursive: true });
        fs.writeFileSync(path.join(outDir, "bench-results.json"), `${JSON.stringify(results, null, 2)}\n`);
        fs.writeFileSync(path.join(outDir, "BENCHMARKS.md"), renderMarkdown(results));
        log(`wrote ${path.join(outDir, "bench-results.json")} and ${path.join(outDir, "BENCHMARKS.md")} (${machine.benchMinutes} min)`);
        return 0;
    } finally {
        fs.rmSync(tmpDir, { recursive: true, force: true });
    }
}

if (require.main === module) {
    main(process.argv.slice(2)).then(
        (code) => process.exit(code),
        (e: unknown) => {
            process.stderr.write(`bench crashed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
            process.exit(1);
        },
    );
}
