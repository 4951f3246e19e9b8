/**
 * modules/ignition: builder, host basics, node assembly, canonical JSON and the safety guard.
 *
 * Every rendered config is checked by Debian's real `ignition-validate` (package `ignition`,
 * spec 3.3.0 support since Ignition 2.14) — errors AND warnings fail the test — and by
 * `assertIgnitionSafe`. A deliberately broken config proves the validator actually runs.
 *
 * What these tests do NOT prove:
 * - that Flatcar or Fedora CoreOS boot with these configs, that the units start in the right
 *   order or that the sysctls/modules take effect (no VM is booted here);
 * - that the real etcd/bootkube parts are version- and secret-free: the parts below are fakes
 *   shaped like them; nodeIgnition's built-in guard is what catches a bad real part;
 * - that the `sudo` group gives a non-`core` SSH user passwordless sudo on the images
 *   (taken from the distributions' documentation);
 * - that the guard finds secrets in every possible disguise: it knows PEM private keys (plain or
 *   base64-wrapped), age secret keys, bootstrap-token-shaped strings and the versions it is given.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { gzipSync } from "node:zlib";
import type { IgnitionParts } from "../lib/assets";
import { ClusterConfig, ClusterConfigInput, ClusterConfigSchema, clusterNodes, ClusterNode } from "../lib/config/schema";
import {
    assertIgnitionSafe,
    decodeDataUrl,
    encodeDataUrl,
    extraMode,
    IgnitionBuilder,
    IgnitionConfig,
    nodeIgnition,
    serializeIgnition,
} from "../modules/ignition";

const VALIDATOR = "/usr/bin/ignition-validate";

// ---------------------------------------------------------------------------------------------
// Fixtures

const KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOpkeTestKeyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA alice@example";
const KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOpkeTestKeyBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB bob@example";

function rawConfig(overrides: Partial<ClusterConfigInput> = {}): ClusterConfigInput {
    return {
        clusterName: "demo",
        apiDnsName: "api.demo.example.com",
        controllers: [
            {
                name: "ctl-0",
                ip: "10.0.0.10",
                extras: { files: [{ path: "/etc/opke/node-note", contents: "first controller\n", mode: "0600" }], units: [] },
            },
            { name: "ctl-1", ip: "10.0.0.11" },
            { name: "ctl-2", ip: "10.0.0.12" },
        ],
        workers: [
            { name: "wrk-0", ip: "10.0.0.20" },
            {
                name: "wrk-1",
                ip: "10.0.0.21",
                extras: {
                    files: [],
                    units: [{ name: "gpu-setup.service", contents: "[Unit]\nDescription=GPU setup\n\n[Service]\nType=oneshot\nExecStart=/usr/bin/true\n\n[Install]\nWantedBy=multi-user.target\n" }],
                },
            },
        ],
        ssh: { authorizedKeys: [KEY_A, KEY_B] },
        controllerExtras: {
            files: [{ path: "/etc/motd.d/opke.motd", contents: "Control plane node — handle with care (100% uptime)\n", mode: 0o644 }],
            units: [],
        },
        workerExtras: {
            files: [{ path: "/etc/profile.d/opke.sh", contents: "export PS1='[\\u@\\h \\W]\\$ '\n", mode: "0644" }],
            units: [
                // Only a drop-in on a unit opke defines: merges into kubelet.service.
                { name: "kubelet.service", dropins: [{ name: "50-extra-args.conf", contents: "[Service]\nEnvironment=KUBELET_EXTRA=--v=2\n" }] },
                { name: "node-exporter.socket", mask: true },
            ],
        },
        ...overrides,
    };
}

/** Parse like lib/config would (schema + `v`-prefixed versions), without depending on it. */
function parse(raw: ClusterConfigInput): ClusterConfig {
    const c = ClusterConfigSchema.parse(raw);
    const v = (s: string) => (s.startsWith("v") ? s : `v${s}`) as `v${string}`;
    return { ...c, kubernetesVersion: v(c.kubernetesVersion), etcdVersion: v(c.etcdVersion) };
}

function node(cfg: ClusterConfig, name: string): ClusterNode {
    const n = clusterNodes(cfg).find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
}

