/**
 * opke's Automation API: preview, up, refresh, destroy and a drift check of a named environment,
 * with streamed progress and structured results.
 *
 * One program, two entry points: the stack operations here run the LOCAL program
 * (`LocalWorkspace.createOrSelectStack({ stackName, workDir: <project> })`), i.e. Pulumi.yaml →
 * index.ts → stacks/program.ts `program`, with the config of `Pulumi.<env>.yaml`: exactly what
 * `pulumi up --stack <env>` runs. Nothing is set or rewritten in the project files (no
 * projectSettings/stackSettings are passed); a first run of a stack only adds its
 * `encryptionsalt` to its stack file, as `pulumi stack init` does.
 *
 * Defaults (each overridable per call):
 * - backend: `PULUMI_BACKEND_URL`, else the local file backend `file://<project>/.pulumi`
 *   (git-ignored), independent of what `pulumi login` last chose;
 * - secrets: the passphrase provider, passphrase from `PULUMI_CONFIG_PASSPHRASE` or
 *   `PULUMI_CONFIG_PASSPHRASE_FILE`; only the embedded example stack `dev` falls back to the
 *   documented dev passphrase `opke-dev` (its stack file carries the matching salt). Every other
 *   stack without a passphrase is refused. A stack whose file names another provider
 *   (`secretsprovider: awskms://…`) needs no passphrase.
 * - CLI: `findPulumi()` — a `pulumi` on PATH, else ~/.pulumi/bin, else the one
 *   `bash scripts/tools.sh pulumi` built into ~/.cache/opke/tools; the language host and
 *   provider plugins are looked up the way the CLI does (next to the CLI, PATH, the tools cache,
 *   $PULUMI_HOME/plugins) and the tools cache's bin folders are put on the CLI's PATH.
 *
 * Results never carry a secret in plain text: outputs are read from the exported state (where
 * secrets are ciphertext) and every secret is replaced by "[secret]". Pure helpers
 * (`summarizeChanges`, `maskOutputs`, `outputsFromDeployment`, `classifyEvents`,
 * `ProgressTracker`, `resolveSettings`, `findToolchain`) are unit-tested without a CLI
 * (test/automation.test.ts); the operations themselves need the real engine
 * (test/e2e/engine.e2e.ts).
 *
 * No module-level state: every call resolves its settings, toolchain and workspace afresh.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { EngineEvent, OutputMap, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { parse as parseYaml } from "yaml";

/**
 * @pulumi/pulumi/automation, loaded on first use (it pulls in gRPC; `opke --help`, the usage
 * errors and the pure helpers do not need it).
 */
function automation(): typeof import("@pulumi/pulumi/automation") {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require("@pulumi/pulumi/automation") as typeof import("@pulumi/pulumi/automation");
}

/** `PulumiCommand.get({ root })` for a CLI at <root>/bin/pulumi; a CLI elsewhere is run from PATH. */
async function pulumiCommandFor(cliPath: string): Promise<PulumiCommand> {
    const { PulumiCommand } = automation();
    const dir = path.dirname(cliPath);
    return path.basename(dir) === "bin" ? PulumiCommand.get({ root: path.dirname(dir) }) : PulumiCommand.get();
}

/** The repository root (Pulumi.yaml, index.ts, Pulumi.<env>.yaml). */
export const PROJECT_ROOT = path.resolve(__dirname, "..");
/** The embedded example stack, and the passphrase its secrets use (documented; protects nothing). */
export const DEV_STACK = "dev";
export const DEV_PASSPHRASE = "opke-dev";
/** Folder of the default local backend, under the project (git-ignored). */
export const LOCAL_BACKEND_DIR = ".pulumi";
/** What replaces every secret value in a result. */
export const SECRET_MASK = "[secret]";

// ---------------------------------------------------------------------------------------------
// Changes

export type Operation = "preview" | "up" | "refresh" | "destroy" | "drift";

/** Kinds of change a result counts; the engine's replacement sub-steps are folded into `replace`. */
export const CHANGE_KINDS = ["create", "update", "replace", "delete", "same", "read", "import", "other"] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];
export type ChangeCounts = Record<ChangeKind, number>;

/** Kinds that are a change (`same` and `read` are not). */
const CHANGING: readonly ChangeKind[] = ["create", "update", "replace", "delete", "import", "other"];

/** The engine's step ops that are parts of a replacement (counted once, as the logical `replace`). */
const REPLACEMENT_PARTS = new Set(["create-replacement", "delete-replaced", "read-replacement", "import-replacement", "discard-replaced"]);

/**
 * The change kind of one engine op, or undefined for the parts of a replacement (which the
 * engine reports next to the logical `replace`). `refresh` is not a kind: see `classifyEvents`.
 */
export function changeKindOf(op: string): ChangeKind | undefined {
    if (REPLACEMENT_PARTS.has(op)) return undefined;
    switch (op) {
        case "create":
        case "update":
        case "replace":
        case "delete":
        case "same":
        case "read":
        case "import":
            return op;
        case "discard": // a read resource that is no longer read: it leaves the state
            return "delete";
        default: // remove-pending-replace, refresh (an unresolved refresh), future ops
            return "other";
    }
}

export function emptyCounts(): ChangeCounts {
    return { create: 0, update: 0, replace: 0, delete: 0, same: 0, read: 0, import: 0, other: 0 };
}

/**
 * Counts by kind from the engine's change summary (`PreviewResult.changeSummary`,
 * `UpdateSummary.resourceChanges`: op → count). Every kind is present, zero when absent.
 */
export function summarizeChanges(changeSummary: Readonly<Record<string, number | undefined>> | undefined): ChangeCounts {
    const counts = emptyCounts();
    for (const [op, n] of Object.entries(changeSummary ?? {})) {
        const kind = changeKindOf(op);
        if (kind && typeof n === "number" && Number.isFinite(n)) counts[kind] += n;
    }
    return counts;
}

/** True when anything would change or changed (not `same`, not `read`). */
export function hasChanges(counts: ChangeCounts): boolean {
    return CHANGING.some((k) => counts[k] > 0);
}

