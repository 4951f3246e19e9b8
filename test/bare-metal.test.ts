/**
 * Bare metal (modules/bare-metal): Matchbox profiles, groups and iPXE for Flatcar and Fedora
 * CoreOS, the delivery command, and the `opke:bare-metal:Cluster` component under Pulumi mocks.
 *
 * What these tests prove:
 * - the exact profile and group JSON of a controller on Fedora CoreOS and on Flatcar, the iPXE
 *   script Matchbox would serve (snapshot), and that the Ignition file a machine installs with is
 *   byte-for-byte the node's Ignition;
 * - the Flatcar install Ignition passes Debian's `ignition-validate` and its installer script and
 *   the delivery scripts pass `shellcheck`; the delivery script really writes, skips, cleans up and
 *   deletes files in a directory (run with bash against a temporary directory);
 * - boot configurations carry no secret and no Kubernetes/etcd version (modules/ignition's
 *   `assertIgnitionSafe`), and a Kubernetes/etcd version bump leaves every boot-config command input
 *   byte-identical;
 * - under mocks: the exact resource types and counts per mode, names, providers, and the
 *   dependsOn/deletedWith wiring through the pure option functions.
 *
 * What they do not prove: that real machines PXE-boot these profiles (iPXE builds, UEFI vs BIOS,
 * NIC firmware, DHCP/TFTP setup), that a real Matchbox v0.10 serves them (its group matching and
 * Ignition re-encoding are reproduced from its source, not run), that Flatcar/Fedora CoreOS install
 * from the vendor URLs or the cached assets, how long an install takes, or what the Pulumi engine
 * does with resource options (mocks never see them; the option functions are tested instead).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ClusterConfig, ClusterNode } from "../lib/config/schema";
import type * as MatchboxModule from "../modules/bare-metal/matchbox";
import { TEST_SSH_KEY as KEY, threeByTwoNodes } from "./helpers/fixtures";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Raw = Record<string, any>;

/** 3 controllers + 2 workers on bare metal, PXE-installed through Matchbox. */
function raw(overrides: Raw = {}, bareMetal: Raw = {}): Raw {
    return {
        clusterName: "lab",
        apiDnsName: "api.lab.example",
        ...threeByTwoNodes(),
        ssh: { authorizedKeys: [KEY] },
        pki: { algorithm: "ECDSA" },
        ...overrides,
        bareMetal: {
            mode: "matchbox",
            matchboxUrl: "http://matchbox.lab.example:8080",
            matchboxHost: { host: "matchbox.lab.example" },
            osVersion: overrides.os === "fedora-coreos" ? "42.20250929.3.0" : "4230.2.3",
            ...bareMetal,
        },
    };
}

function tool(name: string): void {
    const which = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" });
    if (which.status !== 0) {
        throw new Error(`${name} is not installed; run: apt-get update && apt-get install -y ${name === "ignition-validate" ? "ignition" : name}`);
    }
}

function shellcheck(script: string, name: string): void {
    tool("shellcheck");
    const res = spawnSync("shellcheck", ["--shell=bash", "-"], { input: script, encoding: "utf8" });
    if (res.status !== 0) throw new Error(`shellcheck ${name}:\n${res.stdout}${res.stderr}`);
}