/** Fake parts shaped like modules/etcd and modules/bootkube output (version-free, secret-free). */
function fakeParts(n: ClusterNode, os: "flatcar" | "fedora-coreos"): IgnitionParts[] {
    const runner = os === "flatcar" ? "/usr/bin/docker run --rm --name" : "/usr/bin/podman run --rm --name";
    const kubelet: IgnitionParts = {
        files: [],
        units: [
            {
                name: "kubelet.service",
                contents: `[Unit]\nDescription=Kubelet\nAfter=containerd.service\n\n[Service]\nEnvironmentFile=/etc/kubernetes/kubelet.env\nExecStart=${runner} kubelet \${KUBELET_IMAGE} --config=/etc/kubernetes/kubelet.yaml\nRestart=always\n\n[Install]\nWantedBy=multi-user.target\n`,
            },
            {
                name: "kubelet.path",
                enabled: true,
                contents: "[Unit]\nDescription=Start the kubelet once its bootstrap kubeconfig is pushed\n\n[Path]\nPathExists=/etc/kubernetes/bootstrap-kubeconfig\n\n[Install]\nWantedBy=multi-user.target\n",
            },
        ],
    };
    if (n.role !== "controller") return [kubelet];
    const etcd: IgnitionParts = {
        files: [{ path: "/opt/opke/etcd-health", contents: "#!/bin/sh\nexec /usr/bin/true\n", mode: 0o755 }],
        units: [
            {
                name: "etcd-member.service",
                enabled: true,
                contents: `[Unit]\nDescription=etcd\nWants=network-online.target\nAfter=network-online.target\n\n[Service]\nEnvironmentFile=/etc/etcd/image.env\nExecStart=${runner} etcd --env-file /etc/etcd/etcd.env \${ETCD_IMAGE}\nRestart=on-failure\n\n[Install]\nWantedBy=multi-user.target\n`,
            },
        ],
    };
    const controlPlane: IgnitionParts = {
        files: [],
        units: [
            {
                name: "bootstrap.service",
                contents: "[Unit]\nDescription=Bootstrap the control plane\nConditionPathExists=!/opt/bootstrap/bootstrap.done\n\n[Service]\nType=oneshot\nRemainAfterExit=true\nExecStart=/opt/bootstrap/apply\nExecStartPost=/usr/bin/touch /opt/bootstrap/bootstrap.done\n",
            },
            // Drop-ins only, on a unit the OS ships: merges with the host's enable/mask entry.
            ...(os === "flatcar"
                ? [{ name: "docker.service", dropins: [{ name: "10-opke-logs.conf", contents: "[Service]\nEnvironment=DOCKER_OPTS=--log-opt=max-size=10m\n" }] }]
                : []),
        ],
    };
    return [etcd, kubelet, controlPlane];
}

function render(cfg: ClusterConfig, name: string): string {
    const n = node(cfg, name);
    return serializeIgnition(nodeIgnition(cfg, n, fakeParts(n, cfg.os)));
}

const flatcar = parse(rawConfig());
const fcos = parse(rawConfig({ os: "fedora-coreos", network: { cni: "cilium" } }));
const NODES = ["ctl-0", "ctl-1", "ctl-2", "wrk-0", "wrk-1"];

// ---------------------------------------------------------------------------------------------
// ignition-validate

function validate(json: string): { status: number | null; output: string } {
    const r = spawnSync(VALIDATOR, ["-"], { input: json, encoding: "utf8" });
    if (r.error) throw r.error;
    return { status: r.status, output: (r.stdout + r.stderr).trim() };
}

function expectValid(json: string, what: string): void {
    const { status, output } = validate(json);
    // Warnings (exit 0) fail too: the expectation includes the validator's output.
    expect({ what, status, output }).toEqual({ what, status: 0, output: "" });
}

beforeAll(() => {
    if (!existsSync(VALIDATOR)) {
        throw new Error(`${VALIDATOR} is missing: run \`apt-get update && apt-get install -y ignition\` (Debian's ignition package); these tests do not skip without it`);
    }
});

