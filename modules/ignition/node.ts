/**
 * One node's Ignition: host basics + the domain modules' parts + the SSH user + the role's extras
 * (`controllerExtras`/`workerExtras`) + the node's own extras (`controllers[i].extras`/`workers[i].extras`).
 *
 * Version-free by design: `nodeIgnition` copies the few version-free fields it needs out of the
 * ClusterConfig (`IgnitionInputs`) and only those reach the builder; the Kubernetes and etcd
 * versions are used for one thing only — the guard that rejects any config containing them.
 */
import type { IgnitionParts } from "../../lib/assets";
import { ClusterConfig, ClusterNode, Cni, Extras, NodeRole, OperatingSystem, SshSpec } from "../../lib/config/schema";
import { compareStrings, IgnitionBuilder, IgnitionBuildError } from "./builder";
import { assertIgnitionSafe } from "./guard";
import { hostIgnition } from "./host";
import type { IgnitionConfig } from "./types";

/** The default login user of Flatcar and Fedora CoreOS; it already has passwordless sudo. */
const IMAGE_USER = "core";
/**
 * Supplementary groups for a login user the image does not ship, so the SSH push can use
 * passwordless sudo (Flatcar and Fedora CoreOS both grant it to the `sudo` group — from their
 * documentation, not checked on a booted node by opke's tests).
 */
const SUDO_GROUPS = ["sudo"];

/** Everything of a ClusterConfig the Ignition of a node may depend on. No versions, no secrets. */
export interface IgnitionInputs {
    os: OperatingSystem;
    cni: Cni;
    ssh: Pick<SshSpec, "user" | "authorizedKeys">;
    /** The extras of the node's role, with the config field they come from. */
    roleExtras: { field: string; extras: Extras };
    /** The node's own extras, with the config field they come from. */
    nodeExtras: { field: string; extras: Extras };
}

// Compile-time proof that no version field can be part of IgnitionInputs.
type NoVersions<T> = [Extract<keyof T, "kubernetesVersion" | "etcdVersion" | "images">] extends [never] ? T : never;
const _versionFree: NoVersions<IgnitionInputs> | undefined = undefined;
void _versionFree;

/** The version-free view of the config for one node. */
export function ignitionInputs(cfg: ClusterConfig, node: ClusterNode): IgnitionInputs {
    const controller = node.role === NodeRole.Controller;
    return {
        os: cfg.os,
        cni: cfg.network.cni,
        ssh: { user: cfg.ssh.user, authorizedKeys: [...cfg.ssh.authorizedKeys] },
        roleExtras: controller
            ? { field: "controllerExtras", extras: cfg.controllerExtras }
            : { field: "workerExtras", extras: cfg.workerExtras },
        nodeExtras: { field: `${controller ? "controllers" : "workers"}[${node.index}].extras`, extras: node.extras },
    };
}

/**
 * The Ignition 3.3.0 config of `node`: host basics, `parts` (from etcd, bootkube, …), the SSH user
 * and the extras. Throws `IgnitionBuildError` when two entries write the same path or define
 * the same unit (the message names both, e.g. `workerExtras.files[0].path`), and
 * `IgnitionSafetyError` when the result contains a private key, a bootstrap token, an age key or
 * the cluster's Kubernetes/etcd version.
 */
export function nodeIgnition(cfg: ClusterConfig, node: ClusterNode, parts: IgnitionParts[]): IgnitionConfig {
    const config = buildNodeIgnition(ignitionInputs(cfg, node), { name: node.name, role: node.role }, parts);
    assertIgnitionSafe(serializeIgnition(config), `Ignition of node ${node.name}`, [cfg.kubernetesVersion, cfg.etcdVersion]);
    return config;
}