const WORDS: Record<ChangeKind, [planned: string, done: string]> = {
    create: ["to create", "created"],
    update: ["to update", "updated"],
    replace: ["to replace", "replaced"],
    delete: ["to delete", "deleted"],
    import: ["to import", "imported"],
    read: ["to read", "read"],
    other: ["other", "other"],
    same: ["unchanged", "unchanged"],
};

/** "3 to create, 1 to update, 20 unchanged" (planned) or "3 created, …" (done); "no changes" when empty. */
export function formatChanges(counts: ChangeCounts, planned: boolean): string {
    const order: ChangeKind[] = ["create", "update", "replace", "delete", "import", "read", "other", "same"];
    const parts = order.filter((k) => counts[k] > 0).map((k) => `${counts[k]} ${WORDS[k][planned ? 0 : 1]}`);
    if (!hasChanges(counts)) parts.unshift("no changes");
    return parts.join(", ");
}

// ---------------------------------------------------------------------------------------------
// URNs and engine events

export interface ParsedUrn {
    stack: string;
    project: string;
    /** The resource's own type (the last of the `$`-joined parent type chain). */
    type: string;
    name: string;
}

/** `urn:pulumi:<stack>::<project>::<parentType$…$type>::<name>`; undefined for anything else. */
export function parseUrn(urn: string): ParsedUrn | undefined {
    const m = /^urn:pulumi:([^:]*)::([^:]*)::(.*?)::(.*)$/s.exec(urn);
    if (!m) return undefined;
    const chain = m[3].split("$");
    return { stack: m[1], project: m[2], type: chain[chain.length - 1], name: m[4] };
}

const STACK_TYPE = "pulumi:pulumi:Stack";

/** The minimal shape of the step metadata this module reads (a subset of the SDK's StepEventMetadata). */
interface StepMeta {
    op: string;
    urn: string;
    type: string;
    old?: unknown;
    new?: unknown;
    diffs?: string[];
    detailedDiff?: Record<string, unknown>;
}

/**
 * The kind of one step event. A `refresh` step is resolved like the engine's
 * RefreshStep.ResultOp: gone from the provider → delete; changed keys → update; else same.
 */
export function stepKind(meta: StepMeta): ChangeKind | undefined {
    if (meta.op === "refresh") {
        if (meta.new === undefined || meta.new === null) return meta.old ? "delete" : "same";
        const diffs = meta.diffs?.length ?? 0;
        const detailed = meta.detailedDiff ? Object.keys(meta.detailedDiff).length : 0;
        return diffs > 0 || detailed > 0 ? "update" : "same";
    }
    return changeKindOf(meta.op);
}

export interface Diagnostic {
    severity: string;
    message: string;
    urn?: string;
}

export interface EventClassification {
    /** Resource URNs per kind of change, in the order the engine first reported them. */
    resources: Record<ChangeKind, string[]>;
    /** URNs whose operation failed. */
    failed: string[];
    /** Errors and warnings (not ephemeral, not debug). */
    diagnostics: Diagnostic[];
}

/**
 * Which resource had which change, from the engine events of one operation (preview: the planned
 * steps; up/refresh/destroy: the completed ones override the planned ones). The stack resource
 * itself is left out; a URN ends up in exactly one list.
 */
export function classifyEvents(events: readonly EngineEvent[]): EventClassification {
    const kindOf = new Map<string, ChangeKind>();
    const failed: string[] = [];
    const diagnostics: Diagnostic[] = [];
    const record = (meta: StepMeta | undefined) => {
        if (!meta || meta.type === STACK_TYPE) return;
        const kind = stepKind(meta);
        if (kind === undefined) return;
        // A later "same" never hides an earlier change of the same URN (e.g. outputs of a create).
        if (kind === "same" && kindOf.has(meta.urn)) return;
        kindOf.set(meta.urn, kind);
    };
    for (const e of events) {
        if (e.resourcePreEvent) record(e.resourcePreEvent.metadata as StepMeta);
        if (e.resOutputsEvent) record(e.resOutputsEvent.metadata as StepMeta);
        if (e.resOpFailedEvent) {
            const urn = e.resOpFailedEvent.metadata.urn;
            if (!failed.includes(urn)) failed.push(urn);
        }
        const d = e.diagnosticEvent;
        if (d && !d.ephemeral && (d.severity === "error" || d.severity === "warning")) {
            diagnostics.push({ severity: d.severity, message: stripAnsi(d.message).trim(), ...(d.urn ? { urn: d.urn } : {}) });
        }
    }
    const resources = Object.fromEntries(CHANGE_KINDS.map((k) => [k, [] as string[]])) as Record<ChangeKind, string[]>;
    for (const [urn, kind] of kindOf) resources[kind].push(urn);
    return { resources, failed, diagnostics };
}

/** Counts from a classification (used when the engine summary has no per-kind counts, e.g. for refresh). */
export function countsFromClassification(c: EventClassification): ChangeCounts {
    const counts = emptyCounts();
    for (const k of CHANGE_KINDS) counts[k] = c.resources[k].length;
    return counts;
}