describe("ignition-validate", () => {
    test("negative control: a broken config is rejected, so the validator really runs", () => {
        const broken = JSON.stringify({
            ignition: { version: "3.3.0" },
            storage: { files: [{ path: "/etc/x", overwrite: true }] },
            systemd: { units: [{ name: "x.service", contents: "[Unit\nDescription=x\n" }] },
        });
        const { status, output } = validate(broken);
        expect(status).toBe(1);
        expect(output).toContain("error at $.storage.files.0.overwrite");
        expect(output).toContain("overwrite must be false if source is unspecified");
        expect(output).toContain("invalid unit content");
    });

    test("negative control: a warning is visible (our expectValid treats it as failure)", () => {
        const warn = JSON.stringify({ ignition: { version: "3.3.0" }, systemd: { units: [{ name: "x.service", enabled: true, contents: "[Service]\nExecStart=/usr/bin/true\n" }] } });
        expect(validate(warn)).toEqual({
            status: 0,
            output: expect.stringContaining(`unit "x.service" is enabled, but has no install section so enable does nothing`),
        });
    });

    for (const [os, cfg] of [["flatcar", flatcar], ["fedora-coreos", fcos]] as const) {
        test.each(NODES)(`${os} %s: valid Ignition 3.3.0, no warnings, no secrets`, (name) => {
            const json = render(cfg, name);
            expectValid(json, `${os}/${name}`);
            expect(() => assertIgnitionSafe(json, `${os}/${name}`, [cfg.kubernetesVersion, cfg.etcdVersion])).not.toThrow();
        });
    }

    test("builder output with directories and links is valid too", () => {
        const json = serializeIgnition(
            new IgnitionBuilder()
                .addDirectory("/var/lib/opke", 0o700, "test")
                .addDirectory("/etc/opke", 0o755, "test")
                .addLink("/etc/opke/current", "/var/lib/opke/v", false, "test")
                .addLink("/etc/opke/hard", "/etc/hostname", true, "test")
                .addFile("/etc/opke/x", "x\n", 0o600, true, "test")
                .build(),
        );
        expectValid(json, "builder");
    });
});

// ---------------------------------------------------------------------------------------------
// Snapshots, determinism, version independence

