/**
 * The Pulumi options and wiring of the bare-metal component as pure functions, so tests can check
 * them without the engine (mocks never see resource options).
 */
import type * as pulumi from "@pulumi/pulumi";
import { ClusterConfig } from "../../lib/config/schema";
import { ConnectionSpec, hostOptions, sshConnection } from "../../lib/provision";
import { writesBootConfig } from "./matchbox";

/** Resource name of a machine's boot-config command. */
export function bootCommandName(name: string, node: string): string {
    return `${name}-boot-${node}`;
}

/** Engine-side limits of a boot-config command (it only writes a few small files). */
export const BOOT_COMMAND_TIMEOUTS: pulumi.CustomTimeouts = { create: "10m", update: "10m", delete: "10m" };

/**
 * Options of a machine's boot-config command:
 * - `replacementTrigger: generation` (lib/provision `hostOptions`, nothing ignored): the boot
 *   config is the machine's host resource, re-created on purpose only when the node's
 *   `generation` changes. Every other change (OS image, kernel arguments, a new Ignition after an
 *   extras change) is an update that rewrites the files; a Kubernetes or etcd version never
 *   reaches its inputs.
 * - `deleteBeforeReplace`: old and new boot configs write the same file names, so the old one's
 *   delete must run before the new one's create (the default create-then-delete order would
 *   delete the files just written).
 * - no `deletedWith`: its delete is what removes the machine from Matchbox when the node leaves
 *   the config; skipping it would leave an install profile that wipes the machine's disk on its
 *   next PXE boot. (The pushes are `deletedWith` the boot config — see `provisionWiring`.)
 */
export function bootCommandOptions(o: { parent: pulumi.Resource; provider: pulumi.ProviderResource; node: { generation: number } }): pulumi.CustomResourceOptions {
    return {
        parent: o.parent,
        provider: o.provider,
        ...hostOptions(o.node, []),
        deleteBeforeReplace: true,
        customTimeouts: { ...BOOT_COMMAND_TIMEOUTS },
    };
}

/**
 * How the shared provisioning hangs off the boot configs: each node's push `dependsOn` its boot
 * config and is `deletedWith` it (hostResource). Nodes without a boot config (mode `installed`)
 * get neither.
 */
export function provisionWiring(boots: Readonly<Record<string, pulumi.Resource>>): {
    hostResource: (node: { name: string }) => pulumi.Resource | undefined;
    dependsOn: (node: { name: string }) => pulumi.Resource[];
} {
    return {
        hostResource: (node) => (Object.hasOwn(boots, node.name) ? boots[node.name] : undefined),
        dependsOn: (node) => (Object.hasOwn(boots, node.name) ? [boots[node.name]] : []),
    };
}

/**
 * The SSH wait, decided: no separate wait resource. The push's own connection retries the dial
 * (the @pulumi/command provider retries every failed dial — refused, unreachable, and also
 * authentication failures — with a backoff from 0.1 s growing to at most 5 s between attempts,
 * up to `dialErrorLimit` failures, each attempt bounded by `perDialTimeout`). That is the right
 * test of "installed and booted": the Flatcar install system listens on 2222 only, the Fedora
 * CoreOS live system has sshd on 22 but no authorized key, so only the installed OS accepts the
 * push; and it costs no extra SSH session (first up stays 1 session per node).
 *
 * Budget: at least `minutes` of failed dials (every attempt failing at once costs the 5 s
 * backoff; the first ten cost about 11 s together, hence the +10), at most about three times that
 * when every attempt hangs for its whole `perDialTimeout` of 10 s. The push's own
 * `customTimeouts` (lib/provision COMMAND_TIMEOUTS, 60 min) is the outer bound.
 */
export function installDialBudget(minutes: number): Required<Pick<ConnectionSpec, "dialErrorLimit" | "perDialTimeout">> {
    if (!Number.isInteger(minutes) || minutes < 1) throw new Error(`bareMetal.installTimeoutMinutes: ${minutes} is not a whole number of minutes ≥ 1`);
    return { dialErrorLimit: Math.ceil((minutes * 60) / 5) + 10, perDialTimeout: 10 };
}

/**
 * The push connection of a machine: the shared `sshConnection` (node IP, ssh.user/port/key/agent,
 * host key, bastion) plus, when opke PXE-installs the machine, the install dial budget. Hosts in
 * mode `installed` are already running, so they keep the shared defaults.
 */
export function nodeConnection(cfg: ClusterConfig, node: { name: string; ip: string }, privateKey: pulumi.Input<string> | undefined): ConnectionSpec {
    const spec = sshConnection(cfg, node, undefined, privateKey);
    return writesBootConfig(cfg) ? { ...spec, ...installDialBudget(cfg.bareMetal.installTimeoutMinutes) } : spec;
}

/**
 * The connection to the provisioning host (mode `matchbox`): `bareMetal.matchboxHost` with the
 * cluster's SSH credentials (the same private key or agent as the pushes) and the shared dial
 * defaults. Built the same way on every run (lib/provision connectionArgs makes it secret).
 */
export function matchboxConnection(cfg: ClusterConfig, privateKey: pulumi.Input<string> | undefined): ConnectionSpec {
    const host = cfg.bareMetal.matchboxHost;
    if (host === undefined) {
        throw new Error("bareMetal.matchboxHost: missing; mode \"matchbox\" writes the Matchbox files over SSH (was the config validated with parseClusterConfig?)");
    }
    return {
        host: host.host,
        port: host.port,
        user: host.user,
        ...(privateKey !== undefined ? { privateKey } : {}),
        ...(cfg.ssh.agentSocketPath !== undefined ? { agentSocketPath: cfg.ssh.agentSocketPath } : {}),
        ...(host.hostKey !== undefined ? { hostKey: host.hostKey } : {}),
    };
}
