/**
 * Shared SSH provisioning, used by both platforms (modules/openstack, modules/bare-metal).
 *
 * For every node ONE @pulumi/command `remote.Command` (`${name}-push-${node}`) pushes the node's
 * whole SSH asset tree (Cluster.nodes[].ssh, exactly the render's `nodes/<node>/ssh/`) in one
 * session: `create` is the fixed installer (installer.ts) with the node name, the payload's
 * sha256, the node's health gates and the wait bounds as arguments; `stdin` is the payload
 * (payload.ts, secret). Controller 0 gets one more command, `${name}-bootstrap`, created once.
 *
 * Update semantics (why there are no `triggers`): a trigger change REPLACES a command; a changed
 * `stdin` or `create` is an UPDATE that runs `create` again. The payload hash is in `create`, so
 * the engine's diff shows which nodes will be re-pushed (the payload itself stays secret) and an
 * unchanged node is not contacted at all. Sessions per node: first `up` 1 (controller 0: 2, with
 * the bootstrap), no-op `up` 0, version upgrade or certificate rotation exactly 1 for each node
 * whose files changed.
 *
 * Secrets: only on stdin. `create` holds no secret (tests check it), `logging` is "stderr" (the
 * installer prints paths, units and verdicts there, never contents), stdout and stderr are
 * additionally secret outputs, and there is no `environment`. The connection is secret and built
 * identically every run (connection.ts).
 *
 * Order and gates: plan.ts (controllers one at a time, then the bootstrap, then worker batches of
 * `upgrade.maxUnavailable`); each push gates on the health of what it restarted (installer.ts).
 * Gates run inside the commands, so they run on real deployments only: a preview
 * (`pulumi.runtime.isDryRun()`) never executes a command.
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { ClusterConfig } from "../config/schema";
import type { NodeAssets } from "../../stacks/cluster";
import { connectionArgs, type ConnectionSpec } from "./connection";
import { bootstrapCommand, pushCommand, type WaitBounds } from "./installer";
import { encodePayload, payloadSha256 } from "./payload";
import { commandOptions, gatesFor, type PlanStep, provisionPlan } from "./plan";

export type { ConnectionSpec, ProxySpec } from "./connection";
export { sshConnection, connectionArgs, connectionObject, privateKeyFromConfig, SSH_PRIVATE_KEY_CONFIG } from "./connection";
export { encodePayload, decodePayload, payloadSha256, PAYLOAD_MAGIC } from "./payload";
export type { WaitBounds, Gate } from "./installer";
export { INSTALLER, BOOTSTRAP, pushCommand, bootstrapCommand } from "./installer";
export type { PlanStep, PlanNode } from "./plan";
export { provisionPlan, gatesFor, commandOptions, hostOptions, pushId, bootstrapId, COMMAND_SECRET_OUTPUTS, COMMAND_TIMEOUTS } from "./plan";

/** Default bounds: each gate 60 × 5 s = 5 min; the bootstrap's etcd/apiserver waits 180 × 5 s = 15 min. */
export const DEFAULT_GATE_WAITS: WaitBounds = { attempts: 60, intervalSeconds: 5 };
export const DEFAULT_BOOTSTRAP_WAITS: WaitBounds = { attempts: 180, intervalSeconds: 5 };

export interface ProvisionArgs {
    config: ClusterConfig;
    /** From stacks/cluster.ts `Cluster.nodes`. */
    nodes: NodeAssets[];
    /** Host, port, user, key, host key, proxy of each node (usually `sshConnection(cfg, node, host)`). */
    connection: (node: NodeAssets) => ConnectionSpec;
    /** The node's host resource; its commands are `deletedWith` it and its push is `replaceWith` it. */
    hostResource?: (node: NodeAssets) => pulumi.Resource | undefined;
    /** Extra ordering edges of a node's commands (the Instance, the boot config, the LB member…). */
    dependsOn?: (node: NodeAssets) => pulumi.Resource[];
    /** The explicit command provider (default providers are disabled); created as `${name}-command` when omitted. */
    provider?: command.Provider;
    /** Bounds of the health gates after each push (default DEFAULT_GATE_WAITS). */
    gateWaits?: WaitBounds;
    /** Bounds of the bootstrap's etcd/apiserver waits and its bootstrap.done wait (default DEFAULT_BOOTSTRAP_WAITS). */
    bootstrapWaits?: WaitBounds;
}

export interface Provisioned {
    /** One push per node, by node name. */
    pushes: Record<string, command.remote.Command>;
    /** Controller 0's bootstrap one-shot. */
    bootstrap: command.remote.Command;
    /** The steps as data, in dependency order (plan.ts). */
    plan: PlanStep[];
    provider: command.Provider;
}

/**
 * Creates the push of every node and the bootstrap, ordered as plan.ts describes, as children of
 * `parent`.
 *
 * @throws Error when `nodes` has no controller 0 or repeats a name, or a bound is out of range.
 */
export function provisionNodes(name: string, args: ProvisionArgs, parent: pulumi.Resource): Provisioned {
    const cfg = args.config;
    const gateWaits = args.gateWaits ?? DEFAULT_GATE_WAITS;
    const bootstrapWaits = args.bootstrapWaits ?? DEFAULT_BOOTSTRAP_WAITS;
    const steps = provisionPlan(name, args.nodes, cfg.upgrade.maxUnavailable);
    const nodes = new Map(args.nodes.map((n) => [n.name, n]));
    const provider = args.provider ?? new command.Provider(`${name}-command`, {}, { parent });
    const created = new Map<string, command.remote.Command>();
    const pushes: Record<string, command.remote.Command> = {};
    let bootstrap: command.remote.Command | undefined;

    for (const step of steps) {
        const node = nodes.get(step.node)!;
        const dependsOn = [...step.dependsOn.map((id) => created.get(id)!), ...(args.dependsOn?.(node) ?? [])];
        const host = args.hostResource?.(node);
        const opts: pulumi.CustomResourceOptions = {
            // Pushes follow a re-provisioned host; the bootstrap does not (the cluster exists).
            ...commandOptions({ parent, dependsOn, deletedWith: host, replaceWith: step.kind === "push" && host ? [host] : undefined }),
            provider,
        };
        const connection = connectionArgs(args.connection(node));
        let cmd: command.remote.Command;
        switch (step.kind) {
            case "push": {
                const payload = pulumi.secret(node.ssh.apply(encodePayload));
                // The hash of a payload full of keys reveals nothing about them; keeping it plain keeps
                // `create` readable in diffs (which nodes get re-pushed).
                const sha = pulumi.unsecret(payload.apply(payloadSha256));
                const create = sha.apply((payloadSha) =>
                    pushCommand({ node: node.name, payloadSha256: payloadSha, gates: gatesFor(node.role), apiPort: cfg.apiPort, waits: gateWaits }),
                );
                cmd = new command.remote.Command(
                    step.id,
                    { connection, create, stdin: payload, logging: "stderr", addPreviousOutputInEnv: false },
                    opts,
                );
                pushes[node.name] = cmd;
                break;
            }
            case "bootstrap": {
                const create = bootstrapCommand({ node: node.name, apiPort: cfg.apiPort, waits: bootstrapWaits });
                cmd = new command.remote.Command(step.id, { connection, create, logging: "stderr", addPreviousOutputInEnv: false }, opts);
                bootstrap = cmd;
                break;
            }
            default: {
                const never: never = step.kind;
                throw new Error(`unknown step kind ${String(never)}`);
            }
        }
        created.set(step.id, cmd);
    }
    return { pushes, bootstrap: bootstrap!, plan: steps, provider };
}
