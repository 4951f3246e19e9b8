/**
 * lib/provision: the payload, the installer text, the plan and option functions (pure), the
 * connection, the ssh config additions, and provisionNodes under Pulumi mocks.
 *
 * What this does not prove: that a real engine diffs/updates these commands as modelled here
 * (mocks neither diff nor run providers), that the installer works on a host (test/ssh/ssh.e2e.ts
 * runs it over real SSH), or that @pulumi/command's Go SSH client accepts the connection (the
 * engine e2e does).
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { NodeSshAssets } from "../lib/assets";
import { ClusterConfig, ClusterConfigInput, NodeRole } from "../lib/config/schema";
import { checkClusterConfig, parseClusterConfig } from "../lib/config/validate";
import { loadPulumiConfig, rawConfigFromStackFile } from "../lib/config/load";
import { generateLocalPki } from "../lib/pki/local";
import { describePki } from "../lib/pki";
import { renderNodeSsh } from "../lib/render";
import { clusterNodes } from "../lib/config/schema";
import { decodePayload, encodePayload, payloadSha256, PAYLOAD_MAGIC } from "../lib/provision/payload";
import { BOOTSTRAP, bootstrapCommand, INSTALLER, pushCommand, shellQuote } from "../lib/provision/installer";
import { commandOptions, COMMAND_TIMEOUTS, gatesFor, hostOptions, provisionPlan } from "../lib/provision/plan";
import { connectionObject, hostKeyOf } from "../lib/provision/connection";
import type { CaptureResult, CapturedCommand, TlsCache } from "./ssh/capture";
import { TEST_SSH_KEY as KEY, threeByTwoNodes } from "./helpers/fixtures";

const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOfC1xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

function raw(over: Partial<ClusterConfigInput> = {}): ClusterConfigInput {
    return {
        clusterName: "prov",
        platform: "bare-metal",
        apiDnsName: "api.prov.example",
        ...threeByTwoNodes(),
        ssh: { authorizedKeys: [KEY] },
        pki: { algorithm: "ECDSA" },
        ...over,
    };
}

function cfgOf(over: Partial<ClusterConfigInput> = {}): ClusterConfig {
    return parseClusterConfig(raw(over));
}

const plainNodes = (n: { c: number; w: number }) => [
    ...Array.from({ length: n.c }, (_, i) => ({ name: `c${i + 1}`, role: NodeRole.Controller, index: i })),
    ...Array.from({ length: n.w }, (_, i) => ({ name: `w${i + 1}`, role: NodeRole.Worker, index: i })),
];

// ---------------------------------------------------------------------------------------------
describe("ssh and upgrade config", () => {
    test("defaults: port 22, no pinned keys, no bastion, one worker at a time", () => {
        const cfg = cfgOf();
        expect(cfg.ssh).toEqual({ user: "core", authorizedKeys: [KEY], port: 22, hostKeys: {} });
        expect(cfg.upgrade).toEqual({ maxUnavailable: 1 });
    });

    test("port, host keys, bastion, agent socket and maxUnavailable are taken", () => {
        const cfg = cfgOf({
            ssh: {
                authorizedKeys: [KEY],
                port: 2222,
                hostKeys: { c1: HOST_KEY },
                bastion: { host: "bastion.example.com", hostKey: HOST_KEY },
                agentSocketPath: "/run/user/1000/ssh-agent.socket",
            },
            upgrade: { maxUnavailable: 2 },
        });
        expect(cfg.ssh).toEqual({
            user: "core",
            authorizedKeys: [KEY],
            port: 2222,
            hostKeys: { c1: HOST_KEY },
            bastion: { host: "bastion.example.com", port: 22, hostKey: HOST_KEY },
            agentSocketPath: "/run/user/1000/ssh-agent.socket",
        });
        expect(cfg.upgrade.maxUnavailable).toBe(2);
    });

    test.each([
        [{ ssh: { authorizedKeys: [KEY], port: 0 } }, "ssh.port: 0 is out of range; use a port number from 1 to 65535 such as 22"],
        [{ ssh: { authorizedKeys: [KEY], hostKeys: { c1: "AAAA" } } }, "ssh.hostKeys.c1: \"AAAA\" is not an SSH host key; paste the node's public host key such as \"ssh-ed25519 AAAA...\" (ssh-keyscan -t ed25519 <host>)"],
        [{ ssh: { authorizedKeys: [KEY], hostKeys: { c9: HOST_KEY } } }, "ssh.hostKeys.c9: unknown node; host keys are keyed by node name, one of c1, c2, c3, w1, w2"],
        [{ ssh: { authorizedKeys: [KEY], bastion: { port: 22 } } }, "ssh.bastion.host: missing; host is required (a string)"],
        [{ ssh: { authorizedKeys: [KEY], agentSocketPath: "agent.sock" } }, "ssh.agentSocketPath: \"agent.sock\" is not an absolute path; use the agent socket's path such as \"/run/user/1000/ssh-agent.socket\""],
        [{ upgrade: { maxUnavailable: 0 } }, "upgrade.maxUnavailable: 0 is out of range; use a whole number of workers, 1 or more, such as 1"],
        [{ upgrade: { maxUnavailable: 1, batch: 2 } }, "upgrade.batch: unknown key; allowed keys are maxUnavailable"],
    ] as [Partial<ClusterConfigInput>, string][])("rejects %j", (over, issue) => {
        const r = checkClusterConfig(raw(over));
        expect(r.ok).toBe(false);
        expect(r.ok ? [] : r.issues).toEqual([issue]);
    });

    test("the secret key opke:sshPrivateKey is read by the program, not by the config loaders", () => {
        const all = {
            "opke:clusterName": "prov",
            "opke:platform": "bare-metal",
            "opke:apiDnsName": "api.prov.example",
            "opke:controllers": JSON.stringify([{ name: "c1", ip: "10.0.0.11", mac: "52:54:00:00:00:11" }]),
            "opke:ssh": JSON.stringify({ authorizedKeys: [KEY] }),
            "opke:sshPrivateKey": "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n",
        };
        const cfg = loadPulumiConfig(all);
        expect(JSON.stringify(cfg)).not.toContain("PRIVATE KEY");
        const file = rawConfigFromStackFile("Pulumi.s.yaml", "config:\n  opke:clusterName: s\n  opke:sshPrivateKey:\n    secure: v1:AAAA\n");
        expect(file.issues).toEqual([]);
        expect(file.raw).toEqual({ clusterName: "s" });
    });
});

// ---------------------------------------------------------------------------------------------
describe("payload", () => {
    let cfg: ClusterConfig;
    let trees: Record<string, NodeSshAssets>;

    beforeAll(async () => {
        cfg = cfgOf();
        const material = await generateLocalPki(describePki(cfg));
        trees = Object.fromEntries(clusterNodes(cfg).map((n) => [n.name, renderNodeSsh(cfg, n, material)]));
    });

    const sortTree = (t: NodeSshAssets): NodeSshAssets => ({
        directories: [...t.directories].sort((a, b) => a.path.localeCompare(b.path)),
        files: [...t.files].sort((a, b) => a.path.localeCompare(b.path)),
    });

    test("round-trips every node's rendered tree exactly (content, mode, owner, secrecy, restarts)", () => {
        for (const [name, tree] of Object.entries(trees)) {
            const decoded = decodePayload(encodePayload(tree));
            expect({ name, tree: sortTree(decoded) }).toEqual({ name, tree: sortTree(tree) });
        }
        expect(trees.c1.files.some((f) => f.secret)).toBe(true);
    });

    test("is deterministic and independent of input order; parents come before children", () => {
        const tree = trees.c1;
        const shuffled: NodeSshAssets = { directories: [...tree.directories].reverse(), files: [...tree.files].reverse() };
        expect(encodePayload(shuffled)).toBe(encodePayload(tree));
        const lines = encodePayload(tree).split("\n");
        expect(lines[0]).toBe(PAYLOAD_MAGIC);
        const dirs = lines.filter((l) => l.startsWith("d ")).map((l) => l.split(" ")[3]);
        for (const [i, d] of dirs.entries()) {
            for (const later of dirs.slice(i + 1)) expect(d.startsWith(later + "/")).toBe(false);
        }
        expect(lines[lines.length - 2]).toBe(`end ${tree.directories.length} ${tree.files.length}`);
        expect(lines[lines.length - 1]).toBe("");
    });

    test("records each file's mode, owner, sha256, secrecy and restarts; no content outside base64", () => {
        const text = encodePayload(trees.c1);
        const line = (p: string) => text.split("\n").find((l) => l.startsWith("f ") && l.endsWith(` ${p}`));
        const key = trees.c1.files.find((f) => f.path === "/etc/ssl/etcd/server.key")!;
        expect(line("/etc/ssl/etcd/server.key")).toBe(`f 0600 root:root ${crypto.createHash("sha256").update(key.content).digest("hex")} s etcd-member.service /etc/ssl/etcd/server.key`);
        expect(line("/etc/kubernetes/kubelet.env")).toMatch(/^f 0644 root:root [0-9a-f]{64} - kubelet\.service \/etc\/kubernetes\/kubelet\.env$/);
        expect(line("/opt/bootstrap/apply")).toMatch(/^f 0755 root:root [0-9a-f]{64} - - \/opt\/bootstrap\/apply$/);
        expect(text).not.toContain("PRIVATE KEY");
        expect(text).toContain("d 0700 root:root /etc/ssl/etcd\n");
        expect(payloadSha256(text)).toBe(crypto.createHash("sha256").update(text).digest("hex"));
    });

    test.each([
        [{ directories: [], files: [{ path: "etc/x", content: "", mode: 0o644, owner: "root:root", secret: false, restarts: [] }] }, /not a plain absolute path/],
        [{ directories: [], files: [{ path: "/etc/a b", content: "", mode: 0o644, owner: "root:root", secret: false, restarts: [] }] }, /not a plain absolute path/],
        [{ directories: [], files: [{ path: "/etc/../x", content: "", mode: 0o644, owner: "root:root", secret: false, restarts: [] }] }, /no \. or \.\. segments/],
        [{ directories: [], files: [{ path: "/etc/x", content: "", mode: 0o644, owner: "root", secret: false, restarts: [] }] }, /owner "root" is not "user:group"/],
        [{ directories: [], files: [{ path: "/etc/x", content: "", mode: 0o644, owner: "root:root", secret: false, restarts: ["kubelet; reboot"] }] }, /is not a systemd unit name/],
        [{ directories: [{ path: "/etc/x", mode: 0o755, owner: "root:root" }], files: [{ path: "/etc/x", content: "", mode: 0o644, owner: "root:root", secret: false, restarts: [] }] }, /listed twice/],
        [{ directories: [], files: [{ path: "/etc/x", content: "", mode: 0o10000, owner: "root:root", secret: false, restarts: [] }] }, /is not a permission value/],
    ] as [NodeSshAssets, RegExp][])("refuses unsafe trees (%#)", (tree, message) => {
        expect(() => encodePayload(tree)).toThrow(message);
    });

    test("decode refuses truncated or tampered payloads", () => {
        const text = encodePayload(trees.w1);
        expect(() => decodePayload(text.slice(0, text.length - 10))).toThrow(/newline|trailer|truncated/);
        expect(() => decodePayload(text.replace(/^end .*$/m, "end 0 0"))).toThrow(/trailer says 0 directories/);
        const lines = text.split("\n");
        const i = lines.findIndex((l) => l.startsWith("f "));
        lines[i + 1] = Buffer.from("tampered").toString("base64");
        expect(() => decodePayload(lines.join("\n"))).toThrow(/does not match its sha256/);
    });
});

// ---------------------------------------------------------------------------------------------
describe("installer and bootstrap programs", () => {
    test.each([
        ["installer", INSTALLER],
        ["bootstrap", BOOTSTRAP],
    ])("%s passes shellcheck (apt-get install -y shellcheck)", (_, text) => {
        const r = spawnSync("shellcheck", ["--shell=bash", "--severity=style", "-"], { input: text, encoding: "utf8" });
        if (r.error) throw new Error(`shellcheck is not installed (apt-get install -y shellcheck): ${r.error.message}`);
        expect(r.stdout + r.stderr).toBe("");
        expect(r.status).toBe(0);
    });

    test.each([
        ["installer", INSTALLER],
        ["bootstrap", BOOTSTRAP],
    ])("%s is version-free, secret-free and node-free (constant text)", (_, text) => {
        expect(text).not.toMatch(/v1\.3[0-9]\.|v3\.[56]\.|PRIVATE KEY|token/i);
        expect(text).not.toContain("${");
        expect(text).not.toMatch(/\bc1\b|10\.0\.0\./);
    });

    test("the create line passes the installer and exactly these arguments to bash", () => {
        const sha = "a".repeat(64);
        const line = pushCommand({ node: "c1", payloadSha256: sha, gates: ["apiserver", "etcd", "kubelet"], apiPort: 6443, waits: { attempts: 60, intervalSeconds: 5 } });
        expect(line.startsWith("sudo -n /bin/bash -c '")).toBe(true);
        // Let a real shell parse the line, with sudo replaced by a printer of its arguments.
        const argv = execFileSync("bash", ["-c", line.replace(/^sudo -n \/bin\/bash -c /, "printf '%s\\0' ")]).toString("utf8").split("\0");
        expect(argv.slice(0, -1)).toEqual([INSTALLER, "opke-push", "c1", sha, "etcd,kubelet,apiserver", "6443", "60", "5"]);
        const worker = pushCommand({ node: "w1", payloadSha256: sha, gates: [], apiPort: 6443, waits: { attempts: 3, intervalSeconds: 0.5 } });
        expect(worker.endsWith(` opke-push w1 ${sha} none 6443 3 0.5`)).toBe(true);
        expect(bootstrapCommand({ node: "c1", apiPort: 7443, waits: { attempts: 180, intervalSeconds: 5 } })).toBe(`sudo -n /bin/bash -c ${shellQuote(BOOTSTRAP)} opke-bootstrap c1 7443 180 5`);
    });

    test("bounds and hashes are checked before they reach a command line", () => {
        const ok = { node: "c1", payloadSha256: "b".repeat(64), gates: [] as never[], apiPort: 6443 };
        expect(() => pushCommand({ ...ok, waits: { attempts: 0, intervalSeconds: 5 } })).toThrow("attempts 0 must be a whole number from 1 to 9999");
        expect(() => pushCommand({ ...ok, waits: { attempts: 1, intervalSeconds: -1 } })).toThrow("intervalSeconds -1");
        expect(() => pushCommand({ ...ok, payloadSha256: "x; rm -rf /", waits: { attempts: 1, intervalSeconds: 1 } })).toThrow("is not 64 hex digits");
    });

    test("usage errors exit 2 and change nothing (run with bash, as a non-root-safe check)", () => {
        const r = spawnSync("bash", ["-c", INSTALLER, "opke-push", "c1"], { input: "", encoding: "utf8" });
        expect(r.status).toBe(2);
        expect(r.stderr).toBe("opke-push[unknown]: usage: opke-push NODE PAYLOAD_SHA256 GATES API_PORT ATTEMPTS INTERVAL_SECONDS < payload\n");
        const bad = spawnSync("bash", ["-c", INSTALLER, "opke-push", "c1", "z".repeat(64), "none", "6443", "1", "1"], { input: "", encoding: "utf8" });
        expect(bad.status).toBe(2);
        expect(bad.stderr).toBe("opke-push[c1]: FAILED: payload sha256 is not 64 hex digits\n");
    });
});

// ---------------------------------------------------------------------------------------------
describe("plan and options", () => {
    const summary = (name: string, c: number, w: number, m: number) =>
        provisionPlan(name, plainNodes({ c, w }), m).map((s) => `${s.id} <- ${s.dependsOn.join(",") || "-"}${s.batch !== undefined ? ` [batch ${s.batch}]` : ""}`);

    test.each([
        [
            "3 controllers, 2 workers, 1 at a time",
            3, 2, 1,
            [
                "k-push-c1 <- -",
                "k-push-c2 <- k-push-c1",
                "k-push-c3 <- k-push-c2",
                "k-bootstrap <- k-push-c1,k-push-c2,k-push-c3",
                "k-push-w1 <- k-push-c3,k-bootstrap [batch 0]",
                "k-push-w2 <- k-push-c3,k-bootstrap,k-push-w1 [batch 1]",
            ],
        ],
        [
            "1 controller, 5 workers, 2 at a time",
            1, 5, 2,
            [
                "k-push-c1 <- -",
                "k-bootstrap <- k-push-c1",
                "k-push-w1 <- k-push-c1,k-bootstrap [batch 0]",
                "k-push-w2 <- k-push-c1,k-bootstrap [batch 0]",
                "k-push-w3 <- k-push-c1,k-bootstrap,k-push-w1,k-push-w2 [batch 1]",
                "k-push-w4 <- k-push-c1,k-bootstrap,k-push-w1,k-push-w2 [batch 1]",
                "k-push-w5 <- k-push-c1,k-bootstrap,k-push-w3,k-push-w4 [batch 2]",
            ],
        ],
        ["1 controller, no workers", 1, 0, 1, ["k-push-c1 <- -", "k-bootstrap <- k-push-c1"]],
        [
            "3 controllers, 2 workers, maxUnavailable larger than the pool",
            3, 2, 10,
            [
                "k-push-c1 <- -",
                "k-push-c2 <- k-push-c1",
                "k-push-c3 <- k-push-c2",
                "k-bootstrap <- k-push-c1,k-push-c2,k-push-c3",
                "k-push-w1 <- k-push-c3,k-bootstrap [batch 0]",
                "k-push-w2 <- k-push-c3,k-bootstrap [batch 0]",
            ],
        ],
    ] as [string, number, number, number, string[]][])("%s", (_, c, w, m, expected) => {
        expect(summary("k", c, w, m)).toEqual(expected);
    });

    test("node order in the input does not matter; bad input is refused", () => {
        const nodes = plainNodes({ c: 3, w: 2 });
        expect(provisionPlan("k", [...nodes].reverse(), 1)).toEqual(provisionPlan("k", nodes, 1));
        expect(() => provisionPlan("k", nodes, 0)).toThrow("upgrade.maxUnavailable: 0 is not a whole number ≥ 1");
        expect(() => provisionPlan("k", plainNodes({ c: 0, w: 2 }), 1)).toThrow("no controller with index 0");
        expect(() => provisionPlan("k", [...nodes, nodes[0]], 1)).toThrow("node c1 is listed twice");
    });

    test("gates: etcd, kubelet, apiserver on controllers; kubelet on workers", () => {
        expect(gatesFor(NodeRole.Controller)).toEqual(["etcd", "kubelet", "apiserver"]);
        expect(gatesFor(NodeRole.Worker)).toEqual(["kubelet"]);
    });

    test("command options: edges, deletedWith/replaceWith the host, secret outputs, timeouts; no triggers, ignoreChanges or replaceOnChanges", () => {
        const parent = {} as pulumi.Resource;
        const host = {} as pulumi.Resource;
        const dep = {} as pulumi.Resource;
        const o = commandOptions({ parent, dependsOn: [dep], deletedWith: host, replaceWith: [host] });
        expect(Object.keys(o).sort()).toEqual(["additionalSecretOutputs", "customTimeouts", "deletedWith", "dependsOn", "parent", "replaceWith"]);
        expect(o.replaceWith).toEqual([host]);
        expect(commandOptions({ parent, dependsOn: [], replaceWith: [] })).not.toHaveProperty("replaceWith");
        expect(o.parent).toBe(parent);
        expect(o.dependsOn).toEqual([dep]);
        expect(o.deletedWith).toBe(host);
        expect(o.additionalSecretOutputs).toEqual(["stdout", "stderr"]);
        expect(o.customTimeouts).toEqual(COMMAND_TIMEOUTS);
        expect(commandOptions({ parent, dependsOn: [] })).not.toHaveProperty("deletedWith");
    });

    test("host options: ignore boot inputs, replace only on a generation bump", () => {
        expect(hostOptions({ generation: 0 }, ["userData", "imageId"])).toEqual({ ignoreChanges: ["userData", "imageId"], replacementTrigger: 0 });
        expect(hostOptions({ generation: 3 }, [])).toEqual({ ignoreChanges: [], replacementTrigger: 3 });
        expect(() => hostOptions({ generation: -1 }, [])).toThrow("generation -1");
    });
});

// ---------------------------------------------------------------------------------------------
describe("connection", () => {
    test("fixed shape, optional keys only when set, comments dropped from host keys", () => {
        expect(connectionObject({ host: "10.0.0.11", user: "core" })).toEqual({ host: "10.0.0.11", port: 22, user: "core", dialErrorLimit: 60, perDialTimeout: 15 });
        const full = connectionObject({
            host: "10.0.0.11",
            port: 2222,
            user: "core",
            privateKey: "K",
            agentSocketPath: "/run/a.sock",
            hostKey: `${HOST_KEY} root@c1`,
            dialErrorLimit: 5,
            perDialTimeout: 3,
            proxy: { host: "bastion", user: "jump", hostKey: HOST_KEY },
        });
        expect(full).toEqual({
            host: "10.0.0.11",
            port: 2222,
            user: "core",
            privateKey: "K",
            agentSocketPath: "/run/a.sock",
            hostKey: HOST_KEY,
            dialErrorLimit: 5,
            perDialTimeout: 3,
            proxy: { host: "bastion", port: 22, user: "jump", hostKey: HOST_KEY, dialErrorLimit: 5, perDialTimeout: 3 },
        });
        expect(Object.keys(full)).toEqual(["host", "port", "user", "privateKey", "agentSocketPath", "hostKey", "dialErrorLimit", "perDialTimeout", "proxy"]);
        expect(() => hostKeyOf("AAAA")).toThrow("is not \"<type> <base64>\"");
        expect(() => connectionObject({ host: "h", user: "u", port: 70000 })).toThrow("port 70000");
    });
});

// ---------------------------------------------------------------------------------------------
describe("provisionNodes under mocks", () => {
    let capture: typeof import("./ssh/capture");
    let cache: TlsCache;
    let first: CaptureResult;
    let cfg: ClusterConfig;
    const secretsOf = (r: CaptureResult): string[] =>
        Object.values(r.ssh).flatMap((t) => t.files.filter((f) => f.secret).flatMap((f) => f.content.split("\n").filter((l) => l.length >= 16)));

    beforeAll(async () => {
        capture = require("./ssh/capture") as typeof import("./ssh/capture");
        cache = new Map();
        cfg = cfgOf({ ssh: { authorizedKeys: [KEY], hostKeys: { c1: HOST_KEY }, bastion: { host: "bastion.example.com", user: "jump" } } });
        first = await capture.captureProgram(cfg, { tlsCache: cache, withHosts: true });
    });

    const byName = (r: CaptureResult) => Object.fromEntries(r.commands.map((c) => [c.name, c]));

    test("one push per node plus one bootstrap, and one explicit command provider", () => {
        expect(first.commands.map((c) => c.name)).toEqual(["prov-push-c1", "prov-push-c2", "prov-push-c3", "prov-bootstrap", "prov-push-w1", "prov-push-w2"]);
        const counts = first.mocks.countsByType();
        expect(counts["command:remote:Command"]).toBe(6);
        expect(counts["pulumi:providers:command"]).toBe(1);
        for (const c of first.commands) {
            expect(c.provider).toBe("prov-command");
            expect(c.parent).toBe("root");
        }
    });

    test("inputs: create, stdin (pushes only), connection, logging stderr, no triggers, no environment", () => {
        for (const c of first.commands) {
            const keys = Object.keys(c.inputs).sort();
            expect({ name: c.name, keys }).toEqual({
                name: c.name,
                keys: c.kind === "push" ? ["addPreviousOutputInEnv", "connection", "create", "logging", "stdin"] : ["addPreviousOutputInEnv", "connection", "create", "logging"],
            });
            expect(c.inputs.logging).toBe("stderr");
            expect(c.inputs.addPreviousOutputInEnv).toBe(false);
        }
    });

    test("each push's stdin is exactly its node's rendered SSH tree, and create names its sha256", () => {
        for (const c of first.commands.filter((x) => x.kind === "push")) {
            expect(decodePayload(c.stdin!)).toEqual(decodePayload(encodePayload(first.ssh[c.node])));
            expect(c.create).toContain(` opke-push ${c.node} ${payloadSha256(c.stdin!)} `);
            const gates = c.role === "controller" ? "etcd,kubelet,apiserver" : "kubelet";
            expect(c.create.endsWith(` ${gates} 6443 60 5`)).toBe(true);
        }
        expect(byName(first)["prov-bootstrap"].create).toBe(bootstrapCommand({ node: "c1", apiPort: 6443, waits: { attempts: 180, intervalSeconds: 5 } }));
    });

    test("secrets travel only on stdin and in the connection; create and the recorded inputs outside them hold none", () => {
        const secrets = secretsOf(first);
        expect(secrets.length).toBeGreaterThan(50);
        for (const c of first.commands) {
            expect({ name: c.name, secret: c.secretInputs }).toEqual({ name: c.name, secret: c.kind === "push" ? ["connection", "stdin"] : ["connection"] });
            expect(c.create).not.toContain("PRIVATE KEY");
            expect(c.create).not.toContain("TEST-KEY");
            const leaked = secrets.filter((s) => c.create.includes(s));
            expect({ name: c.name, leaked }).toEqual({ name: c.name, leaked: [] });
        }
    });

    test("connection: secret, from the ssh config (pinned host key, bastion as proxy), identical across runs", async () => {
        const c1 = byName(first)["prov-push-c1"].connection;
        expect(c1).toEqual({
            host: "10.0.0.11",
            port: 22,
            user: "core",
            privateKey: "TEST-KEY",
            hostKey: HOST_KEY,
            dialErrorLimit: 60,
            perDialTimeout: 15,
            proxy: { host: "bastion.example.com", port: 22, user: "jump", privateKey: "TEST-KEY", dialErrorLimit: 60, perDialTimeout: 15 },
        });
        expect(byName(first)["prov-push-w1"].connection).not.toHaveProperty("hostKey");
        const again = await capture.captureProgram(cfg, { tlsCache: cache, withHosts: true });
        expect(again.commands.map((c) => [c.name, c.create, c.stdin, c.connection])).toEqual(first.commands.map((c) => [c.name, c.create, c.stdin, c.connection]));
    });

    test("options: dependsOn in plan order, deletedWith (and for pushes replaceWith) the node's host, secret stdout/stderr, time limits", () => {
        const table = first.commands.map((c) => [c.name, c.dependsOn.join(","), c.deletedWith, c.replaceWith?.join(",")]);
        // A re-provisioned host gets its push again (replaceWith); the bootstrap never re-runs for it.
        expect(table).toEqual([
            ["prov-push-c1", "", "host-c1", "host-c1"],
            ["prov-push-c2", "prov-push-c1", "host-c2", "host-c2"],
            ["prov-push-c3", "prov-push-c2", "host-c3", "host-c3"],
            ["prov-bootstrap", "prov-push-c1,prov-push-c2,prov-push-c3", "host-c1", undefined],
            ["prov-push-w1", "prov-push-c3,prov-bootstrap", "host-w1", "host-w1"],
            ["prov-push-w2", "prov-push-c3,prov-bootstrap,prov-push-w1", "host-w2", "host-w2"],
        ]);
        for (const c of first.commands) {
            // Ours, plus "connection", which the @pulumi/command SDK adds itself.
            expect(c.additionalSecretOutputs).toEqual(["stdout", "stderr", "connection"]);
            expect(c.customTimeouts).toEqual(COMMAND_TIMEOUTS);
        }
        expect(capture.dependencyOrder([...first.commands].reverse()).map((c) => c.name)).toEqual(first.commands.map((c) => c.name));
    });

    test("a Kubernetes version bump changes each push's stdin and create once, and nothing else", async () => {
        const bumped = await capture.captureProgram({ ...cfg, kubernetesVersion: "v1.36.4" }, { tlsCache: cache, withHosts: true });
        const before = byName(first);
        const changed = bumped.commands.filter((c) => {
            const b = before[c.name];
            expect(c.connection).toEqual(b.connection);
            return c.create !== b.create || c.stdin !== b.stdin;
        });
        expect(changed.map((c) => c.name)).toEqual(["prov-push-c1", "prov-push-c2", "prov-push-c3", "prov-push-w1", "prov-push-w2"]);
        for (const c of changed) {
            expect(c.create).not.toBe(before[c.name].create);
            expect(c.stdin).not.toBe(before[c.name].stdin);
        }
        // No boot input moved: Ignition is byte-identical; no other resource's inputs changed.
        expect(bumped.ignition).toEqual(first.ignition);
        const inputsOf = (r: CaptureResult) =>
            r.mocks.resources
                .filter((x) => x.type !== "command:remote:Command")
                .map((x) => `${x.type} ${x.name} ${JSON.stringify(x.inputs)}`)
                .sort();
        expect(inputsOf(bumped)).toEqual(inputsOf(first));
        // Only version files differ in the pushed trees.
        for (const node of Object.keys(first.ssh)) {
            const a = new Map(first.ssh[node].files.map((f) => [f.path, f.content]));
            const diff = bumped.ssh[node].files.filter((f) => a.get(f.path) !== f.content).map((f) => f.path);
            expect({ node, diff }).toEqual({
                node,
                diff: node.startsWith("c")
                    ? [
                          "/etc/kubernetes/images.env",
                          "/etc/kubernetes/kubelet.env",
                          "/etc/kubernetes/manifests/kube-apiserver.yaml",
                          "/etc/kubernetes/manifests/kube-controller-manager.yaml",
                          "/etc/kubernetes/manifests/kube-scheduler.yaml",
                          // Controller 0 only: kube-proxy runs the control plane's version (modules/addons).
                          ...(node === "c1" ? ["/opt/addons/manifests/20-kube-proxy.yaml"] : []),
                      ]
                    : ["/etc/kubernetes/images.env", "/etc/kubernetes/kubelet.env"],
            });
        }
    });

    test("an etcd version bump re-pushes the controllers only", async () => {
        const bumped = await capture.captureProgram({ ...cfg, etcdVersion: "v3.6.17" }, { tlsCache: cache, withHosts: true });
        const before = byName(first);
        const changed = bumped.commands.filter((c) => c.create !== before[c.name].create || c.stdin !== before[c.name].stdin).map((c) => c.name);
        expect(changed).toEqual(["prov-push-c1", "prov-push-c2", "prov-push-c3"]);
        expect(bumped.ignition).toEqual(first.ignition);
    });

    test("a preview registers the same resources with unknown-free plain inputs where known", async () => {
        const preview = await capture.captureProgram(cfg, { tlsCache: cache, withHosts: true, preview: true });
        expect(preview.commands.map((c: CapturedCommand) => c.name)).toEqual(first.commands.map((c) => c.name));
    });
});