describe("rendering", () => {
    test("snapshots: flatcar controller and worker, fedora-coreos worker", () => {
        expect(render(flatcar, "ctl-0")).toMatchSnapshot("flatcar ctl-0");
        expect(render(flatcar, "wrk-1")).toMatchSnapshot("flatcar wrk-1");
        expect(render(fcos, "wrk-0")).toMatchSnapshot("fedora-coreos wrk-0");
    });

    test("snapshot: decoded file contents of the flatcar controller (readable review aid)", () => {
        const cfg = JSON.parse(render(flatcar, "ctl-0")) as IgnitionConfig;
        const listing = (cfg.storage?.files ?? [])
            .map((f) => `==> ${f.path} (0${f.mode.toString(8)})\n${decodeDataUrl(f.contents.source)}`)
            .join("\n");
        expect(listing).toMatchSnapshot();
    });

    test("two renders are byte-identical, and input order does not matter", () => {
        for (const name of NODES) {
            const n = node(flatcar, name);
            const a = serializeIgnition(nodeIgnition(flatcar, n, fakeParts(n, "flatcar")));
            const b = serializeIgnition(nodeIgnition(flatcar, n, fakeParts(n, "flatcar")));
            const reversed = fakeParts(n, "flatcar")
                .reverse()
                .map((p) => ({ files: [...p.files].reverse(), units: [...p.units].reverse() }));
            const c = serializeIgnition(nodeIgnition(flatcar, n, reversed));
            expect(b).toBe(a);
            expect(c).toBe(a);
        }
    });

    test("every object's keys are sorted, lists sorted, 2-space indent and one trailing newline", () => {
        const json = render(flatcar, "ctl-0");
        expect(json.endsWith("}\n")).toBe(true);
        expect(json.endsWith("\n\n")).toBe(false);
        expect(json.split("\n")[1]).toBe('  "ignition": {');
        const walk = (v: unknown): void => {
            if (Array.isArray(v)) return v.forEach(walk);
            if (v && typeof v === "object") {
                const keys = Object.keys(v);
                expect(keys).toEqual([...keys].sort());
                Object.values(v).forEach(walk);
            }
        };
        const parsed = JSON.parse(json) as IgnitionConfig;
        walk(parsed);
        const paths = parsed.storage!.files!.map((f) => f.path);
        expect(paths).toEqual([...paths].sort());
        const units = parsed.systemd!.units!.map((u) => u.name);
        expect(units).toEqual([...units].sort());
    });

    test("identical Ignition for configs that differ only in kubernetesVersion/etcdVersion", () => {
        const other = parse(rawConfig({ kubernetesVersion: "1.35.2", etcdVersion: "v3.5.21" }));
        expect(other.kubernetesVersion).not.toBe(flatcar.kubernetesVersion);
        expect(other.etcdVersion).not.toBe(flatcar.etcdVersion);
        for (const name of NODES) {
            expect(render(other, name)).toBe(render(flatcar, name));
        }
    });

    test("empty lists and unset fields are omitted", () => {
        const cfg = JSON.parse(render(flatcar, "wrk-0")) as IgnitionConfig;
        expect(Object.keys(cfg)).toEqual(["ignition", "passwd", "storage", "systemd"]);
        expect(Object.keys(cfg.storage!)).toEqual(["files"]);
        const json = render(flatcar, "wrk-0");
        expect(json).not.toContain("null");
        expect(json).not.toContain("[]");
        expect(json).not.toContain('"mask": false');
        const hostname = cfg.storage!.files!.find((f) => f.path === "/etc/hostname");
        expect(hostname).toEqual({ path: "/etc/hostname", overwrite: true, mode: 420, contents: { source: "data:,wrk-0%0A" } });
        expect(cfg.passwd).toEqual({ users: [{ name: "core", sshAuthorizedKeys: [KEY_A, KEY_B] }] });
    });

    test("the pieces land where they belong", () => {
        const f = JSON.parse(render(flatcar, "wrk-1")) as IgnitionConfig;
        const units = Object.fromEntries(f.systemd!.units!.map((u) => [u.name, u]));
        expect(units["locksmithd.service"]).toEqual({ name: "locksmithd.service", mask: true });
        expect(units["node-exporter.socket"]).toEqual({ name: "node-exporter.socket", mask: true });
        expect(units["gpu-setup.service"]!.enabled).toBe(true);
        expect(units["kubelet.service"]!.dropins).toEqual([{ name: "50-extra-args.conf", contents: "[Service]\nEnvironment=KUBELET_EXTRA=--v=2\n" }]);
        expect(units["kubelet.service"]!.contents).toContain("Description=Kubelet");
        expect(units["wait-for-dns.service"]!.contents).toContain("RequiredBy=kubelet.service\n");
        expect(units["wait-for-dns.service"]!.contents).not.toContain("etcd-member");
        const files = f.storage!.files!.map((x) => x.path);
        expect(files).toContain("/etc/profile.d/opke.sh");
        expect(files).toContain("/etc/systemd/network/50-flannel.link");
        expect(files).not.toContain("/etc/motd.d/opke.motd");

        const c = JSON.parse(render(flatcar, "ctl-0")) as IgnitionConfig;
        const cUnits = Object.fromEntries(c.systemd!.units!.map((u) => [u.name, u]));
        expect(cUnits["docker.service"]).toEqual({
            name: "docker.service",
            enabled: true,
            dropins: [{ name: "10-opke-logs.conf", contents: "[Service]\nEnvironment=DOCKER_OPTS=--log-opt=max-size=10m\n" }],
        });
        expect(cUnits["wait-for-dns.service"]!.contents).toContain("RequiredBy=etcd-member.service\n");
        const note = c.storage!.files!.find((x) => x.path === "/etc/opke/node-note")!;
        expect(note.mode).toBe(0o600);
        expect(c.storage!.files!.find((x) => x.path === "/etc/motd.d/opke.motd")).toBeDefined();
        // Node extras are per node.
        const c1 = JSON.parse(render(flatcar, "ctl-1")) as IgnitionConfig;
        expect(c1.storage!.files!.find((x) => x.path === "/etc/opke/node-note")).toBeUndefined();
    });

    test("fedora-coreos gets nothing flatcar-specific", () => {
        const json = render(fcos, "wrk-0");
        const cfg = JSON.parse(json) as IgnitionConfig;
        const units = Object.fromEntries(cfg.systemd!.units!.map((u) => [u.name, u]));
        expect(json).not.toContain("locksmithd");
        expect(units["docker.service"]).toEqual({ name: "docker.service", mask: true });
        expect(units["containerd.service"]).toEqual({ name: "containerd.service", enabled: true });
        const toml = cfg.storage!.files!.find((f) => f.path === "/etc/containerd/config.toml")!;
        expect(decodeDataUrl(toml.contents.source)).toContain("SystemdCgroup = true\n");
        // cilium: no flannel link.
        expect(json).not.toContain("50-flannel.link");
    });

    test("a login user other than core is created with the sudo group", () => {
        const cfg = parse(rawConfig({ ssh: { user: "ops", authorizedKeys: [KEY_A] } }));
        const json = render(cfg, "wrk-0");
        expect((JSON.parse(json) as IgnitionConfig).passwd).toEqual({ users: [{ name: "ops", sshAuthorizedKeys: [KEY_A], groups: ["sudo"] }] });
        expectValid(json, "ops user");
    });
});

