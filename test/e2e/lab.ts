/**
 * A lean local "lab" for test/e2e/binaries.e2e.ts: one network namespace per host on a per-run
 * Linux bridge, long-running processes inside them, and cleanup that also works after a crash.
 *
 * Design (no sshd, no mount namespace; see test/harness/hosts.ts for SSH hosts):
 *   - names: netns `okb-<id>-<host>`, bridge `okb-<id>-br`, veths `okb-<id>-<i>` (root side; the
 *     namespace side is renamed eth0). The bridge has NO address: nothing is routed in the root
 *     namespace, so runs never collide with each other or with test/harness (even on the same
 *     cidr). Clients (kubectl, etcdctl, curl) run in a client namespace of their own.
 *   - `/etc/netns/<netns>/hosts` is bind-mounted over /etc/hosts by `ip netns exec` (iproute2's
 *     convention); this is how a name such as the API DNS name resolves without DNS.
 *   - every process runs in one PID namespace whose init is `cat` reading a pipe from this
 *     process. If this process dies, even by SIGKILL, the pipe closes, init exits and the kernel
 *     kills every process of the run. Each process also gets its own process group, so stop()
 *     can SIGTERM/SIGKILL it and its children by group.
 *   - a UTS namespace per process gives each one its host's name as hostname (leader-election
 *     identities then say which controller holds a lease).
 *   - run state in /run/opke-e2e-binaries/<id>.json (pid + process start time); `sweepStale()`
 *     removes netns, links, /etc/netns folders, workdirs and state of runs whose process is gone.
 *
 * Needs root, iproute2, util-linux (unshare, nsenter). IPv4 only.
 */
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export const PREFIX = "okb-";
const ID_RE = /^okb-([0-9a-f]{6})-/;
const WORKDIR_RE = /^opke-e2e-binaries-([0-9a-f]{6})$/;
const STATE_DIR = "/run/opke-e2e-binaries";
const NETNS_ETC = "/etc/netns";

export interface ExecResult {
    code: number;
    stdout: Buffer;
    stderr: string;
    /** stdout as text. */
    out: string;
    timedOut: boolean;
}

export interface LabHostSpec {
    name: string;
    ip: string;
}

export interface LabHost extends LabHostSpec {
    netns: string;
}

export interface Daemon {
    label: string;
    host: string;
    logFile: string;
    child: ChildProcess;
    /** Set when the process has exited. */
    exit?: { code: number | null; signal: NodeJS.Signals | null; at: number };
    startedAt: number;
}

// ---------------------------------------------------------------------------------------------------
// Small process helpers

function runSync(cmd: string, args: readonly string[], input?: string): { code: number | null; stdout: string; stderr: string } {
    const r = spawnSync(cmd, args, { input: input ?? "", timeout: 15_000, encoding: "utf8", cwd: "/" });
    return { code: r.status, stdout: r.stdout ?? "", stderr: (r.stderr ?? "") + (r.error ? String(r.error) : "") };
}

function mustSync(cmd: string, args: readonly string[], input?: string): string {
    const r = runSync(cmd, args, input);
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")}: exit ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function procStartTime(pid: number): string | undefined {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
    } catch {
        return undefined;
    }
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
    if (pid === undefined) return;
    try {
        process.kill(-pid, signal);
    } catch {
        /* gone */
    }
    try {
        process.kill(pid, signal);
    } catch {
        /* gone */
    }
}

function exited(child: ChildProcess, ms: number): Promise<boolean> {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
    return new Promise((resolve) => {
        const t = setTimeout(() => resolve(false), ms);
        child.once("exit", () => {
            clearTimeout(t);
            resolve(true);
        });
    });
}

function safeReaddir(dir: string): string[] {
    try {
        return fs.readdirSync(dir);
    } catch {
        return [];
    }
}

function listNetns(): string[] {
    return runSync("ip", ["netns", "list"])
        .stdout.split("\n")
        .map((l) => l.trim().split(" ")[0])
        .filter((n) => n);
}

function listLinks(): string[] {
    return runSync("ip", ["-o", "link", "show"])
        .stdout.split("\n")
        .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
        .filter((n): n is string => n !== undefined);
}

function workdirFor(id: string): string {
    return path.join(os.tmpdir(), `opke-e2e-binaries-${id}`);
}

function isAlive(id: string): boolean {
    try {
        const st = JSON.parse(fs.readFileSync(path.join(STATE_DIR, `${id}.json`), "utf8")) as { pid: number; start: string };
        return procStartTime(st.pid) === st.start;
    } catch {
        return false;
    }
}

