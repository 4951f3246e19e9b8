/**
 * Local SSH "hosts" for the real SSH tests and the real-engine e2e test.
 *
 * Each host is a network namespace (veth on a per-run Linux bridge, its own IP) plus a mount, UTS and
 * PID namespace in which Debian's sshd runs. /etc, /opt, /var/lib, /home and /tmp are per-host
 * directories under the run's workdir (bind mounts; /etc starts as a copy of the machine's /etc with a
 * login user added), /run is a per-host tmpfs, and /usr/bin/systemctl is test/harness/systemctl-stub.sh,
 * which records its arguments in /var/lib/opke-test/systemctl.log. Everything a session started by sshd
 * does happens in that per-host view.
 *
 * The PID namespace's init is a `cat` reading a pipe from this process: when this process dies (even by
 * SIGKILL) the pipe closes, init exits and the kernel kills sshd and every session of every host. The
 * network leftovers of a killed run (netns, bridge, workdir) are removed by `cleanupStale()`, which
 * `createTestHosts()` calls first. Runs that are alive (by pid and process start time, recorded in
 * /run/opke-test-hosts/<id>.json) are never touched, so parallel jest workers do not disturb each other;
 * a run whose cidr overlaps a live run's waits (bounded) for it.
 *
 * Needs root and: iproute2 (ip), util-linux (unshare, nsenter), openssh-server, openssh-client, sudo,
 * systemd (only for /usr/bin/systemctl to exist as a bind-mount target), coreutils, hostname.
 * Traffic only goes to the run's own namespaces: the hosts get no default route.
 */
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

export interface SshResult {
    code: number;
    stdout: string;
    stderr: string;
}

export interface FileStat {
    /** Permission bits including setuid/setgid/sticky (`mode & 0o7777`), comparable with NodeFile.mode. */
    mode: number;
    uid: number;
    gid: number;
    /** Names resolved with the host's own /etc/passwd and /etc/group ("UNKNOWN" when not resolvable). */
    owner: string;
    group: string;
    type: "file" | "directory" | "symlink" | "other";
    size: number;
}

export interface TestHost {
    name: string;
    ip: string;
    /** Name of the host's network namespace (`ip netns exec <netns> …`). */
    netns: string;
    /** "ssh-ed25519 AAAA…" (no comment), e.g. for pinning. */
    hostKeyPublic: string;
    /**
     * Runs `command` as the login user through the real OpenSSH client (StrictHostKeyChecking=yes
     * against the pinned known_hosts). The command is a shell string, run by the login shell (`bash -c`)
     * exactly like a @pulumi/command remote.Command. Resolves with the exit code (255: ssh itself failed);
     * rejects only when ssh cannot be started or the timeout (default 30 s) expires.
     */
    ssh(command: string, opts?: { stdin?: string | Buffer; timeoutMs?: number }): Promise<SshResult>;
    /** Reads a file inside the host's mount namespace (nsenter, not ssh); works while sshd is stopped. */
    readFile(path: string): Promise<Buffer>;
    /** stat(2) (follows symlinks) inside the host's mount namespace. */
    stat(path: string): Promise<FileStat>;
    /** True when the path exists (a dangling symlink counts) inside the host's mount namespace. */
    exists(path: string): Promise<boolean>;
    /** Lines recorded by the systemctl stand-in, oldest first, e.g. "daemon-reload", "restart kubelet.service". */
    systemctlLog(): Promise<string[]>;
    /**
     * Kills sshd AND every process of the host's sessions (SIGTERM, SIGKILL after 2 s): a push in
     * flight is cut like on a host that went away. Files written so far stay (/run too).
     */
    stopSshd(): Promise<void>;
    /** Starts sshd again (same host key) and waits until `ssh true` works. */
    startSshd(): Promise<void>;
    /** sshd's pid (as seen from the test process), undefined while stopped. */
    readonly pid: number | undefined;
    /** Path of sshd's log (sshd -e) in the workdir, for debugging. */
    sshdLogPath: string;
}

export interface TestHosts {
    /** Run id (6 hex digits); every netns/link of the run is named `okt-<id>-…`. */
    id: string;
    hosts: TestHost[];
    user: string;
    /** OpenSSH-format ("-----BEGIN OPENSSH PRIVATE KEY-----") ed25519 private key of the client. */
    privateKeyPem: string;
    privateKeyPath: string;
    /** `<ip> ssh-ed25519 AAAA…` for every host. */
    knownHostsPath: string;
    /** Address of the bridge in the root namespace (the test process' source address). */
    bridgeIp: string;
    bridge: string;
    workdir: string;
    /** Kills everything, deletes netns, veths, bridge and workdir. Idempotent; throws if something remains. */
    cleanup(): Promise<void>;
}

export interface CreateTestHostsOptions {
    hosts: { name: string; ip: string }[];
    /** IPv4 network of the hosts, e.g. "10.0.0.0/24" (prefix 8–30). */
    cidr: string;
    /** Login user, default "core" (uid/gid 500 like on Flatcar when free). */
    user?: string;
    /** How long to wait for a live run with an overlapping cidr to finish. Default 300 s. */
    waitForCidrMs?: number;
}

const PREFIX = "okt-";
const ID_RE = /^okt-([0-9a-f]{6})-/;
const WORKDIR_RE = /^opke-test-hosts-([0-9a-f]{6})$/;
const STATE_DIR = "/run/opke-test-hosts";
const LOCK_DIR = path.join(STATE_DIR, "lock");
const STUB_SOURCE = path.join(__dirname, "systemctl-stub.sh");
const SYSTEMCTL_LOG = "/var/lib/opke-test/systemctl.log";
const SSHD = "/usr/sbin/sshd";

// ---------------------------------------------------------------------------------------------------
// Process helpers (explicit argv, bounded time, errors carry the command and its stderr)

export class HarnessError extends Error {}

interface RunResult {
    code: number;
    stdout: Buffer;
    stderr: string;
}