describe("Matchbox boot configuration (pure renderers)", () => {
    let parse: (r: Raw) => ClusterConfig;
    let nodesOf: (cfg: ClusterConfig) => ClusterNode[];
    let ignitionOf: (cfg: ClusterConfig, node: ClusterNode) => string;
    let mb: typeof MatchboxModule;
    let tmp: string;

    beforeAll(() => {
        ({ parseClusterConfig: parse, clusterNodes: nodesOf } = require("../lib/config") as typeof import("../lib/config"));
        ({ renderNodeIgnition: ignitionOf } = require("../lib/render") as typeof import("../lib/render"));
        mb = require("../modules/bare-metal/matchbox") as typeof MatchboxModule;
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "opke-bare-metal-"));
    });

    afterAll(() => {
        if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    });

    const boot = (cfg: ClusterConfig, i = 0) => {
        const node = nodesOf(cfg)[i];
        return mb.renderBootConfig(cfg, node, ignitionOf(cfg, node));
    };
    const file = (m: MatchboxModule.MachineBoot, p: string) => {
        const f = m.files.find((x) => x.path === p);
        if (!f) throw new Error(`no ${p} in ${m.files.map((x) => x.path).join(", ")}`);
        return f.content;
    };

    test("Fedora CoreOS controller: one profile with the live PXE install, one group by MAC", () => {
        const cfg = parse(raw({ os: "fedora-coreos" }));
        const m = boot(cfg);
        expect(m.files.map((f) => f.path)).toEqual(["groups/lab.c1.json", "ignition/lab.c1.ign", "profiles/lab.c1.json"]);
        const base = "https://builds.coreos.fedoraproject.org/prod/streams/stable/builds/42.20250929.3.0/x86_64/fedora-coreos-42.20250929.3.0";
        expect(file(m, "profiles/lab.c1.json")).toBe(
            [
                "{",
                '  "boot": {',
                '    "args": [',
                '      "initrd=main",',
                `      "coreos.live.rootfs_url=${base}-live-rootfs.x86_64.img",`,
                '      "coreos.inst.install_dev=/dev/sda",',
                '      "coreos.inst.ignition_url=http://matchbox.lab.example:8080/ignition?uuid=${uuid}&mac=${mac:hexhyp}",',
                '      "console=tty0",',
                '      "console=ttyS0,115200n8"',
                "    ],",
                '    "initrd": [',
                `      "--name main ${base}-live-initramfs.x86_64.img"`,
                "    ],",
                `    "kernel": "${base}-live-kernel.x86_64"`,
                "  },",
                '  "id": "lab.c1",',
                '  "ignition_id": "lab.c1.ign",',
                '  "name": "lab controller c1: Fedora CoreOS stable install to /dev/sda"',
                "}",
                "",
            ].join("\n"),
        );
        expect(JSON.parse(file(m, "groups/lab.c1.json"))).toEqual({
            id: "lab.c1",
            name: "lab controller c1",
            profile: "lab.c1",
            selector: { mac: "52:54:00:00:00:11" },
        });
        expect(file(m, "groups/lab.c1.json")).toBe(
            '{\n  "id": "lab.c1",\n  "name": "lab controller c1",\n  "profile": "lab.c1",\n  "selector": {\n    "mac": "52:54:00:00:00:11"\n  }\n}\n',
        );
        expect(m.cachedAssets).toEqual([]);
        expect(m.ipxe).toMatchSnapshot("fedora-coreos c1 iPXE");
    });

    test("Flatcar controller: install profile + group by MAC, installed profile + group by MAC and os=installed", () => {
        const cfg = parse(raw());
        const m = boot(cfg);
        expect(m.files.map((f) => f.path)).toEqual([
            "groups/lab.c1.install.json",
            "groups/lab.c1.json",
            "ignition/lab.c1.ign",
            "ignition/lab.c1.install.ign",
            "profiles/lab.c1.install.json",
            "profiles/lab.c1.json",
        ]);
        const base = "https://stable.release.flatcar-linux.net/amd64-usr/4230.2.3";
        expect(JSON.parse(file(m, "profiles/lab.c1.install.json"))).toEqual({
            id: "lab.c1.install",
            name: "lab controller c1: Flatcar stable install to /dev/sda",
            boot: {
                kernel: `${base}/flatcar_production_pxe.vmlinuz`,
                initrd: [`--name main ${base}/flatcar_production_pxe_image.cpio.gz`],
                args: [
                    "initrd=main",
                    "flatcar.config.url=http://matchbox.lab.example:8080/ignition?uuid=${uuid}&mac=${mac:hexhyp}",
                    "flatcar.first_boot=yes",
                    "console=tty0",
                    "console=ttyS0,115200n8",
                ],
            },
            ignition_id: "lab.c1.install.ign",
        });
        expect(file(m, "profiles/lab.c1.json")).toBe('{\n  "id": "lab.c1",\n  "ignition_id": "lab.c1.ign",\n  "name": "lab controller c1: installed"\n}\n');
        expect(JSON.parse(file(m, "groups/lab.c1.install.json"))).toEqual({
            id: "lab.c1.install",
            name: "lab controller c1 (install)",
            profile: "lab.c1.install",
            selector: { mac: "52:54:00:00:00:11" },
        });
        expect(JSON.parse(file(m, "groups/lab.c1.json"))).toEqual({
            id: "lab.c1",
            name: "lab controller c1 (installed)",
            profile: "lab.c1",
            selector: { mac: "52:54:00:00:00:11", os: "installed" },
        });
        expect(m.ipxe).toMatchSnapshot("flatcar c1 iPXE");
        expect(m.ipxe).toBe(
            "#!ipxe\n" +
                `kernel ${base}/flatcar_production_pxe.vmlinuz initrd=main flatcar.config.url=http://matchbox.lab.example:8080/ignition?uuid=\${uuid}&mac=\${mac:hexhyp} flatcar.first_boot=yes console=tty0 console=ttyS0,115200n8\n` +
                `initrd --name main ${base}/flatcar_production_pxe_image.cpio.gz\n` +
                "boot\n",
        );
    });

    test.each(["flatcar", "fedora-coreos"])("%s: every machine installs exactly the node's Ignition bytes", (osName) => {
        const cfg = parse(raw({ os: osName }));
        for (const node of nodesOf(cfg)) {
            const ignition = ignitionOf(cfg, node);
            const m = mb.renderBootConfig(cfg, node, ignition);
            expect(m.id).toBe(`lab.${node.name}`);
            const written = file(m, `ignition/lab.${node.name}.ign`);
            expect(Buffer.from(written).equals(Buffer.from(ignition))).toBe(true);
            const finalProfile = m.profiles.find((p) => p.id === m.id);
            expect(finalProfile?.ignition_id).toBe(`lab.${node.name}.ign`);
            expect(m.owned).toEqual([
                `groups/lab.${node.name}.install.json`,
                `groups/lab.${node.name}.json`,
                `ignition/lab.${node.name}.install.ign`,
                `ignition/lab.${node.name}.ign`,
                `profiles/lab.${node.name}.install.json`,
                `profiles/lab.${node.name}.json`,
            ]);
        }
    });

    test("the Flatcar install Ignition passes ignition-validate and runs flatcar-install with sshd on 2222", () => {
        tool("ignition-validate");
        const cfg = parse(raw());
        const m = boot(cfg, 3);
        const install = file(m, "ignition/lab.w1.install.ign");
        const f = path.join(tmp, "install.ign");
        fs.writeFileSync(f, install);
        const res = spawnSync("ignition-validate", [f], { encoding: "utf8" });
        expect(res.error).toBeUndefined();
        expect(`${res.status} ${res.stdout}${res.stderr}`).toBe("0 ");

        const { decodeDataUrl } = require("../modules/ignition") as typeof import("../modules/ignition");
        const parsed = JSON.parse(install) as {
            passwd: { users: { name: string; sshAuthorizedKeys: string[] }[] };
            storage: { files: { path: string; mode: number; contents: { source: string } }[] };
            systemd: { units: { name: string; enabled?: boolean; contents?: string; dropins?: { name: string; contents: string }[] }[] };
        };
        expect(parsed.passwd.users).toEqual([{ name: "core", sshAuthorizedKeys: [KEY] }]);
        expect(parsed.storage.files.map((x) => [x.path, x.mode])).toEqual([["/opt/installer", 0o500]]);
        const script = decodeDataUrl(parsed.storage.files[0].contents.source);
        expect(script).toBe(
            [
                "#!/bin/bash",
                "# opke: install Flatcar to disk with this node's final Ignition, then reboot into it.",
                "set -euxo pipefail",
                "mkdir -p /run/opke-install",
                "curl --fail --silent --show-error --location --retry 10 --retry-delay 5 --output /run/opke-install/ignition.json 'http://matchbox.lab.example:8080/ignition?mac=52:54:00:00:00:21&os=installed'",
                "flatcar-install -d /dev/sda -C stable -V 4230.2.3 -i /run/opke-install/ignition.json",
                "udevadm settle",
                "systemctl reboot",
                "",
            ].join("\n"),
        );
        shellcheck(script, "flatcar installer");
        expect(parsed.systemd.units.map((u) => [u.name, u.enabled])).toEqual([
            ["installer.service", true],
            ["sshd.socket", undefined],
        ]);
        expect(parsed.systemd.units[0].contents).toContain("ExecStart=/opt/installer\n");
        expect(parsed.systemd.units[1].dropins).toEqual([{ name: "10-sshd-port.conf", contents: "[Socket]\nListenStream=\nListenStream=2222\n" }]);
    });

    test("cachedInstall boots and installs from the Matchbox assets", () => {
        const flatcar = boot(parse(raw({}, { cachedInstall: true })));
        const install = flatcar.profiles[0];
        expect(install.boot?.kernel).toBe("http://matchbox.lab.example:8080/assets/flatcar/4230.2.3/flatcar_production_pxe.vmlinuz");
        expect(install.boot?.initrd).toEqual(["--name main http://matchbox.lab.example:8080/assets/flatcar/4230.2.3/flatcar_production_pxe_image.cpio.gz"]);
        expect(flatcar.cachedAssets).toEqual([
            "flatcar/4230.2.3/flatcar_production_pxe.vmlinuz",
            "flatcar/4230.2.3/flatcar_production_pxe_image.cpio.gz",
            "flatcar/4230.2.3/flatcar_production_image.bin.bz2",
            "flatcar/4230.2.3/flatcar_production_image.bin.bz2.sig",
        ]);
        const { decodeDataUrl } = require("../modules/ignition") as typeof import("../modules/ignition");
        const script = decodeDataUrl((JSON.parse(file(flatcar, "ignition/lab.c1.install.ign")) as { storage: { files: { contents: { source: string } }[] } }).storage.files[0].contents.source);
        expect(script).toContain("flatcar-install -d /dev/sda -C stable -V 4230.2.3 -b http://matchbox.lab.example:8080/assets/flatcar -i /run/opke-install/ignition.json\n");

        const fcos = boot(parse(raw({ os: "fedora-coreos" }, { cachedInstall: true, osChannel: "next" })));
        const a = "http://matchbox.lab.example:8080/assets/fedora-coreos/fedora-coreos-42.20250929.3.0";
        expect(fcos.profiles[0].boot).toEqual({
            kernel: `${a}-live-kernel.x86_64`,
            initrd: [`--name main ${a}-live-initramfs.x86_64.img`],
            args: [
                "initrd=main",
                `coreos.live.rootfs_url=${a}-live-rootfs.x86_64.img`,
                "coreos.inst.install_dev=/dev/sda",
                "coreos.inst.ignition_url=http://matchbox.lab.example:8080/ignition?uuid=${uuid}&mac=${mac:hexhyp}",
                "console=tty0",
                "console=ttyS0,115200n8",
            ],
        });
        expect(fcos.profiles[0].name).toBe("lab controller c1: Fedora CoreOS next install to /dev/sda");
        expect(fcos.cachedAssets).toEqual([
            "fedora-coreos/fedora-coreos-42.20250929.3.0-live-kernel.x86_64",
            "fedora-coreos/fedora-coreos-42.20250929.3.0-live-initramfs.x86_64.img",
            "fedora-coreos/fedora-coreos-42.20250929.3.0-live-rootfs.x86_64.img",
        ]);
    });

    test("per-machine disk, kernel arguments and UUID; a machine without MAC is selected by UUID", () => {
        const r = raw({}, {
            kernelArgs: [],
            machines: {
                w1: { installDisk: "/dev/nvme0n1", kernelArgs: ["nomodeset"], uuid: "4C4C4544-0042-3010-8056-B8C04F4C5931" },
                w2: { uuid: "4c4c4544-0042-3010-8056-b8c04f4c5932" },
            },
        });
        delete r.workers[1].mac;
        const cfg = parse(r);
        const w1 = boot(cfg, 3);
        expect(w1.groups.map((g) => g.selector)).toEqual([
            { mac: "52:54:00:00:00:21", uuid: "4c4c4544-0042-3010-8056-b8c04f4c5931" },
            { mac: "52:54:00:00:00:21", os: "installed", uuid: "4c4c4544-0042-3010-8056-b8c04f4c5931" },
        ]);
        expect(w1.profiles[0].boot?.args.slice(3)).toEqual(["nomodeset"]);
        expect(w1.profiles[0].name).toBe("lab worker w1: Flatcar stable install to /dev/nvme0n1");
        const w2 = boot(cfg, 4);
        expect(w2.groups.map((g) => g.selector)).toEqual([
            { uuid: "4c4c4544-0042-3010-8056-b8c04f4c5932" },
            { os: "installed", uuid: "4c4c4544-0042-3010-8056-b8c04f4c5932" },
        ]);
        const { decodeDataUrl } = require("../modules/ignition") as typeof import("../modules/ignition");
        const script = decodeDataUrl((JSON.parse(file(w2, "ignition/lab.w2.install.ign")) as { storage: { files: { contents: { source: string } }[] } }).storage.files[0].contents.source);
        expect(script).toContain("'http://matchbox.lab.example:8080/ignition?uuid=4c4c4544-0042-3010-8056-b8c04f4c5932&os=installed'");

        const fcos = parse(raw({ os: "fedora-coreos" }, { machines: { c2: { installDisk: "/dev/disk/by-id/wwn-0x5000c500a1b2c3d4" } } }));
        expect(boot(fcos, 1).profiles[0].boot?.args[2]).toBe("coreos.inst.install_dev=/dev/disk/by-id/wwn-0x5000c500a1b2c3d4");
    });

    test("boot configurations carry no secret and no Kubernetes or etcd version", () => {
        const { assertIgnitionSafe } = require("../modules/ignition") as typeof import("../modules/ignition");
        for (const osName of ["flatcar", "fedora-coreos"]) {
            const cfg = parse(raw({ os: osName }));
            for (const node of nodesOf(cfg)) {
                const m = mb.renderBootConfig(cfg, node, ignitionOf(cfg, node));
                for (const f of m.files) {
                    // Profiles and groups are JSON too: the guard scans every string in them.
                    assertIgnitionSafe(f.content, `${node.name} ${f.path}`, [cfg.kubernetesVersion, cfg.etcdVersion]);
                }
                const cmd = mb.bootCommand(m, cfg.bareMetal.assetsDir, true);
                for (const text of [cmd.create, cmd.delete, cmd.stdin, m.ipxe]) {
                    expect(text).not.toContain(cfg.kubernetesVersion.slice(1));
                    expect(text).not.toContain(cfg.etcdVersion.slice(1));
                    expect(text).not.toMatch(/PRIVATE KEY/);
                }
            }
        }
    });

    test("a Kubernetes and etcd version bump leaves every boot-config command input byte-identical", () => {
        for (const osName of ["flatcar", "fedora-coreos"]) {
            const a = parse(raw({ os: osName }));
            const b = parse(raw({ os: osName, kubernetesVersion: "1.35.4", etcdVersion: "3.5.26" }));
            expect(a.kubernetesVersion).not.toBe(b.kubernetesVersion);
            for (const [i, node] of nodesOf(a).entries()) {
                const ca = mb.bootCommand(boot(a, i), a.bareMetal.assetsDir, true);
                const cb = mb.bootCommand(boot(b, i), b.bareMetal.assetsDir, true);
                expect(cb).toEqual(ca);
                expect(node.name).toBe(nodesOf(b)[i].name);
            }
        }
    });

    test("nothing is rendered for installed hosts or other platforms", () => {
        const installed = parse(raw({}, { mode: "installed" }));
        const node = nodesOf(installed)[0];
        expect(mb.writesBootConfig(installed)).toBe(false);
        expect(mb.renderBootFiles(installed, node, ignitionOf(installed, node))).toEqual([]);
        // The same config on another platform (its own settings are not needed by this check).
        const openstack: ClusterConfig = { ...parse(raw()), platform: "openstack" };
        expect(mb.writesBootConfig(openstack)).toBe(false);
        const matchbox = parse(raw());
        expect(mb.renderBootFiles(matchbox, node, ignitionOf(matchbox, node)).map((f) => f.path)).toEqual([
            "groups/lab.c1.install.json",
            "groups/lab.c1.json",
            "ignition/lab.c1.ign",
            "ignition/lab.c1.install.ign",
            "profiles/lab.c1.install.json",
            "profiles/lab.c1.json",
            "install.ipxe",
        ]);
    });

    describe("delivery command", () => {
        const run = (command: string, stdin = "") => spawnSync("/bin/sh", ["-c", command], { input: stdin, encoding: "utf8" });

        test("the writer and delete scripts pass shellcheck", () => {
            shellcheck(`#!/bin/bash\n${mb.BOOT_WRITER_SCRIPT}`, "BOOT_WRITER_SCRIPT");
            shellcheck(`#!/bin/bash\n${mb.BOOT_DELETE_SCRIPT}`, "BOOT_DELETE_SCRIPT");
        });

        test("command lines: sudo only when asked, contents only on stdin", () => {
            const cfg = parse(raw());
            const m = boot(cfg);
            const withSudo = mb.bootCommand(m, "/var/lib/matchbox", true);
            const plain = mb.bootCommand(m, "/var/lib/matchbox", false);
            expect(withSudo.create.startsWith("sudo -n /bin/bash -c 'set -euo pipefail\n")).toBe(true);
            expect(plain.create.startsWith("/bin/bash -c 'set -euo pipefail\n")).toBe(true);
            expect(withSudo.create.endsWith(
                ` opke-boot /var/lib/matchbox lab.c1 ${withSudo.payloadSha256} groups/lab.c1.install.json groups/lab.c1.json ignition/lab.c1.install.ign ignition/lab.c1.ign profiles/lab.c1.install.json profiles/lab.c1.json`,
            )).toBe(true);
            expect(withSudo.delete.endsWith(
                " opke-boot-delete /var/lib/matchbox lab.c1 groups/lab.c1.install.json groups/lab.c1.json ignition/lab.c1.install.ign ignition/lab.c1.ign profiles/lab.c1.install.json profiles/lab.c1.json",
            )).toBe(true);
            expect(withSudo.payloadSha256).toBe(mb.sha256(withSudo.stdin));
            expect(withSudo.create).not.toContain("passwd");
            expect(withSudo.stdin.split("\n")[0]).toBe(`groups/lab.c1.install.json ${mb.sha256(m.files[0].content)}`);
        });

        test("writes atomically, leaves unchanged files alone, removes what a machine no longer renders, deletes", () => {
            const dir = path.join(tmp, "matchbox");
            const flatcar = parse(raw());
            const fcos = parse(raw({ os: "fedora-coreos" }));
            const c1 = mb.bootCommand(boot(flatcar), dir, false);
            let res = run(c1.create, c1.stdin);
            expect(res.stderr).toBe("");
            expect(res.status).toBe(0);
            const listing = () => spawnSync("sh", ["-c", `cd ${dir} && find . -type f -printf '%m %P\\n' | sort`], { encoding: "utf8" }).stdout;
            expect(listing()).toBe(
                [
                    "644 groups/lab.c1.install.json",
                    "644 groups/lab.c1.json",
                    "644 ignition/lab.c1.ign",
                    "644 ignition/lab.c1.install.ign",
                    "644 profiles/lab.c1.install.json",
                    "644 profiles/lab.c1.json",
                    "",
                ].join("\n"),
            );
            for (const f of boot(flatcar).files) expect(fs.readFileSync(path.join(dir, f.path), "utf8")).toBe(f.content);
            expect(res.stdout.split("\n").filter((l) => l !== "")).toEqual(boot(flatcar).files.map((f) => `opke-boot lab.c1: wrote ${f.path}`));

            // Another machine's files are never touched.
            const c2 = mb.bootCommand(boot(flatcar, 1), dir, false);
            expect(run(c2.create, c2.stdin).status).toBe(0);

            res = run(c1.create, c1.stdin);
            expect(res.stdout.split("\n").filter((l) => l !== "")).toEqual(boot(flatcar).files.map((f) => `opke-boot lab.c1: unchanged ${f.path}`));

            // Switching c1 to Fedora CoreOS rewrites its final files and removes its Flatcar install files.
            const c1fcos = mb.bootCommand(boot(fcos), dir, false);
            res = run(c1fcos.create, c1fcos.stdin);
            expect(res.status).toBe(0);
            expect(res.stdout.split("\n").filter((l) => l !== "")).toEqual([
                "opke-boot lab.c1: wrote groups/lab.c1.json",
                "opke-boot lab.c1: wrote ignition/lab.c1.ign",
                "opke-boot lab.c1: wrote profiles/lab.c1.json",
                "opke-boot lab.c1: removed groups/lab.c1.install.json",
                "opke-boot lab.c1: removed ignition/lab.c1.install.ign",
                "opke-boot lab.c1: removed profiles/lab.c1.install.json",
            ]);
            expect(listing()).toBe(
                [
                    "644 groups/lab.c1.json",
                    "644 groups/lab.c2.install.json",
                    "644 groups/lab.c2.json",
                    "644 ignition/lab.c1.ign",
                    "644 ignition/lab.c2.ign",
                    "644 ignition/lab.c2.install.ign",
                    "644 profiles/lab.c1.json",
                    "644 profiles/lab.c2.install.json",
                    "644 profiles/lab.c2.json",
                    "",
                ].join("\n"),
            );

            // A payload that does not match the hash in the command line writes nothing.
            const before = listing();
            res = run(c1.create, c1.stdin.replace("lab.c1", "lab.cX"));
            expect(res.status).toBe(1);
            expect(res.stderr).toMatch(/^opke-boot lab\.c1: payload sha256 [0-9a-f]{64}, expected [0-9a-f]{64}; nothing written\n$/);
            expect(listing()).toBe(before);

            res = run(c1fcos.delete);
            expect(res.status).toBe(0);
            expect(res.stdout).toBe("opke-boot lab.c1: removed groups/lab.c1.json\nopke-boot lab.c1: removed ignition/lab.c1.ign\nopke-boot lab.c1: removed profiles/lab.c1.json\n");
            expect(listing()).toBe(
                ["644 groups/lab.c2.install.json", "644 groups/lab.c2.json", "644 ignition/lab.c2.ign", "644 ignition/lab.c2.install.ign", "644 profiles/lab.c2.install.json", "644 profiles/lab.c2.json", ""].join("\n"),
            );
            // Deleting twice is harmless.
            expect(run(c1fcos.delete).status).toBe(0);
            expect(fs.readdirSync(path.join(dir, "groups")).filter((f) => f.startsWith("."))).toEqual([]);
        });
    });
});