/** Removes every resource of run `id` (netns + their processes, links, /etc/netns, workdir, state). */
function removeRun(id: string, keepWorkdir = false): string[] {
    const removed: string[] = [];
    const ours = (n: string): boolean => n.startsWith(`${PREFIX}${id}-`);
    const netns = listNetns().filter(ours);
    for (const ns of netns) {
        for (const p of runSync("ip", ["netns", "pids", ns]).stdout.split("\n").filter((l) => /^\d+$/.test(l.trim()))) {
            try {
                process.kill(Number(p), "SIGKILL");
            } catch {
                /* gone */
            }
        }
    }
    const links = listLinks().filter(ours);
    const batch = [
        ...links.filter((l) => !l.endsWith("-br")).map((l) => `link del ${l}`),
        ...netns.map((n) => `netns del ${n}`),
        ...links.filter((l) => l.endsWith("-br")).map((l) => `link del ${l}`),
    ];
    if (batch.length) {
        runSync("ip", ["-force", "-batch", "-"], batch.join("\n") + "\n");
        removed.push(...links.map((l) => `link ${l}`), ...netns.map((n) => `netns ${n}`));
    }
    for (const d of safeReaddir(NETNS_ETC).filter(ours)) {
        fs.rmSync(path.join(NETNS_ETC, d), { recursive: true, force: true });
        removed.push(`${NETNS_ETC}/${d}`);
    }
    const wd = workdirFor(id);
    if (!keepWorkdir && fs.existsSync(wd)) {
        fs.rmSync(wd, { recursive: true, force: true, maxRetries: 3 });
        removed.push(`workdir ${wd}`);
    }
    fs.rmSync(path.join(STATE_DIR, `${id}.json`), { force: true });
    return removed;
}

/** Removes what runs that are no longer alive left behind. Live runs are never touched. */
export function sweepStale(): string[] {
    const ids = new Set<string>();
    for (const n of [...listNetns(), ...listLinks(), ...safeReaddir(NETNS_ETC)]) {
        const m = ID_RE.exec(n);
        if (m) ids.add(m[1]);
    }
    for (const d of safeReaddir(os.tmpdir())) {
        const m = WORKDIR_RE.exec(d);
        if (m) ids.add(m[1]);
    }
    for (const f of safeReaddir(STATE_DIR)) {
        const m = /^([0-9a-f]{6})\.json$/.exec(f);
        if (m) ids.add(m[1]);
    }
    const removed: string[] = [];
    for (const id of ids) if (!isAlive(id)) removed.push(...removeRun(id));
    return removed;
}

// ---------------------------------------------------------------------------------------------------
// The lab

export interface LabOptions {
    hosts: LabHostSpec[];
    /** The clients' own namespace (kubectl, etcdctl, curl). */
    client: LabHostSpec;
    /** Prefix length of the hosts' network, e.g. 24. */
    prefixLength: number;
    /** /etc/hosts content in every namespace (ip netns exec bind-mounts it over /etc/hosts). */
    etcHosts: string;
    /** PATH for every process (the tools' bin dirs first). */
    path: string;
    /** Called on SIGINT/SIGTERM/SIGHUP after everything is cleaned up, right before the process exits. */
    onInterrupt?: (signal: NodeJS.Signals) => void;
}

export class Lab {
    readonly id: string;
    readonly workdir: string;
    readonly hosts: LabHost[];
    readonly client: LabHost;
    readonly daemons: Daemon[] = [];
    private holder?: ChildProcess;
    private holderPid?: number;
    private readonly execs = new Set<ChildProcess>();
    private cleaned = false;
    private readonly onExit = (): void => {
        this.cleanupSync();
    };
    private readonly onSignal = (signal: NodeJS.Signals): void => {
        process.stderr.write(`# ${signal}: stopping every process of the run and removing its namespaces\n`);
        const left = this.cleanupSync();
        if (left.length) process.stderr.write(`# left after cleanup: ${left.join(", ")}\n`);
        this.opts.onInterrupt?.(signal);
        process.exit(128 + (os.constants.signals[signal] ?? 1));
    };