export function stripAnsi(s: string): string {
    // eslint-disable-next-line no-control-regex
    return s.replace(/\u001b\[[0-9;]*[A-Za-z]/g, "").replace(/<\{%[^%]*%\}>/g, "");
}

// ---------------------------------------------------------------------------------------------
// Progress

export type ProgressEvent =
    | {
          type: "step";
          /** planned: a preview's step; started/done/failed: a real operation's step. */
          status: "planned" | "started" | "done" | "failed";
          kind: ChangeKind;
          /** The engine's op, e.g. "create-replacement" or "refresh". */
          op: string;
          urn: string;
          resourceType: string;
          name: string;
          /** started → done/failed, measured in this process. */
          elapsedSeconds?: number;
      }
    | { type: "diagnostic"; severity: string; message: string; urn?: string; name?: string }
    | { type: "output"; text: string };

/**
 * Turns the engine's event stream into ProgressEvents: one "planned" per previewed step, a
 * "started" and a "done"/"failed" (with its duration) per executed step, and the diagnostics.
 * Replacement parts are reported with their own op and the kind `replace`. The stack resource is
 * left out. `now` is injectable for tests.
 */
export class ProgressTracker {
    private readonly started = new Map<string, number>();

    constructor(
        private readonly emit: (e: ProgressEvent) => void,
        private readonly now: () => number = Date.now,
    ) {}

    handle(e: EngineEvent): void {
        const pre = e.resourcePreEvent;
        if (pre) {
            const meta = pre.metadata as StepMeta;
            if (meta.type === STACK_TYPE) return;
            if (pre.planning) {
                this.step("planned", meta);
            } else {
                this.started.set(this.key(meta), this.now());
                this.step("started", meta);
            }
            return;
        }
        const out = e.resOutputsEvent;
        if (out) {
            const meta = out.metadata as StepMeta;
            if (meta.type === STACK_TYPE || out.planning) return;
            this.step("done", meta, this.elapsed(meta));
            return;
        }
        const failed = e.resOpFailedEvent;
        if (failed) {
            const meta = failed.metadata as StepMeta;
            if (meta.type === STACK_TYPE) return;
            this.step("failed", meta, this.elapsed(meta));
            return;
        }
        const d = e.diagnosticEvent;
        if (d && !d.ephemeral) {
            const message = stripAnsi(d.message).trim();
            if (!message) return;
            const name = d.urn ? parseUrn(d.urn)?.name : undefined;
            this.emit({ type: "diagnostic", severity: d.severity, message, ...(d.urn ? { urn: d.urn } : {}), ...(name ? { name } : {}) });
        }
    }

    private key(meta: StepMeta): string {
        return `${meta.urn} ${meta.op}`;
    }

    private elapsed(meta: StepMeta): number | undefined {
        const t = this.started.get(this.key(meta));
        if (t === undefined) return undefined;
        this.started.delete(this.key(meta));
        return Math.max(0, (this.now() - t) / 1000);
    }

    private step(status: "planned" | "started" | "done" | "failed", meta: StepMeta, elapsedSeconds?: number): void {
        const kind = REPLACEMENT_PARTS.has(meta.op) ? "replace" : (stepKind(meta) ?? "other");
        const parsed = parseUrn(meta.urn);
        this.emit({
            type: "step",
            status,
            kind,
            op: meta.op,
            urn: meta.urn,
            resourceType: meta.type || parsed?.type || "",
            name: parsed?.name ?? meta.urn,
            ...(elapsedSeconds !== undefined ? { elapsedSeconds } : {}),
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Outputs

/** Pulumi's marker for a secret value in state and in serialized property values. */
export const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG_VALUE = "1b47061264138c4ac30d75fd1eb44270";

export interface MaskedOutput {
    value: unknown;
    secret: boolean;
}

function isSecretEnvelope(v: unknown): boolean {
    return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SECRET_SIG_KEY] === SECRET_SIG_VALUE;
}

/** A copy of `v` with every secret envelope (at any depth) replaced by "[secret]". */
function maskDeep(v: unknown): unknown {
    if (isSecretEnvelope(v)) return SECRET_MASK;
    if (Array.isArray(v)) return v.map(maskDeep);
    if (typeof v === "object" && v !== null) {
        return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, maskDeep(x)]));
    }
    return v;
}

/**
 * Stack outputs with every secret replaced by "[secret]": a top-level output marked secret (as
 * `stack.outputs()` marks them), and any secret envelope nested inside a plain output. Pure; the
 * input is not modified.
 */
export function maskOutputs(outputs: OutputMap | Readonly<Record<string, MaskedOutput>>): Record<string, MaskedOutput> {
    const out: Record<string, MaskedOutput> = {};
    for (const key of Object.keys(outputs).sort()) {
        const o = (outputs as Record<string, MaskedOutput>)[key];
        const secret = o.secret || isSecretEnvelope(o.value);
        out[key] = { value: secret ? SECRET_MASK : maskDeep(o.value), secret };
    }
    return out;
}

/**
 * The stack outputs of an exported deployment (`stack.exportStack()` or `pulumi stack export`),
 * masked. Reading them from the export means secrets are never decrypted at all (the export holds
 * ciphertext). An empty or destroyed stack has none.
 */
export function outputsFromDeployment(exported: unknown): Record<string, MaskedOutput> {
    const root = exported as { deployment?: { resources?: { type?: string; parent?: string; outputs?: Record<string, unknown> }[] } } | undefined;
    const stackResource = (root?.deployment?.resources ?? []).find((r) => r.type === STACK_TYPE && !r.parent);
    const raw = stackResource?.outputs ?? {};
    return maskOutputs(Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, { value: v, secret: isSecretEnvelope(v) }])));
}

/** Resources in an exported deployment (0 after a destroy). */
export function deploymentResourceCount(exported: unknown): number {
    const root = exported as { deployment?: { resources?: unknown[] } } | undefined;
    return root?.deployment?.resources?.length ?? 0;
}

// ---------------------------------------------------------------------------------------------
// Settings: backend, secrets, stack file

export class SettingsError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "SettingsError";
    }
}

export interface SettingsOptions {
    /** State backend URL. Default: $PULUMI_BACKEND_URL, else file://<project>/.pulumi. */
    backendUrl?: string;
    /** Passphrase of the passphrase secrets provider. Default: $PULUMI_CONFIG_PASSPHRASE. */
    passphrase?: string;
    /** File holding the passphrase. Default: $PULUMI_CONFIG_PASSPHRASE_FILE. */
    passphraseFile?: string;
    /** Secrets provider for a stack created by this call (default "passphrase"; e.g. "awskms://…"). */
    secretsProvider?: string;
    /** Project folder (Pulumi.yaml). Default: the repository root. */
    projectRoot?: string;
    /** Environment to read defaults from. Default: process.env. */
    environ?: NodeJS.ProcessEnv;
}

