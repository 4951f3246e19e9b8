/**
 * modules/etcd renderers: the version-free `etcd-member.service` for Ignition and the member
 * files (etcd.env, image.env, certificates) for the SSH push.
 *
 * What these tests do NOT prove: that etcd v3.6 accepts every ETCD_* variable, that the member
 * certificates verify against the CA, or that docker/podman run the unit as written. A later
 * end-to-end test starts the real etcd binary from exactly this etcd.env; the PKI tests cover the
 * certificates. `systemd-analyze verify` here only proves the unit files parse (sections and keys
 * are known to systemd 252).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ClusterConfig, ClusterNode, clusterNodes } from "../lib/config/schema";
import { PkiMaterial } from "../lib/pki/spec";
import { etcdEnv, etcdIgnition, etcdImageEnv, etcdMemberFiles, ETCD_UNIT } from "../modules/etcd";
import { demoConfig, fakeEtcdMaterial } from "./helpers/fixtures";

/** The renderer tests' "demo" cluster (3 controllers + w1), schema-parsed. */
const config = (overrides: Record<string, unknown> = {}): ClusterConfig => demoConfig(overrides);

function node(cfg: ClusterConfig, name: string): ClusterNode {
    const n = clusterNodes(cfg).find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
}

describe("etcdIgnition", () => {
    test("one enabled etcd-member.service (flatcar: docker)", () => {
        const parts = etcdIgnition(config());
        expect(parts.files).toEqual([]);
        expect(parts.units.map((u) => [u.name, u.enabled])).toEqual([[ETCD_UNIT, true]]);
        expect(parts.units[0].contents).toMatchSnapshot();
    });

    test("fedora-coreos runs podman with SELinux relabels", () => {
        const contents = etcdIgnition(config({ os: "fedora-coreos" })).units[0].contents!;
        expect(contents).toMatchSnapshot();
        expect(contents).toContain("ExecStart=/usr/bin/podman run --rm --name etcd-member");
        expect(contents).toContain("--volume /etc/ssl/etcd:/etc/ssl/etcd:ro,Z");
        expect(contents).not.toContain("docker");
    });

    test("the unit reads the image from image.env and every flag from etcd.env, and restarts on failure", () => {
        const contents = etcdIgnition(config()).units[0].contents!;
        const lines = contents.split("\n");
        expect(lines).toContain("EnvironmentFile=/etc/etcd/image.env");
        expect(lines).toContain("  --env-file /etc/etcd/etcd.env \\");
        expect(lines).toContain("  --network host \\");
        expect(lines).toContain("  --volume /var/lib/etcd:/var/lib/etcd:rw \\");
        expect(lines).toContain("  --volume /etc/ssl/etcd:/etc/ssl/etcd:ro \\");
        expect(lines).toContain("  ${ETCD_IMAGE}");
        expect(lines).toContain("Restart=on-failure");
        expect(lines).toContain("WantedBy=multi-user.target");
        // Waits for the pushed files: skipped (not failed) until they exist.
        for (const p of ["/etc/etcd/etcd.env", "/etc/etcd/image.env", "/etc/ssl/etcd/ca.crt", "/etc/ssl/etcd/server.key", "/etc/ssl/etcd/peer.key"]) {
            expect(lines).toContain(`ConditionPathExists=${p}`);
        }
        // No shell snippets to lint: the unit runs the container directly.
        expect(contents).not.toMatch(/\b(ba)?sh -c\b/);
    });

    test("version-free and member-free: other versions, other controllers give identical parts", () => {
        const a = etcdIgnition(config());
        const b = etcdIgnition(
            config({
                kubernetesVersion: "v1.37.0",
                etcdVersion: "v3.6.99",
                clusterName: "other",
                controllers: [{ name: "x1", ip: "10.0.0.51" }],
            }),
        );
        expect(b).toEqual(a);
        const json = JSON.stringify(a);
        expect(json).not.toMatch(/v?3\.6\.\d+|v?1\.36\.\d+/);
        expect(json).not.toContain("10.0.0.11");
        expect(json).not.toContain("quay.io");
    });

    test("no secret material in Ignition", () => {
        const cfg = config();
        const json = JSON.stringify(etcdIgnition(cfg));
        expect(json).not.toContain("-----BEGIN");
        for (const c of Object.values(fakeEtcdMaterial(cfg).certificates)) {
            expect(json).not.toContain(c.keyPem.split("\n")[1]);
        }
    });
});

