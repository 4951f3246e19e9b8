/**
 * The top frames of a V8 CPU profile (`node --cpu-prof`), by self time and by total (inclusive)
 * time, with paths shortened to the repository. Used by bench/run.ts (OPKE_BENCH_PROFILE) and by
 * hand:
 *
 *   node -r ts-node/register/transpile-only bench/profile-top.ts <file.cpuprofile> [N]
 */
import * as fs from "node:fs";
import * as path from "node:path";

interface CallFrame {
    functionName: string;
    url: string;
    lineNumber: number;
}
interface ProfileNode {
    id: number;
    callFrame: CallFrame;
    children?: number[];
}
export interface CpuProfile {
    nodes: ProfileNode[];
    startTime: number;
    endTime: number;
    samples: number[];
    timeDeltas: number[];
}

/**
 * The profile cut to a window of the monotonic clock in µs (V8 profile timestamps and
 * `process.hrtime` both read CLOCK_MONOTONIC on Linux): samples outside get no time.
 */
export function cutProfile(profile: CpuProfile, windowUs: [number, number] | undefined): CpuProfile {
    if (!windowUs) return profile;
    const samples: number[] = [];
    const timeDeltas: number[] = [];
    let t = profile.startTime;
    let last = windowUs[0];
    for (let i = 0; i < profile.samples.length; i++) {
        t += profile.timeDeltas[i] ?? 0;
        if (t < windowUs[0] || t > windowUs[1]) continue;
        samples.push(profile.samples[i]);
        timeDeltas.push(t - last);
        last = t;
    }
    return { ...profile, samples, timeDeltas, startTime: windowUs[0], endTime: windowUs[1] };
}

/** Where a sample's time goes, by the innermost frame that names an owner. */
export const BUCKETS = {
    promiseBookkeeping: "Pulumi SDK debuggablePromise (a captured stack trace per promise, e.g. per output property of every resource)",
    sdk: "Pulumi SDK and provider SDKs, other (registration, serialization, outputs)",
    opke: "opke code (lib/, modules/, stacks/: rendering, payloads, hashes, config)",
    mocks: "bench mocks (bench/)",
    gc: "garbage collector",
    other: "other (Node internals, libraries)",
} as const;
export type Bucket = keyof typeof BUCKETS;

function bucketOf(f: CallFrame): Bucket | undefined {
    const url = f.url;
    if (f.functionName === "(garbage collector)") return "gc";
    if (f.functionName === "debuggablePromise" && url.includes("@pulumi/pulumi/")) return "promiseBookkeeping";
    if (url.includes("/node_modules/@pulumi/")) return "sdk";
    if (url.includes("/node_modules/")) return undefined;
    const rel = url.replace(/^file:\/\//, "");
    if (rel.startsWith(ROOT + "/bench/")) return "mocks";
    if (rel.startsWith(ROOT + "/lib/") || rel.startsWith(ROOT + "/modules/") || rel.startsWith(ROOT + "/stacks/")) return "opke";
    return undefined;
}

export interface BucketTimes {
    sampledMs: number;
    byBucket: Record<Bucket, number>;
    /** Samples with a ts-node source-map-support frame on the stack (stack-trace source mapping). */
    sourceMapsMs: number;
}

/**
 * Time per owner: each sample goes to the innermost frame on its stack that has an owner
 * (debuggablePromise before the rest of the SDK, so its stack capture counts there), else "other".
 */
export function bucketTimes(profile: CpuProfile): BucketTimes {
    const byId = new Map(profile.nodes.map((x) => [x.id, x]));
    const parent = new Map<number, number>();
    for (const x of profile.nodes) for (const c of x.children ?? []) parent.set(c, x.id);
    const byBucket = Object.fromEntries(Object.keys(BUCKETS).map((k) => [k, 0])) as Record<Bucket, number>;
    let sampledMs = 0;
    let sourceMapsMs = 0;
    for (let i = 0; i < profile.samples.length; i++) {
        const ms = (profile.timeDeltas[i] ?? 0) / 1000;
        const leaf = byId.get(profile.samples[i]);
        if (!leaf || /^\((idle|program|root)\)$/.test(leaf.callFrame.functionName)) continue;
        sampledMs += ms;
        let innermost: Bucket | undefined;
        let inPromise = false;
        let mapped = false;
        for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
            const f = byId.get(id)!.callFrame;
            if (f.url.includes("source-map-support")) mapped = true;
            const b = bucketOf(f);
            if (b === "promiseBookkeeping") inPromise = true;
            if (innermost === undefined) innermost = b;
        }
        // debuggablePromise runs no user code: a sample under it is its stack capture.
        const bucket: Bucket = inPromise ? "promiseBookkeeping" : (innermost ?? "other");
        byBucket[bucket] += ms;
        if (mapped) sourceMapsMs += ms;
    }
    return { sampledMs, byBucket, sourceMapsMs };
}