export interface Settings {
    env: string;
    projectRoot: string;
    stackFile: string;
    backendUrl: string;
    /** The local folder of a file:// backend (created before use). */
    backendDir?: string;
    /** Passed to `pulumi stack init` when the stack does not exist yet. */
    secretsProvider: string;
    /** PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE(_FILE), PULUMI_SKIP_UPDATE_CHECK for the CLI. */
    envVars: Record<string, string>;
    /** Where the passphrase came from (never the passphrase itself). */
    passphraseSource: string;
    warnings: string[];
}

/** Stack names that have a `Pulumi.<name>.yaml` in the project. */
export function existingStacks(projectRoot: string): string[] {
    let names: string[] = [];
    try {
        names = fs.readdirSync(projectRoot);
    } catch {
        return [];
    }
    return names
        .map((f) => /^Pulumi\.([A-Za-z0-9_.-]+)\.yaml$/.exec(f)?.[1])
        .filter((n): n is string => n !== undefined)
        .sort();
}

const STACK_NAME = /^[A-Za-z0-9_.-]+$/;

/** The path of the backend folder of a file:// URL (absolute; `~` expanded), else undefined. */
export function fileBackendDir(url: string, projectRoot: string, home: string): string | undefined {
    if (!url.startsWith("file://")) return undefined;
    let p = url.slice("file://".length);
    if (p === "~" || p.startsWith("~/")) p = path.join(home, p.slice(1));
    return path.resolve(projectRoot, p);
}

/**
 * Resolves where the state lives and how secrets are unlocked for `env`, without side effects.
 * @throws SettingsError naming what is missing and the fix (no stack file, no passphrase).
 */
export function resolveSettings(env: string, opts: SettingsOptions = {}): Settings {
    const projectRoot = path.resolve(opts.projectRoot ?? PROJECT_ROOT);
    const environ = opts.environ ?? process.env;
    const home = environ.HOME || os.homedir();
    const stackFile = path.join(projectRoot, `Pulumi.${env}.yaml`);
    if (!STACK_NAME.test(env) || !fs.existsSync(stackFile)) {
        const known = existingStacks(projectRoot);
        const which = STACK_NAME.test(env) ? `${stackFile} does not exist` : `it is not a stack name (letters, digits, '_', '.', '-')`;
        const fix = known.length ? `use one of ${known.join(", ")}, or create Pulumi.${env}.yaml` : `create Pulumi.${env}.yaml`;
        throw new SettingsError(`environment ${JSON.stringify(env)}: ${which}; ${fix} (README: "Deploying for real")`);
    }
    const warnings: string[] = [];
    const backendUrl = opts.backendUrl ?? (environ.PULUMI_BACKEND_URL || `file://${path.join(projectRoot, LOCAL_BACKEND_DIR)}`);
    const backendDir = fileBackendDir(backendUrl, projectRoot, home);
    const envVars: Record<string, string> = { PULUMI_BACKEND_URL: backendUrl, PULUMI_SKIP_UPDATE_CHECK: "true" };

    // The stack file says which provider encrypts its secrets (absent on a stack never initialised).
    let fileProvider: string | undefined;
    try {
        const doc = parseYaml(fs.readFileSync(stackFile, "utf8")) as { secretsprovider?: unknown } | null;
        if (doc && typeof doc.secretsprovider === "string") fileProvider = doc.secretsprovider;
    } catch (e) {
        throw new SettingsError(`${path.basename(stackFile)}: cannot be read as YAML (${(e as Error).message.split("\n")[0]}); fix the file`);
    }
    const secretsProvider = opts.secretsProvider ?? fileProvider ?? "passphrase";
    let passphraseSource = "none (secrets provider " + secretsProvider + ")";
    if (secretsProvider === "passphrase" || secretsProvider.startsWith("passphrase")) {
        if (opts.passphrase !== undefined) {
            envVars.PULUMI_CONFIG_PASSPHRASE = opts.passphrase;
            passphraseSource = "the passphrase option";
        } else if (opts.passphraseFile !== undefined) {
            envVars.PULUMI_CONFIG_PASSPHRASE_FILE = path.resolve(opts.passphraseFile);
            passphraseSource = "the passphraseFile option";
        } else if (environ.PULUMI_CONFIG_PASSPHRASE !== undefined) {
            envVars.PULUMI_CONFIG_PASSPHRASE = environ.PULUMI_CONFIG_PASSPHRASE;
            passphraseSource = "$PULUMI_CONFIG_PASSPHRASE";
        } else if (environ.PULUMI_CONFIG_PASSPHRASE_FILE) {
            envVars.PULUMI_CONFIG_PASSPHRASE_FILE = environ.PULUMI_CONFIG_PASSPHRASE_FILE;
            passphraseSource = "$PULUMI_CONFIG_PASSPHRASE_FILE";
        } else if (env === DEV_STACK) {
            envVars.PULUMI_CONFIG_PASSPHRASE = DEV_PASSPHRASE;
            passphraseSource = `the documented dev passphrase "${DEV_PASSPHRASE}" (embedded example stack only)`;
        } else {
            throw new SettingsError(
                `stack ${env}: no passphrase for its secrets; set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE ` +
                    `(the dev passphrase "${DEV_PASSPHRASE}" is only used for the embedded example stack ${DEV_STACK}), ` +
                    `or name a KMS provider with \`secretsprovider:\` in Pulumi.${env}.yaml`,
            );
        }
        const given = envVars.PULUMI_CONFIG_PASSPHRASE;
        if (env !== DEV_STACK && given === DEV_PASSPHRASE) {
            warnings.push(
                `stack ${env} uses the published dev passphrase "${DEV_PASSPHRASE}": anyone can decrypt its secrets; ` +
                    `choose your own passphrase (pulumi stack change-secrets-provider passphrase)`,
            );
        }
    }
    return {
        env,
        projectRoot,
        stackFile,
        backendUrl,
        ...(backendDir ? { backendDir } : {}),
        secretsProvider,
        envVars,
        passphraseSource,
        warnings,
    };
}

