/**
 * Loaders: build the raw config object from a source, then validate it with `parseClusterConfig`.
 *
 * - `loadPulumiConfig()` — inside the Pulumi program, from the stack config the engine passes in.
 * - `loadStackFile(projectDir, stack, sets)` — offline (`npm run render`), from `Pulumi.<stack>.yaml`
 *   plus `--set key=value` overrides.
 *
 * Both take every `opke:<key>` entry as top-level key `<key>`; keys of other namespaces (`pulumi:`,
 * providers) are ignored. Unknown `opke:` keys are reported by the strict schema.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type * as pulumiTypes from "@pulumi/pulumi";
import YAML from "yaml";
import { checkClusterConfig, ConfigError, formatPath, formatValue, parseClusterConfig } from "./validate";
import { schemaKindAtPath, type ClusterConfig, type ConfigPath } from "./schema";
import { GITOPS_SECRET_KEYS } from "../../modules/argocd/config";
import { OPENSTACK_SECRET_KEYS } from "../../modules/openstack/config";

/** The config namespace of the project (`name` in Pulumi.yaml). */
export const CONFIG_NAMESPACE = "opke";

/**
 * Secret config keys (`pulumi config set --secret opke:<key>`). They are not part of the cluster
 * description: the program reads them with `pulumi.Config` secret access, so they stay secret
 * Outputs and never reach the renderers; both loaders skip them.
 *   - `sshPrivateKey`: private key of the SSH pushes (lib/provision/connection.ts).
 *   - `sopsAgeKey`, `dexClientSecret`, `gitopsToken`, `registryCredentials`, `cloudflareApiToken`,
 *     `cloudflareDnsApiToken`: the GitOps bootstrap and Cloudflare (modules/argocd/config.ts).
 *   - `openstackPassword`, `openstackApplicationCredentialSecret`: the OpenStack provider's
 *     credentials (modules/openstack/config.ts).
 */
export const SECRET_CONFIG_KEYS: readonly string[] = ["sshPrivateKey", ...Object.values(GITOPS_SECRET_KEYS), ...Object.values(OPENSTACK_SECRET_KEYS)];

/** A raw config object (keys without the `opke:` prefix) and the problems found while building it. */
export interface RawConfig {
    raw: Record<string, unknown>;
    issues: string[];
}

/** Schema kinds whose values are taken as plain strings (never JSON-decoded: "1.36" stays a string). */
const STRING_KINDS = new Set(["string", "enum"]);

/**
 * Decodes a config value given as text: plain text for string fields, otherwise JSON (numbers,
 * booleans, lists, mappings) with the text itself as the fallback.
 */
function decodeText(configPath: ConfigPath, text: string): unknown {
    const kind = schemaKindAtPath(configPath);
    if (kind !== undefined && STRING_KINDS.has(kind)) return text;
    try {
        return JSON.parse(text);
    } catch {
        return text;
    }
}

