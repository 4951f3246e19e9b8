/**
 * Builds the program's resources (the core `Cluster` + `provisionNodes`) under Pulumi mocks and
 * captures every SSH command exactly as registered: its inputs (secrets unwrapped), which inputs
 * arrived secret, and its resource options (seen through a `transformations` option on the
 * parent, which the Node SDK applies in-process and children inherit — the mock monitor itself
 * never sees options).
 *
 * `tlsCache` models Pulumi state across runs: the tls resources' outputs of the first run are
 * returned again by later runs, so a re-render with another version keeps the same PKI (as a real
 * `pulumi up` does) instead of minting new keys.
 *
 * Used by test/provision.test.ts (jest) and test/ssh/ssh.e2e.ts (plain node).
 */
import * as pulumi from "@pulumi/pulumi";
import type { ClusterConfig } from "../../lib/config/schema";
import type { ConnectionSpec, Provisioned, WaitBounds } from "../../lib/provision";
import type { NodeAssets } from "../../stacks/cluster";
import type { NodeSshAssets } from "../../lib/assets";
import { outputValue, PulumiMocks, setupPulumiMocks } from "../helpers/mocks";

export const COMMAND_TYPE = "command:remote:Command";
export const HOST_TYPE = "test:index:Host";

/** Recorded outputs of tls resources by `type name`. */
export type TlsCache = Map<string, Record<string, unknown>>;

export interface CapturedCommand {
    name: string;
    kind: "push" | "bootstrap";
    node: string;
    role: string;
    /** Inputs, secrets unwrapped. */
    create: string;
    stdin?: string;
    connection: Record<string, unknown>;
    inputs: Record<string, unknown>;
    /** Top-level inputs that arrived secret. */
    secretInputs: string[];
    /** Resource options as passed to the constructor. */
    dependsOn: string[];
    deletedWith?: string;
    replaceWith?: string[];
    additionalSecretOutputs?: string[];
    customTimeouts?: pulumi.CustomTimeouts;
    provider?: string;
    parent?: string;
    triggersOption?: unknown;
}

export interface CaptureResult {
    /** In plan (dependency) order. */
    commands: CapturedCommand[];
    provisioned: Provisioned;
    mocks: PulumiMocks;
    ignition: Record<string, string>;
    ssh: Record<string, NodeSshAssets>;
    nodes: NodeAssets[];
}

export interface CaptureOptions {
    name?: string;
    tlsCache?: TlsCache;
    connection?: (cfg: ClusterConfig, node: NodeAssets) => ConnectionSpec;
    /** Create a stand-in host resource per node and pass it as `hostResource`. */
    withHosts?: boolean;
    gateWaits?: WaitBounds;
    bootstrapWaits?: WaitBounds;
    preview?: boolean;
}

class Host extends pulumi.CustomResource {
    constructor(name: string, opts: pulumi.CustomResourceOptions) {
        super(HOST_TYPE, name, {}, opts);
    }
}

class Root extends pulumi.ComponentResource {
    constructor(transformation: pulumi.ResourceTransformation) {
        super("test:index:Root", "root", {}, { transformations: [transformation] });
    }
}

function resourceName(r: unknown, names: Map<unknown, string>): string {
    return names.get(r) ?? "<unknown resource>";
}