/**
 * True when `passphrase` unlocks a passphrase-provider `encryptionsalt`
 * (`v1:<salt>:v1:<nonce>:<AES-256-GCM("pulumi")>`, key = PBKDF2-SHA256(passphrase, salt, 1e6)),
 * the check `pulumi` itself does. Takes about half a second.
 */
export function passphraseMatchesSalt(encryptionSalt: string, passphrase: string): boolean {
    const parts = encryptionSalt.split(":");
    if (parts.length !== 5 || parts[0] !== "v1" || parts[2] !== "v1") return false;
    const key = crypto.pbkdf2Sync(passphrase, Buffer.from(parts[1], "base64"), 1_000_000, 32, "sha256");
    const sealed = Buffer.from(parts[4], "base64");
    if (sealed.length < 17) return false;
    try {
        const d = crypto.createDecipheriv("aes-256-gcm", key, Buffer.from(parts[3], "base64"));
        d.setAuthTag(sealed.subarray(sealed.length - 16));
        return Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()]).toString("utf8") === "pulumi";
    } catch {
        return false;
    }
}

// ---------------------------------------------------------------------------------------------
// Toolchain: the CLI, the Node.js language host, the provider plugins

export interface ToolLocation {
    name: string;
    /** Version opke needs (from node_modules; `v` prefix). */
    version: string;
    /** Absolute path when found. */
    path?: string;
    /** Where it was looked for, in order. */
    searched: string[];
}

export interface PluginRequirement extends ToolLocation {
    /** The provider's short name (tls, command, …). */
    plugin: string;
    /** Used by every stack (tls, command) or only by some (kubernetes: gitops; openstack; cloudflare). */
    always: boolean;
}

export interface Toolchain {
    /** `pulumi`; `source` says which of the candidates it is. */
    cli: ToolLocation & { source?: "PATH" | "~/.pulumi/bin" | "opke tools cache" };
    languageHost: ToolLocation;
    plugins: PluginRequirement[];
    /** Folders to put first on the CLI's PATH (the CLI's own, the tools cache's). */
    binDirs: string[];
    /** ${OPKE_TOOLS_DIR:-~/.cache/opke/tools} */
    toolsDir: string;
}

export interface ToolchainOptions {
    projectRoot?: string;
    environ?: NodeJS.ProcessEnv;
}

function isExecutable(p: string): boolean {
    try {
        const st = fs.statSync(p);
        if (!st.isFile()) return false;
        fs.accessSync(p, fs.constants.X_OK);
        return true;
    } catch {
        return false;
    }
}

function readJson(file: string): Record<string, unknown> | undefined {
    try {
        return JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
    } catch {
        return undefined;
    }
}

const vPrefix = (v: string) => `v${v.replace(/^v/, "")}`;

/** Plugins that every opke stack uses (the Cluster's tls keys and certificates, the SSH pushes). */
const ALWAYS_USED_PLUGINS = new Set(["tls", "command"]);

/**
 * The provider plugins the project's Pulumi packages declare (node_modules/@pulumi/<pkg> with
 * `"pulumi": {"resource": true}`), with the versions the SDKs ask for.
 */
export function requiredPlugins(projectRoot: string): { plugin: string; version: string }[] {
    const dir = path.join(projectRoot, "node_modules", "@pulumi");
    let names: string[] = [];
    try {
        names = fs.readdirSync(dir).sort();
    } catch {
        return [];
    }
    const out: { plugin: string; version: string }[] = [];
    for (const n of names) {
        const pj = readJson(path.join(dir, n, "package.json"));
        const meta = pj?.pulumi as { resource?: boolean; name?: string; version?: string } | undefined;
        if (!meta?.resource) continue;
        const version = meta.version ?? (pj?.version as string | undefined);
        if (!version) continue;
        out.push({ plugin: meta.name ?? n, version: vPrefix(version) });
    }
    return out;
}

/**
 * Finds the Pulumi toolchain without running anything (tests use a temporary PATH and HOME):
 *
 * - the CLI: the first `pulumi` on PATH, else ~/.pulumi/bin/pulumi (the official installer),
 *   else <tools>/pulumi/<version>/bin/pulumi (`bash scripts/tools.sh pulumi`);
 * - `pulumi-language-nodejs`: next to the CLI (official installs bundle it), on PATH, or in
 *   <tools>/pulumi-language-nodejs/<version>/bin;
 * - `pulumi-resource-<name>` per plugin: on PATH, in <tools>/pulumi-resource-<name>/<version>/bin,
 *   or installed in $PULUMI_HOME/plugins/resource-<name>-<version>/.
 *
 * <tools> is $OPKE_TOOLS_DIR or ~/.cache/opke/tools; versions come from node_modules.
 */
