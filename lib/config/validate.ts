/**
 * Validation of the raw cluster description: zod's structural issues turned into opke's one-line
 * messages, plus the rules that relate fields to each other (networks, node counts, IPs, MACs,
 * versions, certificate lifetimes, duplicate extras).
 *
 * Every problem is one line `<field path>: <value as JSON> <problem>; <what is allowed / the fix>`.
 * A value that came from a default is shown with "(default)"; a missing value reads "missing".
 * All problems are collected; nothing stops at the first one.
 */
import semver from "semver";
import type { z } from "zod";
import { BareMetalMode, BareMetalSpec, OS_CHANNELS, OS_VERSION_FORMATS } from "../../modules/bare-metal/config";
import { OpenStackSpec, SshVia, subnetPlan } from "../../modules/openstack/config";
import { gitopsConfigIssues } from "../../modules/argocd/config";
import versions from "../versions.json";
import {
    allowedKeysAtPath,
    ClusterConfigSchema,
    type ClusterConfig,
    type ConfigPath,
    type Extras,
    NetworkSpec,
    NodeSpec,
    PkiSpec,
    Platform,
    SshSpec,
    SUPPORTED_ETCD_VERSIONS,
    SUPPORTED_KUBERNETES_VERSIONS,
} from "./schema";
import {
    cidrContains,
    cidrsOverlap,
    canonicalCidr,
    intToIp,
    ipToInt,
    isCanonicalCidr,
    parseIpv4,
    parseIpv4Cidr,
    prefixForHosts,
    usableHosts,
    type Ipv4Cidr,
} from "./network";

// ---------------------------------------------------------------------------------------------
// Formatting

/** `controllers[1].ip`, `workers[0].labels["example.com/role"]`; the empty path is `(root)`. */
export function formatPath(path: ConfigPath): string {
    let out = "";
    for (const segment of path) {
        if (typeof segment === "number") out += `[${segment}]`;
        else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(segment)) out += out === "" ? segment : `.${segment}`;
        else out += `[${JSON.stringify(segment)}]`;
    }
    return out === "" ? "(root)" : out;
}

const MAX_VALUE_CHARS = 100;

