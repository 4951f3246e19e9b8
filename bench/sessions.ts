/**
 * SSH sessions per node, from the registered commands and their inputs (bench/mocks.ts records a
 * hash of every resource's inputs in two evaluations).
 *
 * Engine semantics this relies on (lib/provision/index.ts): a `remote.Command` runs `create` once
 * when it is created, and again only when an input changes (an update; pushes have no `triggers`,
 * so nothing replaces them); a command whose inputs are unchanged is not contacted at all. So:
 *   - first `up`: every registered command is one session to its target;
 *   - a later `up`: one session per command whose inputs differ from the previous evaluation (or
 *     that is new).
 * Targets: the command's `connection.host` — a node's IP, or its floating IP (attributed through
 * the mocks' deterministic addresses) — or the Matchbox provisioning host (bare-metal boot
 * configs: not a node session, reported apart).
 */
import type { RecordedResource } from "./mocks";
import { TYPES } from "./mocks";

export interface PhaseSessions {
    /** Sessions per node: fewest and most over all nodes. */
    perNode: { min: number; max: number };
    /** Controller 0 (the bootstrap runs there). */
    controller0: number;
    /** Sessions to all nodes together. */
    nodeSessions: number;
    nodes: number;
    /** Sessions to the provisioning host (bare-metal Matchbox boot configs), not to nodes. */
    provisioningHost: number;
    /** Commands whose target is neither a node nor the provisioning host (should be 0). */
    unattributed: number;
    /** Non-command resources whose inputs changed (no-op and upgrade; should be 0). */
    otherResourcesChanged?: number;
    /** Which command inputs changed, by key, counted over commands (no-op and upgrade). */
    changedInputs?: Record<string, number>;
    /** Commands that changed, by resource-name role: push, bootstrap, boot (no-op and upgrade). */
    changedCommands?: Record<string, number>;
}

export interface Attribution {
    /** Connection host → node name. */
    hostToNode: Map<string, string>;
    nodes: string[];
    controller0: string;
    provisioningHost?: string;
}

function commands(rs: readonly RecordedResource[]): RecordedResource[] {
    return rs.filter((r) => r.type === TYPES.remoteCommand || r.type === TYPES.localCommand);
}

function role(name: string): string {
    if (/-push-/.test(name)) return "push";
    if (/-bootstrap$/.test(name)) return "bootstrap";
    if (/-boot-/.test(name)) return "boot";
    return "other";
}

function tally(cmds: readonly RecordedResource[], a: Attribution): PhaseSessions {
    const perNode = new Map(a.nodes.map((n) => [n, 0]));
    let provisioningHost = 0;
    let unattributed = 0;
    for (const c of cmds) {
        const host = c.target?.host;
        if (c.type === TYPES.localCommand) {
            provisioningHost++; // runs on the machine running pulumi (bare-metal mode directory)
            continue;
        }
        const node = host === undefined ? undefined : a.hostToNode.get(host);
        if (node !== undefined) perNode.set(node, (perNode.get(node) ?? 0) + 1);
        else if (host !== undefined && host === a.provisioningHost) provisioningHost++;
        else unattributed++;
    }
    const counts = [...perNode.values()];
    return {
        perNode: { min: Math.min(...counts), max: Math.max(...counts) },
        controller0: perNode.get(a.controller0) ?? 0,
        nodeSessions: counts.reduce((x, y) => x + y, 0),
        nodes: counts.length,
        provisioningHost,
        unattributed,
    };
}

/** Sessions of a first `up`: every command once. */
export function firstUp(rs: readonly RecordedResource[], a: Attribution): PhaseSessions {
    return tally(commands(rs), a);
}

/** Sessions of an `up` after `before`, evaluating to `after`: commands that are new or whose inputs changed. */
export function nextUp(before: readonly RecordedResource[], after: readonly RecordedResource[], a: Attribution): PhaseSessions {
    const key = (r: RecordedResource) => `${r.type}::${r.name}`;
    const old = new Map(before.map((r) => [key(r), r]));
    const changed = after.filter((r) => old.get(key(r))?.inputs !== r.inputs);
    const changedCmds = commands(changed);
    const changedInputs: Record<string, number> = {};
    const changedCommands: Record<string, number> = {};
    for (const c of changedCmds) {
        const prev = old.get(key(c));
        const keys = new Set([...Object.keys(c.keys), ...Object.keys(prev?.keys ?? {})]);
        for (const k of [...keys].sort()) if (prev?.keys[k] !== c.keys[k]) changedInputs[k] = (changedInputs[k] ?? 0) + 1;
        changedCommands[role(c.name)] = (changedCommands[role(c.name)] ?? 0) + 1;
    }
    return {
        ...tally(changedCmds, a),
        otherResourcesChanged: changed.length - changedCmds.length,
        changedInputs,
        changedCommands,
    };
}