export function findToolchain(opts: ToolchainOptions = {}): Toolchain {
    const projectRoot = path.resolve(opts.projectRoot ?? PROJECT_ROOT);
    const environ = opts.environ ?? process.env;
    const home = environ.HOME || os.homedir();
    const toolsDir = path.resolve(environ.OPKE_TOOLS_DIR || path.join(home, ".cache", "opke", "tools"));
    const pulumiHome = environ.PULUMI_HOME || path.join(home, ".pulumi");
    const pathDirs = (environ.PATH ?? "").split(path.delimiter).filter((d) => d !== "");
    // The CLI and the language host follow the installed SDK (else the version package.json pins).
    const sdk = readJson(path.join(projectRoot, "node_modules", "@pulumi", "pulumi", "package.json"));
    const pinned = (readJson(path.join(projectRoot, "package.json"))?.dependencies as Record<string, string> | undefined)?.["@pulumi/pulumi"];
    const cliVersion = vPrefix(String(sdk?.version ?? /\d+\.\d+\.\d+/.exec(pinned ?? "")?.[0] ?? "unknown"));
    const cacheBin = (name: string, version: string) => path.join(toolsDir, name, version, "bin");
    const inPath = (bin: string) => pathDirs.map((d) => path.join(d, bin));

    // The CLI.
    const cliCandidates: { p: string; source: "PATH" | "~/.pulumi/bin" | "opke tools cache" }[] = [
        ...inPath("pulumi").map((p) => ({ p, source: (p.startsWith(toolsDir + path.sep) ? "opke tools cache" : "PATH") as "PATH" | "opke tools cache" })),
        { p: path.join(home, ".pulumi", "bin", "pulumi"), source: "~/.pulumi/bin" },
        { p: path.join(cacheBin("pulumi", cliVersion), "pulumi"), source: "opke tools cache" },
    ];
    const cliFound = cliCandidates.find((c) => isExecutable(c.p));
    const cli: Toolchain["cli"] = {
        name: "pulumi",
        version: cliVersion,
        searched: ["$PATH", path.join(home, ".pulumi", "bin"), cacheBin("pulumi", cliVersion)],
        ...(cliFound ? { path: path.resolve(cliFound.p), source: cliFound.source } : {}),
    };

    // The language host: bundled next to the CLI (the real file's folder when the CLI on PATH is a symlink).
    const lhName = "pulumi-language-nodejs";
    const cliDirs: string[] = [];
    if (cli.path) {
        cliDirs.push(path.dirname(cli.path));
        try {
            const real = path.dirname(fs.realpathSync(cli.path));
            if (!cliDirs.includes(real)) cliDirs.push(real);
        } catch {
            /* found a moment ago; keep the link's folder */
        }
    }
    const lhPath = [...cliDirs, ...pathDirs, cacheBin(lhName, cliVersion)].map((d) => path.join(d, lhName)).find(isExecutable);
    const languageHost: ToolLocation = {
        name: lhName,
        version: cliVersion,
        searched: [...cliDirs, "$PATH", cacheBin(lhName, cliVersion)],
        ...(lhPath ? { path: path.resolve(lhPath) } : {}),
    };

    // Provider plugins.
    const plugins: PluginRequirement[] = requiredPlugins(projectRoot).map(({ plugin, version }) => {
        const bin = `pulumi-resource-${plugin}`;
        const installed = path.join(pulumiHome, "plugins", `resource-${plugin}-${version}`);
        const found = [...inPath(bin), path.join(cacheBin(bin, version), bin), path.join(installed, bin)].find(isExecutable);
        return {
            name: bin,
            plugin,
            version,
            always: ALWAYS_USED_PLUGINS.has(plugin),
            searched: ["$PATH", cacheBin(bin, version), installed],
            ...(found ? { path: path.resolve(found) } : {}),
        };
    });

    // The CLI finds the language host and plugins on PATH ("ambient" plugins): put the folders
    // where they were found first, the CLI's own folder first of all (bundled plugins).
    const binDirs: string[] = [];
    const addDir = (p: string | undefined) => {
        if (!p) return;
        const d = path.dirname(p);
        if (!binDirs.includes(d)) binDirs.push(d);
    };
    for (const d of cliDirs) addDir(path.join(d, "pulumi"));
    addDir(languageHost.path);
    for (const p of plugins) if (p.path && !p.path.startsWith(path.join(pulumiHome, "plugins") + path.sep)) addDir(p.path);
    return { cli, languageHost, plugins, binDirs, toolsDir };
}

/** What cannot run without: the CLI always; the language host for anything that runs the program. */
export function toolchainProblems(tc: Toolchain, needsProgram = true): ToolLocation[] {
    return [...(tc.cli.path ? [] : [tc.cli]), ...(needsProgram && !tc.languageHost.path ? [tc.languageHost] : [])];
}

/**
 * The toolchain as text: one line per tool (found / MISSING / not installed) and how to get
 * what is missing.
 */
export function describeToolchain(tc: Toolchain, needsProgram = true): string {
    const lines: string[] = [];
    const row = (status: string, what: string, detail: string) => lines.push(`  ${status.padEnd(9)}${what}: ${detail}`);
    row(tc.cli.path ? "ok" : "MISSING", `pulumi CLI ${tc.cli.version}`, tc.cli.path ? `${tc.cli.path} (${tc.cli.source})` : `not found in ${tc.cli.searched.join(", ")}`);
    const lh = tc.languageHost;
    row(
        lh.path ? "ok" : needsProgram ? "MISSING" : "missing",
        `${lh.name} ${lh.version} (the Node.js language host that runs index.ts)`,
        lh.path ?? `not found in ${lh.searched.join(", ")}`,
    );
    for (const p of tc.plugins) {
        row(p.path ? "ok" : "missing", `${p.name} ${p.version} (provider plugin${p.always ? ", used by every stack" : ""})`, p.path ?? `not installed (looked in ${p.searched.join(", ")})`);
    }
    const fixes: string[] = [];
    if (!tc.cli.path || !lh.path) {
        fixes.push(
            `install the Pulumi CLI ${tc.cli.version} (https://www.pulumi.com/docs/install/ — it bundles ${lh.name}) and put it on PATH`,
            `or build it offline from Go modules: bash scripts/tools.sh pulumi (CLI, ${lh.name}, and the tls, command, kubernetes plugins into ${tc.toolsDir}); ` +
                `this fails where the Go module proxy refuses those module versions`,
        );
    }
    if (tc.plugins.some((p) => !p.path)) {
        fixes.push(
            `provider plugins: before a preview or update the engine installs every plugin the project's packages declare, downloading missing ones from get.pulumi.com; ` +
                `offline, install them first (bash scripts/tools.sh pulumi builds tls, command and kubernetes; pulumi plugin install resource <name> <version> where get.pulumi.com is reachable, then copy ~/.pulumi/plugins)`,
        );
    }
    if (fixes.length) lines.push("how to get them:", ...fixes.map((f) => `  - ${f}`));
    return lines.join("\n");
}

export class ToolchainError extends Error {
    constructor(
        message: string,
        public readonly toolchain: Toolchain,
        public readonly missing: ToolLocation[],
    ) {
        super(message);
        this.name = "ToolchainError";
    }
}

export interface FindPulumiOptions extends ToolchainOptions {
    /** false for commands that never run the program (stack init, config, export). Default true. */
    needsProgram?: boolean;
}

