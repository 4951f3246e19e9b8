/**
 * The order of the SSH steps and the resource options of every command, as data: pure functions
 * a test can table-test without the engine (mocks cannot see resource options).
 *
 * Order (one static dependency graph that is right for the first `up` and for every later one):
 *
 *   push c0 → push c1 → … → push cN-1       controllers one at a time (c(i+1) dependsOn c(i))
 *        └──────────────────────→ bootstrap   controller 0's one-shot, after every controller push
 *   worker batch 0 → worker batch 1 → …       batches of upgrade.maxUnavailable workers; batch k
 *                                             dependsOn batch k-1, the last controller push and
 *                                             the bootstrap
 *
 * With static pods, every controller carries etcd and control-plane files from the first push, so
 * the first wave is "all controller pushes". On the first install each push is gated only where
 * its component already answered health checks before the push (installer.ts), so controller 0
 * does not wait for an etcd quorum that needs controllers 1 and 2; the bootstrap then waits
 * (bounded) for etcd health and /readyz on controller 0 and starts bootstrap.service; workers
 * come last. On an upgrade the same edges make the rolling order: each controller's push returns
 * only when its etcd, kubelet and apiserver are healthy again, so the next controller starts after
 * the previous one is back; workers follow in batches. The bootstrap command never changes after
 * its creation (no version in it), so it does not run again on upgrades.
 *
 * Why one graph: Pulumi runs a resource's create/update only after its dependencies' steps
 * finished, and a command whose inputs did not change is not run at all, so unchanged nodes are
 * skipped without breaking the chain.
 */
import type * as pulumi from "@pulumi/pulumi";
import { NodeRole } from "../config/schema";
import type { Gate } from "./installer";

/** What the plan needs to know about a node. */
export interface PlanNode {
    name: string;
    role: NodeRole;
    /** Position among the nodes of its role; controller 0 bootstraps. */
    index: number;
}

export type StepKind = "push" | "bootstrap";

export interface PlanStep {
    /** Resource name: `${name}-push-${node}` or `${name}-bootstrap`. */
    id: string;
    kind: StepKind;
    node: string;
    role: NodeRole;
    /** Ids of the steps this one depends on (direct edges only). */
    dependsOn: string[];
    /** For worker pushes: the batch number (0-based); undefined otherwise. */
    batch?: number;
}

export function pushId(name: string, node: string): string {
    return `${name}-push-${node}`;
}

export function bootstrapId(name: string): string {
    return `${name}-bootstrap`;
}

/**
 * The steps in an order where every step comes after its dependencies (controllers, bootstrap,
 * workers).
 *
 * @throws Error when there is no controller 0, names repeat or maxUnavailable is not ≥ 1.
 */
export function provisionPlan(name: string, nodes: readonly PlanNode[], maxUnavailable: number): PlanStep[] {
    if (!Number.isInteger(maxUnavailable) || maxUnavailable < 1) {
        throw new Error(`upgrade.maxUnavailable: ${maxUnavailable} is not a whole number ≥ 1; use 1 (one worker at a time) or more`);
    }
    const names = new Set<string>();
    for (const n of nodes) {
        if (names.has(n.name)) throw new Error(`provision: node ${n.name} is listed twice`);
        names.add(n.name);
    }
    const byIndex = (a: PlanNode, b: PlanNode) => a.index - b.index;
    const controllers = nodes.filter((n) => n.role === NodeRole.Controller).sort(byIndex);
    const workers = nodes.filter((n) => n.role === NodeRole.Worker).sort(byIndex);
    if (controllers.length === 0 || controllers[0].index !== 0) {
        throw new Error("provision: no controller with index 0; the bootstrap runs on controller 0 (pass Cluster.nodes)");
    }

    const steps: PlanStep[] = [];
    let previous: string | undefined;
    for (const c of controllers) {
        const id = pushId(name, c.name);
        steps.push({ id, kind: "push", node: c.name, role: c.role, dependsOn: previous ? [previous] : [] });
        previous = id;
    }
    const lastController = previous!;
    const bootstrap = bootstrapId(name);
    steps.push({ id: bootstrap, kind: "bootstrap", node: controllers[0].name, role: NodeRole.Controller, dependsOn: controllers.map((c) => pushId(name, c.name)) });

    let previousBatch: string[] = [];
    for (let start = 0, batch = 0; start < workers.length; start += maxUnavailable, batch++) {
        const ids: string[] = [];
        for (const w of workers.slice(start, start + maxUnavailable)) {
            const id = pushId(name, w.name);
            steps.push({ id, kind: "push", node: w.name, role: w.role, dependsOn: [lastController, bootstrap, ...previousBatch], batch });
            ids.push(id);
        }
        previousBatch = ids;
    }
    return steps;
}