export interface FrameTime {
    frame: string;
    selfMs: number;
    totalMs: number;
}

const ROOT = path.resolve(__dirname, "..");

function label(f: CallFrame): string {
    let url = f.url.replace(/^file:\/\//, "");
    if (url.startsWith(ROOT + "/")) url = url.slice(ROOT.length + 1);
    const at = url ? ` ${url}:${f.lineNumber + 1}` : "";
    return `${f.functionName || "(anonymous)"}${at}`;
}

/** Self and inclusive milliseconds per frame (function + location), biggest first by `sortBy`. */
export function topFrames(profile: CpuProfile, n: number, sortBy: "selfMs" | "totalMs" = "selfMs"): FrameTime[] {
    const byId = new Map(profile.nodes.map((x) => [x.id, x]));
    const parent = new Map<number, number>();
    for (const x of profile.nodes) for (const c of x.children ?? []) parent.set(c, x.id);
    const self = new Map<string, number>();
    const total = new Map<string, number>();
    for (let i = 0; i < profile.samples.length; i++) {
        const ms = (profile.timeDeltas[i] ?? 0) / 1000;
        let id: number | undefined = profile.samples[i];
        const leaf = byId.get(id);
        if (!leaf) continue;
        const leafLabel = label(leaf.callFrame);
        self.set(leafLabel, (self.get(leafLabel) ?? 0) + ms);
        const seen = new Set<string>();
        while (id !== undefined) {
            const node = byId.get(id);
            if (!node) break;
            const l = label(node.callFrame);
            if (!seen.has(l)) {
                seen.add(l);
                total.set(l, (total.get(l) ?? 0) + ms);
            }
            id = parent.get(id);
        }
    }
    return [...total.keys()]
        .map((frame) => ({ frame, selfMs: self.get(frame) ?? 0, totalMs: total.get(frame) ?? 0 }))
        .filter((f) => !/^\((root|program|idle)\)/.test(f.frame))
        .sort((a, b) => b[sortBy] - a[sortBy])
        .slice(0, n);
}

/** Total sampled milliseconds, and the share spent in the garbage collector. */
export function profileTotals(profile: CpuProfile): { sampledMs: number; gcMs: number; idleMs: number } {
    const byId = new Map(profile.nodes.map((x) => [x.id, x]));
    let sampledMs = 0;
    let gcMs = 0;
    let idleMs = 0;
    for (let i = 0; i < profile.samples.length; i++) {
        const ms = (profile.timeDeltas[i] ?? 0) / 1000;
        sampledMs += ms;
        const name = byId.get(profile.samples[i])?.callFrame.functionName;
        if (name === "(garbage collector)") gcMs += ms;
        if (name === "(idle)") idleMs += ms;
    }
    return { sampledMs, gcMs, idleMs };
}

export function readProfile(file: string): CpuProfile {
    return JSON.parse(fs.readFileSync(file, "utf8")) as CpuProfile;
}

if (require.main === module) {
    process.stdout.on("error", () => process.exit(0)); // `| head`
    const file = process.argv[2];
    if (!file) {
        process.stderr.write("usage: profile-top.ts <file.cpuprofile> [N]\n");
        process.exit(2);
    }
    const n = Number(process.argv[3] ?? 25);
    const profile = readProfile(file);
    const b = bucketTimes(profile);
    process.stdout.write(`by owner (${(b.sampledMs / 1000).toFixed(2)} s sampled, ${(b.sourceMapsMs / 1000).toFixed(2)} s with source-map-support on the stack):\n`);
    for (const [k, ms] of Object.entries(b.byBucket)) process.stdout.write(`${(ms / 1000).toFixed(2).padStart(8)} s  ${BUCKETS[k as Bucket]}\n`);
    const t = profileTotals(profile);
    process.stdout.write(`sampled ${(t.sampledMs / 1000).toFixed(2)} s, GC ${(t.gcMs / 1000).toFixed(2)} s, idle ${(t.idleMs / 1000).toFixed(2)} s\n`);
    for (const sortBy of ["selfMs", "totalMs"] as const) {
        process.stdout.write(`\nby ${sortBy === "selfMs" ? "self" : "total"} time:\n`);
        for (const f of topFrames(profile, n, sortBy)) process.stdout.write(`${f.selfMs.toFixed(0).padStart(8)} ms self ${f.totalMs.toFixed(0).padStart(8)} ms total  ${f.frame}\n`);
    }
}
