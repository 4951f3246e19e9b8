/**
 * Test fixtures shared by the unit tests: raw cluster configs (nodes, SSH keys), a schema-only
 * parse, and fake-but-deterministic PKI material.
 *
 * Every builder returns fresh objects on each call (tests may mutate what they get), and keeps
 * the exact values and key order the tests were written against: snapshots depend on them, so
 * change nothing here without re-running every test that imports it with `npx jest --ci`.
 *
 * This file must stay free of Pulumi: tests that install Pulumi mocks before loading the code
 * under test (test/helpers/mocks.ts) import it at top level. It loads only the zod schema and the
 * pure PKI describers.
 */
import * as crypto from "node:crypto";
import { ClusterConfigSchema, type ClusterConfig, type NodeSpecInput } from "../../lib/config/schema";
import type { PkiDescription, PkiMaterial } from "../../lib/pki/spec";
import { describeKubernetesPki } from "../../modules/bootkube/pki";
import { describeEtcdPki } from "../../modules/etcd/pki";

// ---------------------------------------------------------------------------------------------
// SSH keys

/**
 * A well-formed ED25519 public key (the one in Pulumi.dev.yaml), for configs that go through
 * `parseClusterConfig` / `checkClusterConfig`.
 */
export const TEST_SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINlKIAfhwgD3osglJv0BO8m48FG+cBCSTQBl3O56poLQ opke-dev@example.test";

/** Not a real key: only for configs parsed with the schema alone (`typedConfig`). */
export const FAKE_SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFake test@example";

// ---------------------------------------------------------------------------------------------
// Nodes

/** Controllers c1, c2, c3 at 10.0.0.11-13, with MACs 52:54:00:00:00:11-13 when `macs`. */
export function threeControllers({ macs = true }: { macs?: boolean } = {}): NodeSpecInput[] {
    return [1, 2, 3].map((i) => ({ name: `c${i}`, ip: `10.0.0.1${i}`, ...(macs ? { mac: `52:54:00:00:00:1${i}` } : {}) }));
}

/**
 * The usual 3 + 2 cluster: controllers c1..c3 (10.0.0.11-13) and workers w1, w2 (10.0.0.21-22),
 * with MACs 52:54:00:00:00:<last octet> unless `macs: false` (bare metal needs them). `w1` adds
 * fields to worker w1 (after name, ip and mac).
 */
export function threeByTwoNodes({ macs = true, w1 = {} }: { macs?: boolean; w1?: Partial<NodeSpecInput> } = {}): {
    controllers: NodeSpecInput[];
    workers: NodeSpecInput[];
} {
    const worker = (i: number): NodeSpecInput => ({ name: `w${i}`, ip: `10.0.0.2${i}`, ...(macs ? { mac: `52:54:00:00:00:2${i}` } : {}) });
    return { controllers: threeControllers({ macs }), workers: [{ ...worker(1), ...w1 }, worker(2)] };
}

// ---------------------------------------------------------------------------------------------
// Parsed configs

/**
 * `ClusterConfigSchema.parse(raw)` with the versions typed as normalised (`v…`) — a cast only:
 * unlike `parseClusterConfig` it neither runs the cross-field checks nor adds a missing `v`, so a
 * test can feed inputs lib/config would reject (one controller, a fake key) and gets exactly the
 * schema's defaults.
 */
export function typedConfig(raw: Record<string, unknown>): ClusterConfig {
    const cfg = ClusterConfigSchema.parse(raw);
    return { ...cfg, kubernetesVersion: cfg.kubernetesVersion as `v${string}`, etcdVersion: cfg.etcdVersion as `v${string}` };
}

/**
 * The renderer tests' cluster "demo" (api.demo.example.com): controllers c1..c3 (10.0.0.11-13,
 * no MACs), ONE worker w1 (10.0.0.21) plus the fields in `w1`, FAKE_SSH_KEY, Kubernetes v1.36.3
 * and etcd v3.6.16; `overrides` replace top-level keys. Parsed with `typedConfig`.
 */