describe("etcdMemberFiles", () => {
    test("exact etcd.env of member c2", () => {
        const cfg = config();
        expect(etcdEnv(cfg, node(cfg, "c2"))).toBe(
            [
                "ETCD_NAME=c2",
                "ETCD_DATA_DIR=/var/lib/etcd",
                "ETCD_LISTEN_CLIENT_URLS=https://10.0.0.12:2379,https://127.0.0.1:2379",
                "ETCD_ADVERTISE_CLIENT_URLS=https://10.0.0.12:2379",
                "ETCD_LISTEN_PEER_URLS=https://10.0.0.12:2380",
                "ETCD_INITIAL_ADVERTISE_PEER_URLS=https://10.0.0.12:2380",
                "ETCD_INITIAL_CLUSTER=c1=https://10.0.0.11:2380,c2=https://10.0.0.12:2380,c3=https://10.0.0.13:2380",
                "ETCD_INITIAL_CLUSTER_STATE=new",
                "ETCD_INITIAL_CLUSTER_TOKEN=demo",
                "ETCD_STRICT_RECONFIG_CHECK=true",
                "ETCD_LISTEN_METRICS_URLS=http://127.0.0.1:2381",
                "ETCD_TRUSTED_CA_FILE=/etc/ssl/etcd/ca.crt",
                "ETCD_CERT_FILE=/etc/ssl/etcd/server.crt",
                "ETCD_KEY_FILE=/etc/ssl/etcd/server.key",
                "ETCD_CLIENT_CERT_AUTH=true",
                "ETCD_PEER_TRUSTED_CA_FILE=/etc/ssl/etcd/ca.crt",
                "ETCD_PEER_CERT_FILE=/etc/ssl/etcd/peer.crt",
                "ETCD_PEER_KEY_FILE=/etc/ssl/etcd/peer.key",
                "ETCD_PEER_CLIENT_CERT_AUTH=true",
                "",
            ].join("\n"),
        );
    });

    test("etcd.env is a plain env file: unique ETCD_* keys, no quotes, no version", () => {
        const cfg = config();
        const env = etcdEnv(cfg, node(cfg, "c1"));
        const keys = env.trimEnd().split("\n").map((line) => {
            expect(line).toMatch(/^ETCD_[A-Z_]+=[^"'\s]+$/);
            return line.split("=")[0];
        });
        expect(new Set(keys).size).toBe(keys.length);
        expect(env).not.toContain(cfg.etcdVersion);
    });

    test("image.env carries the only etcd version", () => {
        expect(etcdImageEnv(config())).toBe("ETCD_IMAGE=quay.io/coreos/etcd:v3.6.16\n");
        expect(etcdImageEnv(config({ etcdVersion: "v3.6.17", images: { etcd: "registry.example.com/etcd" } }))).toBe(
            "ETCD_IMAGE=registry.example.com/etcd:v3.6.17\n",
        );
    });

    test("files, modes, owners, secrets and restarts; sorted by path", () => {
        const cfg = config();
        const m = fakeEtcdMaterial(cfg);
        const assets = etcdMemberFiles(cfg, node(cfg, "c3"), m);
        expect(assets.directories).toEqual([
            { path: "/etc/etcd", mode: 0o755, owner: "root:root" },
            { path: "/etc/ssl/etcd", mode: 0o700, owner: "root:root" },
            { path: "/var/lib/etcd", mode: 0o700, owner: "root:root" },
        ]);
        expect(assets.files.map((f) => [f.path, f.mode.toString(8), f.owner, f.secret, f.restarts])).toEqual([
            ["/etc/etcd/etcd.env", "644", "root:root", false, [ETCD_UNIT]],
            ["/etc/etcd/image.env", "644", "root:root", false, [ETCD_UNIT]],
            ["/etc/ssl/etcd/ca.crt", "644", "root:root", false, [ETCD_UNIT]],
            ["/etc/ssl/etcd/peer.crt", "644", "root:root", false, [ETCD_UNIT]],
            ["/etc/ssl/etcd/peer.key", "600", "root:root", true, [ETCD_UNIT]],
            ["/etc/ssl/etcd/server.crt", "644", "root:root", false, [ETCD_UNIT]],
            ["/etc/ssl/etcd/server.key", "600", "root:root", true, [ETCD_UNIT]],
        ]);
        const byPath = new Map(assets.files.map((f) => [f.path, f.content]));
        expect(byPath.get("/etc/ssl/etcd/ca.crt")).toBe(m.certificates["etcd-ca"].certPem);
        expect(byPath.get("/etc/ssl/etcd/server.crt")).toBe(m.certificates["etcd-server-c3"].certPem);
        expect(byPath.get("/etc/ssl/etcd/server.key")).toBe(m.certificates["etcd-server-c3"].keyPem);
        expect(byPath.get("/etc/ssl/etcd/peer.crt")).toBe(m.certificates["etcd-peer-c3"].certPem);
        expect(byPath.get("/etc/ssl/etcd/peer.key")).toBe(m.certificates["etcd-peer-c3"].keyPem);
        expect(byPath.get("/etc/etcd/etcd.env")).toContain("ETCD_NAME=c3\n");
        // Every file that holds key material is marked secret.
        for (const f of assets.files) expect(f.secret).toBe(f.content.includes("PRIVATE KEY"));
    });

    test("deterministic", () => {
        const cfg = config();
        const m = fakeEtcdMaterial(cfg);
        expect(etcdMemberFiles(cfg, node(cfg, "c1"), m)).toEqual(etcdMemberFiles(cfg, node(cfg, "c1"), m));
    });

    test("refuses workers and missing certificates, naming the problem", () => {
        const cfg = config();
        const m = fakeEtcdMaterial(cfg);
        expect(() => etcdMemberFiles(cfg, node(cfg, "w1"), m)).toThrow(/node "w1" is not a controller/);
        const partial: PkiMaterial = { certificates: { ...m.certificates }, keyPairs: {} };
        delete partial.certificates["etcd-peer-c2"];
        expect(() => etcdMemberFiles(cfg, node(cfg, "c2"), partial)).toThrow(/certificate "etcd-peer-c2" is missing/);
    });
});

describe("systemd", () => {
    // Needs systemd-analyze (Debian: apt-get install -y systemd). Fails, never skips, when absent.
    test.each(["flatcar", "fedora-coreos"])("etcd-member.service parses cleanly (%s)", (osName) => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "opke-etcd-unit-"));
        try {
            const contents = etcdIgnition(config({ os: osName })).units[0].contents!
                // The runtime is not installed here; verify the unit's syntax, not the host.
                .replace(/\/usr\/bin\/(docker|podman)/g, "/bin/true")
                .replace(/^(Requires|After)=docker\.service$/gm, "");
            const file = path.join(dir, ETCD_UNIT);
            fs.writeFileSync(file, contents);
            const r = spawnSync("systemd-analyze", ["verify", "--man=no", file], { encoding: "utf8" });
            expect(r.error).toBeUndefined();
            expect({ status: r.status, output: r.stdout + r.stderr }).toEqual({ status: 0, output: "" });
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