function describeCmd(cmd: string, args: readonly string[]): string {
    return [cmd, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(" ");
}

function run(
    cmd: string,
    args: readonly string[],
    opts: { input?: string | Buffer; timeoutMs?: number; allowFail?: boolean; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
    const timeoutMs = opts.timeoutMs ?? 20_000;
    return new Promise((resolve, reject) => {
        const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"], cwd: opts.cwd ?? "/", env: opts.env ?? process.env });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        let timedOut = false;
        const timer = setTimeout(() => {
            timedOut = true;
            child.kill("SIGKILL");
        }, timeoutMs);
        child.stdout.on("data", (d: Buffer) => out.push(d));
        child.stderr.on("data", (d: Buffer) => err.push(d));
        child.stdin.on("error", () => undefined); // EPIPE when the command does not read its stdin
        child.on("error", (e) => {
            clearTimeout(timer);
            reject(new HarnessError(`${describeCmd(cmd, args)}: cannot run: ${e.message}`));
        });
        child.on("close", (code, signal) => {
            clearTimeout(timer);
            const stderr = Buffer.concat(err).toString("utf8");
            const stdout = Buffer.concat(out);
            if (timedOut) {
                reject(new HarnessError(`${describeCmd(cmd, args)}: timed out after ${timeoutMs} ms; stderr: ${stderr.trim()}`));
            } else if (code === null) {
                reject(new HarnessError(`${describeCmd(cmd, args)}: killed by ${signal}; stderr: ${stderr.trim()}`));
            } else if (code !== 0 && !opts.allowFail) {
                reject(new HarnessError(`${describeCmd(cmd, args)}: exit ${code}; stderr: ${stderr.trim()}`));
            } else {
                resolve({ code, stdout, stderr });
            }
        });
        child.stdin.end(opts.input ?? "");
    });
}

/** Synchronous variant for the exit/signal handlers and cleanup; never throws. */
function runSync(cmd: string, args: readonly string[], input?: string): { code: number | null; stdout: string; stderr: string } {
    const r = spawnSync(cmd, args, { input: input ?? "", timeout: 10_000, encoding: "utf8", cwd: "/" });
    return { code: r.status, stdout: r.stdout ?? "", stderr: (r.stderr ?? "") + (r.error ? String(r.error) : "") };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Start time (clock ticks since boot) of a process, undefined when it does not exist. */
function procStartTime(pid: number): string | undefined {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        return fields[19]; // field 22 (starttime); fields[0] is field 3
    } catch {
        return undefined;
    }
}

function procPpid(pid: number): number | undefined {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    } catch {
        return undefined;
    }
}

function isZombie(pid: number): boolean {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
    } catch {
        return true; // gone
    }
}

/** Replaces a symlink in a host's /etc copy by a regular copy of its target (mode and owner kept). */
function ownCopy(p: string): void {
    if (!fs.lstatSync(p).isSymbolicLink()) return;
    const st = fs.statSync(p);
    const content = fs.readFileSync(p);
    fs.rmSync(p);
    fs.writeFileSync(p, content, { mode: st.mode & 0o7777 });
    fs.chownSync(p, st.uid, st.gid);
}

function allPids(): number[] {
    return fs
        .readdirSync("/proc")
        .filter((d) => /^\d+$/.test(d))
        .map(Number);
}

function childrenOf(pid: number): number[] {
    return allPids().filter((p) => procPpid(p) === pid);
}

function nsLink(pid: number, ns: string): string | undefined {
    try {
        return fs.readlinkSync(`/proc/${pid}/ns/${ns}`);
    } catch {
        return undefined;
    }
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
    try {
        process.kill(pid, signal);
    } catch {
        /* already gone */
    }
}

function exited(child: ChildProcess, timeoutMs: number): Promise<boolean> {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
    return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        child.once("exit", () => {
            clearTimeout(timer);
            resolve(true);
        });
    });
}

function tail(file: string, lines = 15): string {
    try {
        return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
        return "(no log)";
    }
}

// ---------------------------------------------------------------------------------------------------
// IPv4

function parseIpv4(s: string, what: string): number {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
    if (!m || m.slice(1).some((o) => Number(o) > 255)) {
        throw new HarnessError(`${what}: "${s}" is not an IPv4 address (IPv6 is not supported by the test hosts)`);
    }
    return m.slice(1).reduce((acc, o) => acc * 256 + Number(o), 0);
}

function formatIpv4(n: number): string {
    return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
}

interface Net4 {
    base: number;
    prefix: number;
    size: number;
}

function parseCidr(s: string, what: string): Net4 {
    const m = /^([^/]+)\/(\d{1,2})$/.exec(s);
    if (!m) throw new HarnessError(`${what}: "${s}" is not an IPv4 CIDR like 10.0.0.0/24`);
    const prefix = Number(m[2]);
    const addr = parseIpv4(m[1], what);
    const size = 2 ** (32 - prefix);
    return { base: addr - (addr % size), prefix, size };
}

function overlaps(a: Net4, b: Net4): boolean {
    return a.base < b.base + b.size && b.base < a.base + a.size;
}

// ---------------------------------------------------------------------------------------------------
// Run state, lock, stale cleanup

interface RunState {
    id: string;
    pid: number;
    start: string;
    cidr: string;
    workdir: string;
}

function statePath(id: string): string {
    return path.join(STATE_DIR, `${id}.json`);
}

function readState(id: string): RunState | undefined {
    try {
        return JSON.parse(fs.readFileSync(statePath(id), "utf8")) as RunState;
    } catch {
        return undefined;
    }
}

function isAlive(st: { pid: number; start: string } | undefined): boolean {
    return st !== undefined && procStartTime(st.pid) === st.start;
}

function workdirFor(id: string): string {
    return path.join(os.tmpdir(), `opke-test-hosts-${id}`);
}

async function acquireLock(timeoutMs: number): Promise<() => void> {
    fs.mkdirSync(STATE_DIR, { recursive: true, mode: 0o700 });
    const me = `${process.pid} ${procStartTime(process.pid)}`;
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 0; ; attempt++) {
        try {
            fs.mkdirSync(LOCK_DIR);
            fs.writeFileSync(path.join(LOCK_DIR, "owner"), me);
            return () => {
                try {
                    if (fs.readFileSync(path.join(LOCK_DIR, "owner"), "utf8") === me) fs.rmSync(LOCK_DIR, { recursive: true, force: true });
                } catch {
                    /* gone */
                }
            };
        } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        }
        let owner = "";
        try {
            owner = fs.readFileSync(path.join(LOCK_DIR, "owner"), "utf8");
        } catch {
            /* being created, or a run died between mkdir and write */
        }
        const [pid, start] = owner.split(" ");
        let stale = false;
        if (owner) {
            stale = !isAlive({ pid: Number(pid), start: start ?? "" });
        } else {
            try {
                stale = Date.now() - fs.statSync(LOCK_DIR).mtimeMs > 10_000;
            } catch {
                /* released meanwhile */
            }
        }
        if (stale) {
            fs.rmSync(LOCK_DIR, { recursive: true, force: true });
            continue;
        }
        if (Date.now() > deadline) {
            throw new HarnessError(`could not take ${LOCK_DIR} within ${timeoutMs} ms (held by "${owner}")`);
        }
        await sleep(Math.min(50 + attempt * 10, 250));
    }
}

