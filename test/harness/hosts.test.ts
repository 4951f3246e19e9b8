/**
 * Self-test of the local SSH test hosts (test/harness/hosts.ts). Needs root, iproute2, openssh, sudo.
 *
 * Proves: login as `core` with the pinned host key, passwordless sudo, per-host /etc (a write on one host
 * is invisible on another and on the machine), the per-host systemctl record, sshd stop/start (also
 * cutting a running session), host key pinning, cleanup (explicit, on SIGTERM, and after SIGKILL via the
 * PID-namespace watchdog plus cleanupStale()).
 * Does not prove: anything about Flatcar itself (see test/harness/README.md), @pulumi/command's own SSH
 * client against these hosts (that is the platform tests' job), IPv6.
 * Set OPKE_TEST_TIMINGS=1 to print the measured timings.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { cleanupStale, createTestHosts, sshOptions, TestHosts } from "./hosts";

jest.setTimeout(180_000);

const timings: Record<string, string> = {};

function ipOut(...args: string[]): string {
    const r = spawnSync("ip", args, { encoding: "utf8", timeout: 10_000 });
    return r.stdout;
}

function alive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1][0] !== "Z";
    } catch {
        return false;
    }
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
        if (cond()) return true;
        await new Promise((r) => setTimeout(r, 50));
    }
    return cond();
}

describe("local SSH test hosts", () => {
    let t: TestHosts;

    beforeAll(async () => {
        const t0 = Date.now();
        t = await createTestHosts({
            hosts: [
                { name: "node-1", ip: "10.0.0.11" },
                { name: "node-2", ip: "10.0.0.12" },
                { name: "node-3", ip: "10.0.0.13" },
            ],
            cidr: "10.0.0.0/24",
        });
        timings["start 3 hosts"] = `${Date.now() - t0} ms`;
    });

    afterAll(async () => {
        await t?.cleanup();
        if (process.env.OPKE_TEST_TIMINGS) {
            // eslint-disable-next-line no-console
            console.log(Object.entries(timings).map(([k, v]) => `${k}: ${v}`).join("\n"));
        }
    });

    test("the run looks as documented", () => {
        const [h1, h2, h3] = t.hosts;
        expect(t.hosts.map((h) => [h.name, h.ip])).toEqual([
            ["node-1", "10.0.0.11"],
            ["node-2", "10.0.0.12"],
            ["node-3", "10.0.0.13"],
        ]);
        expect(t.user).toBe("core");
        expect(t.bridgeIp).toBe("10.0.0.254");
        expect(t.bridge.length).toBeLessThanOrEqual(15);
        expect(t.privateKeyPem).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
        expect(fs.readFileSync(t.privateKeyPath, "utf8")).toBe(t.privateKeyPem);
        for (const h of t.hosts) expect(h.hostKeyPublic).toMatch(/^ssh-ed25519 AAAA[A-Za-z0-9+/=]+$/);
        expect(new Set([h1.hostKeyPublic, h2.hostKeyPublic, h3.hostKeyPublic]).size).toBe(3);
        expect(fs.readFileSync(t.knownHostsPath, "utf8")).toBe(t.hosts.map((h) => `${h.ip} ${h.hostKeyPublic}\n`).join(""));
        expect(new Set(t.hosts.map((h) => h.netns)).size).toBe(3);
        for (const h of t.hosts) expect(ipOut("netns", "list")).toContain(h.netns);
        for (const h of t.hosts) expect(typeof h.pid).toBe("number");
    });

    test("login user, sudo, hostname", async () => {
        const [h1] = t.hosts;
        expect(await h1.ssh("id -un")).toEqual({ code: 0, stdout: "core\n", stderr: "" });
        expect(await h1.ssh("sudo -n id -u")).toEqual({ code: 0, stdout: "0\n", stderr: "" });
        expect(await h1.ssh("hostname")).toEqual({ code: 0, stdout: "node-1\n", stderr: "" });
        expect(await t.hosts[2].ssh("hostname")).toEqual({ code: 0, stdout: "node-3\n", stderr: "" });
        expect(await h1.ssh("cat", { stdin: "from stdin\n" })).toEqual({ code: 0, stdout: "from stdin\n", stderr: "" });
        expect((await h1.ssh("exit 7")).code).toBe(7);
        // per-ssh-command latency
        const n = 10;
        const t0 = Date.now();
        for (let i = 0; i < n; i++) expect((await h1.ssh("true")).code).toBe(0);
        timings["ssh command (sequential, mean of 10)"] = `${Math.round((Date.now() - t0) / n)} ms`;
        const t1 = Date.now();
        const par = await Promise.all(t.hosts.map((h) => h.ssh("true")));
        expect(par.map((p) => p.code)).toEqual([0, 0, 0]);
        timings["ssh command on 3 hosts in parallel"] = `${Date.now() - t1} ms`;
    });

    test("/etc, /opt, /var/lib are per host; readFile/stat/exists see the host's view", async () => {
        const [h1, h2] = t.hosts;
        const w = await h1.ssh("sudo mkdir -p /etc/kubernetes && sudo tee /etc/kubernetes/x >/dev/null && sudo chmod 0600 /etc/kubernetes/x", {
            stdin: "hello\n",
        });
        expect(w).toEqual({ code: 0, stdout: "", stderr: "" });
        expect((await h1.readFile("/etc/kubernetes/x")).toString("utf8")).toBe("hello\n");
        expect(await h1.stat("/etc/kubernetes/x")).toEqual({ mode: 0o600, uid: 0, gid: 0, owner: "root", group: "root", type: "file", size: 6 });
        expect(await h1.exists("/etc/kubernetes/x")).toBe(true);
        expect(await h2.exists("/etc/kubernetes/x")).toBe(false);
        expect((await h2.ssh("test -e /etc/kubernetes/x")).code).toBe(1);
        expect(fs.existsSync("/etc/kubernetes/x")).toBe(false); // the machine's /etc is untouched
        await expect(h2.readFile("/etc/kubernetes/x")).rejects.toThrow(/node-2: readFile\(\/etc\/kubernetes\/x\): .*No such file/);

        expect((await h2.ssh("sudo mkdir -p /opt/bootstrap /var/lib/etcd && sudo touch /opt/bootstrap/apply")).code).toBe(0);
        expect(await h2.exists("/opt/bootstrap/apply")).toBe(true);
        expect(await h1.exists("/opt/bootstrap")).toBe(false);
        expect(await h1.exists("/var/lib/etcd")).toBe(false);
        expect(await h2.stat("/var/lib/etcd")).toMatchObject({ type: "directory", owner: "root" });

        const ak = await h1.stat("/home/core/.ssh/authorized_keys");
        expect(ak).toMatchObject({ mode: 0o600, owner: "core", group: "core", uid: ak.gid, type: "file" });
    });

    test("systemctl is the recording stand-in, per host", async () => {
        const [h1, h2, h3] = t.hosts;
        expect(await h1.ssh("sudo systemctl daemon-reload && sudo systemctl restart kubelet.service")).toEqual({ code: 0, stdout: "", stderr: "" });
        expect(await h1.ssh("systemctl is-active kubelet.service")).toEqual({ code: 0, stdout: "active\n", stderr: "" });
        const unprivileged = await h1.ssh("systemctl restart etcd-member.service");
        expect(unprivileged.code).toBe(1);
        expect(unprivileged.stderr).toMatch(/Interactive authentication required/);
        expect(await h1.systemctlLog()).toEqual([
            "daemon-reload",
            "restart kubelet.service",
            expect.stringMatching(/^\[uid \d+\] is-active kubelet\.service$/),
            expect.stringMatching(/^\[uid \d+\] restart etcd-member\.service$/),
        ]);
        expect(await h2.systemctlLog()).toEqual([]);
        expect(await h3.systemctlLog()).toEqual([]);
    });

    test("stopSshd cuts sessions and refuses connections; startSshd resumes with the files kept", async () => {
        const [h1, h2] = t.hosts;
        const oldPid = h1.pid!;
        const running = h1.ssh("echo started; sleep 60; echo finished", { timeoutMs: 20_000 });
        await new Promise((r) => setTimeout(r, 500));
        const t0 = Date.now();
        await h1.stopSshd();
        timings["stopSshd"] = `${Date.now() - t0} ms`;
        const cut = await running;
        expect(cut.code).not.toBe(0);
        expect(cut.stdout).toBe("started\n");
        expect(h1.pid).toBeUndefined();
        expect(alive(oldPid)).toBe(false);

        const t1 = Date.now();
        const refused = await h1.ssh("true");
        const refusedMs = Date.now() - t1;
        timings["ssh to a stopped host fails after"] = `${refusedMs} ms`;
        expect(refused.code).toBe(255);
        expect(refused.stderr).toMatch(/Connection refused/);
        expect(refusedMs).toBeLessThan(5000);
        expect((await h2.ssh("true")).code).toBe(0); // the others are unaffected
        expect((await h1.readFile("/etc/kubernetes/x")).toString()).toBe("hello\n"); // readable while stopped

        const t2 = Date.now();
        await h1.startSshd();
        timings["startSshd"] = `${Date.now() - t2} ms`;
        expect(typeof h1.pid).toBe("number");
        expect(await h1.ssh("sudo cat /etc/kubernetes/x")).toEqual({ code: 0, stdout: "hello\n", stderr: "" });
    });

    test("network: only the run's subnet is routed; hosts reach each other; scp (sftp) works", async () => {
        const [h1] = t.hosts;
        const routes = await h1.ssh("ip -4 route");
        expect(routes.code).toBe(0);
        expect(routes.stdout.trim().split("\n").map((l) => l.trim())).toEqual(["10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.11"]);
        expect((await h1.ssh("timeout 5 bash -c '</dev/tcp/10.0.0.12/22'")).code).toBe(0);
        const local = path.join(t.workdir, "payload");
        fs.writeFileSync(local, "x".repeat(100_000));
        const t0 = Date.now();
        const scp = spawnSync("scp", [...sshOptions(t).filter((a) => a !== "-T" && a !== "-p" && a !== "22"), "-P", "22", local, `${t.user}@[${h1.ip}]:payload`], {
            encoding: "utf8",
            timeout: 20_000,
        });
        timings["scp 100 kB"] = `${Date.now() - t0} ms`;
        expect({ status: scp.status, stderr: scp.stderr }).toEqual({ status: 0, stderr: "" });
        expect((await h1.readFile("/home/core/payload")).length).toBe(100_000);
    });

    test("host keys are pinned", async () => {
        const [h1, h2] = t.hosts;
        const wrong = path.join(t.workdir, "known_hosts.wrong");
        fs.writeFileSync(wrong, `${h1.ip} ${h2.hostKeyPublic}\n`);
        const empty = path.join(t.workdir, "known_hosts.empty");
        fs.writeFileSync(empty, "");
        for (const kh of [wrong, empty]) {
            const r = spawnSync("ssh", [...sshOptions(t, kh), "--", `${t.user}@${h1.ip}`, "echo reached"], { encoding: "utf8", timeout: 20_000 });
            expect(r.status).toBe(255);
            expect(r.stdout).toBe("");
            expect(r.stderr).toMatch(/Host key verification failed/);
        }
        const ok = spawnSync("ssh", [...sshOptions(t), "--", `${t.user}@${h1.ip}`, "echo reached"], { encoding: "utf8", timeout: 20_000 });
        expect(ok.stdout).toBe("reached\n");
    });

    test("cleanupStale leaves live runs alone; an overlapping cidr in the same process is refused", async () => {
        const removed = await cleanupStale();
        expect(removed.filter((r) => r.includes(t.id))).toEqual([]);
        expect((await t.hosts[0].ssh("true")).code).toBe(0);
        await expect(createTestHosts({ hosts: [{ name: "z", ip: "10.0.0.50" }], cidr: "10.0.0.0/16" })).rejects.toThrow(
            /cidr 10\.0\.0\.0\/16 overlaps 10\.0\.0\.0\/24 of test hosts run [0-9a-f]{6} of this same process/,
        );
        await expect(createTestHosts({ hosts: [{ name: "z", ip: "10.0.0.50" }], cidr: "10.0.0.0/16" })).rejects.toThrow();
        await expect(createTestHosts({ hosts: [{ name: "Bad_Name", ip: "10.0.9.5" }], cidr: "10.0.9.0/24" })).rejects.toThrow(/hosts\[0\]\.name/);
        await expect(createTestHosts({ hosts: [{ name: "z", ip: "10.0.8.5" }], cidr: "10.0.9.0/24" })).rejects.toThrow(
            /hosts\[0\]\.ip: 10\.0\.8\.5 is not a usable address of 10\.0\.9\.0\/24/,
        );
    });

    test("cleanup removes every netns, link, process and the workdir; it is idempotent", async () => {
        const pids = t.hosts.map((h) => h.pid!);
        const names = [...t.hosts.map((h) => h.netns), t.bridge];
        await t.cleanup();
        await t.cleanup();
        const netns = ipOut("netns", "list");
        const links = ipOut("-o", "link", "show");
        for (const n of names) {
            expect(netns).not.toContain(n);
            expect(links).not.toContain(n);
        }
        expect(links).not.toContain(`okt-${t.id}-`);
        expect(fs.existsSync(t.workdir)).toBe(false);
        expect(await until(() => pids.every((p) => !alive(p)), 5000)).toBe(true);
        expect(ipOut("-4", "route")).not.toContain("10.0.0.0/24");
    });
});

/** Starts a child process that creates one host and prints its run, then waits to be killed. */
function startChild(cidr: string, ip: string): Promise<{ child: ReturnType<typeof spawn>; info: { id: string; sshdPid: number; netns: string; bridge: string } }> {
    const script = `
        const { createTestHosts } = require(${JSON.stringify(path.join(__dirname, "hosts.ts"))});
        createTestHosts({ hosts: [{ name: "crash", ip: ${JSON.stringify(ip)} }], cidr: ${JSON.stringify(cidr)} }).then((t) => {
            process.stdout.write(JSON.stringify({ id: t.id, sshdPid: t.hosts[0].pid, netns: t.hosts[0].netns, bridge: t.bridge }) + "\\n");
            setTimeout(() => process.exit(3), 60000);
        }, (e) => { process.stderr.write(String(e && e.stack || e)); process.exit(2); });`;
    const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", "-e", script], {
        cwd: path.join(__dirname, "..", ".."),
        stdio: ["ignore", "pipe", "pipe"],
    });
    return new Promise((resolve, reject) => {
        let out = "";
        let err = "";
        const timer = setTimeout(() => {
            child.kill("SIGKILL");
            reject(new Error(`child did not report within 60 s; stderr: ${err}`));
        }, 60_000);
        child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
        child.stdout!.on("data", (d: Buffer) => {
            out += d.toString();
            if (out.includes("\n")) {
                clearTimeout(timer);
                resolve({ child, info: JSON.parse(out.split("\n")[0]) });
            }
        });
        child.on("exit", (code) => {
            clearTimeout(timer);
            reject(new Error(`child exited ${code} before reporting; stderr: ${err}`));
        });
    });
}