function isRecord(value: unknown): value is Record<string, unknown> {
    return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Paths of `{ secure: "…" }` values (Pulumi's encrypted config) inside `value`. */
function securePaths(value: unknown, at: (string | number)[]): ConfigPath[] {
    if (Array.isArray(value)) return value.flatMap((v, i) => securePaths(v, [...at, i]));
    if (!isRecord(value)) return [];
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "secure" && typeof value.secure === "string") return [at];
    return keys.flatMap((k) => securePaths(value[k], [...at, k]));
}

/**
 * The raw opke config of a stack file's text. `file` names the file in messages. Secret
 * (`secure:`) values are reported and left out: opke has no secret config keys yet. `unreadable`
 * is true when the text is not YAML or not a stack file's shape (then `raw` is empty).
 */
export function rawConfigFromStackFile(file: string, text: string): RawConfig & { securePaths: ConfigPath[]; unreadable: boolean } {
    const issues: string[] = [];
    const raw: Record<string, unknown> = {};
    const secure: ConfigPath[] = [];
    const doc = YAML.parseDocument(text, { prettyErrors: false });
    if (doc.errors.length > 0) {
        for (const e of doc.errors) {
            const line = text.slice(0, e.pos[0]).split("\n").length;
            issues.push(`${file}: is not valid YAML (line ${line}): ${e.message.split("\n")[0]}; fix the syntax`);
        }
        return { raw, issues, securePaths: secure, unreadable: true };
    }
    const top: unknown = doc.toJS();
    if (top !== null && top !== undefined && !isRecord(top)) {
        issues.push(`${file}: ${formatValue(top)} is not a mapping; a stack file holds \`config:\` and stack settings`);
        return { raw, issues, securePaths: secure, unreadable: true };
    }
    const config = top?.config;
    if (config === undefined || config === null) return { raw, issues, securePaths: secure, unreadable: false };
    if (!isRecord(config)) {
        issues.push(`${file}: config: ${formatValue(config)} is not a mapping; write one \`opke:<key>: <value>\` entry per line`);
        return { raw, issues, securePaths: secure, unreadable: true };
    }
    for (const [key, value] of Object.entries(config)) {
        const colon = key.indexOf(":");
        if (colon < 0) {
            issues.push(`${file}: config key ${JSON.stringify(key)} has no namespace; write it as "${CONFIG_NAMESPACE}:${key}"`);
            continue;
        }
        if (key.slice(0, colon) !== CONFIG_NAMESPACE) continue;
        const name = key.slice(colon + 1);
        if (SECRET_CONFIG_KEYS.includes(name)) continue;
        for (const p of securePaths(value, [name])) {
            secure.push(p);
            issues.push(
                `${formatPath(p)}: secure value; only ${SECRET_CONFIG_KEYS.join(", ")} may be secret, so store it in plain text (pulumi config set without --secret) or remove it`,
            );
        }
        raw[name] = value;
    }
    for (const p of secure) deleteAtPath(raw, p);
    return { raw, issues, securePaths: secure, unreadable: false };
}

function deleteAtPath(raw: Record<string, unknown>, p: ConfigPath): void {
    let container: unknown = raw;
    for (const segment of p.slice(0, -1)) container = (container as Record<string | number, unknown>)[segment];
    const last = p[p.length - 1];
    if (Array.isArray(container) && typeof last === "number") container[last] = undefined;
    else delete (container as Record<string | number, unknown>)[last];
}

/** A parsed `--set key=value`, or the problem with it. */
export type SetArgument = { path: ConfigPath; value: unknown } | { issue: string };

/**
 * Parses one `--set` argument: `key=value` where key is a config key without the `opke:` prefix
 * (the prefix is tolerated), optionally a path such as `network.podCidr`, `controllers[0].ip` or
 * `workers[1].labels["example.com/role"]`. The value is plain text for string fields (so
 * `kubernetesVersion=1.36` stays "1.36"), otherwise JSON with the text as fallback
 * (`apiPort=7443` is a number, `ssh.authorizedKeys=["ssh-ed25519 …"]` a list).
 */
export function parseSetArgument(arg: string): SetArgument {
    const where = `--set ${JSON.stringify(arg)}`;
    const eq = arg.indexOf("=");
    if (eq < 0) return { issue: `${where}: is not key=value; write e.g. --set kubernetesVersion=1.36.2` };
    let key = arg.slice(0, eq);
    const text = arg.slice(eq + 1);
    const ns = /^([A-Za-z0-9_.-]+):/.exec(key);
    if (ns) {
        if (ns[1] !== CONFIG_NAMESPACE) return { issue: `${where}: sets a ${JSON.stringify(ns[1])} key; --set only takes opke keys, written without a prefix` };
        key = key.slice(ns[0].length);
    }
    const segments: (string | number)[] = [];
    const first = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(key);
    if (!first) return { issue: `${where}: ${JSON.stringify(key)} is not a config key; write a key such as apiPort or a path such as controllers[0].ip` };
    segments.push(first[0]);
    let rest = key.slice(first[0].length);
    while (rest !== "") {
        const m = /^\.([A-Za-z_][A-Za-z0-9_-]*)/.exec(rest) ?? /^\[(0|[1-9][0-9]*)\]/.exec(rest) ?? /^\[("(?:[^"\\]|\\.)*")\]/.exec(rest);
        if (!m) {
            return { issue: `${where}: ${JSON.stringify(key)} is not a config path; use .key, [index] or ["key"] steps such as controllers[0].ip` };
        }
        segments.push(m[0].startsWith("[\"") ? (JSON.parse(m[1]) as string) : m[0].startsWith("[") ? Number(m[1]) : m[1]);
        rest = rest.slice(m[0].length);
    }
    return { path: segments, value: decodeText(segments, text) };
}

/** Sets `value` at `p` inside `raw`, creating mappings and lists on the way; returns a problem or undefined. */
function setAtPath(raw: Record<string, unknown>, p: ConfigPath, value: unknown, where: string): string | undefined {
    let container: Record<string | number, unknown> = raw;
    for (let i = 0; i < p.length; i++) {
        const segment = p[i];
        const isLast = i === p.length - 1;
        if (typeof segment === "number") {
            if (!Array.isArray(container)) return `${where}: ${formatPath(p.slice(0, i))} is not a list; use a key instead of [${segment}]`;
            if (segment > container.length) {
                return `${where}: ${formatPath(p.slice(0, i))} has ${container.length} entries; use an index from 0 to ${container.length}`;
            }
        } else if (!isRecord(container)) {
            return `${where}: ${formatPath(p.slice(0, i))} is not a mapping; use an [index] or set the whole value`;
        }
        if (isLast) {
            container[segment] = value;
            return undefined;
        }
        let next = container[segment];
        if (next === undefined || next === null) {
            next = typeof p[i + 1] === "number" ? [] : {};
            container[segment] = next;
        }
        if (typeof next !== "object") return `${where}: ${formatPath(p.slice(0, i + 1))} is ${formatValue(next)}, not a mapping or list; set the whole value instead`;
        container = next as Record<string | number, unknown>;
    }
    return undefined;
}

/** Applies `--set` arguments in order to `raw` (mutating it); returns the problems. */
function applySets(raw: Record<string, unknown>, sets: readonly string[]): string[] {
    const issues: string[] = [];
    for (const arg of sets) {
        const parsed = parseSetArgument(arg);
        if ("issue" in parsed) issues.push(parsed.issue);
        else {
            const problem = setAtPath(raw, parsed.path, parsed.value, `--set ${JSON.stringify(arg)}`);
            if (problem) issues.push(problem);
        }
    }
    return issues;
}

function existingStacks(projectDir: string): string[] {
    try {
        return fs
            .readdirSync(projectDir)
            .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
            .filter((s): s is string => s !== undefined)
            .sort();
    } catch {
        return [];
    }
}

/**
 * Reads `Pulumi.<stack>.yaml` in `projectDir`, applies `--set` overrides (`sets`, each
 * `key=value`, see `parseSetArgument`) and validates the result like the program does. Project
 * defaults need no merging: Pulumi.yaml declares the same defaults as the schema (a test checks it).
 *
 * @throws ConfigError when the file is missing or unreadable, or with every problem of the config.
 */
export function loadStackFile(projectDir: string, stack: string, sets: readonly string[] = []): ClusterConfig {
    const fileName = `Pulumi.${stack}.yaml`;
    const file = path.resolve(projectDir, fileName);
    if (!/^[A-Za-z0-9_.-]+$/.test(stack) || !fs.existsSync(file)) {
        const known = existingStacks(projectDir);
        const fix = known.length > 0 ? `use one of ${known.join(", ")}` : `create ${fileName} (pulumi stack init ${stack})`;
        throw new ConfigError([`--stack: ${JSON.stringify(stack)} has no stack file (${file} does not exist); ${fix}`]);
    }
    let text: string;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (e) {
        throw new ConfigError([`${fileName}: cannot be read (${(e as Error).message}); check the file's permissions`]);
    }
    const { raw, issues, securePaths: secure, unreadable } = rawConfigFromStackFile(fileName, text);
    if (unreadable) throw new ConfigError(issues);
    issues.push(...applySets(raw, sets));
    const result = checkClusterConfig(raw);
    if (result.ok && issues.length === 0) return result.config;
    // A secure value was reported already; drop the follow-up complaints about the same field.
    const securePrefixes = secure.map((p) => `${formatPath(p)}: `);
    const rest = result.ok ? [] : result.issues.filter((line) => !securePrefixes.some((prefix) => line.startsWith(prefix)));
    throw new ConfigError([...issues, ...rest]);
}

/** The name the working contract uses for `loadStackFile`. */
export const loadStackConfig = loadStackFile;

/**
 * The raw opke config of a Pulumi config map (`opke:<key>` → text, as `pulumi.runtime.allConfig()`
 * returns it: JSON for lists, mappings, numbers and booleans, plain text for strings).
 */
export function rawConfigFromPulumi(all: Readonly<Record<string, string>>): Record<string, unknown> {
    const raw: Record<string, unknown> = {};
    const prefix = `${CONFIG_NAMESPACE}:`;
    for (const [key, text] of Object.entries(all)) {
        if (!key.startsWith(prefix)) continue;
        const name = key.slice(prefix.length);
        if (SECRET_CONFIG_KEYS.includes(name)) continue;
        raw[name] = decodeText([name], text);
    }
    return raw;
}

/**
 * Reads and validates the stack config inside the Pulumi program. Call it from the program
 * function (not at module load): the config is re-read on every run, also under the Automation
 * API. `all` defaults to `pulumi.runtime.allConfig()`; @pulumi/pulumi is loaded only here.
 *
 * @throws ConfigError with every problem of the config.
 */
export function loadPulumiConfig(all?: Readonly<Record<string, string>>): ClusterConfig {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const config = all ?? (require("@pulumi/pulumi") as typeof pulumiTypes).runtime.allConfig();
    return parseClusterConfig(rawConfigFromPulumi(config));
}