function listNetns(): string[] {
    const r = runSync("ip", ["netns", "list"]);
    return r.stdout
        .split("\n")
        .map((l) => l.trim().split(" ")[0])
        .filter((n) => n);
}

function listLinks(): string[] {
    const r = runSync("ip", ["-o", "link", "show"]);
    // "12: okt-ab12cd-0@if2: <…" — the name ends at "@" or ":"
    return r.stdout
        .split("\n")
        .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
        .filter((n): n is string => n !== undefined);
}

/** Removes everything of run `id` that exists; returns what it removed. Never throws. */
function removeRunResources(id: string, links: string[], netns: string[]): string[] {
    const removed: string[] = [];
    const ours = (n: string) => n.startsWith(`${PREFIX}${id}-`);
    const myNetns = netns.filter(ours);
    for (const ns of myNetns) {
        for (const p of runSync("ip", ["netns", "pids", ns]).stdout.split("\n").filter((l) => /^\d+$/.test(l.trim()))) {
            killQuietly(Number(p), "SIGKILL");
        }
    }
    const myLinks = links.filter(ours);
    const batch = [...myLinks.filter((l) => !l.endsWith("-br")).map((l) => `link del ${l}`), ...myNetns.map((n) => `netns del ${n}`), ...myLinks.filter((l) => l.endsWith("-br")).map((l) => `link del ${l}`)];
    if (batch.length) {
        runSync("ip", ["-force", "-batch", "-"], batch.join("\n") + "\n");
        removed.push(...myLinks.map((l) => `link ${l}`), ...myNetns.map((n) => `netns ${n}`));
    }
    const wd = workdirFor(id);
    try {
        if (fs.existsSync(wd)) {
            fs.rmSync(wd, { recursive: true, force: true, maxRetries: 3 });
            removed.push(`workdir ${wd}`);
        }
        fs.rmSync(statePath(id), { force: true });
    } catch {
        /* reported by the caller's check of what is left */
    }
    return removed;
}

