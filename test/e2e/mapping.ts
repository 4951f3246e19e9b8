/**
 * Path mapping for running rendered node assets as plain processes (test/e2e/binaries.e2e.ts).
 *
 * On a node, etcd and the control plane run in containers that see host directories through
 * volumes: etcd-member.service's `--volume host:container:opts` lines, and the static pods'
 * volumeMounts → hostPath volumes. Here the "host" of controller <n> is the rendered tree
 * <render>/nodes/<n>/ssh (what the SSH push writes) plus a per-node state folder for what the
 * node creates at run time (data dir, audit log dir). The mapping is generic, never per flag:
 *
 *   container path --(the unit's / pod's own volumes)--> host path --(resolveHost)--> local path
 *
 * A path-valued setting that lies under no volume is reported as a problem: the container could
 * not see it on a real node. Pure: no file system access except through `resolveHost`.
 */
import { parse } from "yaml";

export interface Mount {
    /** Path inside the container. */
    containerPath: string;
    /** Path on the node. */
    hostPath: string;
    readOnly: boolean;
    /** hostPath volume type (static pods) or "bind" (docker/podman --volume). */
    type: string;
}

/**
 * docker/podman `--env-file` format: `KEY=value` per line, value taken literally (no quoting, no
 * expansion); blank lines and lines starting with `#` are ignored. A line without `=` is an error
 * here (docker would pass the variable through from its own environment, which is never meant).
 */
export function parseEnvFile(text: string): [string, string][] {
    const out: [string, string][] = [];
    text.split("\n").forEach((line, i) => {
        if (line.trim() === "" || line.trimStart().startsWith("#")) return;
        const eq = line.indexOf("=");
        if (eq <= 0) throw new Error(`env file line ${i + 1} "${line}" is not KEY=value`);
        out.push([line.slice(0, eq), line.slice(eq + 1)]);
    });
    return out;
}

/** The `--volume host:container[:opts]` options of a unit's ExecStart (docker or podman). */
export function unitVolumes(unitText: string): Mount[] {
    const mounts: Mount[] = [];
    for (const m of unitText.matchAll(/--volume[= ]([^\s\\]+)/g)) {
        const [hostPath, containerPath, opts = ""] = m[1].split(":");
        if (!hostPath || !containerPath) throw new Error(`unit volume "${m[1]}" is not host:container[:opts]`);
        mounts.push({ hostPath, containerPath, readOnly: opts.split(",").includes("ro"), type: "bind" });
    }
    return mounts;
}

export interface StaticPodRun {
    name: string;
    /** command + args of the (single) container, as the kubelet would exec them. */
    argv: string[];
    mounts: Mount[];
    probes: { kind: "readiness" | "liveness" | "startup"; probe: Probe }[];
    image: string;
}

export interface Probe {
    httpGet?: { host?: string; path?: string; port: number; scheme?: string };
    tcpSocket?: { host?: string; port: number };
}

interface PodDoc {
    kind?: string;
    metadata?: { name?: string };
    spec?: {
        hostNetwork?: boolean;
        containers?: {
            name: string;
            image: string;
            command?: string[];
            args?: string[];
            volumeMounts?: { name: string; mountPath: string; readOnly?: boolean; subPath?: string }[];
            readinessProbe?: Probe;
            livenessProbe?: Probe;
            startupProbe?: Probe;
        }[];
        volumes?: { name: string; hostPath?: { path: string; type?: string } }[];
    };
}

/** Reads a static pod manifest: the container's argv, its hostPath mounts and its probes. */
export function readStaticPod(yamlText: string): StaticPodRun {
    const pod = parse(yamlText) as PodDoc;
    const name = pod.metadata?.name ?? "(unnamed)";
    if (pod.kind !== "Pod") throw new Error(`static pod ${name}: kind is ${pod.kind}, not Pod`);
    const containers = pod.spec?.containers ?? [];
    if (containers.length !== 1) throw new Error(`static pod ${name}: ${containers.length} containers; this harness runs exactly one`);
    const c = containers[0];
    const argv = [...(c.command ?? []), ...(c.args ?? [])];
    if (argv.length === 0) throw new Error(`static pod ${name}: the container has no command (the image entrypoint is not known here)`);
    const volumes = new Map((pod.spec?.volumes ?? []).map((v) => [v.name, v]));
    const mounts: Mount[] = (c.volumeMounts ?? []).map((vm) => {
        const v = volumes.get(vm.name);
        if (!v) throw new Error(`static pod ${name}: volumeMount ${vm.name} has no volume`);
        if (!v.hostPath) throw new Error(`static pod ${name}: volume ${vm.name} is not a hostPath volume (a static pod can only use hostPath)`);
        if (vm.subPath) throw new Error(`static pod ${name}: volumeMount ${vm.name} uses subPath, which this harness does not map`);
        return { containerPath: vm.mountPath, hostPath: v.hostPath.path, readOnly: vm.readOnly === true, type: v.hostPath.type ?? "" };
    });
    const probes: StaticPodRun["probes"] = [];
    if (c.readinessProbe) probes.push({ kind: "readiness", probe: c.readinessProbe });
    if (c.livenessProbe) probes.push({ kind: "liveness", probe: c.livenessProbe });
    if (c.startupProbe) probes.push({ kind: "startup", probe: c.startupProbe });
    return { name, argv, mounts, probes, image: c.image };
}