/**
 * The Pulumi CLI for the Automation API (`PulumiCommand.get({ root })`) and the toolchain it was
 * found in. Prefers a `pulumi` on PATH, then ~/.pulumi/bin, then the opke tools cache.
 * @throws ToolchainError naming every missing binary (CLI, language host, plugins) and how to get it.
 */
export async function findPulumi(opts: FindPulumiOptions = {}): Promise<{ command: PulumiCommand; toolchain: Toolchain }> {
    const tc = findToolchain(opts);
    const needsProgram = opts.needsProgram ?? true;
    const missing = toolchainProblems(tc, needsProgram);
    if (missing.length > 0) {
        throw new ToolchainError(
            `opke: the Pulumi toolchain is incomplete (missing: ${missing.map((m) => `${m.name} ${m.version}`).join(", ")}); nothing was run.\n${describeToolchain(tc, needsProgram)}`,
            tc,
            missing,
        );
    }
    return { command: await pulumiCommandFor(tc.cli.path!), toolchain: tc };
}

// ---------------------------------------------------------------------------------------------
// Operations

export interface OperationOptions extends SettingsOptions {
    /** Progress as it happens (steps with durations, diagnostics). */
    onProgress?: (e: ProgressEvent) => void;
    /** Pulumi's own text output (the rich diff with `diff: true`). */
    onOutput?: (text: string) => void;
    /** Ask the engine for a detailed diff in its text output. */
    diff?: boolean;
    /** Refresh before preview/up/destroy. */
    refresh?: boolean;
    /** Injected clock (tests). */
    now?: () => number;
    /** A toolchain already found (skips the lookup). */
    toolchain?: Toolchain;
    /** Aborts the running operation (SIGINT to the CLI). */
    signal?: AbortSignal;
}

export interface OperationResult {
    kind: Operation;
    env: string;
    /** Counts by kind; a preview's are planned, the others' are done. */
    changes: ChangeCounts;
    /** Anything other than same/read. For `drift`: the real world differs from the state. */
    changed: boolean;
    /** URNs per kind (from the engine events). */
    resources: Record<ChangeKind, string[]>;
    /** Stack outputs after the operation, every secret replaced by "[secret]". */
    outputs: Record<string, MaskedOutput>;
    durationSeconds: number;
    /** e.g. "preview dev: 3 to create, 20 unchanged (12.3s)". */
    summary: string;
    backendUrl: string;
    /** Engine warnings and settings warnings (e.g. the dev passphrase on another stack). */
    warnings: string[];
}

export class OperationError extends Error {
    constructor(
        message: string,
        public readonly kind: Operation,
        public readonly env: string,
        /** What had happened before the failure. */
        public readonly classification: EventClassification,
        public readonly cause?: unknown,
    ) {
        super(message);
        this.name = "OperationError";
    }
}

export interface OpenedStack {
    stack: Stack;
    settings: Settings;
    toolchain: Toolchain;
}

/**
 * Selects (or, with `create`, creates) the stack `env` of the local program in the project,
 * with the resolved backend and secrets settings and the toolchain on the CLI's PATH.
 */
export async function openStack(
    env: string,
    opts: OperationOptions & { create?: boolean; needsProgram?: boolean; kind?: Operation } = {},
): Promise<OpenedStack> {
    const settings = resolveSettings(env, opts);
    const environ = opts.environ ?? process.env;
    const needsProgram = opts.needsProgram ?? true;
    let toolchain = opts.toolchain;
    let command: PulumiCommand;
    if (toolchain) {
        const missing = toolchainProblems(toolchain, needsProgram);
        if (missing.length) {
            throw new ToolchainError(
                `opke: the Pulumi toolchain is incomplete (missing: ${missing.map((m) => `${m.name} ${m.version}`).join(", ")}); nothing was run.\n${describeToolchain(toolchain, needsProgram)}`,
                toolchain,
                missing,
            );
        }
        command = await pulumiCommandFor(toolchain.cli.path!);
    } else {
        ({ command, toolchain } = await findPulumi({ projectRoot: settings.projectRoot, environ, needsProgram }));
    }
    if (settings.backendDir) fs.mkdirSync(settings.backendDir, { recursive: true });
    const envVars: Record<string, string> = {
        ...settings.envVars,
        PATH: [...toolchain.binDirs, ...(environ.PATH ?? "").split(path.delimiter).filter((d) => d !== "")].join(path.delimiter),
    };
    const { LocalWorkspace } = automation();
    const wsOpts = { workDir: settings.projectRoot, pulumiCommand: command, envVars, secretsProvider: settings.secretsProvider };
    const args = { stackName: env, workDir: settings.projectRoot };
    try {
        const stack = opts.create ? await LocalWorkspace.createOrSelectStack(args, wsOpts) : await LocalWorkspace.selectStack(args, wsOpts);
        return { stack, settings, toolchain };
    } catch (e) {
        throw new OperationError(`selecting stack ${env} failed:\n${explainFailure(e, env, settings)}`, opts.kind ?? "preview", env, classifyEvents([]), e);
    }
}