function sweepStale(): string[] {
    const netns = listNetns();
    const links = listLinks();
    const ids = new Set<string>();
    for (const n of [...netns, ...links]) {
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
    for (const id of ids) {
        if (isAlive(readState(id))) continue;
        removed.push(...removeRunResources(id, links, netns));
    }
    return removed;
}

function safeReaddir(dir: string): string[] {
    try {
        return fs.readdirSync(dir);
    } catch {
        return [];
    }
}

/**
 * Removes what earlier, killed runs left behind (netns, links named `okt-<id>-…`, workdirs, state files)
 * when the run's process is gone. Live runs (also other processes') are left alone.
 * Returns a description of what was removed.
 */
export async function cleanupStale(): Promise<string[]> {
    const release = await acquireLock(60_000);
    try {
        return sweepStale();
    } finally {
        release();
    }
}

// ---------------------------------------------------------------------------------------------------
// Exit / signal handlers

const activeRuns = new Set<Run>();
let handlersInstalled = false;

/**
 * The real `process`: jest gives every test file a copy whose "exit"/signal listeners never fire.
 * Functions of core modules come from the outer realm, so their Function constructor evaluates
 * `process` in the outer (real) global scope.
 */
function realProcess(): NodeJS.Process {
    try {
        const OuterFunction = (fs.readFileSync as unknown as { constructor: FunctionConstructor }).constructor;
        const p = OuterFunction("return typeof process === 'object' ? process : undefined")() as NodeJS.Process | undefined;
        if (p && typeof p.on === "function" && p.pid === process.pid) return p;
    } catch {
        /* fall back to the visible process */
    }
    return process;
}

const proc = realProcess();

function onExit(): void {
    for (const r of [...activeRuns]) r.cleanupSync();
}

function onSignal(signal: NodeJS.Signals): void {
    onExit();
    uninstallHandlers();
    // Default action (terminate with the signal) unless someone else handles it.
    if (proc.listenerCount(signal) === 0) proc.kill(proc.pid, signal);
}

function installHandlers(): void {
    if (handlersInstalled) return;
    handlersInstalled = true;
    proc.on("exit", onExit);
    proc.on("SIGINT", onSignal);
    proc.on("SIGTERM", onSignal);
    proc.on("SIGHUP", onSignal);
}

function uninstallHandlers(): void {
    if (!handlersInstalled) return;
    handlersInstalled = false;
    proc.removeListener("exit", onExit);
    proc.removeListener("SIGINT", onSignal);
    proc.removeListener("SIGTERM", onSignal);
    proc.removeListener("SIGHUP", onSignal);
}

// ---------------------------------------------------------------------------------------------------
// Hosts

/**
 * Runs in the new mount/UTS/PID namespace as PID 1 (inside the host's netns), before sshd:
 * $1 host dir, $2 systemctl stub, $3 hostname. Prints "ready", then waits for EOF on stdin (the pipe
 * from the test process) in `wait`, which also reaps orphaned processes of the host's sessions (it is
 * PID 1). When it exits, the kernel kills every process of the host.
 */
const HOLDER_SCRIPT = `set -e
r=$1
mount --bind "$r/etc" /etc
mount --bind "$r/opt" /opt
mount --bind "$r/var-lib" /var/lib
mount --bind "$r/home" /home
mount -t tmpfs -o mode=0755,nosuid,nodev opke-run /run
mkdir -m 0755 /run/sshd
mount --bind "$2" /usr/bin/systemctl
if [ -e /bin/systemctl ] && ! [ /bin/systemctl -ef /usr/bin/systemctl ]; then mount --bind "$2" /bin/systemctl; fi
mount --bind "$r/tmp" /tmp
hostname "$3"
echo ready
exec 3<&0 </dev/null
cat <&3 >/dev/null 3<&- &
wait $!
`;

class Host implements TestHost {
    netns: string;
    hostKeyPublic = "";
    sshdLogPath: string;
    private holder: ChildProcess | undefined;
    /** PID 1 of the host's PID namespace (host view); its mount namespace is the host's. */
    private initPid: number | undefined;
    private initStart: string | undefined;
    private pidNs: string | undefined;
    private watchdogPid: number | undefined;
    private sshd: ChildProcess | undefined; // the nsenter process; sshd is its child
    private sshdPid: number | undefined;

    constructor(
        private readonly run: Run,
        readonly name: string,
        readonly ip: string,
        readonly index: number,
    ) {
        this.netns = `${PREFIX}${run.id}-${name}`;
        this.sshdLogPath = path.join(this.dir, "sshd.log");
    }

    get dir(): string {
        return path.join(this.run.workdir, "hosts", this.name);
    }

    get veth(): string {
        return `${PREFIX}${this.run.id}-${this.index}`;
    }

    get pid(): number | undefined {
        return this.sshdPid;
    }

    /** Builds the host's /etc copy, user, keys, sshd config and empty /opt, /var/lib, /home, /tmp. */
    async prepare(): Promise<void> {
        const d = this.dir;
        fs.mkdirSync(d, { recursive: true, mode: 0o755 });
        await run("cp", ["-a", "--", "/etc", path.join(d, "etc")], { timeoutMs: 60_000 });
        const etc = path.join(d, "etc");
        for (const f of safeReaddir(path.join(etc, "ssh"))) {
            if (f.startsWith("ssh_host_")) fs.rmSync(path.join(etc, "ssh", f), { force: true });
        }
        await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `root@${this.name}`, "-f", path.join(etc, "ssh", "ssh_host_ed25519_key")]);
        const pub = fs.readFileSync(path.join(etc, "ssh", "ssh_host_ed25519_key.pub"), "utf8").trim().split(/\s+/);
        this.hostKeyPublic = `${pub[0]} ${pub[1]}`;

        // login user
        const user = this.run.user;
        const passwd = fs.readFileSync(path.join(etc, "passwd"), "utf8");
        const group = fs.readFileSync(path.join(etc, "group"), "utf8");
        if (passwd.split("\n").some((l) => l.split(":")[0] === user)) {
            throw new HarnessError(`user "${user}" already exists in /etc/passwd of this machine; pick another opts.user`);
        }
        const uids = new Set(passwd.split("\n").map((l) => Number(l.split(":")[2])));
        const gids = new Set(group.split("\n").map((l) => Number(l.split(":")[2])));
        let id = 500;
        while (uids.has(id) || gids.has(id)) id++;
        const append = (file: string, line: string) => {
            const p = path.join(etc, file);
            if (!fs.existsSync(p)) return;
            ownCopy(p);
            const cur = fs.readFileSync(p, "utf8");
            fs.appendFileSync(p, (cur === "" || cur.endsWith("\n") ? "" : "\n") + line + "\n");
        };
        const replace = (file: string, content: string, mode: number) => {
            const p = path.join(etc, file);
            fs.rmSync(p, { force: true }); // never write through a symlink of the copy
            fs.writeFileSync(p, content, { mode });
            fs.chmodSync(p, mode); // independent of the umask
        };
        append("passwd", `${user}:x:${id}:${id}:opke test user:/home/${user}:/bin/bash`);
        append("shadow", `${user}:*:19000:0:99999:7:::`);
        append("group", `${user}:x:${id}:`);
        append("gshadow", `${user}:!::`);
        replace(path.join("sudoers.d", `opke-test-${user}`), `${user} ALL=(ALL:ALL) NOPASSWD: ALL\n`, 0o440);
        replace("hostname", `${this.name}\n`, 0o644);
        append("hosts", `${this.ip}\t${this.name}`);
        replace("machine-id", crypto.randomBytes(16).toString("hex") + "\n", 0o444);
        replace(path.join("ssh", "sshd_config"), this.run.sshdConfig(this), 0o644);

        fs.mkdirSync(path.join(d, "opt"), { mode: 0o755 });
        fs.mkdirSync(path.join(d, "var-lib", "opke-test"), { recursive: true, mode: 0o755 });
        for (const dir of ["opt", "var-lib", path.join("var-lib", "opke-test")]) fs.chmodSync(path.join(d, dir), 0o755);
        fs.writeFileSync(path.join(d, "var-lib", "opke-test", "systemctl.log"), "");
        fs.chmodSync(path.join(d, "var-lib", "opke-test", "systemctl.log"), 0o666);
        fs.mkdirSync(path.join(d, "tmp"), { mode: 0o1777 });
        fs.chmodSync(path.join(d, "tmp"), 0o1777);
        const home = path.join(d, "home", user);
        fs.mkdirSync(path.join(home, ".ssh"), { recursive: true, mode: 0o700 });
        fs.chmodSync(path.join(d, "home"), 0o755);
        fs.chmodSync(home, 0o755);
        fs.chmodSync(path.join(home, ".ssh"), 0o700);
        fs.writeFileSync(path.join(home, ".ssh", "authorized_keys"), this.run.clientPublicKey + "\n", { mode: 0o600 });
        fs.chmodSync(path.join(home, ".ssh", "authorized_keys"), 0o600);
        for (const p of [home, path.join(home, ".ssh"), path.join(home, ".ssh", "authorized_keys")]) fs.chownSync(p, id, id);
    }

    /** Starts the namespace holder (PID 1 of the host). */
    async startHolder(): Promise<void> {
        const args = [
            "netns", "exec", this.netns,
            "unshare", "--mount", "--propagation", "private", "--uts", "--pid", "--fork", "--kill-child", "--mount-proc",
            "--", "/bin/sh", "-c", HOLDER_SCRIPT, "opke-host-init", this.dir, this.run.stubPath, this.name,
        ];
        const child = spawn("ip", args, { stdio: ["pipe", "pipe", "pipe"], detached: true, cwd: "/" });
        this.holder = child;
        let stderr = "";
        let stdout = "";
        child.stderr!.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
        child.stdin!.on("error", () => undefined);
        await new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => {
                reject(new HarnessError(`${this.name}: ${describeCmd("ip", args)}: no "ready" within 15 s; stderr: ${stderr.trim()}`));
            }, 15_000);
            const onExit = (code: number | null, signal: string | null) => {
                clearTimeout(timer);
                reject(new HarnessError(`${this.name}: ${describeCmd("ip", args)}: exited (${code ?? signal}) before "ready"; stderr: ${stderr.trim()}`));
            };
            child.once("exit", onExit);
            child.once("error", (e) => {
                clearTimeout(timer);
                reject(new HarnessError(`${this.name}: cannot run ip netns exec: ${e.message}`));
            });
            child.stdout!.on("data", (d: Buffer) => {
                stdout += d.toString("utf8");
                if (stdout.includes("ready\n")) {
                    clearTimeout(timer);
                    child.removeListener("exit", onExit);
                    resolve();
                }
            });
        });
        // `ip netns exec` and `unshare` exec in place, so child.pid is unshare; its only child is PID 1.
        const unsharePid = child.pid!;
        for (let i = 0; i < 100 && this.initPid === undefined; i++) {
            const kids = childrenOf(unsharePid);
            if (kids.length === 1) this.initPid = kids[0];
            else await sleep(20);
        }
        if (this.initPid === undefined) throw new HarnessError(`${this.name}: cannot find the namespace init below pid ${unsharePid}`);
        this.initStart = procStartTime(this.initPid);
        this.pidNs = nsLink(this.initPid, "pid");
        // The init's `cat` reading the pipe: stopSshd must not kill it (that would end the host).
        for (let i = 0; i < 100 && this.watchdogPid === undefined; i++) {
            const kids = childrenOf(this.initPid);
            if (kids.length === 1) this.watchdogPid = kids[0];
            else await sleep(20);
        }
        if (this.watchdogPid === undefined) throw new HarnessError(`${this.name}: cannot find the watchdog below pid ${this.initPid}`);
        child.stdout!.destroy();
        child.stderr!.destroy();
        (child.stdin as unknown as net.Socket).unref();
        child.unref();
    }

    private initAlive(): boolean {
        return this.initPid !== undefined && procStartTime(this.initPid) === this.initStart;
    }

    private nsenterArgs(): string[] {
        if (!this.initAlive()) throw new HarnessError(`${this.name}: the host's namespaces are gone (cleaned up?)`);
        return ["-t", String(this.initPid), "-m", "--"];
    }

    async startSshd(): Promise<void> {
        if (this.sshd && this.sshd.exitCode === null && this.sshd.signalCode === null) return;
        if (!this.initAlive()) throw new HarnessError(`${this.name}: cannot start sshd, the host's namespaces are gone`);
        const args = ["-t", String(this.initPid), "-p", "-m", "-n", "-u", "--", SSHD, "-D", "-e", "-f", "/etc/ssh/sshd_config"];
        fs.appendFileSync(this.sshdLogPath, `--- ${new Date().toISOString()} starting sshd\n`);
        const logFd = fs.openSync(this.sshdLogPath, "a");
        let child: ChildProcess;
        try {
            child = spawn("nsenter", args, { stdio: ["ignore", logFd, logFd], detached: true, cwd: "/" });
        } finally {
            fs.closeSync(logFd);
        }
        this.sshd = child;
        child.on("error", () => undefined);
        child.once("exit", () => {
            if (this.sshd === child) this.sshdPid = undefined;
        });
        child.unref();
        const fail = (why: string) =>
            new HarnessError(`${this.name}: ${describeCmd("nsenter", args)}: ${why}; sshd log (${this.sshdLogPath}):\n${tail(this.sshdLogPath)}`);
        // nsenter forks (for the PID namespace) and waits: sshd is its child.
        for (let i = 0; i < 100 && this.sshdPid === undefined; i++) {
            if (child.exitCode !== null || child.signalCode !== null) throw fail(`exited (${child.exitCode ?? child.signalCode})`);
            const kids = child.pid === undefined ? [] : childrenOf(child.pid);
            if (kids.length >= 1) this.sshdPid = kids[0];
            else await sleep(20);
        }
        if (this.sshdPid === undefined) throw fail("sshd did not appear");
        // Readiness: TCP connect (100 × 100 ms), then a bounded `ssh true`.
        let connected = false;
        for (let i = 0; i < 100 && !connected; i++) {
            if (child.exitCode !== null || child.signalCode !== null) throw fail(`exited (${child.exitCode ?? child.signalCode})`);
            connected = await tcpProbe(this.ip, 22, 1000);
            if (!connected) await sleep(100);
        }
        if (!connected) throw fail(`nothing listens on ${this.ip}:22 after 100 attempts`);
        let last: SshResult | undefined;
        for (let i = 0; i < 5; i++) {
            last = await this.ssh("true", { timeoutMs: 15_000 });
            if (last.code === 0) return;
            await sleep(200);
        }
        throw fail(`\`ssh ${this.run.user}@${this.ip} true\` failed 5 times, last exit ${last?.code}: ${last?.stderr.trim()}`);
    }

    /** Processes of the host (its PID namespace) other than its init. */
    private hostProcesses(): number[] {
        if (!this.pidNs) return [];
        return allPids().filter((p) => p !== this.initPid && p !== this.watchdogPid && nsLink(p, "pid") === this.pidNs && !isZombie(p));
    }

    async stopSshd(): Promise<void> {
        const procs = this.hostProcesses();
        for (const p of procs) killQuietly(p, "SIGTERM");
        const deadline = Date.now() + 2000;
        while (this.hostProcesses().length > 0 && Date.now() < deadline) await sleep(20);
        for (const p of this.hostProcesses()) killQuietly(p, "SIGKILL");
        const deadline2 = Date.now() + 3000;
        while (this.hostProcesses().length > 0 && Date.now() < deadline2) await sleep(20);
        const left = this.hostProcesses();
        if (left.length) throw new HarnessError(`${this.name}: processes ${left.join(", ")} survived SIGKILL`);
        if (this.sshd && !(await exited(this.sshd, 3000))) throw new HarnessError(`${this.name}: nsenter (pid ${this.sshd.pid}) did not exit`);
        this.sshdPid = undefined;
    }

    async ssh(command: string, opts: { stdin?: string | Buffer; timeoutMs?: number } = {}): Promise<SshResult> {
        const args = [...sshOptions(this.run), "--", `${this.run.user}@${this.ip}`, command];
        // Only the pinned client key: never an agent the test process happens to inherit.
        const env = { ...process.env };
        delete env.SSH_AUTH_SOCK;
        delete env.SSH_AGENT_PID;
        try {
            // Any exit code is a result (255: ssh itself failed); a time-out, a kill or a failure
            // to start ssh rejects with the command and its stderr.
            const r = await run("ssh", args, { input: opts.stdin, timeoutMs: opts.timeoutMs ?? 30_000, allowFail: true, env });
            return { code: r.code, stdout: r.stdout.toString("utf8"), stderr: r.stderr };
        } catch (e) {
            throw new HarnessError(`${this.name}: ${(e as Error).message}`);
        }
    }

    async readFile(p: string): Promise<Buffer> {
        const r = await run("nsenter", [...this.nsenterArgs(), "cat", "--", p], { timeoutMs: 10_000, allowFail: true });
        if (r.code !== 0) throw new HarnessError(`${this.name}: readFile(${p}): ${r.stderr.trim()}`);
        return r.stdout;
    }

    async stat(p: string): Promise<FileStat> {
        const r = await run("nsenter", [...this.nsenterArgs(), "stat", "-L", "-c", "%f %u %g %s %U %G", "--", p], {
            timeoutMs: 10_000,
            allowFail: true,
        });
        if (r.code !== 0) throw new HarnessError(`${this.name}: stat(${p}): ${r.stderr.trim()}`);
        const [rawMode, uid, gid, size, owner, group] = r.stdout.toString("utf8").trim().split(" ");
        const mode = parseInt(rawMode, 16);
        const fmt = mode & 0o170000;
        const type = fmt === 0o100000 ? "file" : fmt === 0o040000 ? "directory" : fmt === 0o120000 ? "symlink" : "other";
        return { mode: mode & 0o7777, uid: Number(uid), gid: Number(gid), owner, group, type, size: Number(size) };
    }

    async exists(p: string): Promise<boolean> {
        const r = await run("nsenter", [...this.nsenterArgs(), "/bin/sh", "-c", '[ -e "$1" ] || [ -L "$1" ]', "exists", p], {
            timeoutMs: 10_000,
            allowFail: true,
        });
        if (r.code === 0) return true;
        if (r.code === 1) return false;
        throw new HarnessError(`${this.name}: exists(${p}): exit ${r.code}; ${r.stderr.trim()}`);
    }

    async systemctlLog(): Promise<string[]> {
        const text = (await this.readFile(SYSTEMCTL_LOG)).toString("utf8");
        return text.split("\n").filter((l) => l !== "");
    }

    /** Kills the host's init (the kernel then kills all its processes). Sync, never throws. */
    killAllSync(): void {
        if (this.initAlive()) killQuietly(this.initPid!, "SIGKILL");
        if (this.holder?.pid !== undefined && this.holder.exitCode === null) killQuietly(this.holder.pid, "SIGKILL");
        try {
            this.holder?.stdin?.destroy();
        } catch {
            /* ignore */
        }
    }

    async waitGone(timeoutMs: number): Promise<void> {
        const waits = [this.holder, this.sshd].filter((c): c is ChildProcess => c !== undefined).map((c) => exited(c, timeoutMs));
        await Promise.all(waits);
        this.sshdPid = undefined;
    }
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
        const s = net.connect({ host, port });
        const done = (ok: boolean) => {
            s.destroy();
            resolve(ok);
        };
        s.setTimeout(timeoutMs, () => done(false));
        s.once("connect", () => done(true));
        s.once("error", () => done(false));
    });
}