    private constructor(private readonly opts: LabOptions) {
        this.id = crypto.randomBytes(3).toString("hex");
        this.workdir = workdirFor(this.id);
        const mk = (h: LabHostSpec): LabHost => ({ ...h, netns: `${PREFIX}${this.id}-${h.name}` });
        this.hosts = opts.hosts.map(mk);
        this.client = mk(opts.client);
        for (const h of [...this.hosts, this.client]) {
            if (h.netns.length > 64 || !/^[a-z0-9-]+$/.test(h.name)) throw new Error(`lab host name "${h.name}" must be [a-z0-9-]`);
        }
    }

    static async create(opts: LabOptions): Promise<Lab> {
        const lab = new Lab(opts);
        fs.mkdirSync(STATE_DIR, { recursive: true, mode: 0o700 });
        fs.writeFileSync(path.join(STATE_DIR, `${lab.id}.json`), JSON.stringify({ pid: process.pid, start: procStartTime(process.pid), workdir: lab.workdir }));
        process.on("exit", lab.onExit);
        for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, lab.onSignal);
        fs.mkdirSync(lab.workdir, { recursive: true, mode: 0o700 });
        try {
            lab.setupNetwork();
            await lab.startHolder();
        } catch (e) {
            lab.cleanupSync();
            throw e;
        }
        return lab;
    }

    host(name: string): LabHost {
        const h = name === this.client.name ? this.client : this.hosts.find((x) => x.name === name);
        if (!h) throw new Error(`no lab host ${name}`);
        return h;
    }

    private setupNetwork(): void {
        const br = `${PREFIX}${this.id}-br`;
        const all = [...this.hosts, this.client];
        const root = [`link add ${br} type bridge`, `link set ${br} up`];
        all.forEach((h, i) => {
            const veth = `${PREFIX}${this.id}-${i}`;
            root.push(`netns add ${h.netns}`, `link add ${veth} type veth peer name ${veth}p`, `link set ${veth}p netns ${h.netns}`, `link set ${veth} master ${br} up`);
        });
        mustSync("ip", ["-batch", "-"], root.join("\n") + "\n");
        all.forEach((h, i) => {
            const veth = `${PREFIX}${this.id}-${i}p`;
            mustSync(
                "ip",
                ["-n", h.netns, "-batch", "-"],
                [`link set lo up`, `link set ${veth} name eth0`, `addr add ${h.ip}/${this.opts.prefixLength} dev eth0`, `link set eth0 up`].join("\n") + "\n",
            );
            fs.mkdirSync(path.join(NETNS_ETC, h.netns), { recursive: true });
            fs.writeFileSync(path.join(NETNS_ETC, h.netns, "hosts"), this.opts.etcHosts);
        });
    }

    /** PID-namespace init: `cat` on a pipe from us (see the file comment). */
    private async startHolder(): Promise<void> {
        const holder = spawn("unshare", ["--pid", "--fork", "--kill-child=SIGKILL", "--", "cat"], { stdio: ["pipe", "ignore", "inherit"], cwd: "/" });
        this.holder = holder;
        const deadline = Date.now() + 5000;
        while (Date.now() < deadline) {
            const kids = safeRead(`/proc/${holder.pid}/task/${holder.pid}/children`).trim();
            if (kids) {
                this.holderPid = Number(kids.split(/\s+/)[0]);
                return;
            }
            if (holder.exitCode !== null) break;
            await sleep(20);
        }
        throw new Error("the PID-namespace holder (unshare --pid --fork cat) did not start within 5 s");
    }

    private argvIn(host: LabHost, argv: readonly string[]): string[] {
        if (this.holderPid === undefined) throw new Error("lab is not running");
        return [
            "--target", String(this.holderPid), "--pid", "--",
            "ip", "netns", "exec", host.netns,
            // Own hostname; /proc of the run's PID namespace (processes find themselves in /proc).
            "unshare", "--uts", "--mount-proc", "--",
            "sh", "-c", 'hostname "$0" && exec "$@"', host.name, ...argv,
        ];
    }

    /** Starts a long-running process in `host`'s namespaces; output goes to <workdir>/logs/<label>.log. */
    start(hostName: string, label: string, argv: readonly string[], env: Record<string, string>): Daemon {
        const host = this.host(hostName);
        const logDir = path.join(this.workdir, "logs");
        fs.mkdirSync(logDir, { recursive: true });
        const logFile = path.join(logDir, `${label}.log`);
        const fd = fs.openSync(logFile, "a");
        const child = spawn("nsenter", this.argvIn(host, argv), {
            stdio: ["ignore", fd, fd],
            detached: true, // own process group
            env: { PATH: this.opts.path, ...env },
            cwd: "/",
        });
        fs.closeSync(fd);
        const d: Daemon = { label, host: hostName, logFile, child, startedAt: Date.now() };
        child.on("exit", (code, signal) => (d.exit = { code, signal, at: Date.now() }));
        child.on("error", (e) => (d.exit = { code: -1, signal: null, at: Date.now() }) && fs.appendFileSync(logFile, `spawn error: ${e.message}\n`));
        this.daemons.push(d);
        return d;
    }

    /** Runs a short command in `host`'s namespaces; bounded (SIGKILL of its group on timeout). Never rejects. */
    exec(hostName: string, argv: readonly string[], o: { env?: Record<string, string>; input?: string | Buffer; timeoutMs?: number } = {}): Promise<ExecResult> {
        const host = this.host(hostName);
        const timeoutMs = o.timeoutMs ?? 30_000;
        return new Promise((resolve) => {
            const child = spawn("nsenter", this.argvIn(host, argv), {
                stdio: ["pipe", "pipe", "pipe"],
                detached: true,
                env: { PATH: this.opts.path, HOME: path.join(this.workdir, "home"), ...o.env },
                cwd: "/",
            });
            this.execs.add(child);
            const out: Buffer[] = [];
            const err: Buffer[] = [];
            let timedOut = false;
            const timer = setTimeout(() => {
                timedOut = true;
                killGroup(child.pid, "SIGKILL");
            }, timeoutMs);
            child.stdout.on("data", (d: Buffer) => out.push(d));
            child.stderr.on("data", (d: Buffer) => err.push(d));
            child.stdin.on("error", () => undefined);
            child.on("error", (e) => err.push(Buffer.from(`cannot run: ${e.message}`)));
            child.on("close", (code) => {
                clearTimeout(timer);
                this.execs.delete(child);
                const stdout = Buffer.concat(out);
                const stderr = Buffer.concat(err).toString("utf8") + (timedOut ? `\n(timed out after ${timeoutMs} ms)` : "");
                resolve({ code: timedOut ? 124 : code ?? 128, stdout, stderr, out: stdout.toString("utf8"), timedOut });
            });
            child.stdin.end(o.input ?? "");
        });
    }

    /** SIGTERM to each daemon's group (last started first), SIGKILL after `graceMs`. */
    async stopAll(graceMs = 10_000): Promise<void> {
        for (const d of [...this.daemons].reverse()) {
            if (d.exit) continue;
            killGroup(d.child.pid, "SIGTERM");
        }
        await Promise.all(
            this.daemons.map(async (d) => {
                if (!(await exited(d.child, graceMs))) {
                    killGroup(d.child.pid, "SIGKILL");
                    await exited(d.child, 5000);
                }
            }),
        );
    }

    /**
     * Stops everything and removes the run's namespaces, bridge, /etc/netns folders and (unless
     * keepWorkdir) its workdir. Returns what is left over (should be empty).
     */
    async cleanup(o: { keepWorkdir?: boolean } = {}): Promise<string[]> {
        await this.stopAll();
        return this.cleanupSync(o);
    }

    cleanupSync(o: { keepWorkdir?: boolean } = {}): string[] {
        if (this.cleaned) return [];
        this.cleaned = true;
        for (const d of this.daemons) if (!d.exit) killGroup(d.child.pid, "SIGKILL");
        for (const c of this.execs) killGroup(c.pid, "SIGKILL");
        // The holder's end: the kernel kills whatever is left in the PID namespace.
        if (this.holderPid !== undefined) {
            try {
                process.kill(this.holderPid, "SIGKILL");
            } catch {
                /* gone */
            }
        }
        this.holder?.stdin?.destroy();
        killGroup(this.holder?.pid, "SIGKILL");
        removeRun(this.id, o.keepWorkdir);
        process.removeListener("exit", this.onExit);
        for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.removeListener(s, this.onSignal);
        const left: string[] = [];
        const ours = (n: string): boolean => n.startsWith(`${PREFIX}${this.id}-`);
        left.push(...listNetns().filter(ours).map((n) => `netns ${n}`), ...listLinks().filter(ours).map((l) => `link ${l}`));
        left.push(...safeReaddir(NETNS_ETC).filter(ours).map((d) => `${NETNS_ETC}/${d}`));
        if (!o.keepWorkdir && fs.existsSync(this.workdir)) left.push(`workdir ${this.workdir}`);
        return left;
    }
}

function safeRead(p: string): string {
    try {
        return fs.readFileSync(p, "utf8");
    } catch {
        return "";
    }
}