// ---------------------------------------------------------------------------------------------
// Conflicts

describe("conflicts", () => {
    test("duplicate path in the builder names both sources", () => {
        const b = new IgnitionBuilder().addFile("/etc/a", "1", 0o644, true, "module one");
        expect(() => b.addFile("/etc/a", "2", 0o644, true, "module two")).toThrow(
            "duplicate Ignition path /etc/a: written by module one (file) and again by module two (file); every path is written once — remove or rename one of them",
        );
        expect(() => b.addDirectory("/etc/a", 0o755, "module three")).toThrow(
            "duplicate Ignition path /etc/a: written by module one (file) and again by module three (directory); every path is written once — remove or rename one of them",
        );
    });

    test("duplicate path between two parts", () => {
        const n = node(flatcar, "wrk-0");
        const parts: IgnitionParts[] = [
            { files: [{ path: "/etc/x.conf", contents: "a", mode: 0o644 }], units: [] },
            { files: [{ path: "/etc/x.conf", contents: "b", mode: 0o644 }], units: [] },
        ];
        expect(() => nodeIgnition(flatcar, n, parts)).toThrow(
            "duplicate Ignition path /etc/x.conf: written by parts[0].files[0] (file) and again by parts[1].files[0] (file); every path is written once — remove or rename one of them",
        );
    });

    test("an extra file on an opke path is an error naming the field", () => {
        const cfg = parse(rawConfig({ workerExtras: { files: [{ path: "/etc/hostname", contents: "x\n" }], units: [] } }));
        const n = node(cfg, "wrk-0");
        expect(() => nodeIgnition(cfg, n, fakeParts(n, "flatcar"))).toThrow(
            "duplicate Ignition path /etc/hostname: written by opke host basics (file) and again by workerExtras.files[0].path (file); every path is written once — remove or rename one of them",
        );
    });

    test("an extra unit redefining an opke unit is an error naming the field", () => {
        const cfg = parse(rawConfig({ controllerExtras: { files: [], units: [{ name: "etcd-member.service", contents: "[Service]\nExecStart=/usr/bin/true\n" }] } }));
        const n = node(cfg, "ctl-2");
        expect(() => nodeIgnition(cfg, n, fakeParts(n, "flatcar"))).toThrow(
            "duplicate systemd unit etcd-member.service: defined by parts[0].units[0] and again by controllerExtras.units[0].name; a unit is defined once (a second entry may only add drop-ins) — remove or rename one of them",
        );
    });

    test("an extra file over a unit opke writes is caught as the unit's path", () => {
        const cfg = parse(rawConfig({ workerExtras: { files: [{ path: "/etc/systemd/system/kubelet.service", contents: "x" }], units: [] } }));
        const n = node(cfg, "wrk-0");
        expect(() => nodeIgnition(cfg, n, fakeParts(n, "flatcar"))).toThrow(
            "duplicate Ignition path /etc/systemd/system/kubelet.service: written by parts[0].units[0] (unit file) and again by workerExtras.files[0].path (file); every path is written once — remove or rename one of them",
        );
    });

    test("a node extra colliding with a role extra names both fields", () => {
        const raw = rawConfig();
        raw.workers = [{ name: "wrk-0", ip: "10.0.0.20", extras: { files: [{ path: "/etc/profile.d/opke.sh", contents: "" }] } }];
        const cfg = parse(raw);
        expect(() => render(cfg, "wrk-0")).toThrow(
            "duplicate Ignition path /etc/profile.d/opke.sh: written by workerExtras.files[0].path (file) and again by workers[0].extras.files[0].path (file); every path is written once — remove or rename one of them",
        );
    });

    test("the same drop-in twice is an error naming both", () => {
        const b = new IgnitionBuilder().addUnit({ name: "a.service", dropins: [{ name: "10-x.conf", contents: "" }] }, "one");
        expect(() => b.addUnit({ name: "a.service", dropins: [{ name: "10-x.conf", contents: "" }] }, "two")).toThrow(
            "duplicate drop-in a.service.d/10-x.conf: added by one and again by two — remove or rename one of them",
        );
    });

    test("nothing can be written below a file", () => {
        const b = new IgnitionBuilder().addFile("/etc/a", "", 0o644, true, "one").addFile("/etc/a/b", "", 0o644, true, "two");
        expect(() => b.build()).toThrow("Ignition path /etc/a/b (file, by two) is below /etc/a, which one writes as a file — move one of them");
    });

    test("bad modes and paths are refused with the field", () => {
        expect(extraMode("0600", "f")).toBe(0o600);
        expect(extraMode("755", "f")).toBe(0o755);
        expect(extraMode(420, "f")).toBe(0o644);
        expect(() => extraMode(644, "workerExtras.files[0].mode")).toThrow(
            'workerExtras.files[0].mode: mode 644 is out of range 0000-0777 (a number is taken as the permission bits; YAML reads an unquoted 0644 as decimal 644 — write the mode as a string such as "0644")',
        );
        expect(() => extraMode("4755", "f")).toThrow('f: mode "4755" is out of range 0000-0777 (setuid, setgid and sticky bits are not supported by Ignition 3.3.0)');
        expect(() => new IgnitionBuilder().addFile("/etc/../x", "", 0o644, true, "p")).toThrow(
            'p: Ignition path "/etc/../x" must be absolute and normalised (no trailing "/", no empty, "." or ".." segments)',
        );
    });
});