/** OpenSSH client options for a run (what TestHost.ssh uses), e.g. for scp or to try another known_hosts. */
export function sshOptions(t: { privateKeyPath: string; knownHostsPath: string }, knownHostsPath = t.knownHostsPath): string[] {
    const o = (kv: string) => ["-o", kv];
    return [
        "-F", "/dev/null",
        "-T",
        "-p", "22",
        ...o("BatchMode=yes"),
        ...o("StrictHostKeyChecking=yes"),
        ...o(`UserKnownHostsFile=${knownHostsPath}`),
        ...o("GlobalKnownHostsFile=/dev/null"),
        ...o("UpdateHostKeys=no"),
        ...o("CheckHostIP=no"),
        ...o(`IdentityFile=${t.privateKeyPath}`),
        ...o("IdentitiesOnly=yes"),
        ...o("IdentityAgent=none"),
        ...o("PasswordAuthentication=no"),
        ...o("KbdInteractiveAuthentication=no"),
        ...o("ConnectTimeout=5"),
        ...o("ConnectionAttempts=1"),
        ...o("ServerAliveInterval=5"),
        ...o("ServerAliveCountMax=3"),
        ...o("ControlMaster=no"),
        ...o("ControlPath=none"),
        ...o("LogLevel=ERROR"),
    ];
}