/** Runs the program for `cfg` under fresh mocks and returns the captured commands. */
export async function captureProgram(cfg: ClusterConfig, o: CaptureOptions = {}): Promise<CaptureResult> {
    const name = o.name ?? cfg.clusterName;
    const cache = o.tlsCache;
    const mocks = await setupPulumiMocks({
        preview: o.preview ?? false,
        outputs: (args) => (cache && args.type.startsWith("tls:index") ? cache.get(`${args.type} ${args.name}`) : undefined),
    });
    // Loaded after the mocks (see test/helpers/mocks.ts).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Cluster } = require("../../stacks/cluster") as typeof import("../../stacks/cluster");
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const provision = require("../../lib/provision") as typeof import("../../lib/provision");

    const opts = new Map<string, { dependsOn: unknown[]; deletedWith?: unknown; replaceWith?: unknown[]; additionalSecretOutputs?: string[]; customTimeouts?: pulumi.CustomTimeouts; provider?: unknown; parent?: unknown }>();
    const root = new Root((args) => {
        if (args.type === COMMAND_TYPE) {
            const o = args.opts as pulumi.CustomResourceOptions;
            const d = o.dependsOn;
            opts.set(args.name, {
                dependsOn: Array.isArray(d) ? d : d === undefined ? [] : [d],
                deletedWith: o.deletedWith,
                replaceWith: o.replaceWith,
                additionalSecretOutputs: o.additionalSecretOutputs,
                customTimeouts: o.customTimeouts,
                provider: o.provider,
                parent: o.parent,
            });
        }
        return undefined;
    });
    const names = new Map<unknown, string>([[root, "root"]]);
    const cluster = new Cluster(name, { config: cfg }, { parent: root });
    const hosts = new Map<string, Host>();
    if (o.withHosts) {
        for (const n of cluster.nodes) {
            const h = new Host(`host-${n.name}`, { parent: root });
            hosts.set(n.name, h);
            names.set(h, `host-${n.name}`);
        }
    }
    const connection = o.connection ?? ((c: ClusterConfig, n: NodeAssets) => provision.sshConnection(c, n, undefined, "TEST-KEY"));
    const provisioned = provision.provisionNodes(
        name,
        {
            config: cfg,
            nodes: cluster.nodes,
            connection: (n) => connection(cfg, n),
            ...(o.withHosts ? { hostResource: (n: NodeAssets) => hosts.get(n.name) } : {}),
            ...(o.gateWaits ? { gateWaits: o.gateWaits } : {}),
            ...(o.bootstrapWaits ? { bootstrapWaits: o.bootstrapWaits } : {}),
        },
        root,
    );
    names.set(provisioned.provider, `${name}-command`);
    for (const [node, cmd] of Object.entries(provisioned.pushes)) names.set(cmd, provision.pushId(name, node));
    names.set(provisioned.bootstrap, provision.bootstrapId(name));

    const all = [...Object.values(provisioned.pushes), provisioned.bootstrap];
    await Promise.all(all.map((c) => outputValue(c.urn)));
    const ignition: Record<string, string> = {};
    const ssh: Record<string, NodeSshAssets> = {};
    for (const n of cluster.nodes) {
        ignition[n.name] = n.ignition;
        ssh[n.name] = await outputValue(n.ssh);
    }

    if (cache) {
        for (const r of mocks.resources) {
            if (r.type.startsWith("tls:index") && !cache.has(`${r.type} ${r.name}`)) cache.set(`${r.type} ${r.name}`, r.outputs);
        }
    }

    const commands: CapturedCommand[] = provisioned.plan.map((step) => {
        const rec = mocks.get(COMMAND_TYPE, step.id);
        const op = opts.get(step.id);
        if (!op) throw new Error(`no options captured for ${step.id}`);
        return {
            name: step.id,
            kind: step.kind,
            node: step.node,
            role: step.role,
            create: rec.inputs.create as string,
            ...(rec.inputs.stdin !== undefined ? { stdin: rec.inputs.stdin as string } : {}),
            connection: rec.inputs.connection as Record<string, unknown>,
            inputs: rec.inputs,
            secretInputs: rec.secretInputs,
            dependsOn: op.dependsOn.map((d) => resourceName(d, names)),
            ...(op.deletedWith ? { deletedWith: resourceName(op.deletedWith, names) } : {}),
            ...(op.replaceWith ? { replaceWith: op.replaceWith.map((r) => resourceName(r, names)) } : {}),
            additionalSecretOutputs: op.additionalSecretOutputs,
            customTimeouts: op.customTimeouts,
            provider: resourceName(op.provider, names),
            parent: resourceName(op.parent, names),
        };
    });
    return { commands, provisioned, mocks, ignition, ssh, nodes: cluster.nodes };
}

/** Orders commands so each comes after its dependsOn (Kahn; stable in the given order). */
export function dependencyOrder(commands: CapturedCommand[]): CapturedCommand[] {
    const byName = new Map(commands.map((c) => [c.name, c]));
    const done = new Set<string>();
    const out: CapturedCommand[] = [];
    while (out.length < commands.length) {
        const next = commands.find((c) => !done.has(c.name) && c.dependsOn.every((d) => done.has(d) || !byName.has(d)));
        if (!next) throw new Error("dependency cycle among the commands");
        done.add(next.name);
        out.push(next);
    }
    return out;
}