export function demoConfig(overrides: Record<string, unknown> = {}, w1: Partial<NodeSpecInput> = {}): ClusterConfig {
    return typedConfig({
        clusterName: "demo",
        apiDnsName: "api.demo.example.com",
        controllers: threeControllers({ macs: false }),
        workers: [{ name: "w1", ip: "10.0.0.21", ...w1 }],
        ssh: { authorizedKeys: [FAKE_SSH_KEY] },
        kubernetesVersion: "v1.36.3",
        etcdVersion: "v3.6.16",
        ...overrides,
    });
}

/** The PKI tests' controllers: c0, c1, c2 at 10.0.0.10-12 (no MACs). */
export function devControllers(): NodeSpecInput[] {
    return [0, 1, 2].map((i) => ({ name: `c${i}`, ip: `10.0.0.1${i}` }));
}

/**
 * The PKI tests' cluster "dev" (api.dev.example.com): devControllers() and workers w0, w1, w2 at
 * 10.0.0.20-22, FAKE_SSH_KEY; `overrides` replace top-level keys. Parsed with `typedConfig`.
 */
export function devConfig(overrides: Record<string, unknown> = {}): ClusterConfig {
    return typedConfig({
        clusterName: "dev",
        apiDnsName: "api.dev.example.com",
        controllers: devControllers(),
        workers: [0, 1, 2].map((i) => ({ name: `w${i}`, ip: `10.0.0.2${i}` })),
        ssh: { authorizedKeys: [FAKE_SSH_KEY] },
        ...overrides,
    });
}

// ---------------------------------------------------------------------------------------------
// Fake PKI material

/** A well-formed but fake PEM block, deterministic per (label, id), so outputs are stable. */
export function fakePem(label: string, id: string): string {
    const body = crypto.createHash("sha512").update(`${label}:${id}`).digest("base64");
    return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

/**
 * A real ED25519 private key (PKCS#8 PEM) from a fixed 32-byte seed, sha256(`seedText`): PKCS#8
 * of ED25519 is a fixed prefix + the seed. Real because `deriveSecrets` parses it.
 */
export function fixedSeedPem(seedText = "opke test seed"): string {
    const prefix = Buffer.from("302e020100300506032b657004220420", "hex");
    const seed = crypto.createHash("sha256").update(seedText).digest();
    return crypto.createPrivateKey({ key: Buffer.concat([prefix, seed]), format: "der", type: "pkcs8" }).export({ type: "pkcs8", format: "pem" }).toString();
}

function addFakeCertificates(m: PkiMaterial, desc: PkiDescription): void {
    for (const c of desc.certificates) {
        m.certificates[c.id] = { certPem: fakePem("CERTIFICATE", c.id), keyPem: fakePem("PRIVATE KEY", c.id) };
    }
}

/** Fake PEMs for the etcd certificates only (describeEtcdPki), and no key pairs. */
export function fakeEtcdMaterial(cfg: ClusterConfig): PkiMaterial {
    const m: PkiMaterial = { certificates: {}, keyPairs: {} };
    addFakeCertificates(m, describeEtcdPki(cfg));
    return m;
}

/**
 * Fake PEMs for every certificate (etcd, then Kubernetes) and the `service-account` key pair;
 * `secrets-seed` gets a fake public key and the real `fixedSeedPem(seedText)` private key.
 * Certificates are never parsed: tests that need real ones use generateLocalPki.
 */
export function fakeMaterial(cfg: ClusterConfig, { seedText }: { seedText?: string } = {}): PkiMaterial {
    const m = fakeEtcdMaterial(cfg);
    addFakeCertificates(m, describeKubernetesPki(cfg));
    m.keyPairs["service-account"] = { publicKeyPem: fakePem("PUBLIC KEY", "sa"), privateKeyPem: fakePem("PRIVATE KEY", "sa") };
    m.keyPairs["secrets-seed"] = { publicKeyPem: fakePem("PUBLIC KEY", "seed"), privateKeyPem: fixedSeedPem(seedText) };
    return m;
}