class Run implements TestHosts {
    hosts: Host[] = [];
    privateKeyPem = "";
    privateKeyPath: string;
    knownHostsPath: string;
    clientPublicKey = "";
    stubPath: string;
    bridge: string;
    bridgeIp = "";
    private cleaned: Promise<void> | undefined;
    private sshdVersion: [number, number] = [0, 0];

    constructor(
        readonly id: string,
        readonly user: string,
        readonly net: Net4,
        readonly workdir: string,
    ) {
        this.privateKeyPath = path.join(workdir, "client", "id_ed25519");
        this.knownHostsPath = path.join(workdir, "known_hosts");
        this.stubPath = path.join(workdir, "systemctl-stub.sh");
        this.bridge = `${PREFIX}${id}-br`;
    }

    async detectSshdVersion(): Promise<void> {
        const r = await run("ssh", ["-V"]);
        const m = /OpenSSH_(\d+)\.(\d+)/.exec(r.stderr);
        if (m) this.sshdVersion = [Number(m[1]), Number(m[2])];
    }

    sshdConfig(h: Host): string {
        const [maj, min] = this.sshdVersion;
        return [
            "# opke test host (test/harness/hosts.ts)",
            `ListenAddress ${h.ip}:22`,
            "AddressFamily inet",
            "HostKey /etc/ssh/ssh_host_ed25519_key",
            `PidFile /run/sshd.${h.netns}.pid`,
            "PubkeyAuthentication yes",
            "AuthorizedKeysFile .ssh/authorized_keys",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin no",
            "UsePAM no",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "X11Forwarding no",
            "StrictModes yes",
            "LoginGraceTime 30",
            "MaxStartups 64:30:128",
            "MaxSessions 64",
            ...(maj > 9 || (maj === 9 && min >= 8) ? ["PerSourcePenalties no"] : []),
            "Subsystem sftp /usr/lib/openssh/sftp-server",
            "",
        ].join("\n");
    }