describe("opke:bare-metal:Cluster under mocks", () => {
    type Mocks = import("./helpers/mocks").PulumiMocks;
    let mocks: Mocks;
    let parse: (r: Raw) => ClusterConfig;
    let mb: typeof MatchboxModule;
    let opts: typeof import("../modules/bare-metal/options");
    let outputValue: typeof import("./helpers/mocks").outputValue;

    beforeAll(async () => {
        const helpers = require("./helpers/mocks") as typeof import("./helpers/mocks");
        outputValue = helpers.outputValue;
        mocks = await helpers.setupPulumiMocks();
        ({ parseClusterConfig: parse } = require("../lib/config") as typeof import("../lib/config"));
        mb = require("../modules/bare-metal/matchbox") as typeof MatchboxModule;
        opts = require("../modules/bare-metal/options") as typeof import("../modules/bare-metal/options");
    });

    /** Builds Cluster + BareMetalCluster named `name` and waits until every push's inputs resolved. */
    async function build(name: string, cfg: ClusterConfig) {
        const { Cluster } = require("../stacks/cluster") as typeof import("../stacks/cluster");
        const { BareMetalCluster } = require("../modules/bare-metal/component") as typeof import("../modules/bare-metal/component");
        const cluster = new Cluster(name, { config: cfg });
        // A stand-in key: mocks never dial, and it keeps sshConnection from warning about a missing agent.
        const bm = new BareMetalCluster(name, { config: cfg, cluster, privateKey: "test-key" });
        await Promise.all(Object.values(bm.provisioned.pushes).map((p) => outputValue(p.stdin as import("@pulumi/pulumi").Output<string>)));
        await Promise.all(Object.values(bm.bootConfigs).map((b) => outputValue(b.stdout)));
        await outputValue(bm.provisioned.bootstrap.stdout);
        return { cluster, bm };
    }

    /** Custom resources registered under component `name` (by resource-name prefix), by type. */
    const ours = (name: string) => mocks.resources.filter((r) => r.custom && r.name.startsWith(`${name}-`) && !r.type.startsWith("tls:") && r.type !== "pulumi:providers:tls");
    const counts = (name: string) => {
        const out: Record<string, number> = {};
        for (const r of ours(name)) out[r.type] = (out[r.type] ?? 0) + 1;
        return out;
    };

    test("matchbox: one remote boot command per machine on the provisioning host, then the shared pushes", async () => {
        const cfg = parse(raw());
        const { cluster } = await build("mbx", cfg);
        expect(counts("mbx")).toEqual({ "pulumi:providers:command": 1, "command:remote:Command": 5 + 5 + 1 });
        expect(mocks.resources.filter((r) => r.type === "opke:bare-metal:Cluster").map((r) => r.name)).toContain("mbx");
        const bootNames = ours("mbx").filter((r) => r.name.startsWith("mbx-boot-")).map((r) => r.name);
        expect(bootNames).toEqual(["mbx-boot-c1", "mbx-boot-c2", "mbx-boot-c3", "mbx-boot-w1", "mbx-boot-w2"]);
        for (const node of cluster.nodes) {
            const r = mocks.get("command:remote:Command", `mbx-boot-${node.name}`);
            const expected = mb.bootCommand(mb.renderBootConfig(cfg, node, node.ignition), "/var/lib/matchbox", true);
            expect(r.inputs.create).toBe(expected.create);
            expect(r.inputs.delete).toBe(expected.delete);
            expect(r.inputs.stdin).toBe(expected.stdin);
            expect(r.inputs.triggers).toBeUndefined();
            expect(r.inputs.logging).toBe("stdoutAndStderr");
            expect(r.inputs.connection).toEqual({ host: "matchbox.lab.example", port: 22, user: "core", privateKey: "test-key", dialErrorLimit: 60, perDialTimeout: 15 });
            // Only the connection is secret; the boot config itself holds no secret (see the pure tests).
            expect(r.secretInputs).toEqual(["connection"]);
            expect(r.provider).toMatch(/\$pulumi:providers:command::mbx-command::/);
            const push = mocks.get("command:remote:Command", `mbx-push-${node.name}`);
            expect(push.provider).toMatch(/\$pulumi:providers:command::mbx-command::/);
            // The push is the SSH wait: 60 min of dial budget while the machine installs.
            expect(push.inputs.connection).toEqual({ host: node.ip, port: 22, user: "core", privateKey: "test-key", dialErrorLimit: 730, perDialTimeout: 10 });
        }
    });

    test("directory: one local boot command per machine, no SSH to a provisioning host", async () => {
        const r = raw({}, { mode: "directory", assetsDir: "/srv/matchbox" });
        delete r.bareMetal.matchboxHost;
        const cfg = parse(r);
        const { cluster } = await build("dir", cfg);
        expect(counts("dir")).toEqual({ "pulumi:providers:command": 1, "command:local:Command": 5, "command:remote:Command": 5 + 1 });
        for (const node of cluster.nodes) {
            const b = mocks.get("command:local:Command", `dir-boot-${node.name}`);
            const expected = mb.bootCommand(mb.renderBootConfig(cfg, node, node.ignition), "/srv/matchbox", false);
            expect([b.inputs.create, b.inputs.delete, b.inputs.stdin]).toEqual([expected.create, expected.delete, expected.stdin]);
            expect(b.inputs.create.startsWith("/bin/bash -c ")).toBe(true);
            expect(b.secretInputs).toEqual([]);
        }
    });

    test("installed: no boot resources at all; pushes keep the shared dial defaults", async () => {
        const r = raw({}, { mode: "installed" });
        for (const n of [...r.controllers, ...r.workers]) delete n.mac;
        const cfg = parse(r);
        const { bm } = await build("inst", cfg);
        expect(counts("inst")).toEqual({ "pulumi:providers:command": 1, "command:remote:Command": 5 + 1 });
        expect(bm.bootConfigs).toEqual({});
        expect(ours("inst").filter((x) => x.name.includes("-boot-"))).toEqual([]);
        expect(mocks.get("command:remote:Command", "inst-push-c1").inputs.connection).toEqual({
            host: "10.0.0.11",
            port: 22,
            user: "core",
            privateKey: "test-key",
            dialErrorLimit: 60,
            perDialTimeout: 15,
        });
    });

    test("a Kubernetes/etcd version bump changes no boot-config input", async () => {
        const a = parse(raw({ os: "fedora-coreos" }));
        const b = parse(raw({ os: "fedora-coreos", kubernetesVersion: "1.35.4", etcdVersion: "3.5.26" }));
        await build("va", a);
        await build("vb", b);
        for (const node of ["c1", "c2", "c3", "w1", "w2"]) {
            const ra = mocks.get("command:remote:Command", `va-boot-${node}`);
            const rb = mocks.get("command:remote:Command", `vb-boot-${node}`);
            expect(JSON.stringify(rb.inputs)).toBe(JSON.stringify(ra.inputs));
        }
        // ... while the versioned pushes do change (proof the bump reached the cluster).
        expect(mocks.get("command:remote:Command", "vb-push-c1").inputs.create).not.toBe(mocks.get("command:remote:Command", "va-push-c1").inputs.create);
    });

    test("options: boot configs replace only on a generation change, delete before replace, no deletedWith", () => {
        const pulumi = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
        const parent = new pulumi.ComponentResource("test:index:Parent", "opts-parent");
        const command = require("@pulumi/command") as typeof import("@pulumi/command");
        const provider = new command.Provider("opts-command", {}, { parent });
        expect(opts.bootCommandOptions({ parent, provider, node: { generation: 2 } })).toEqual({
            parent,
            provider,
            ignoreChanges: [],
            replacementTrigger: 2,
            deleteBeforeReplace: true,
            customTimeouts: { create: "10m", update: "10m", delete: "10m" },
        });
        expect(opts.bootCommandName("dev", "c1")).toBe("dev-boot-c1");
    });

    test("wiring: each push dependsOn and is deletedWith its machine's boot config; installed hosts get neither", () => {
        const pulumi = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
        const c1 = new pulumi.ComponentResource("test:index:Boot", "wiring-c1");
        const w = opts.provisionWiring({ c1 });
        expect(w.hostResource({ name: "c1" })).toBe(c1);
        expect(w.dependsOn({ name: "c1" })).toEqual([c1]);
        expect(w.hostResource({ name: "w1" })).toBeUndefined();
        expect(w.dependsOn({ name: "w1" })).toEqual([]);
        expect(w.hostResource({ name: "constructor" })).toBeUndefined();

        // And through lib/provision's own option function, as provisionNodes applies it.
        const { commandOptions } = require("../lib/provision") as typeof import("../lib/provision");
        const o = commandOptions({ parent: c1, dependsOn: w.dependsOn({ name: "c1" }), deletedWith: w.hostResource({ name: "c1" }) });
        expect([o.dependsOn, o.deletedWith]).toEqual([[c1], c1]);
        expect(commandOptions({ parent: c1, dependsOn: w.dependsOn({ name: "w1" }), deletedWith: w.hostResource({ name: "w1" }) })).not.toHaveProperty("deletedWith");
    });

    test("dial budget and connections", () => {
        expect(opts.installDialBudget(60)).toEqual({ dialErrorLimit: 730, perDialTimeout: 10 });
        expect(opts.installDialBudget(5)).toEqual({ dialErrorLimit: 70, perDialTimeout: 10 });
        expect(() => opts.installDialBudget(0)).toThrow("bareMetal.installTimeoutMinutes: 0 is not a whole number of minutes ≥ 1");
        const cfg = parse(raw({ ssh: { authorizedKeys: [KEY], user: "ops", agentSocketPath: "/run/user/1000/ssh-agent.socket" } }, {
            matchboxHost: { host: "10.0.0.2", port: 2200, user: "root", hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINlKIAfhwgD3osglJv0BO8m48FG+cBCSTQBl3O56poLQ mbx" },
            installTimeoutMinutes: 30,
        }));
        expect(opts.matchboxConnection(cfg, "KEY")).toEqual({
            host: "10.0.0.2",
            port: 2200,
            user: "root",
            privateKey: "KEY",
            agentSocketPath: "/run/user/1000/ssh-agent.socket",
            hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINlKIAfhwgD3osglJv0BO8m48FG+cBCSTQBl3O56poLQ mbx",
        });
        expect(opts.nodeConnection(cfg, { name: "w1", ip: "10.0.0.21" }, "KEY")).toEqual({
            host: "10.0.0.21",
            port: 22,
            user: "ops",
            privateKey: "KEY",
            agentSocketPath: "/run/user/1000/ssh-agent.socket",
            dialErrorLimit: 370,
            perDialTimeout: 10,
        });
        // A root login on the provisioning host writes without sudo.
        const m = mb.renderBootConfig(cfg, { name: "c1", role: "controller", mac: "52:54:00:00:00:11" }, "{}\n");
        expect(mb.bootCommand(m, cfg.bareMetal.assetsDir, cfg.bareMetal.matchboxHost?.user !== "root").create.startsWith("/bin/bash -c ")).toBe(true);
    });

    test("the component refuses other platforms", () => {
        const { Cluster } = require("../stacks/cluster") as typeof import("../stacks/cluster");
        const { BareMetalCluster } = require("../modules/bare-metal/component") as typeof import("../modules/bare-metal/component");
        const cfg: ClusterConfig = { ...parse(raw()), platform: "openstack" };
        expect(() => new BareMetalCluster("osx", { config: cfg, cluster: new Cluster("osx", { config: cfg }), privateKey: "test-key" })).toThrow(
            'opke:bare-metal:Cluster osx: platform is "openstack"; this component builds platform "bare-metal" only',
        );
    });
});
