/**
 * The offline render is faithful: what `npm run render` writes for a stack is what the Pulumi
 * components register for the same config.
 *
 *  1. Under Pulumi mocks (real crypto for the tls resources), the Cluster component's Ignition and
 *     SSH trees equal `renderCluster(cfg, material)` for the material the mocks produced: same
 *     function, same inputs, same bytes.
 *  2. `npm run render` (scripts/render.ts main) for the same stack writes byte-identical
 *     ignition.json files, the same SSH paths/modes/owners/secrecy/restarts, and the same file
 *     contents once key material (PEM blocks, base64 of PEM, derived token/encryption key and the
 *     hashes over them) is masked — the render's PKI is its own throwaway one.
 *
 * What this does not prove: that a real engine registers the same values (mocks skip providers),
 * or that the files work on a host (test/e2e and test:ssh do that).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse as parseYaml } from "yaml";
import { outputValue, setupPulumiMocks } from "./helpers/mocks";
import type { NodeSshAssets } from "../lib/assets";
import type { PkiMaterial } from "../lib/pki/spec";

const ROOT = path.resolve(__dirname, "..");
const SETS = ["pki.algorithm=ECDSA"];

/** The dev stack's `opke:` config as the engine hands it to the program (strings; JSON for non-strings). */
function engineConfig(): Record<string, string> {
    const doc = parseYaml(fs.readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8")) as { config: Record<string, unknown> };
    const all: Record<string, string> = {};
    for (const [k, v] of Object.entries(doc.config)) {
        all[k] = typeof v === "string" ? v : JSON.stringify(v);
    }
    const pki = JSON.parse(all["opke:pki"] ?? "{}") as Record<string, unknown>;
    all["opke:pki"] = JSON.stringify({ ...pki, algorithm: "ECDSA" });
    return all;
}

function maskMaterial(text: string, secrets: string[]): string {
    let t = text;
    const forms = secrets.flatMap((s) => [Buffer.from(s).toString("base64"), s]);
    for (const s of forms) {
        t = t.split(s).join("<DERIVED>");
    }
    return t
        .replace(/-----BEGIN ([A-Z ]+)-----[\s\S]*?-----END \1-----\n?/g, "<PEM $1>")
        .replace(/[A-Za-z0-9+/]{40,}={0,2}/g, "<B64>")
        .replace(/\b[0-9a-f]{12,64}\b/g, "<HEX>");
}

describe("render is faithful to the Pulumi components", () => {
    let cfg: import("../lib/config/schema").ClusterConfig;
    let nodes: { name: string; ignition: string; ssh: NodeSshAssets }[];
    let material: PkiMaterial;
    let programIgnition: Record<string, string>;
    let outDir: string;

    beforeAll(async () => {
        await setupPulumiMocks();
        pulumi.runtime.setAllConfig(engineConfig());
        const { loadPulumiConfig } = require("../lib/config") as typeof import("../lib/config");
        const { Cluster } = require("../stacks/cluster") as typeof import("../stacks/cluster");
        const { program } = require("../stacks/program") as typeof import("../stacks/program");
        cfg = loadPulumiConfig();
        const cluster = new Cluster(cfg.clusterName, { config: cfg });
        material = await outputValue(cluster.material);
        nodes = await Promise.all(
            cluster.nodes.map(async (n) => ({ name: n.name, ignition: n.ignition, ssh: await outputValue(n.ssh) })),
        );
        const outputs = (await program()) as { ignition: Record<string, string> };
        programIgnition = outputs.ignition;

        outDir = fs.mkdtempSync(path.join(os.tmpdir(), "opke-faithful-"));
        const { main } = require("../scripts/render") as typeof import("../scripts/render");
        const code = await main(["--stack", "dev", "--out", outDir, "--project", ROOT, "--quiet", ...SETS.flatMap((s) => ["--set", s])]);
        expect(code).toBe(0);
    });

    afterAll(() => {
        if (outDir) fs.rmSync(outDir, { recursive: true, force: true });
    });

    test("the config the program reads equals the one render reads", () => {
        const { loadStackFile } = require("../lib/config") as typeof import("../lib/config");
        expect(loadStackFile(ROOT, "dev", SETS)).toEqual(cfg);
    });

    test("component outputs equal renderCluster() for the same material", () => {
        const { renderCluster } = require("../lib/render") as typeof import("../lib/render");
        const rendered = renderCluster(cfg, material);
        expect(nodes.map((n) => n.name)).toEqual(rendered.nodes.map((n) => n.node.name));
        for (const [i, n] of nodes.entries()) {
            expect(n.ignition).toBe(rendered.nodes[i].ignition);
            expect(n.ssh).toEqual(rendered.nodes[i].ssh);
        }
        expect(Object.keys(programIgnition)).toEqual(nodes.map((n) => n.name));
        for (const n of nodes) {
            expect(programIgnition[n.name]).toBe(n.ignition);
        }
    });

    test("render writes the same Ignition bytes and the same SSH trees, key material aside", () => {
        const { deriveSecrets } = require("../lib/pki") as typeof import("../lib/pki");
        const { sshManifest } = require("../lib/render/write") as typeof import("../lib/render/write");
        const secretsOf = (seedPem: string): string[] => {
            const d = deriveSecrets(seedPem);
            return [d.bootstrapTokenSecret, d.encryptionKey, d.bootstrapTokenId];
        };
        const ours = secretsOf(material.keyPairs["secrets-seed"].privateKeyPem);
        const index = JSON.parse(fs.readFileSync(path.join(outDir, "index.json"), "utf8")) as { nodes: { name: string }[] };
        expect(index.nodes.map((n) => n.name)).toEqual(nodes.map((n) => n.name));

        // The render's own seed: read back the bootstrap kubeconfig's token from controller 0.
        const renderedToken = fs
            .readFileSync(path.join(outDir, "nodes", nodes[0].name, "ssh/etc/kubernetes/bootstrap-kubeconfig"), "utf8")
            .match(/token: ([a-z0-9]{6})\.([a-z0-9]{16})/);
        expect(renderedToken).not.toBeNull();
        const encKey = fs
            .readFileSync(path.join(outDir, "nodes", nodes[0].name, "ssh/etc/kubernetes/pki/encryption-config.yaml"), "utf8")
            .match(/secret: (\S+)/);
        expect(encKey).not.toBeNull();
        const theirs = [renderedToken![2], encKey![1], renderedToken![1]];

        let compared = 0;
        for (const n of nodes) {
            const dir = path.join(outDir, "nodes", n.name);
            expect(fs.readFileSync(path.join(dir, "ignition.json"), "utf8")).toBe(n.ignition);
            const manifest = JSON.parse(fs.readFileSync(path.join(dir, "ssh.manifest.json"), "utf8")) as ReturnType<typeof sshManifest>;
            const expected = sshManifest(n.name, n.ssh);
            const strip = (m: typeof expected) => ({ ...m, files: m.files.map(({ sha256: _s, ...rest }) => rest) });
            expect(strip(manifest)).toEqual(strip(expected));
            for (const f of n.ssh.files) {
                const onDisk = path.join(dir, "ssh", f.path);
                expect(fs.statSync(onDisk).mode & 0o7777).toBe(f.mode);
                const written = fs.readFileSync(onDisk, "utf8");
                expect(maskMaterial(written, theirs)).toBe(maskMaterial(f.content, ours));
                compared++;
            }
        }
        expect(compared).toBe(nodes.reduce((sum, n) => sum + n.ssh.files.length, 0));
    });
});