    cleanupSync(): string[] {
        activeRuns.delete(this);
        if (activeRuns.size === 0) uninstallHandlers();
        for (const h of this.hosts) h.killAllSync();
        removeRunResources(this.id, listLinks(), listNetns());
        const leftNetns = listNetns().filter((n) => n.startsWith(`${PREFIX}${this.id}-`));
        const leftLinks = listLinks().filter((n) => n.startsWith(`${PREFIX}${this.id}-`));
        return [...leftNetns.map((n) => `netns ${n}`), ...leftLinks.map((l) => `link ${l}`), ...(fs.existsSync(this.workdir) ? [`workdir ${this.workdir}`] : [])];
    }

    cleanup(): Promise<void> {
        if (!this.cleaned) {
            this.cleaned = (async () => {
                const left = this.cleanupSync();
                await Promise.all(this.hosts.map((h) => h.waitGone(5000)));
                if (left.length) throw new HarnessError(`cleanup of test hosts run ${this.id} left: ${left.join(", ")}`);
            })();
        }
        return this.cleaned;
    }
}

function checkPrerequisites(): void {
    if (typeof process.getuid === "function" && process.getuid() !== 0) {
        throw new HarnessError("createTestHosts needs root (network and mount namespaces)");
    }
    const need: [string, string][] = [
        ["/usr/sbin/ip", "iproute2"],
        ["/usr/bin/unshare", "util-linux"],
        ["/usr/bin/nsenter", "util-linux"],
        [SSHD, "openssh-server"],
        ["/usr/bin/ssh", "openssh-client"],
        ["/usr/bin/ssh-keygen", "openssh-client"],
        ["/usr/bin/sudo", "sudo"],
        ["/usr/bin/hostname", "hostname"],
        ["/usr/bin/systemctl", "systemd (only as the bind-mount target of the systemctl stand-in)"],
    ];
    const missing = need.filter(([p]) => !fs.existsSync(p) && !fs.existsSync(p.replace("/usr/sbin/", "/sbin/").replace("/usr/bin/", "/bin/")));
    if (missing.length) {
        throw new HarnessError(
            `test hosts need ${missing.map(([p, pkg]) => `${p} (apt-get install -y ${pkg.split(" ")[0]})`).join(", ")}`,
        );
    }
    if (!fs.existsSync(STUB_SOURCE)) throw new HarnessError(`missing ${STUB_SOURCE}`);
}

const NAME_RE = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;
const USER_RE = /^[a-z_][a-z0-9_-]{0,30}$/;

/** Validates options; returns the network and the bridge address. */
function validate(opts: CreateTestHostsOptions, user: string): { net: Net4; bridgeIp: number } {
    const net4 = parseCidr(opts.cidr, "cidr");
    if (net4.prefix < 8 || net4.prefix > 30) throw new HarnessError(`cidr: prefix /${net4.prefix} of "${opts.cidr}" must be 8–30`);
    if (!USER_RE.test(user)) throw new HarnessError(`user: "${user}" is not a valid user name`);
    if (!opts.hosts.length) throw new HarnessError("hosts: at least one host is needed");
    if (opts.hosts.length > 200) throw new HarnessError(`hosts: ${opts.hosts.length} hosts, at most 200`);
    const names = new Set<string>();
    const ips = new Set<number>();
    for (const [i, h] of opts.hosts.entries()) {
        if (!NAME_RE.test(h.name)) throw new HarnessError(`hosts[${i}].name: "${h.name}" must be lower-case letters, digits and "-", ≤ 32 characters`);
        if (names.has(h.name)) throw new HarnessError(`hosts[${i}].name: "${h.name}" is used twice`);
        names.add(h.name);
        const ip = parseIpv4(h.ip, `hosts[${i}].ip`);
        if (ip <= net4.base || ip >= net4.base + net4.size - 1) {
            throw new HarnessError(`hosts[${i}].ip: ${h.ip} is not a usable address of ${opts.cidr}`);
        }
        if (ips.has(ip)) throw new HarnessError(`hosts[${i}].ip: ${h.ip} is used twice`);
        ips.add(ip);
    }
    let bridgeIp = net4.base + net4.size - 2;
    while (ips.has(bridgeIp) && bridgeIp > net4.base) bridgeIp--;
    if (bridgeIp <= net4.base) throw new HarnessError(`cidr: no free address left in ${opts.cidr} for the bridge`);
    return { net: net4, bridgeIp };
}

/** Routes of the root namespace that overlap `n` (any dev). */
function overlappingRoutes(n: Net4): { dst: string; dev: string }[] {
    const r = runSync("ip", ["-o", "-4", "route", "show", "table", "all"]);
    const out: { dst: string; dev: string }[] = [];
    for (const line of r.stdout.split("\n")) {
        const parts = line.trim().split(/\s+/);
        let i = 0;
        if (["local", "broadcast", "unicast", "multicast", "blackhole", "unreachable", "prohibit", "throw"].includes(parts[0])) i = 1;
        const dst = parts[i];
        if (!dst || dst === "default") continue;
        const devIdx = parts.indexOf("dev");
        const dev = devIdx >= 0 ? parts[devIdx + 1] : "";
        if (dev === "lo") continue;
        let rn: Net4;
        try {
            rn = parseCidr(dst.includes("/") ? dst : `${dst}/32`, "route");
        } catch {
            continue;
        }
        if (overlaps(rn, n)) out.push({ dst, dev });
    }
    return out;
}