/** `nodeIgnition` without the guard, from the version-free inputs only. */
export function buildNodeIgnition(
    inputs: IgnitionInputs,
    node: { name: string; role: NodeRole },
    parts: IgnitionParts[],
): IgnitionConfig {
    const b = new IgnitionBuilder();
    addParts(b, hostIgnition({ os: inputs.os, cni: inputs.cni }, node), () => "opke host basics");
    parts.forEach((p, i) => addParts(b, p, (kind, j) => `parts[${i}].${kind}[${j}]`));

    const user = inputs.ssh.user;
    b.addUser(user, inputs.ssh.authorizedKeys, "ssh.user", user === IMAGE_USER ? [] : SUDO_GROUPS);

    addExtras(b, inputs.roleExtras.field, inputs.roleExtras.extras);
    addExtras(b, inputs.nodeExtras.field, inputs.nodeExtras.extras);
    return b.build();
}

function addParts(b: IgnitionBuilder, parts: IgnitionParts, source: (kind: "files" | "units", i: number) => string): void {
    parts.files.forEach((f, i) => b.addFile(f.path, f.contents, f.mode, true, source("files", i)));
    parts.units.forEach((u, i) => b.addUnit(u, source("units", i)));
}

function addExtras(b: IgnitionBuilder, field: string, extras: Extras): void {
    extras.files.forEach((f, i) => {
        const at = `${field}.files[${i}]`;
        b.addFile(f.path, f.contents, extraMode(f.mode, `${at}.mode`), true, `${at}.path`);
    });
    extras.units.forEach((u, i) => {
        b.addUnit(
            {
                name: u.name,
                contents: u.contents,
                // Documented default of ExtraUnit.enabled: true when contents are given.
                enabled: u.enabled ?? (u.contents !== undefined ? true : undefined),
                mask: u.mask ? true : undefined,
                dropins: u.dropins,
            },
            `${field}.units[${i}].name`,
        );
    });
}

/**
 * An extra's mode as permission bits. Strings are octal ("0644", "644"); numbers are the bits
 * themselves (420 or, from TypeScript, 0o644). YAML 1.2 reads an unquoted `0644` as the decimal
 * number 644, which is out of range here, so the error says to quote it.
 */
export function extraMode(mode: string | number, field: string): number {
    const bits = typeof mode === "string" ? parseInt(mode, 8) : mode;
    if (typeof mode === "string" && !/^0?[0-7]{3,4}$/.test(mode)) {
        throw new IgnitionBuildError(`${field}: ${JSON.stringify(mode)} is not an octal mode such as "0644"`);
    }
    if (!Number.isInteger(bits) || bits < 0 || bits > 0o777) {
        const hint =
            typeof mode === "number"
                ? ` (a number is taken as the permission bits; YAML reads an unquoted 0644 as decimal 644 — write the mode as a string such as "0644")`
                : " (setuid, setgid and sticky bits are not supported by Ignition 3.3.0)";
        throw new IgnitionBuildError(`${field}: mode ${JSON.stringify(mode)} is out of range 0000-0777${hint}`);
    }
    return bits;
}

/**
 * Canonical JSON of an Ignition config: object keys sorted recursively (code-unit order), arrays
 * in the builder's sorted order, `undefined` fields dropped, 2-space indentation and a trailing
 * newline.
 *
 * Pretty rather than compact on purpose: the config is read in reviews, snapshots and
 * `pulumi preview` diffs, where a one-line JSON blob hides what changed. The cost (a few hundred
 * bytes of indentation per node) is small next to the 64 KiB user-data limits of cloud platforms.
 */
export function serializeIgnition(config: IgnitionConfig): string {
    return JSON.stringify(canonical(config), null, 2) + "\n";
}

function canonical(value: unknown): unknown {
    if (Array.isArray(value)) {
        return value.map(canonical);
    }
    if (value !== null && typeof value === "object") {
        const out: Record<string, unknown> = {};
        for (const key of Object.keys(value).sort(compareStrings)) {
            const v = (value as Record<string, unknown>)[key];
            if (v !== undefined) {
                out[key] = canonical(v);
            }
        }
        return out;
    }
    return value;
}