// ---------------------------------------------------------------------------------------------
// Guard

describe("assertIgnitionSafe", () => {
    const file = (contents: string) =>
        serializeIgnition(new IgnitionBuilder().addFile("/etc/leak", contents, 0o600, true, "test").build());
    const fixSecret = "Ignition is unencrypted user data: push secrets over SSH as a NodeFile with secret: true (lib/assets.ts)";

    test("PEM private key in a file (percent-encoded data URL) is found", () => {
        const json = file("-----BEGIN RSA PRIVATE KEY-----\nMIIEow==\n-----END RSA PRIVATE KEY-----\n");
        expect(() => assertIgnitionSafe(json, "worker-0")).toThrow(
            `worker-0: $.storage.files[0].contents.source (/etc/leak) [decoded] contains a PEM private key (-----BEGIN RSA PRIVATE KEY-----); ${fixSecret}`,
        );
    });

    test("PEM private key in unit text, in a base64 data URL and gzip-compressed is found", () => {
        const unit = serializeIgnition(new IgnitionBuilder().addUnit({ name: "x.service", contents: "-----BEGIN PRIVATE KEY-----\n" }, "t").build());
        expect(() => assertIgnitionSafe(unit, "n")).toThrow(
            `n: $.systemd.units[0].contents (x.service) contains a PEM private key (-----BEGIN PRIVATE KEY-----); ${fixSecret}`,
        );
        const pem = "-----BEGIN EC PRIVATE KEY-----\nabc\n";
        const gz = JSON.stringify({
            ignition: { version: "3.3.0" },
            storage: { files: [{ path: "/k", contents: { compression: "gzip", source: "data:;base64," + gzipSync(Buffer.from(pem)).toString("base64") } }] },
        });
        expect(() => assertIgnitionSafe(gz, "n")).toThrow(
            `n: $.storage.files[0].contents.source (/k) [decoded] contains a PEM private key (-----BEGIN EC PRIVATE KEY-----); ${fixSecret}`,
        );
    });

    // base64 and age keys use only unreserved characters, so they are found in the still-encoded
    // data URL (no "[decoded]" in the location).
    test("a kubeconfig with client-key-data (base64 PEM) is found", () => {
        const b64 = Buffer.from("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n").toString("base64");
        expect(() => assertIgnitionSafe(file(`users:\n- name: admin\n  user:\n    client-key-data: ${b64}\n`), "ctl-0")).toThrow(
            `ctl-0: $.storage.files[0].contents.source (/etc/leak) contains a base64-encoded PEM private key (-----BEGIN EC PRIVATE KEY-----); ${fixSecret}`,
        );
    });

    test("bootstrap token is found and not echoed", () => {
        const json = file("token: abcdef.0123456789abcdef\n");
        expect(() => assertIgnitionSafe(json, "wrk-0")).toThrow(
            `wrk-0: $.storage.files[0].contents.source (/etc/leak) [decoded] contains what looks like a bootstrap token (abcdef.****************); ${fixSecret}`,
        );
    });

    test("age secret key is found and not echoed", () => {
        const json = file("AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ\n");
        expect(() => assertIgnitionSafe(json, "wrk-0")).toThrow(
            `wrk-0: $.storage.files[0].contents.source (/etc/leak) contains an age secret key (AGE-SECRET-KEY-1…); ${fixSecret}`,
        );
    });

    test("known versions are found with or without v; other numbers are not", () => {
        const fix = "Ignition must be version-free so an upgrade never re-creates a node: put versioned content in a NodeFile pushed over SSH (lib/assets.ts)";
        expect(() => assertIgnitionSafe(file("KUBELET_IMAGE=quay.io/poseidon/kubelet:v1.36.3\n"), "n", ["v1.36.3"])).toThrow(
            `n: $.storage.files[0].contents.source (/etc/leak) [decoded] contains the version v1.36.3 (known version 1.36.3); ${fix}`,
        );
        expect(() => assertIgnitionSafe(file("version 3.6.16\n"), "n", ["v1.36.3", "v3.6.16"])).toThrow(
            `n: $.storage.files[0].contents.source (/etc/leak) [decoded] contains the version 3.6.16 (known version 3.6.16); ${fix}`,
        );
        const harmless = file("addr 10.1.36.3\nother 1.36.30 11.36.3 1.36.3.4\n-----BEGIN CERTIFICATE-----\nab12cd.not-a-token-at-all\n");
        expect(() => assertIgnitionSafe(harmless, "n", ["v1.36.3"])).not.toThrow();
        // Without known versions, the version check is off.
        expect(() => assertIgnitionSafe(file("v1.36.3"), "n")).not.toThrow();
    });

    test("nodeIgnition runs the guard with the cluster's versions", () => {
        const n = node(flatcar, "wrk-0");
        const bad: IgnitionParts = { files: [{ path: "/etc/kubernetes/kubelet.env", contents: `KUBELET_IMAGE=quay.io/poseidon/kubelet:${flatcar.kubernetesVersion}\n`, mode: 0o644 }], units: [] };
        expect(() => nodeIgnition(flatcar, n, [bad])).toThrow(
            `Ignition of node wrk-0: $.storage.files[1].contents.source (/etc/kubernetes/kubelet.env) [decoded] contains the version ${flatcar.kubernetesVersion} (known version ${flatcar.kubernetesVersion.slice(1)}); Ignition must be version-free`,
        );
    });

    test("invalid JSON is refused", () => {
        expect(() => assertIgnitionSafe("{", "n")).toThrow(/^n: not valid JSON \(/);
    });
});

// ---------------------------------------------------------------------------------------------
// data: URLs

describe("data URLs", () => {
    test("percent-encoding keeps only unreserved characters and round-trips", () => {
        const text = "a b\n%20 ü € 'q' \"d\" (x)!*~-._/\\:=?#&+;,\t\u{1F600}\n";
        const url = encodeDataUrl(text);
        expect(url.startsWith("data:,")).toBe(true);
        expect(/^data:,([A-Za-z0-9\-._~]|%[0-9A-F]{2})*$/.test(url)).toBe(true);
        expect(decodeDataUrl(url)).toBe(text);
        expect(decodeURIComponent(url.slice(6))).toBe(text);
        expect(encodeDataUrl("")).toBe("data:,");
    });

    test("ignition-validate accepts the encoding of awkward text", () => {
        const text = "a b\n%20 ü € 'q' \"d\" (x)!*~-._/\\:=?#&+;,\t\u{1F600}\n";
        expectValid(serializeIgnition(new IgnitionBuilder().addFile("/etc/awkward", text, 0o644, true, "t").build()), "awkward");
    });
});