export async function createTestHosts(opts: CreateTestHostsOptions): Promise<TestHosts> {
    checkPrerequisites();
    const user = opts.user ?? "core";
    const { net: net4, bridgeIp } = validate(opts, user);
    const waitMs = opts.waitForCidrMs ?? 300_000;
    const deadline = Date.now() + waitMs;

    let runObj: Run | undefined;
    for (let attempt = 0; runObj === undefined; attempt++) {
        const release = await acquireLock(60_000);
        let waitFor: string | undefined;
        try {
            sweepStale();
            const clash = overlappingRoutes(net4);
            if (clash.length === 0) {
                let id = "";
                for (let i = 0; i < 100 && (!id || fs.existsSync(statePath(id)) || fs.existsSync(workdirFor(id))); i++) {
                    id = crypto.randomBytes(3).toString("hex");
                }
                const workdir = workdirFor(id);
                const st: RunState = { id, pid: process.pid, start: procStartTime(process.pid)!, cidr: opts.cidr, workdir };
                fs.writeFileSync(statePath(id), JSON.stringify(st));
                fs.mkdirSync(workdir, { mode: 0o700 });
                runObj = new Run(id, user, net4, workdir);
                runObj.bridgeIp = formatIpv4(bridgeIp);
                runObj.hosts = opts.hosts.map((h, i) => new Host(runObj!, h.name, h.ip, i));
                activeRuns.add(runObj);
                installHandlers();
                try {
                    await createNetwork(runObj);
                } catch (e) {
                    runObj.cleanupSync();
                    throw e;
                }
            } else {
                const owners = clash.map((c) => {
                    const m = ID_RE.exec(c.dev);
                    return { ...c, state: m ? readState(m[1]) : undefined };
                });
                const foreign = owners.find((o) => !o.state || !isAlive(o.state));
                if (foreign) {
                    throw new HarnessError(
                        `cidr ${opts.cidr} overlaps route ${foreign.dst} dev ${foreign.dev} of this machine; pick another cidr for the test hosts`,
                    );
                }
                const mine = owners.find((o) => o.state!.pid === process.pid);
                if (mine) {
                    throw new HarnessError(
                        `cidr ${opts.cidr} overlaps ${mine.state!.cidr} of test hosts run ${mine.state!.id} of this same process; clean that up first or use another cidr`,
                    );
                }
                waitFor = owners.map((o) => `${o.state!.cidr} (run ${o.state!.id}, pid ${o.state!.pid})`).join(", ");
            }
        } finally {
            release();
        }
        if (runObj === undefined) {
            if (Date.now() > deadline) {
                throw new HarnessError(`cidr ${opts.cidr} still overlaps live test hosts ${waitFor} after waiting ${waitMs} ms`);
            }
            await sleep(Math.min(200 + attempt * 50, 1000));
        }
    }

    const r = runObj;
    try {
        await r.detectSshdVersion();
        fs.copyFileSync(STUB_SOURCE, r.stubPath);
        fs.chmodSync(r.stubPath, 0o755);
        fs.mkdirSync(path.dirname(r.privateKeyPath), { mode: 0o700 });
        await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `opke-test-${r.id}`, "-f", r.privateKeyPath]);
        r.privateKeyPem = fs.readFileSync(r.privateKeyPath, "utf8");
        r.clientPublicKey = fs.readFileSync(`${r.privateKeyPath}.pub`, "utf8").trim();
        await Promise.all(r.hosts.map((h) => h.prepare()));
        fs.writeFileSync(r.knownHostsPath, r.hosts.map((h) => `${h.ip} ${h.hostKeyPublic}\n`).join(""), { mode: 0o600 });
        await Promise.all(
            r.hosts.map(async (h) => {
                await h.startHolder();
                await h.startSshd();
            }),
        );
        return r;
    } catch (e) {
        try {
            await r.cleanup();
        } catch {
            /* report the original error */
        }
        throw e;
    }
}

async function createNetwork(r: Run): Promise<void> {
    const root = [
        `link add ${r.bridge} type bridge`,
        `addr add ${r.bridgeIp}/${r.net.prefix} dev ${r.bridge}`,
        `link set ${r.bridge} up`,
        ...r.hosts.flatMap((h) => [
            `netns add ${h.netns}`,
            `link add ${h.veth} type veth peer name eth0 netns ${h.netns}`,
            `link set ${h.veth} master ${r.bridge}`,
            `link set ${h.veth} up`,
        ]),
    ];
    await run("ip", ["-batch", "-"], { input: root.join("\n") + "\n" });
    await Promise.all(
        r.hosts.map((h) =>
            run("ip", ["-n", h.netns, "-batch", "-"], {
                input: ["link set lo up", `addr add ${h.ip}/${r.net.prefix} dev eth0`, "link set eth0 up", ""].join("\n"),
            }),
        ),
    );
}

/**
 * Where a host path lives in the test process' own view, for paths under the per-host /etc, /opt
 * and /var/lib (bind mounts of `<workdir>/hosts/<name>/{etc,opt,var-lib}`); undefined elsewhere
 * (/tmp, /home and /run are per host too but not mapped here). Reading or writing through it is
 * far cheaper than nsenter or ssh, and it opens no SSH session.
 */
export function hostLocalPath(t: TestHosts, h: TestHost, p: string): string | undefined {
    const base = path.join(t.workdir, "hosts", h.name);
    for (const [prefix, dir] of [["/etc/", "etc"], ["/opt/", "opt"], ["/var/lib/", "var-lib"]] as const) {
        if (p.startsWith(prefix)) return path.join(base, dir, p.slice(prefix.length));
        if (p === prefix.slice(0, -1)) return path.join(base, dir);
    }
    return undefined;
}

/**
 * Copies a file of the repository into a host at `inHost` (under /etc, /opt or /var/lib) and
 * returns `inHost`: programs run on a host must not be started from the checkout, which may live
 * under a directory the host has its own copy of (/tmp, /home, /opt).
 */
export function copyIntoHost(t: TestHosts, h: TestHost, src: string, inHost: string): string {
    const local = hostLocalPath(t, h, inHost);
    if (local === undefined) throw new HarnessError(`copyIntoHost: ${inHost} is not under /etc, /opt or /var/lib`);
    fs.mkdirSync(path.dirname(local), { recursive: true });
    fs.copyFileSync(src, local);
    return inHost;
}