/** The value as compact JSON, cut to 100 characters. */
export function formatValue(value: unknown): string {
    let text: string;
    try {
        text = JSON.stringify(value) ?? String(value);
    } catch {
        text = String(value);
    }
    return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS - 1)}…` : text;
}

/** The value at `path` inside `raw`, or undefined when any step is missing. */
export function valueAtPath(raw: unknown, path: ConfigPath): unknown {
    let value = raw;
    for (const segment of path) {
        if (value === null || typeof value !== "object") return undefined;
        if (!Object.hasOwn(value, segment)) return undefined;
        value = (value as Record<string | number, unknown>)[segment];
    }
    return value;
}

/** Collects issue lines; values are looked up in the raw input so the message shows what was written. */
class IssueList {
    readonly lines: string[] = [];
    constructor(readonly raw: unknown) {}

    /** `<path>: <value> <problem>`; `effective` is shown, marked "(default)", when the raw input lacks the field. */
    add(path: ConfigPath, effective: unknown, problem: string): void {
        const written = valueAtPath(this.raw, path);
        let shown: string;
        if (written !== undefined) shown = formatValue(written);
        else if (effective !== undefined) shown = `${formatValue(effective)} (default)`;
        else return this.missing(path, problem);
        this.lines.push(`${formatPath(path)}: ${shown} ${problem}`);
    }

    /** `<path>: missing; <fix>`. */
    missing(path: ConfigPath, fix: string): void {
        this.lines.push(`${formatPath(path)}: missing; ${fix}`);
    }

    /** A line whose value part is not the field's JSON (e.g. a count). */
    line(path: ConfigPath, text: string): void {
        this.lines.push(`${formatPath(path)}: ${text}`);
    }
}

// ---------------------------------------------------------------------------------------------
// zod issues → lines

/** How a JSON value's type is named in messages. */
function describeType(value: unknown): string {
    if (value === null) return "empty (null)";
    if (Array.isArray(value)) return "a list";
    switch (typeof value) {
        case "string":
            return "a string";
        case "number":
            return Number.isInteger(value) ? "a number" : "a decimal number";
        case "boolean":
            return "a boolean";
        case "object":
            return "a mapping";
        default:
            return typeof value;
    }
}

const EXPECTED: Record<string, string> = {
    string: "a string",
    number: "a number",
    int: "a whole number",
    boolean: "true or false",
    object: "a mapping (key: value)",
    array: "a list",
    record: "a mapping (key: value)",
};

/** What a required field holds, for "missing" messages. Keys are paths with indexes removed. */
const REQUIRED: Record<string, string> = {
    clusterName: "set a lowercase DNS label such as \"dev\"",
    apiDnsName: "set the DNS name of the Kubernetes API such as \"api.example.com\"",
    controllers: "list the controller nodes (an odd number: 1, 3 or 5), each with name and ip",
    ssh: "set ssh.authorizedKeys to at least one OpenSSH public key",
    "ssh.authorizedKeys": "list at least one OpenSSH public key",
    "controllers.name": "set the node name, a lowercase DNS label such as \"c1\"",
    "workers.name": "set the node name, a lowercase DNS label such as \"w1\"",
    "controllers.ip": "set the node's IPv4 address inside network.nodeCidr",
    "workers.ip": "set the node's IPv4 address inside network.nodeCidr",
    "gitops.repoUrl": "set the GitOps repository such as \"git@github.com:org/repo.git\" (or {} to turn GitOps off)",
    "gitops.stages.name": "set the stage name, a DNS-1123 label such as \"appstage-03-monitoring\"",
    "gitops.stages.path": "set the folder the stage syncs, relative to the repository root, such as \"gitops/appstage-03-monitoring\"",
    "cloudflare.accountId": "set the Cloudflare account ID (32 hex characters)",
    "cloudflare.zoneId": "set the ID of the DNS zone the hostnames live in (32 hex characters)",
};

function requiredHint(path: ConfigPath, expected: string | undefined): string {
    const key = path.filter((s) => typeof s === "string").join(".");
    const hint = REQUIRED[key];
    if (hint) return hint;
    const last = path[path.length - 1];
    return `${String(last)} is required (${EXPECTED[expected ?? ""] ?? expected ?? "a value"})`;
}

function levenshtein(a: string, b: string): number {
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
        let diagonal = row[0];
        row[0] = i;
        for (let j = 1; j <= b.length; j++) {
            const above = row[j];
            row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
            diagonal = above;
        }
    }
    return row[b.length];
}

/** The allowed key closest to `key` (case-insensitive; at most 2 edits and at most a third of the key), if any. */
function closestKey(key: string, allowed: string[]): string | undefined {
    let best: string | undefined;
    let bestDistance = Infinity;
    for (const candidate of allowed) {
        const d = levenshtein(key.toLowerCase(), candidate.toLowerCase());
        if (d < bestDistance) [best, bestDistance] = [candidate, d];
    }
    return bestDistance <= 2 && bestDistance * 3 <= key.length ? best : undefined;
}

/** Zod's own default messages start like this; our schema messages never do. */
const ZOD_DEFAULT_MESSAGE = /^(Invalid|Too (big|small)|Unrecognized)/;

function zodIssueLines(issue: z.core.$ZodIssue, raw: unknown, out: IssueList): void {
    const path = issue.path.filter((s): s is string | number => typeof s !== "symbol");
    const value = valueAtPath(raw, path);
    const custom = !ZOD_DEFAULT_MESSAGE.test(issue.message);
    switch (issue.code) {
        case "invalid_type": {
            if (value === undefined) return out.missing(path, requiredHint(path, issue.expected));
            if (issue.expected === "int" && typeof value === "number") {
                return out.add(path, value, custom ? issue.message : "is not a whole number; use an integer");
            }
            const expected = EXPECTED[issue.expected] ?? issue.expected;
            const quote = issue.expected === "string" && (typeof value === "number" || typeof value === "boolean") ? " (quote it in YAML)" : "";
            return out.add(path, value, `is ${describeType(value)}; expected ${expected}${quote}`);
        }
        case "invalid_value":
            return out.add(path, value, `is not allowed; use one of ${issue.values.map((v) => formatValue(v)).join(", ")}`);
        case "unrecognized_keys": {
            const allowed = allowedKeysAtPath(path) ?? [];
            for (const key of issue.keys) {
                const guess = closestKey(key, allowed);
                const hint = guess ? `did you mean ${guess}? allowed keys are` : "allowed keys are";
                out.line([...path, key], `unknown key; ${hint} ${allowed.join(", ")}`);
            }
            return;
        }
        case "invalid_key": {
            const key = path[path.length - 1];
            const inner = issue.issues.find((i) => !ZOD_DEFAULT_MESSAGE.test(i.message));
            return out.line(path, `${formatValue(key)} ${inner?.message ?? "is not an allowed key"}`);
        }
        case "too_small":
        case "too_big":
        case "invalid_format":
        case "invalid_union":
        case "custom":
            if (custom) return out.add(path, value, issue.message);
            return out.add(path, value, `is not valid; ${issue.message.replace(/^Invalid input: /, "")}`);
        default:
            return out.add(path, value, `is not valid; ${issue.message}`);
    }
}

// ---------------------------------------------------------------------------------------------
// Salvage: the fields that are structurally valid, so cross-field rules can still run when zod
// found problems elsewhere (every problem is reported in one go).

type PartialNode = Partial<NodeSpec>;

interface Salvaged {
    kubernetesVersion?: string;
    etcdVersion?: string;
    platform?: ClusterConfig["platform"];
    os?: ClusterConfig["os"];
    apiPort?: number;
    network: Partial<ClusterConfig["network"]>;
    pki: Partial<ClusterConfig["pki"]>;
    /** One entry per raw node (undefined when the entry is not an object); undefined when the list is unusable. */
    controllers?: (PartialNode | undefined)[];
    workers?: (PartialNode | undefined)[];
    controllerExtras?: Extras;
    workerExtras?: Extras;
    bareMetal: Partial<ClusterConfig["bareMetal"]>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
    return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Each field of `schema` parsed on its own; fields that fail are left out. */
function salvageObject<T extends z.ZodRawShape>(schema: z.ZodObject<T>, raw: unknown): Partial<z.output<z.ZodObject<T>>> {
    const out: Record<string, unknown> = {};
    if (raw !== undefined && !isRecord(raw)) return out as Partial<z.output<z.ZodObject<T>>>;
    for (const [key, field] of Object.entries(schema.shape)) {
        const r = (field as z.ZodType).safeParse(raw?.[key]);
        if (r.success) out[key] = r.data;
    }
    return out as Partial<z.output<z.ZodObject<T>>>;
}

function salvage(raw: Record<string, unknown>): Salvaged {
    const top = salvageObject(ClusterConfigSchema, raw);
    const nodes = (value: unknown, fallback: unknown[] | undefined) => {
        const list = value === undefined ? fallback : value;
        return Array.isArray(list) ? list.map((n) => (isRecord(n) ? (salvageObject(NodeSpec, n) as PartialNode) : undefined)) : undefined;
    };
    return {
        kubernetesVersion: top.kubernetesVersion,
        etcdVersion: top.etcdVersion,
        platform: top.platform,
        os: top.os,
        apiPort: top.apiPort,
        network: salvageObject(NetworkSpec, raw.network),
        pki: salvageObject(PkiSpec, raw.pki),
        controllers: nodes(raw.controllers, undefined),
        workers: nodes(raw.workers, []),
        controllerExtras: top.controllerExtras,
        workerExtras: top.workerExtras,
        bareMetal: salvageObject(BareMetalSpec, raw.bareMetal),
    };
}

// ---------------------------------------------------------------------------------------------
// Cross-field rules

/** Strips one leading "v"; the rest must be a plain MAJOR.MINOR.PATCH[-pre] semver. */
function parseVersion(text: string): semver.SemVer | undefined {
    const bare = text.startsWith("v") ? text.slice(1) : text;
    const parsed = semver.parse(bare);
    return parsed && parsed.version === bare ? parsed : undefined;
}

/** `v`-prefixed form of a version that `checkVersion` accepted. */
export function normaliseVersion(text: string): `v${string}` {
    const parsed = parseVersion(text);
    if (!parsed) throw new Error(`${JSON.stringify(text)} is not a version`);
    return `v${parsed.version}`;
}

function checkVersion(out: IssueList, key: "kubernetesVersion" | "etcdVersion", text: string | undefined, range: string, fallback: string): void {
    if (text === undefined) return;
    const example = `such as ${JSON.stringify(fallback)}`;
    const parsed = parseVersion(text);
    if (!parsed) return out.add([key], text, `is not a version; use MAJOR.MINOR.PATCH ${example} (a leading "v" is optional)`);
    if (parsed.prerelease.length > 0) return out.add([key], text, `is a prerelease; use a released version ${example}`);
    if (!semver.satisfies(parsed, range)) return out.add([key], text, `is not supported; use a version in ${range} ${example}`);
}

interface NetworkRanges {
    node?: Ipv4Cidr;
    pod?: Ipv4Cidr;
    service?: Ipv4Cidr;
}

const CIDR_FIELDS = [
    { field: "nodeCidr", range: "node", example: "10.0.0.0/24" },
    { field: "podCidr", range: "pod", example: "10.20.0.0/16" },
    { field: "serviceCidr", range: "service", example: "10.3.0.0/16" },
] as const;

function checkNetwork(out: IssueList, s: Salvaged, nodeCount: number): NetworkRanges {
    const ranges: NetworkRanges = {};
    for (const { field, range, example } of CIDR_FIELDS) {
        const text = s.network[field];
        if (text === undefined) continue;
        const cidr = parseIpv4Cidr(text);
        if (!cidr) {
            out.add(["network", field], text, `is not an IPv4 CIDR; use ADDRESS/PREFIX such as ${JSON.stringify(example)}`);
            continue;
        }
        if (!isCanonicalCidr(cidr)) out.add(["network", field], text, `has host bits set; use ${JSON.stringify(canonicalCidr(cidr))}`);
        ranges[range] = cidr;
    }

    const pairs = [
        ["podCidr", "pod", "nodeCidr", "node"],
        ["serviceCidr", "service", "nodeCidr", "node"],
        ["serviceCidr", "service", "podCidr", "pod"],
    ] as const;
    for (const [field, range, otherField, otherRange] of pairs) {
        const a = ranges[range];
        const b = ranges[otherRange];
        if (a && b && cidrsOverlap(a, b)) {
            out.add(["network", field], s.network[field], `overlaps network.${otherField} ${formatValue(s.network[otherField])}; choose disjoint ranges`);
        }
    }

    const service = ranges.service;
    if (service && service.prefix > 28) {
        out.add(["network", "serviceCidr"], s.network.serviceCidr, "is too small; use a /28 or larger (it needs .1 for the kubernetes Service and .10 for DNS)");
    } else if (service && service.prefix < 12) {
        out.add(["network", "serviceCidr"], s.network.serviceCidr, "is too large; use a /12 or smaller (kube-apiserver rejects larger service ranges)");
    }

    const node = ranges.node;
    if (node && usableHosts(node) < nodeCount) {
        out.add(
            ["network", "nodeCidr"],
            s.network.nodeCidr,
            `has room for ${usableHosts(node)} node addresses but there are ${nodeCount} nodes; use a /${prefixForHosts(nodeCount)} or larger`,
        );
    }

    const pod = ranges.pod;
    const nodePodPrefix = s.network.nodePodPrefix;
    if (pod && nodePodPrefix !== undefined) {
        if (nodePodPrefix <= pod.prefix) {
            const fix = pod.prefix >= 28 ? "use a larger network.podCidr (/27 or larger)" : `use ${Math.max(pod.prefix + 1, 16)} to 28`;
            out.add(["network", "nodePodPrefix"], nodePodPrefix, `is not longer than the /${pod.prefix} of network.podCidr ${formatValue(s.network.podCidr)}; ${fix}`);
        } else {
            const subnets = 2 ** (nodePodPrefix - pod.prefix);
            if (subnets < nodeCount) {
                const needed = nodePodPrefix - Math.ceil(Math.log2(nodeCount));
                out.add(
                    ["network", "podCidr"],
                    s.network.podCidr,
                    `has room for ${subnets} node subnets of /${nodePodPrefix} but there are ${nodeCount} nodes; use a /${needed} or larger, or a longer network.nodePodPrefix`,
                );
            }
        }
    }
    return ranges;
}

/** Ports that are taken on every controller's host network. */
const CONTROLLER_PORTS: Record<number, string> = {
    2379: "the etcd client port",
    2380: "the etcd peer port",
    10250: "the kubelet port",
    10257: "the kube-controller-manager port",
    10259: "the kube-scheduler port",
};

/** Where a value was first seen: the entry that holds it (e.g. `controllers[0]`, `workerExtras.files[0]`). */
type Seen = ConfigPath;

/**
 * Reports `path` as a duplicate when `key` is already in `seen` (the first occurrence wins), or
 * records `owner` (default: `path` without its last step) as the first holder of `key`.
 */
function checkUnique(
    out: IssueList,
    seen: Map<string, Seen>,
    key: string | undefined,
    path: ConfigPath,
    problem: (first: string) => string,
    value: unknown = key,
    owner: ConfigPath = path.slice(0, -1),
): void {
    if (key === undefined) return;
    const first = seen.get(key);
    if (first) out.add(path, value, problem(formatPath(first)));
    else seen.set(key, owner);
}

/** Duplicate file paths, unit names and drop-in names within one set of extras, or against an outer scope. */
function checkExtras(out: IssueList, extras: Extras | undefined, base: ConfigPath, outer?: { files: Map<string, Seen>; units: Map<string, Seen> }): void {
    if (!extras) return;
    const files = new Map<string, Seen>(outer?.files);
    extras.files.forEach((f, i) =>
        checkUnique(out, files, f.path, [...base, "files", i, "path"], (first) => `is already written by ${first}; write each path once per node`),
    );
    const units = new Map<string, Seen>(outer?.units);
    extras.units.forEach((u, i) => {
        checkUnique(out, units, u.name, [...base, "units", i, "name"], (first) => `is already defined by ${first}; define each unit once (add drop-ins to extend it)`);
        const dropins = new Map<string, Seen>();
        u.dropins.forEach((d, j) =>
            checkUnique(out, dropins, d.name, [...base, "units", i, "dropins", j, "name"], (first) => `is already defined by ${first}; give each drop-in its own name`),
        );
    });
}

function extrasIndex(extras: Extras | undefined, base: ConfigPath): { files: Map<string, Seen>; units: Map<string, Seen> } {
    const files = new Map<string, Seen>();
    const units = new Map<string, Seen>();
    extras?.files.forEach((f, i) => files.has(f.path) || files.set(f.path, [...base, "files", i]));
    extras?.units.forEach((u, i) => units.has(u.name) || units.set(u.name, [...base, "units", i]));
    return { files, units };
}

function checkNodes(out: IssueList, s: Salvaged, ranges: NetworkRanges): void {
    const names = new Map<string, Seen>();
    const ips = new Map<string, Seen>();
    const macs = new Map<string, Seen>();
    const node = ranges.node;
    const usable = node && usableHosts(node) > 0 ? `use an address from ${intToIp(node.first + 1)} to ${intToIp(node.last - 1)}` : "use a larger network.nodeCidr";
    const roles = [
        { key: "controllers", list: s.controllers, extras: extrasIndex(s.controllerExtras, ["controllerExtras"]) },
        { key: "workers", list: s.workers, extras: extrasIndex(s.workerExtras, ["workerExtras"]) },
    ] as const;
    for (const role of roles) {
        role.list?.forEach((n, i) => {
            if (!n) return;
            const at = (...rest: (string | number)[]): ConfigPath => [role.key, i, ...rest];
            checkUnique(out, names, n.name, at("name"), (first) => `is already used by ${first}; give every node its own name`);

            if (n.ip !== undefined) {
                const ip = parseIpv4(n.ip);
                if (!ip) {
                    out.add(at("ip"), n.ip, "is not an IPv4 address; use four decimal octets such as \"10.0.0.11\"");
                } else {
                    checkUnique(out, ips, n.ip, at("ip"), (first) => `is already used by ${first}; give every node its own IP`);
                    const nodeCidr = formatValue(s.network.nodeCidr);
                    if (node && !cidrContains(node, ip)) out.add(at("ip"), n.ip, `is outside network.nodeCidr ${nodeCidr}; ${usable}`);
                    else if (node && usableHosts(node) > 0 && ipToInt(ip) === node.first) out.add(at("ip"), n.ip, `is the network address of network.nodeCidr ${nodeCidr}; ${usable}`);
                    else if (node && usableHosts(node) > 0 && ipToInt(ip) === node.last) out.add(at("ip"), n.ip, `is the broadcast address of network.nodeCidr ${nodeCidr}; ${usable}`);
                }
            }

            if (n.mac !== undefined) {
                checkUnique(out, macs, n.mac, at("mac"), (first) => `is already used by ${first}; give every node its own MAC address`);
            } else if (bootsByMac(s, n.name) && valueAtPath(out.raw, [role.key, i, "mac"]) === undefined) {
                const uuidField = formatPath(["bareMetal", "machines", n.name ?? "<name>", "uuid"]);
                out.missing(
                    at("mac"),
                    `bareMetal.mode ${JSON.stringify(s.bareMetal.mode)} selects each machine by the MAC address of its boot interface; ` +
                        `set it such as "52:54:00:12:34:56", or set ${uuidField}`,
                );
            }

            const taints = new Map<string, Seen>();
            n.taints?.forEach((t, j) =>
                checkUnique(out, taints, `${t.key}\u0000${t.effect}`, at("taints", j), (first) => `repeats ${first} (same key and effect); keep one`, t, at("taints", j)),
            );

            checkExtras(out, n.extras, at("extras"), role.extras);
        });
    }
}

/** Modes that PXE-boot machines through Matchbox (and so need MAC or UUID, URL, OS version). */
function bootsMachines(s: Salvaged): boolean {
    return s.platform === Platform.BareMetal && (s.bareMetal.mode === BareMetalMode.Matchbox || s.bareMetal.mode === BareMetalMode.Directory);
}

/** True when node `name` must have a MAC: it is PXE-booted and has no UUID to be selected by. */
function bootsByMac(s: Salvaged, name: string | undefined): boolean {
    if (!bootsMachines(s)) return false;
    const machine = name !== undefined && s.bareMetal.machines ? s.bareMetal.machines[name] : undefined;
    return machine?.uuid === undefined;
}

/** The `bareMetal` rules that relate the block to the mode, `os` and the node lists (platform bare-metal only). */
function checkBareMetal(out: IssueList, s: Salvaged): void {
    if (s.platform !== Platform.BareMetal) return;
    const bm = s.bareMetal;
    const mode = JSON.stringify(bm.mode);
    if (bootsMachines(s)) {
        if (bm.matchboxUrl === undefined && valueAtPath(out.raw, ["bareMetal", "matchboxUrl"]) === undefined) {
            out.missing(
                ["bareMetal", "matchboxUrl"],
                `bareMetal.mode ${mode} needs the Matchbox HTTP endpoint the machines reach while booting, such as "http://matchbox.example.com:8080"`,
            );
        }
        if (bm.osVersion === undefined && valueAtPath(out.raw, ["bareMetal", "osVersion"]) === undefined && s.os !== undefined) {
            const format = OS_VERSION_FORMATS[s.os];
            out.missing(["bareMetal", "osVersion"], `bareMetal.mode ${mode} installs a pinned image; set the ${format.name} version to install such as ${JSON.stringify(format.example)}`);
        }
        if (bm.mode === BareMetalMode.Matchbox && bm.matchboxHost === undefined && valueAtPath(out.raw, ["bareMetal", "matchboxHost"]) === undefined) {
            out.missing(
                ["bareMetal", "matchboxHost"],
                `bareMetal.mode "matchbox" writes the Matchbox files over SSH; set the provisioning host such as { host: "matchbox.example.com" }, or use bareMetal.mode "directory" to write them locally`,
            );
        }
    }
    if (s.os !== undefined) {
        const format = OS_VERSION_FORMATS[s.os];
        if (bm.osVersion !== undefined && !format.pattern.test(bm.osVersion)) {
            out.add(["bareMetal", "osVersion"], bm.osVersion, `is not a ${format.name} version; pin a release such as ${JSON.stringify(format.example)}`);
        }
        const channels: readonly string[] = OS_CHANNELS[s.os];
        if (bm.osChannel !== undefined && !channels.includes(bm.osChannel)) {
            const what = s.os === "flatcar" ? "Flatcar channel" : "Fedora CoreOS stream";
            out.add(["bareMetal", "osChannel"], bm.osChannel, `is not a ${what}; use one of ${channels.map((c) => JSON.stringify(c)).join(", ")}`);
        }
    }
    if (bm.machines) {
        const names = [...(s.controllers ?? []), ...(s.workers ?? [])].map((n) => n?.name).filter((n): n is string => n !== undefined);
        const known = new Set(names);
        const uuids = new Map<string, Seen>();
        for (const [name, machine] of Object.entries(bm.machines)) {
            const at: ConfigPath = ["bareMetal", "machines", name];
            if (s.controllers && s.workers && !known.has(name)) {
                out.line(at, `unknown node; machines are keyed by node name, one of ${names.join(", ")}`);
            }
            checkUnique(out, uuids, machine.uuid, [...at, "uuid"], (first) => `is already used by ${first}; give every machine its own UUID`);
        }
    }
}

function checkPki(out: IssueList, pki: Salvaged["pki"]): void {
    const { validityHours, earlyRenewalHours, caValidityHours, caEarlyRenewalHours } = pki;
    if (validityHours !== undefined && earlyRenewalHours !== undefined && earlyRenewalHours >= validityHours) {
        out.add(["pki", "earlyRenewalHours"], earlyRenewalHours, `is not less than pki.validityHours ${validityHours}; renew before expiry, e.g. 720 for a one-year certificate`);
    }
    if (caValidityHours !== undefined && caEarlyRenewalHours !== undefined && caEarlyRenewalHours >= caValidityHours) {
        out.add(["pki", "caEarlyRenewalHours"], caEarlyRenewalHours, `is not less than pki.caValidityHours ${caValidityHours}; renew before expiry, e.g. 8760 for a ten-year CA`);
    }
    if (validityHours !== undefined && caValidityHours !== undefined && validityHours > caValidityHours) {
        out.add(["pki", "validityHours"], validityHours, `is longer than pki.caValidityHours ${caValidityHours}; a certificate must not outlive its CA`);
    }
}

/** `ssh.hostKeys` is keyed by node name; a name that is no node is a typo (its key would never be checked). */
function checkSshHostKeys(out: IssueList, raw: Record<string, unknown>, s: Salvaged): void {
    const hostKeys = salvageObject(SshSpec, raw.ssh).hostKeys;
    if (!hostKeys || !s.controllers || !s.workers) return;
    const names = [...s.controllers, ...s.workers].map((n) => n?.name).filter((n): n is string => n !== undefined);
    for (const name of Object.keys(hostKeys)) {
        if (!names.includes(name)) out.line(["ssh", "hostKeys", name], `unknown node; host keys are keyed by node name, one of ${names.join(", ")}`);
    }
}

function crossFieldLines(raw: Record<string, unknown>, out: IssueList): void {
    const s = salvage(raw);
    checkVersion(out, "kubernetesVersion", s.kubernetesVersion, SUPPORTED_KUBERNETES_VERSIONS, versions.kubernetes);
    checkVersion(out, "etcdVersion", s.etcdVersion, SUPPORTED_ETCD_VERSIONS, versions.etcd);

    const nodeCount = (s.controllers?.length ?? 0) + (s.workers?.length ?? 0);
    const ranges = checkNetwork(out, s, nodeCount);

    if (s.apiPort !== undefined && CONTROLLER_PORTS[s.apiPort]) {
        out.add(["apiPort"], s.apiPort, `collides with ${CONTROLLER_PORTS[s.apiPort]} on the controllers; use another port such as 6443`);
    }

    if (s.controllers && s.controllers.length % 2 === 0) {
        const n = s.controllers.length;
        out.line(["controllers"], `${n} controllers is ${n === 0 ? "too few" : "even"}; use an odd number (1, 3, 5) so etcd keeps quorum`);
    }

    checkExtras(out, s.controllerExtras, ["controllerExtras"]);
    checkExtras(out, s.workerExtras, ["workerExtras"]);
    checkNodes(out, s, ranges);
    checkBareMetal(out, s);
    checkOpenStack(out, raw, s, ranges);
    checkPki(out, s.pki);
    checkSshHostKeys(out, raw, s);
    out.lines.push(...gitopsConfigIssues(raw));
}

// ---------------------------------------------------------------------------------------------
// OpenStack (modules/openstack/config.ts)

/**
 * An empty `openstack` mapping counts as unset: Pulumi.yaml declares `openstack` with default {}
 * (a project key without a default would be required on every stack), so the engine hands {} to
 * bare-metal stacks.
 */
function withoutEmptyOpenStack(raw: unknown): unknown {
    if (!isRecord(raw)) return raw;
    // Also `gitops` and `cloudflare` (modules/argocd/config.ts): optional blocks declared with default {}.
    const empty = ["openstack", "gitops", "cloudflare"].filter((k) => isRecord(raw[k]) && Object.keys(raw[k] as object).length === 0);
    if (empty.length === 0) return raw;
    const rest = { ...raw };
    for (const k of empty) delete rest[k];
    return rest;
}

/** How each `openstack.sshVia` mode needs `openstack.allowedSshCidrs` filled in. */
const SSH_SOURCE_HINT: Record<SshVia, string> = {
    [SshVia.FloatingIp]: "the public address the host running pulumi connects from",
    [SshVia.Bastion]: "the bastion's address as the nodes see it",
    [SshVia.Direct]: "the address of the host running pulumi on the node network",
};

/** The `openstack` block against `platform`, auth combinations, network mode, node IPs and SSH reachability. */
function checkOpenStack(out: IssueList, raw: Record<string, unknown>, s: Salvaged, ranges: NetworkRanges): void {
    const written = raw.openstack;
    if (s.platform !== Platform.OpenStack) {
        if (written !== undefined && s.platform !== undefined) {
            out.line(["openstack"], `is only used with platform "openstack" (platform is ${JSON.stringify(s.platform)}); remove it or set platform: openstack`);
        }
        return;
    }
    if (written === undefined) {
        return out.missing(
            ["openstack"],
            'platform "openstack" needs the OpenStack settings; set openstack.authUrl, imageId, controllerFlavor, externalNetworkId and the login (see Pulumi.openstack-example.yaml)',
        );
    }
    if (!isRecord(written)) return;
    const os = salvageObject(OpenStackSpec, written);
    const at = (...rest: (string | number)[]): ConfigPath => ["openstack", ...rest];
    const has = (key: string) => written[key] !== undefined;

    // Login: an application credential, or user + project.
    if (has("applicationCredentialId")) {
        for (const key of ["userName", "projectName", "projectId"]) {
            if (has(key)) out.add(at(key), written[key], "is not used with openstack.applicationCredentialId (an application credential carries its user and project); remove it");
        }
    } else {
        if (!has("userName")) {
            out.missing(at("userName"), "set the OpenStack user (its password goes in the secret config opke:openstackPassword), or log in with openstack.applicationCredentialId");
        }
        if (!has("projectName") && !has("projectId")) out.missing(at("projectName"), "set the project to build in: openstack.projectName or openstack.projectId");
        if (has("projectName") && has("projectId")) out.add(at("projectId"), written.projectId, "is set together with openstack.projectName; set only one of them");
    }

    // Network mode.
    const net = isRecord(written.network) ? written.network : undefined;
    let creates = written.network === undefined; // the default is { create: true }
    if (net) {
        const create = net.create !== undefined;
        const existing = net.id !== undefined || net.subnetId !== undefined;
        if (create && existing) {
            out.add(at("network"), net, "sets create together with id/subnetId; use either { create: true } or { id, subnetId } of an existing network");
        } else if (!create && !existing) {
            out.add(at("network"), net, 'sets neither create nor id; use { create: true } to let opke create the network, or { id: "<network UUID>", subnetId: "<subnet UUID>" }');
        } else if (existing) {
            if (net.id === undefined) out.missing(at("network", "id"), "set the UUID of the network that holds openstack.network.subnetId");
            if (net.subnetId === undefined) out.missing(at("network", "subnetId"), "an existing network needs the UUID of its subnet on network.nodeCidr");
            if (net.dnsNameservers !== undefined) {
                out.add(at("network", "dnsNameservers"), net.dnsNameservers, "only applies to a network opke creates; set DNS servers on the existing subnet, or remove it");
            }
        }
        creates = create && !existing;
    }

    // Node IPs inside the subnet opke creates: between the gateway and the DHCP pool.
    const node = ranges.node;
    if (creates && node && usableHosts(node) > 0) {
        const plan = subnetPlan(node);
        if (!plan) {
            out.add(["network", "nodeCidr"], s.network.nodeCidr, "is too small for the subnet opke creates (gateway, node addresses and a DHCP pool); use a /29 or larger");
        } else {
            const first = ipToInt(parseIpv4(plan.nodeRange.first)!);
            const last = ipToInt(parseIpv4(plan.nodeRange.last)!);
            const pool = `${plan.allocationPool.start} to ${plan.allocationPool.end}`;
            for (const role of ["controllers", "workers"] as const) {
                s[role]?.forEach((n, i) => {
                    const ip = n?.ip === undefined ? undefined : parseIpv4(n.ip);
                    if (!ip || !cidrContains(node, ip)) return; // reported by checkNodes
                    const v = ipToInt(ip);
                    if (v === node.first || v === node.last || (v >= first && v <= last)) return; // network/broadcast: checkNodes
                    const why = v === first - 1 ? "is the gateway of the subnet opke creates" : `is in the DHCP pool of the subnet opke creates (${pool})`;
                    out.add([role, i, "ip"], n?.ip, `${why}; use an address from ${plan.nodeRange.first} to ${plan.nodeRange.last}`);
                });
            }
        }
    }

    // SSH: the pushes need a way in.
    const sshVia = os.sshVia ?? SshVia.FloatingIp;
    if (os.allowedSshCidrs !== undefined && os.allowedSshCidrs.length === 0) {
        out.add(
            at("allowedSshCidrs"),
            os.allowedSshCidrs,
            `is empty, so the nodes' SSH port is closed and the pushes cannot run (openstack.sshVia ${JSON.stringify(sshVia)}); list ${SSH_SOURCE_HINT[sshVia]}, such as "203.0.113.7/32"`,
        );
    }
    const bastion = valueAtPath(raw, ["ssh", "bastion"]);
    if (sshVia === SshVia.Bastion && bastion === undefined) {
        out.missing(["ssh", "bastion"], 'openstack.sshVia "bastion" connects through it; set ssh.bastion.host (and port, user)');
    } else if (sshVia !== SshVia.Bastion && bastion !== undefined) {
        out.add(["ssh", "bastion"], bastion, `is only used with openstack.sshVia "bastion" (it is ${JSON.stringify(sshVia)}); remove it or set openstack.sshVia: bastion`);
    }

    // Each CIDR once (each is one security-group rule).
    for (const list of ["allowedApiCidrs", "allowedSshCidrs", "nodePortCidrs"] as const) {
        const seen = new Map<string, Seen>();
        const values = written[list];
        if (!Array.isArray(values)) continue;
        values.forEach((cidr, i) => {
            if (typeof cidr === "string") checkUnique(out, seen, cidr, at(list, i), (first) => `is already listed at ${first}; list each CIDR once`, cidr, at(list, i));
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Entry point

/** The outcome of validating a raw config: the config, or every problem found. */
export type CheckResult = { ok: true; config: ClusterConfig } | { ok: false; issues: string[] };

/**
 * Validates and defaults a raw config object (the keys under `opke:`), collecting every problem:
 * zod's structural issues first (in zod's order), then the cross-field rules. Versions come back
 * normalised to the `v`-prefixed form.
 */
export function checkClusterConfig(input: unknown): CheckResult {
    const raw = withoutEmptyOpenStack(input);
    const out = new IssueList(raw);
    const parsed = ClusterConfigSchema.safeParse(raw);
    if (!parsed.success) for (const issue of parsed.error.issues) zodIssueLines(issue, raw, out);
    if (isRecord(raw)) crossFieldLines(raw, out);
    if (!parsed.success || out.lines.length > 0) return { ok: false, issues: out.lines };
    return {
        ok: true,
        config: {
            ...parsed.data,
            kubernetesVersion: normaliseVersion(parsed.data.kubernetesVersion),
            etcdVersion: normaliseVersion(parsed.data.etcdVersion),
        },
    };
}

/** A config that failed validation. `issues` holds one line per problem (`<path>: <value> <problem>; <fix>`). */
export class ConfigError extends Error {
    readonly issues: string[];

    constructor(issues: string[]) {
        const noun = issues.length === 1 ? "problem" : "problems";
        super(`Invalid opke config (${issues.length} ${noun}):\n${issues.map((i) => `  - ${i}`).join("\n")}`);
        this.name = "ConfigError";
        this.issues = issues;
    }
}

/**
 * Validates a raw config object (the keys under `opke:` without the prefix, YAML/JSON-typed) and
 * returns the defaulted, normalised `ClusterConfig`. Defaults are the zod defaults in schema.ts
 * (platform bare-metal, apiPort 6443, os flatcar, kubernetesVersion/etcdVersion from
 * lib/versions.json, network 10.0.0.0/24 + 10.20.0.0/16 + 10.3.0.0/16, cluster.local, flannel,
 * nodePodPrefix 24, ssh user core, RSA 2048 with 1-year leaves and 10-year CAs, no workers, no
 * extras). Versions are returned as `v1.36.3`.
 *
 * @throws ConfigError listing every problem found (structural and cross-field) at once.
 */
export function parseClusterConfig(raw: unknown): ClusterConfig {
    const result = checkClusterConfig(raw);
    if (!result.ok) throw new ConfigError(result.issues);
    return result.config;
}