/** The `error:` lines of a CLI failure plus a hint for the failures opke knows, without the CLI's full argv. */
export function explainFailure(e: unknown, env: string, settings?: Pick<Settings, "backendUrl" | "passphraseSource">): string {
    const text = stripAnsi(e instanceof Error ? e.message : String(e));
    const errors = [...new Set(text.split("\n").map((l) => l.trim()).filter((l) => /^error:/i.test(l)))];
    const hints: string[] = [];
    if (/no language plugin 'pulumi-language-nodejs'/.test(text)) hints.push("the Node.js language host is missing: see `bash scripts/tools.sh pulumi` or install the Pulumi CLI (README, Deploying for real)");
    const plugin = /(?:no resource plugin|could not (?:find|load) plugin)[^']*'?pulumi-resource-([a-z0-9-]+)/i.exec(text) ?? /failed to (?:download|install) plugin[^\n]*resource[ -]([a-z0-9-]+)/i.exec(text);
    if (plugin) hints.push(`provider plugin ${plugin[1]} is missing and could not be downloaded: bash scripts/tools.sh pulumi, or pulumi plugin install resource ${plugin[1]} <version> where get.pulumi.com is reachable`);
    if (/incorrect passphrase/i.test(text)) hints.push(`the passphrase (from ${settings?.passphraseSource ?? "the environment"}) does not unlock stack ${env}'s secrets: set the right PULUMI_CONFIG_PASSPHRASE`);
    if (/no stack named|stack .* not found/i.test(text)) hints.push(`stack ${env} does not exist in ${settings?.backendUrl ?? "the backend"}: run \`opke up ${env}\` (or preview) first, or point PULUMI_BACKEND_URL at the backend that holds it`);
    if (/\[409\] Conflict|another update is currently in progress/i.test(text)) hints.push(`another update of stack ${env} is running (or one was interrupted: pulumi cancel / pulumi stack export | import after checking)`);
    const body = errors.length ? errors.join("\n") : text.split("\n").filter((l) => l.trim()).slice(-12).join("\n");
    return [body, ...hints.map((h) => `hint: ${h}`)].join("\n");
}

async function run(
    kind: Operation,
    env: string,
    opts: OperationOptions,
    body: (stack: Stack, common: { onEvent: (e: EngineEvent) => void; onOutput?: (s: string) => void; color: "never"; signal?: AbortSignal }) => Promise<Readonly<Record<string, number | undefined>> | undefined>,
): Promise<OperationResult> {
    const now = opts.now ?? Date.now;
    const t0 = now();
    const create = kind === "preview" || kind === "up";
    const { stack, settings } = await openStack(env, { ...opts, create, kind });
    const events: EngineEvent[] = [];
    const tracker = new ProgressTracker((e) => opts.onProgress?.(e), now);
    const onEvent = (e: EngineEvent) => {
        events.push(e);
        tracker.handle(e);
    };
    const onOutput = opts.onOutput ? (s: string) => opts.onOutput!(stripAnsi(s)) : undefined;
    let summary: Readonly<Record<string, number | undefined>> | undefined;
    try {
        summary = await body(stack, { onEvent, ...(onOutput ? { onOutput } : {}), color: "never", ...(opts.signal ? { signal: opts.signal } : {}) });
    } catch (e) {
        throw new OperationError(`${kind} ${env} failed:\n${explainFailure(e, env, settings)}`, kind, env, classifyEvents(events), e);
    }
    const classification = classifyEvents(events);
    let changes = summarizeChanges(summary);
    // Refresh summaries may report the raw "refresh" op; then the events say what changed.
    if ((kind === "refresh" || kind === "drift") && summary && "refresh" in summary) changes = countsFromClassification(classification);
    let outputs: Record<string, MaskedOutput> = {};
    try {
        outputs = outputsFromDeployment(await stack.exportStack());
    } catch {
        outputs = {};
    }
    const durationSeconds = Math.round((now() - t0) / 100) / 10;
    const planned = kind === "preview" || kind === "drift";
    return {
        kind,
        env,
        changes,
        changed: hasChanges(changes),
        resources: classification.resources,
        outputs,
        durationSeconds,
        summary: `${kind} ${env}: ${kind === "drift" && !hasChanges(changes) ? "no drift" : formatChanges(changes, planned)} (${formatDuration(durationSeconds)})`,
        backendUrl: settings.backendUrl,
        warnings: [...settings.warnings, ...classification.diagnostics.filter((d) => d.severity === "warning").map((d) => d.message)],
    };
}

/** What `up` would change (`pulumi preview`). Creates the stack in the backend when it does not exist. */
export function preview(env: string, opts: OperationOptions = {}): Promise<OperationResult> {
    return run("preview", env, opts, async (stack, common) => {
        const r = await stack.preview({ ...common, ...(opts.diff ? { diff: true } : {}), ...(opts.refresh ? { refresh: true } : {}) });
        return r.changeSummary;
    });
}

/** Creates or updates the environment (`pulumi up --yes`). Creates the stack when it does not exist. */
export function up(env: string, opts: OperationOptions = {}): Promise<OperationResult> {
    return run("up", env, opts, async (stack, common) => {
        const r = await stack.up({ ...common, ...(opts.diff ? { diff: true } : {}), ...(opts.refresh ? { refresh: true } : {}) });
        return r.summary.resourceChanges;
    });
}

/** Reads every resource's real state into the stack state (`pulumi refresh --yes`). */
export function refresh(env: string, opts: OperationOptions = {}): Promise<OperationResult> {
    return run("refresh", env, opts, async (stack, common) => {
        const r = await stack.refresh(common);
        return r.summary.resourceChanges;
    });
}

/** Deletes every resource of the environment (`pulumi destroy --yes`); the stack and its file stay. */
export function destroy(env: string, opts: OperationOptions = {}): Promise<OperationResult> {
    return run("destroy", env, opts, async (stack, common) => {
        const r = await stack.destroy({ ...common, ...(opts.diff ? { diff: true } : {}), ...(opts.refresh ? { refresh: true } : {}) });
        return r.summary.resourceChanges;
    });
}

/**
 * Drift between the real world and the state, without writing the state
 * (`pulumi refresh --preview-only`, `stack.previewRefresh()`; plain `refresh --expect-no-changes`
 * would write it). `changed` is the verdict. Program-vs-state changes are `preview`'s job.
 */
export function previewDrift(env: string, opts: OperationOptions = {}): Promise<OperationResult> {
    return run("drift", env, opts, async (stack, common) => {
        const r = await stack.previewRefresh(common);
        return r.changeSummary;
    });
}

/** The same as `previewDrift` (the name the `opke drift` command uses). */
export const drift = previewDrift;

/** "4.2s", "1m05s", "1h02m". */
export function formatDuration(seconds: number): string {
    if (seconds < 60) return `${seconds.toFixed(1)}s`;
    const s = Math.round(seconds);
    if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
    return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}