function waitExit(child: ReturnType<typeof spawn>): Promise<void> {
    return new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve();
        else child.once("exit", () => resolve());
    });
}

describe("crashing test runs", () => {
    test("SIGTERM: the exit handler removes everything", async () => {
        const { child, info } = await startChild("10.0.1.0/24", "10.0.1.5");
        expect(ipOut("netns", "list")).toContain(info.netns);
        child.kill("SIGTERM");
        await waitExit(child);
        expect(child.signalCode).toBe("SIGTERM");
        expect(ipOut("netns", "list")).not.toContain(info.netns);
        expect(ipOut("-o", "link", "show")).not.toContain(`okt-${info.id}-`);
        expect(await until(() => !alive(info.sshdPid), 5000)).toBe(true);
    });

    test("SIGKILL: the hosts' processes die with the test process; cleanupStale removes the rest", async () => {
        const { child, info } = await startChild("10.0.2.0/24", "10.0.2.5");
        child.kill("SIGKILL");
        await waitExit(child);
        expect(await until(() => !alive(info.sshdPid), 5000)).toBe(true);
        expect(ipOut("netns", "list")).toContain(info.netns); // left behind …
        const removed = await cleanupStale();
        expect(removed).toEqual(expect.arrayContaining([`netns ${info.netns}`, `link ${info.bridge}`]));
        expect(ipOut("netns", "list")).not.toContain(info.netns); // … until the next run starts
        expect(ipOut("-o", "link", "show")).not.toContain(`okt-${info.id}-`);
    });
});