/** The health gates of a node's push: etcd, kubelet and apiserver on controllers; kubelet on workers. */
export function gatesFor(role: NodeRole): Gate[] {
    switch (role) {
        case NodeRole.Controller:
            return ["etcd", "kubelet", "apiserver"];
        case NodeRole.Worker:
            return ["kubelet"];
        default: {
            const never: never = role;
            throw new Error(`unknown node role ${String(never)}`);
        }
    }
}

/** Outputs of every SSH command that may carry node output: secret in state, never shown. */
export const COMMAND_SECRET_OUTPUTS = ["stdout", "stderr"];

/**
 * Engine-side time limits of a command. The installer's own waits are bounded (attempts ×
 * interval per gate) and the provider bounds dialing (dialErrorLimit × perDialTimeout); these
 * are the outer bound.
 */
export const COMMAND_TIMEOUTS: pulumi.CustomTimeouts = { create: "60m", update: "60m", delete: "10m" };

/**
 * The options of one SSH command: parent, ordering edges (plan edges + the platform's own, e.g.
 * the Instance or the boot config), `deletedWith` the host (its delete step is skipped when the
 * host itself goes away), `replaceWith` the host for pushes (a re-provisioned host — new disk,
 * same inputs — must get its files again; without it the unchanged command would never run on
 * the new machine), secret stdout/stderr and the time limits. No `ignoreChanges`, no
 * `replaceOnChanges`, no `triggers`: a version or certificate change must show as an update that
 * re-runs `create`, never as a replacement.
 */
export function commandOptions(o: {
    parent: pulumi.Resource;
    dependsOn: pulumi.Resource[];
    deletedWith?: pulumi.Resource;
    replaceWith?: pulumi.Resource[];
}): pulumi.CustomResourceOptions {
    return {
        parent: o.parent,
        dependsOn: o.dependsOn,
        ...(o.deletedWith ? { deletedWith: o.deletedWith } : {}),
        ...(o.replaceWith && o.replaceWith.length > 0 ? { replaceWith: o.replaceWith } : {}),
        additionalSecretOutputs: [...COMMAND_SECRET_OUTPUTS],
        customTimeouts: { ...COMMAND_TIMEOUTS },
    };
}

/**
 * Options for the host resources a platform creates per node (OpenStack Instance and port, boot
 * volume, Matchbox profile, …): ignore the listed inputs after creation (Ignition/user data, image)
 * so a config change never replaces a host, and replace on purpose only when the node's
 * `generation` changes (`replacementTrigger`). Versions never reach these inputs: Ignition is
 * version-free by construction.
 */
export function hostOptions(node: { generation: number }, ignoreChanges: readonly string[]): Pick<pulumi.CustomResourceOptions, "ignoreChanges" | "replacementTrigger"> {
    if (!Number.isInteger(node.generation) || node.generation < 0) throw new Error(`generation ${node.generation} is not a whole number ≥ 0`);
    return { ignoreChanges: [...ignoreChanges], replacementTrigger: node.generation };
}