/** The mount whose container path is the longest prefix of `p`, or undefined. */
export function mountFor(p: string, mounts: readonly Mount[]): Mount | undefined {
    let best: Mount | undefined;
    for (const m of mounts) {
        const cp = m.containerPath.replace(/\/+$/, "");
        if (p === cp || p.startsWith(cp + "/")) {
            if (!best || cp.length > best.containerPath.replace(/\/+$/, "").length) best = m;
        }
    }
    return best;
}

/**
 * Where a host path of the node lives locally. `kind` says what the volume is (a hostPath type or
 * "bind"), so the resolver can create run-time directories (DirectoryOrCreate, a data dir).
 */
export type ResolveHost = (hostPath: string, mount: Mount) => string;

/** Maps one container path through the mounts, or returns undefined when no volume covers it. */
export function mapContainerPath(p: string, mounts: readonly Mount[], resolveHost: ResolveHost): string | undefined {
    const m = mountFor(p, mounts);
    if (!m) return undefined;
    const cp = m.containerPath.replace(/\/+$/, "");
    const rest = p.slice(cp.length); // "" or "/…"
    return resolveHost(m.hostPath, m) + rest;
}

/** Flag/variable names whose value is a file or folder (so an unmapped absolute path is an error). */
const PATHISH = /(file|dir|path|kubeconfig|config|cafile|certfile|keyfile|certificate|key)$/i;

export interface Rewritten {
    values: string[];
    /** Human-readable: what was mapped (`--flag: /container/path → /local/path`). */
    mapped: string[];
    /** Path-valued settings not covered by any volume. */
    problems: string[];
}

/**
 * Rewrites `--flag=value` arguments: every comma-separated item of a value that is an absolute path
 * is mapped through the mounts. Items not under a mount are left alone unless the flag name says it
 * is a path (then it is a problem: the container would not see the file). argv[0] is kept.
 */
export function rewriteArgs(argv: readonly string[], mounts: readonly Mount[], resolveHost: ResolveHost): Rewritten {
    const out: Rewritten = { values: [argv[0]], mapped: [], problems: [] };
    for (const arg of argv.slice(1)) {
        const m = /^(--?[^=]+)=(.*)$/s.exec(arg);
        if (!m) {
            if (arg.startsWith("/")) out.problems.push(`positional argument ${arg} is a path; pass it as --flag=value`);
            out.values.push(arg);
            continue;
        }
        const [, flag, value] = m;
        out.values.push(`${flag}=${mapList(flag, value, mounts, resolveHost, out)}`);
    }
    return out;
}

/** Same for `KEY=value` environment variables (etcd's ETCD_* settings). */
export function rewriteEnv(vars: readonly [string, string][], mounts: readonly Mount[], resolveHost: ResolveHost): Rewritten & { env: Record<string, string> } {
    const out: Rewritten & { env: Record<string, string> } = { values: [], mapped: [], problems: [], env: {} };
    for (const [k, v] of vars) {
        const mapped = mapList(k, v, mounts, resolveHost, out);
        out.env[k] = mapped;
        out.values.push(`${k}=${mapped}`);
    }
    return out;
}

function mapList(name: string, value: string, mounts: readonly Mount[], resolveHost: ResolveHost, out: Rewritten): string {
    return value
        .split(",")
        .map((item) => {
            if (!item.startsWith("/")) return item;
            const local = mapContainerPath(item, mounts, resolveHost);
            if (local === undefined) {
                if (PATHISH.test(name.replace(/^-+/, "").replace(/[-_]/g, ""))) {
                    out.problems.push(`${name}=${item}: no volume of the container covers ${item}, so the process could not read it on a node`);
                }
                return item;
            }
            out.mapped.push(`${name}: ${item} → ${local}`);
            return local;
        })
        .join(",");
}
