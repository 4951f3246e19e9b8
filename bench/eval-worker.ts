/**
 * One benchmark measurement, in a fresh child process (bench/run.ts starts one per run: the Pulumi
 * runtime keeps global state, and peak RSS must be this process's own).
 *
 *   node -r ts-node/register/transpile-only bench/eval-worker.ts '<job JSON>'
 *
 * Jobs:
 *   - eval:   installs the bench mocks, sets the stack config (setAllConfig), loads
 *             stacks/program.ts, then times `runInPulumiStack(program)` — what the Node.js
 *             language host runs — until every registration and output has settled
 *             (`waitForRPCs`). Reports resources (custom, providers included), components, counts
 *             by type, and with `record` the input hashes of every resource (bench/mocks.ts).
 *   - render: parses the same config and times lib/render `renderCluster` over fake material of
 *             the cluster's PKI description (bench/fake-tls.ts `fakeMaterial`).
 *   - pki:    times the local PKI backend (`generateLocalPki`, real keys and certificates) once.
 * The result goes to the file named by `out` (stdout is left to the program's own logging).
 * Peak RSS is `process.resourceUsage().maxRSS` at the end of the job.
 */
import * as fs from "node:fs";
import { performance } from "node:perf_hooks";
import { benchEngineConfig, benchNodes, type BenchPlatform, floatingIpAddress, floatingIpName, type SshVia } from "./configs";

export type Job =
    | { kind: "eval"; platform: BenchPlatform; workers: number; kubernetesVersion?: string; sshVia?: SshVia; record?: boolean; sourceMaps?: boolean; out: string }
    | { kind: "render"; platform: BenchPlatform; workers: number; out: string }
    | { kind: "pki"; platform: BenchPlatform; algorithm?: "RSA" | "ECDSA"; out: string };

export interface EvalResult {
    kind: "eval";
    /** Loading stacks/program.ts and everything it imports (ts-node transpile included). */
    loadSeconds: number;
    evalSeconds: number;
    /** The timed window on the monotonic clock (µs), to cut a --cpu-prof profile to it. */
    windowUs: [number, number];
    peakRssMb: number;
    resources: number;
    components: number;
    byType: Record<string, number>;
    recorded?: import("./mocks").RecordedResource[];
}

export interface RenderResult {
    kind: "render";
    loadSeconds: number;
    configSeconds: number;
    renderSeconds: number;
    peakRssMb: number;
    /** Sizes of what was rendered (sanity: the render really ran). */
    ignitionBytes: number;
    sshFiles: number;
}

export interface PkiResult {
    kind: "pki";
    algorithm: string;
    pkiSeconds: number;
    certificates: number;
    keyPairs: number;
    peakRssMb: number;
}

function peakRssMb(): number {
    return process.resourceUsage().maxRSS / 1024;
}

function seconds(since: number): number {
    return (performance.now() - since) / 1000;
}

async function runEval(job: Extract<Job, { kind: "eval" }>): Promise<EvalResult> {
    const pulumi = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
    const { installBenchMocks, settle } = require("./mocks") as typeof import("./mocks");
    const nodes = benchNodes(job.workers);
    const fipIndex = new Map(nodes.map((n, i) => [floatingIpName(n.name), i]));
    const rec = await installBenchMocks({ record: job.record === true, preview: false, floatingIpAddress: (name) => floatingIpAddress(fipIndex.get(name)) });
    const { all, secretKeys } = benchEngineConfig({ platform: job.platform, workers: job.workers, kubernetesVersion: job.kubernetesVersion, sshVia: job.sshVia });
    pulumi.runtime.setAllConfig(all, secretKeys);

    const loadStart = performance.now();
    const { program } = require("../stacks/program") as typeof import("../stacks/program");
    const loadSeconds = seconds(loadStart);
    // Diagnostic only (bench/run.ts OPKE_BENCH_SOURCE_MAPS=off): drop the stack-trace source mapping
    // ts-node installed, to show what it costs (the Node.js language host registers ts-node with
    // source maps too, so the default keeps it).
    if (job.sourceMaps === false) (Error as { prepareStackTrace?: unknown }).prepareStackTrace = undefined;

    const startUs = Number(process.hrtime.bigint() / 1000n);
    const start = performance.now();
    await pulumi.runtime.runInPulumiStack(program);
    await settle();
    const evalSeconds = seconds(start);
    const endUs = Number(process.hrtime.bigint() / 1000n);
    return {
        kind: "eval",
        loadSeconds,
        evalSeconds,
        windowUs: [startUs, endUs],
        peakRssMb: peakRssMb(),
        resources: rec.custom,
        components: rec.components,
        byType: rec.byType,
        ...(rec.recorded ? { recorded: rec.recorded } : {}),
    };
}

async function runRender(job: Extract<Job, { kind: "render" }>): Promise<RenderResult> {
    const loadStart = performance.now();
    const { loadPulumiConfig } = require("../lib/config") as typeof import("../lib/config");
    const { describePki } = require("../lib/pki") as typeof import("../lib/pki");
    const { renderCluster } = require("../lib/render") as typeof import("../lib/render");
    const { fakeMaterial } = require("./fake-tls") as typeof import("./fake-tls");
    const loadSeconds = seconds(loadStart);

    const configStart = performance.now();
    const cfg = loadPulumiConfig(benchEngineConfig({ platform: job.platform, workers: job.workers }).all);
    const configSeconds = seconds(configStart);
    const material = fakeMaterial(describePki(cfg));

    const start = performance.now();
    const rendered = renderCluster(cfg, material);
    const renderSeconds = seconds(start);
    return {
        kind: "render",
        loadSeconds,
        configSeconds,
        renderSeconds,
        peakRssMb: peakRssMb(),
        ignitionBytes: rendered.nodes.reduce((n, r) => n + r.ignition.length, 0),
        sshFiles: rendered.nodes.reduce((n, r) => n + r.ssh.files.length, 0),
    };
}

async function runPki(job: Extract<Job, { kind: "pki" }>): Promise<PkiResult> {
    const { parseClusterConfig } = require("../lib/config") as typeof import("../lib/config");
    const { benchRawConfig } = require("./configs") as typeof import("./configs");
    const { describePki, generateLocalPki } = require("../lib/pki") as typeof import("../lib/pki");
    const raw = benchRawConfig({ platform: job.platform, workers: 0 });
    if (job.algorithm) raw.pki = { algorithm: job.algorithm };
    const cfg = parseClusterConfig(raw);
    const desc = describePki(cfg);
    const start = performance.now();
    await generateLocalPki(desc);
    return { kind: "pki", algorithm: cfg.pki.algorithm, pkiSeconds: seconds(start), certificates: desc.certificates.length, keyPairs: desc.keyPairs.length, peakRssMb: peakRssMb() };
}

async function main(): Promise<void> {
    const job = JSON.parse(process.argv[2] ?? "null") as Job | null;
    if (!job || typeof job !== "object" || !("kind" in job)) throw new Error("usage: eval-worker.ts '<job JSON>' (see bench/run.ts)");
    let result: EvalResult | RenderResult | PkiResult;
    switch (job.kind) {
        case "eval":
            result = await runEval(job);
            break;
        case "render":
            result = await runRender(job);
            break;
        case "pki":
            result = await runPki(job);
            break;
        default: {
            const never: never = job;
            throw new Error(`unknown job ${JSON.stringify(never)}`);
        }
    }
    fs.writeFileSync(job.out, JSON.stringify(result));
}

main().then(
    () => process.exit(0),
    (e: unknown) => {
        process.stderr.write(`bench worker failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
        process.exit(1);
    },
);
