/**
 * stacks/automation.ts and stacks/cli.ts without the Pulumi engine: the pure helpers (change
 * counts, URNs, event classification, progress, output masking, settings, the dev salt), the
 * toolchain lookup against temporary PATH/HOME trees, and the CLI's arguments, usage errors,
 * exit codes and display with the operations stubbed.
 *
 * What this does not prove: that the engine emits exactly the events modelled here, or that a
 * real preview/up/destroy works — test/e2e/engine.e2e.ts runs those against the real CLI when the
 * toolchain exists. The one real binary used here is a shell script standing in for `pulumi version`.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import {
    classifyEvents,
    countsFromClassification,
    DEV_PASSPHRASE,
    deploymentResourceCount,
    describeToolchain,
    emptyCounts,
    explainFailure,
    fileBackendDir,
    findPulumi,
    findToolchain,
    formatChanges,
    formatDuration,
    hasChanges,
    maskOutputs,
    OperationError,
    OperationResult,
    outputsFromDeployment,
    parseUrn,
    passphraseMatchesSalt,
    ProgressEvent,
    ProgressTracker,
    resolveSettings,
    SECRET_SIG_KEY,
    SECRET_SIG_VALUE,
    SettingsError,
    summarizeChanges,
    ToolchainError,
} from "../stacks/automation";
import { EXIT, formatOutputValue, main, parseArgs, ProgressDisplay, USAGE, type CliIO } from "../stacks/cli";

const ROOT = path.resolve(__dirname, "..");
const pkgVersion = (name: string) => (JSON.parse(fs.readFileSync(path.join(ROOT, "node_modules", "@pulumi", name, "package.json"), "utf8")) as { version: string }).version.replace(/^v/, "");
const CLI_VERSION = `v${pkgVersion("pulumi")}`;
const PLUGINS = ["cloudflare", "command", "kubernetes", "openstack", "tls"].map((p) => ({ plugin: p, version: `v${pkgVersion(p)}` }));

const tmpDirs: string[] = [];
function tmp(prefix: string): string {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), `opke-automation-test-${prefix}-`));
    tmpDirs.push(d);
    return d;
}
afterAll(() => {
    for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

function exe(file: string, body = "#!/bin/sh\nexit 0\n"): string {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, body, { mode: 0o755 });
    return file;
}

let seq = 0;
const ev = (e: Partial<EngineEvent>): EngineEvent => ({ sequence: seq++, timestamp: 0, ...e }) as EngineEvent;
const URN = (type: string, name: string, parents = "opke:index:Cluster") => `urn:pulumi:dev::opke::${parents}$${type}::${name}`;
const STACK_URN = "urn:pulumi:dev::opke::pulumi:pulumi:Stack::opke-dev";
const meta = (op: string, urn: string, type: string, extra: Record<string, unknown> = {}) => ({ op, urn, type, provider: "", ...extra });
const pre = (op: string, urn: string, type: string, planning: boolean, extra: Record<string, unknown> = {}) =>
    ev({ resourcePreEvent: { metadata: meta(op, urn, type, extra), planning } as unknown as EngineEvent["resourcePreEvent"] });
const outs = (op: string, urn: string, type: string, planning: boolean, extra: Record<string, unknown> = {}) =>
    ev({ resOutputsEvent: { metadata: meta(op, urn, type, extra), planning } as unknown as EngineEvent["resOutputsEvent"] });
const failedEv = (op: string, urn: string, type: string) => ev({ resOpFailedEvent: { metadata: meta(op, urn, type), status: 1, steps: 0 } as unknown as EngineEvent["resOpFailedEvent"] });
const diag = (severity: string, message: string, extra: Record<string, unknown> = {}) =>
    ev({ diagnosticEvent: { severity, message, color: "never", ...extra } as unknown as EngineEvent["diagnosticEvent"] });

const KEY = URN("tls:index:PrivateKey", "dev-etcd-ca-key");
const PUSH_C1 = URN("command:remote:Command", "dev-push-c1", "opke:bare-metal:Cluster");
const PUSH_W1 = URN("command:remote:Command", "dev-push-w1", "opke:bare-metal:Cluster");
const CERT = URN("tls:index:LocallySignedCert", "dev-apiserver");
const PROVIDER = "urn:pulumi:dev::opke::opke:index:Cluster$pulumi:providers:tls::dev-tls";

// ---------------------------------------------------------------------------------------------

describe("change counts", () => {
    test("summarizeChanges fills every kind and folds the replacement parts into replace", () => {
        expect(summarizeChanges({ create: 3, same: 20 })).toEqual({ create: 3, update: 0, replace: 0, delete: 0, same: 20, read: 0, import: 0, other: 0 });
        expect(summarizeChanges({ replace: 2, "create-replacement": 2, "delete-replaced": 2, same: 1 })).toEqual({ ...emptyCounts(), replace: 2, same: 1 });
        expect(summarizeChanges({ discard: 1, "remove-pending-replace": 1, refresh: 4, read: 2, import: 1 })).toEqual({ ...emptyCounts(), delete: 1, other: 5, read: 2, import: 1 });
        expect(summarizeChanges(undefined)).toEqual(emptyCounts());
        expect(summarizeChanges({ update: undefined, create: Number.NaN })).toEqual(emptyCounts());
    });

    test("hasChanges: same and read are not changes; anything else is", () => {
        expect(hasChanges({ ...emptyCounts(), same: 9, read: 2 })).toBe(false);
        for (const k of ["create", "update", "replace", "delete", "import", "other"] as const) expect(hasChanges({ ...emptyCounts(), [k]: 1 })).toBe(true);
    });

    test("formatChanges words planned and done changes", () => {
        const c = { ...emptyCounts(), create: 3, update: 1, replace: 2, delete: 1, same: 20 };
        expect(formatChanges(c, true)).toBe("3 to create, 1 to update, 2 to replace, 1 to delete, 20 unchanged");
        expect(formatChanges(c, false)).toBe("3 created, 1 updated, 2 replaced, 1 deleted, 20 unchanged");
        expect(formatChanges({ ...emptyCounts(), same: 5 }, true)).toBe("no changes, 5 unchanged");
        expect(formatChanges(emptyCounts(), false)).toBe("no changes");
    });

    test("formatDuration", () => {
        expect([0, 4.25, 59.94, 60, 65, 3599, 3600, 3725].map(formatDuration)).toEqual(["0.0s", "4.3s", "59.9s", "1m00s", "1m05s", "59m59s", "1h00m", "1h02m"]);
    });
});

describe("URNs and engine events", () => {
    test("parseUrn takes the last type of the parent chain and the name", () => {
        expect(parseUrn(PUSH_C1)).toEqual({ stack: "dev", project: "opke", type: "command:remote:Command", name: "dev-push-c1" });
        expect(parseUrn(PROVIDER)).toEqual({ stack: "dev", project: "opke", type: "pulumi:providers:tls", name: "dev-tls" });
        expect(parseUrn(STACK_URN)).toEqual({ stack: "dev", project: "opke", type: "pulumi:pulumi:Stack", name: "opke-dev" });
        expect(parseUrn("not-a-urn")).toBeUndefined();
    });

    test("classifyEvents of a preview: planned steps per kind, the stack left out, a replacement counted once", () => {
        const c = classifyEvents([
            pre("same", STACK_URN, "pulumi:pulumi:Stack", true),
            pre("create", KEY, "tls:index:PrivateKey", true),
            pre("update", PUSH_C1, "command:remote:Command", true),
            pre("create-replacement", CERT, "tls:index:LocallySignedCert", true),
            pre("replace", CERT, "tls:index:LocallySignedCert", true),
            pre("delete-replaced", CERT, "tls:index:LocallySignedCert", true),
            pre("same", PROVIDER, "pulumi:providers:tls", true),
            outs("same", PROVIDER, "pulumi:providers:tls", true),
        ]);
        expect(c.resources).toEqual({ create: [KEY], update: [PUSH_C1], replace: [CERT], delete: [], same: [PROVIDER], read: [], import: [], other: [] });
        expect(c.failed).toEqual([]);
        expect(countsFromClassification(c)).toEqual({ ...emptyCounts(), create: 1, update: 1, replace: 1, same: 1 });
    });

    test("classifyEvents of an update: failures and errors/warnings (not info, not ephemeral), ANSI stripped", () => {
        const c = classifyEvents([
            pre("update", PUSH_C1, "command:remote:Command", false),
            outs("update", PUSH_C1, "command:remote:Command", false),
            pre("update", PUSH_W1, "command:remote:Command", false),
            failedEv("update", PUSH_W1, "command:remote:Command"),
            diag("warning", "\u001b[33mcertificate renews soon\u001b[0m\n", { urn: CERT }),
            diag("error", "push w1: gate kubelet failed\n", { urn: PUSH_W1 }),
            diag("info", "bare metal (installed)\n"),
            diag("warning", "dots", { ephemeral: true }),
        ]);
        expect(c.resources.update).toEqual([PUSH_C1, PUSH_W1]);
        expect(c.failed).toEqual([PUSH_W1]);
        expect(c.diagnostics).toEqual([
            { severity: "warning", message: "certificate renews soon", urn: CERT },
            { severity: "error", message: "push w1: gate kubelet failed", urn: PUSH_W1 },
        ]);
    });

    test("classifyEvents of a refresh resolves op refresh like the engine's ResultOp: gone → delete, changed keys → update, else same", () => {
        const c = classifyEvents([
            outs("refresh", KEY, "tls:index:PrivateKey", false, { old: { id: "a" }, new: { id: "a" } }),
            outs("refresh", CERT, "tls:index:LocallySignedCert", false, { old: { id: "b" }, new: { id: "b" }, diffs: ["readyForRenewal"] }),
            outs("refresh", PUSH_C1, "command:remote:Command", false, { old: { id: "c" } }),
            outs("refresh", PUSH_W1, "command:remote:Command", false, { old: { id: "d" }, new: { id: "d" }, detailedDiff: { stdout: { kind: "update" } } }),
        ]);
        expect(c.resources).toMatchObject({ same: [KEY], update: [CERT, PUSH_W1], delete: [PUSH_C1] });
    });

    test("ProgressTracker: planned steps, started → done/failed with durations from the clock, diagnostics; no stack resource", () => {
        let t = 1_000_000;
        const got: ProgressEvent[] = [];
        const tr = new ProgressTracker((e) => got.push(e), () => t);
        tr.handle(pre("same", STACK_URN, "pulumi:pulumi:Stack", false));
        tr.handle(pre("create", KEY, "tls:index:PrivateKey", true));
        tr.handle(pre("update", PUSH_C1, "command:remote:Command", false));
        t += 4200;
        tr.handle(outs("update", PUSH_C1, "command:remote:Command", false));
        tr.handle(pre("create-replacement", CERT, "tls:index:LocallySignedCert", false));
        t += 500;
        tr.handle(failedEv("create-replacement", CERT, "tls:index:LocallySignedCert"));
        tr.handle(diag("error", "\u001b[31mboom\u001b[0m\n", { urn: PUSH_C1 }));
        tr.handle(diag("info", "  \n"));
        tr.handle(outs("same", STACK_URN, "pulumi:pulumi:Stack", false));
        expect(got).toEqual([
            { type: "step", status: "planned", kind: "create", op: "create", urn: KEY, resourceType: "tls:index:PrivateKey", name: "dev-etcd-ca-key" },
            { type: "step", status: "started", kind: "update", op: "update", urn: PUSH_C1, resourceType: "command:remote:Command", name: "dev-push-c1" },
            { type: "step", status: "done", kind: "update", op: "update", urn: PUSH_C1, resourceType: "command:remote:Command", name: "dev-push-c1", elapsedSeconds: 4.2 },
            { type: "step", status: "started", kind: "replace", op: "create-replacement", urn: CERT, resourceType: "tls:index:LocallySignedCert", name: "dev-apiserver" },
            { type: "step", status: "failed", kind: "replace", op: "create-replacement", urn: CERT, resourceType: "tls:index:LocallySignedCert", name: "dev-apiserver", elapsedSeconds: 0.5 },
            { type: "diagnostic", severity: "error", message: "boom", urn: PUSH_C1, name: "dev-push-c1" },
        ]);
    });
});

describe("outputs", () => {
    const envelope = (ciphertext: string) => ({ [SECRET_SIG_KEY]: SECRET_SIG_VALUE, ciphertext });

    test("maskOutputs replaces top-level secrets and nested secret envelopes, sorts keys, leaves its input alone", () => {
        const input = {
            kubeconfig: { value: "apiVersion: v1\nusers: [...]", secret: true },
            nodes: { value: [{ name: "c1", key: envelope("v1:abc") }], secret: false },
            apiServer: { value: "https://api.dev.opke.test:6443", secret: false },
        };
        const copy = JSON.parse(JSON.stringify(input)) as unknown;
        expect(maskOutputs(input)).toEqual({
            apiServer: { value: "https://api.dev.opke.test:6443", secret: false },
            kubeconfig: { value: "[secret]", secret: true },
            nodes: { value: [{ name: "c1", key: "[secret]" }], secret: false },
        });
        expect(Object.keys(maskOutputs(input))).toEqual(["apiServer", "kubeconfig", "nodes"]);
        expect(input).toEqual(copy);
    });

    test("outputsFromDeployment reads the root stack's outputs from an export; secrets stay masked; counts resources", () => {
        const exported = {
            version: 3,
            deployment: {
                resources: [
                    { urn: STACK_URN, type: "pulumi:pulumi:Stack", outputs: { apiServer: "https://x:6443", kubeconfig: envelope("v1:Zm9v"), nodes: [{ name: "c1", hash: envelope("v1:YmFy") }] } },
                    { urn: "urn:pulumi:dev::opke::opke:index:Cluster$pulumi:pulumi:Stack::inner", type: "pulumi:pulumi:Stack", parent: STACK_URN, outputs: { other: 1 } },
                    { urn: KEY, type: "tls:index:PrivateKey" },
                ],
            },
        };
        expect(outputsFromDeployment(exported)).toEqual({
            apiServer: { value: "https://x:6443", secret: false },
            kubeconfig: { value: "[secret]", secret: true },
            nodes: { value: [{ name: "c1", hash: "[secret]" }], secret: false },
        });
        expect(JSON.stringify(outputsFromDeployment(exported))).not.toContain("Zm9v");
        expect(deploymentResourceCount(exported)).toBe(3);
        expect(outputsFromDeployment({ version: 3, deployment: {} })).toEqual({});
        expect(deploymentResourceCount({ version: 3, deployment: {} })).toBe(0);
        expect(outputsFromDeployment(undefined)).toEqual({});
    });
});

describe("settings: backend and passphrase", () => {
    let project: string;
    beforeAll(() => {
        project = tmp("settings");
        fs.writeFileSync(path.join(project, "Pulumi.yaml"), "name: opke\nruntime: nodejs\n");
        fs.writeFileSync(path.join(project, "Pulumi.dev.yaml"), "config:\n  opke:clusterName: dev\n");
        fs.writeFileSync(path.join(project, "Pulumi.prod.yaml"), "config:\n  opke:clusterName: prod\n");
        fs.writeFileSync(path.join(project, "Pulumi.kms.yaml"), "secretsprovider: awskms://alias/opke\nconfig: {}\n");
    });

    test("dev without anything set: the local file backend under the project and the documented dev passphrase", () => {
        const s = resolveSettings("dev", { projectRoot: project, environ: { HOME: "/home/u" } });
        expect(s.backendUrl).toBe(`file://${project}/.pulumi`);
        expect(s.backendDir).toBe(`${project}/.pulumi`);
        expect(s.envVars).toEqual({ PULUMI_BACKEND_URL: `file://${project}/.pulumi`, PULUMI_SKIP_UPDATE_CHECK: "true", PULUMI_CONFIG_PASSPHRASE: DEV_PASSPHRASE });
        expect(s.passphraseSource).toBe('the documented dev passphrase "opke-dev" (embedded example stack only)');
        expect(s.secretsProvider).toBe("passphrase");
        expect(s.warnings).toEqual([]);
    });

    test("any other stack without a passphrase is refused, naming the variables", () => {
        expect(() => resolveSettings("prod", { projectRoot: project, environ: {} })).toThrow(
            new SettingsError(
                'stack prod: no passphrase for its secrets; set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE (the dev passphrase "opke-dev" is only used for the embedded example stack dev), or name a KMS provider with `secretsprovider:` in Pulumi.prod.yaml',
            ),
        );
    });

    test("passphrase sources in order: option, file option, $PULUMI_CONFIG_PASSPHRASE, $PULUMI_CONFIG_PASSPHRASE_FILE", () => {
        const environ = { PULUMI_CONFIG_PASSPHRASE: "from-env", PULUMI_CONFIG_PASSPHRASE_FILE: "/run/pass" };
        const pick = (o: Parameters<typeof resolveSettings>[1]) => {
            const s = resolveSettings("prod", { projectRoot: project, ...o });
            return [s.envVars.PULUMI_CONFIG_PASSPHRASE, s.envVars.PULUMI_CONFIG_PASSPHRASE_FILE, s.passphraseSource];
        };
        expect(pick({ environ, passphrase: "opt" })).toEqual(["opt", undefined, "the passphrase option"]);
        expect(pick({ environ, passphraseFile: "/etc/p" })).toEqual([undefined, "/etc/p", "the passphraseFile option"]);
        expect(pick({ environ })).toEqual(["from-env", undefined, "$PULUMI_CONFIG_PASSPHRASE"]);
        expect(pick({ environ: { PULUMI_CONFIG_PASSPHRASE_FILE: "/run/pass" } })).toEqual([undefined, "/run/pass", "$PULUMI_CONFIG_PASSPHRASE_FILE"]);
        expect(pick({ environ: { PULUMI_CONFIG_PASSPHRASE: "" } })).toEqual(["", undefined, "$PULUMI_CONFIG_PASSPHRASE"]);
    });

    test("the dev passphrase given explicitly for another stack works, with a warning", () => {
        const s = resolveSettings("prod", { projectRoot: project, environ: { PULUMI_CONFIG_PASSPHRASE: DEV_PASSPHRASE } });
        expect(s.envVars.PULUMI_CONFIG_PASSPHRASE).toBe(DEV_PASSPHRASE);
        expect(s.warnings).toEqual([
            'stack prod uses the published dev passphrase "opke-dev": anyone can decrypt its secrets; choose your own passphrase (pulumi stack change-secrets-provider passphrase)',
        ]);
    });

    test("backend: option over $PULUMI_BACKEND_URL over the local default; only file:// has a folder", () => {
        const environ = { PULUMI_BACKEND_URL: "s3://bucket/opke", HOME: "/home/u" };
        expect(resolveSettings("dev", { projectRoot: project, environ }).backendUrl).toBe("s3://bucket/opke");
        expect(resolveSettings("dev", { projectRoot: project, environ }).backendDir).toBeUndefined();
        expect(resolveSettings("dev", { projectRoot: project, environ, backendUrl: "file://~/state" }).backendDir).toBe("/home/u/state");
        expect(fileBackendDir("file://./.pulumi", "/p", "/h")).toBe("/p/.pulumi");
        expect(fileBackendDir("file:///var/lib/opke", "/p", "/h")).toBe("/var/lib/opke");
        expect(fileBackendDir("https://api.pulumi.com", "/p", "/h")).toBeUndefined();
    });

    test("a stack file naming a KMS secrets provider needs no passphrase", () => {
        const s = resolveSettings("kms", { projectRoot: project, environ: {} });
        expect([s.secretsProvider, s.envVars.PULUMI_CONFIG_PASSPHRASE, s.passphraseSource]).toEqual(["awskms://alias/opke", undefined, "none (secrets provider awskms://alias/opke)"]);
    });

    test("an environment without a stack file, or with a bad name, is refused listing the stacks", () => {
        expect(() => resolveSettings("staging", { projectRoot: project, environ: {} })).toThrow(
            `environment "staging": ${project}/Pulumi.staging.yaml does not exist; use one of dev, kms, prod, or create Pulumi.staging.yaml (README: "Deploying for real")`,
        );
        expect(() => resolveSettings("../x", { projectRoot: project, environ: {} })).toThrow(
            `environment "../x": it is not a stack name (letters, digits, '_', '.', '-'); use one of dev, kms, prod, or create Pulumi.../x.yaml`,
        );
    });

    test("the committed Pulumi.dev.yaml encryptionsalt is unlocked by the documented dev passphrase, and only by it", () => {
        const salt = /^encryptionsalt: (\S+)$/m.exec(fs.readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8"))?.[1];
        expect(salt).toMatch(/^v1:[A-Za-z0-9+/=]+:v1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
        expect(passphraseMatchesSalt(salt!, DEV_PASSPHRASE)).toBe(true);
        expect(passphraseMatchesSalt(salt!, "opke-dev ")).toBe(false);
        expect(passphraseMatchesSalt("v1:bad", DEV_PASSPHRASE)).toBe(false);
    });
});

describe("toolchain lookup (temporary PATH and HOME)", () => {
    test("nothing installed: findPulumi fails naming the CLI, the language host, every plugin and how to get them", async () => {
        const home = tmp("home-empty");
        const bin = tmp("path-empty");
        const environ = { HOME: home, PATH: bin };
        const tc = findToolchain({ projectRoot: ROOT, environ });
        expect(tc.cli.path).toBeUndefined();
        expect(tc.languageHost.path).toBeUndefined();
        expect(tc.plugins.map((p) => [p.plugin, p.version, p.always, p.path])).toEqual(PLUGINS.map((p) => [p.plugin, p.version, p.plugin === "tls" || p.plugin === "command", undefined]));
        expect(tc.binDirs).toEqual([]);
        const tools = `${home}/.cache/opke/tools`;
        let err: unknown;
        await findPulumi({ projectRoot: ROOT, environ }).catch((e: unknown) => (err = e));
        expect(err).toBeInstanceOf(ToolchainError);
        const lines = (err as Error).message.split("\n");
        expect(lines[0]).toBe(`opke: the Pulumi toolchain is incomplete (missing: pulumi ${CLI_VERSION}, pulumi-language-nodejs ${CLI_VERSION}); nothing was run.`);
        expect(lines[1]).toBe(`  MISSING  pulumi CLI ${CLI_VERSION}: not found in $PATH, ${home}/.pulumi/bin, ${tools}/pulumi/${CLI_VERSION}/bin`);
        expect(lines[2]).toBe(
            `  MISSING  pulumi-language-nodejs ${CLI_VERSION} (the Node.js language host that runs index.ts): not found in $PATH, ${tools}/pulumi-language-nodejs/${CLI_VERSION}/bin`,
        );
        const tlsVersion = PLUGINS.find((p) => p.plugin === "tls")!.version;
        expect(lines).toContain(
            `  missing  pulumi-resource-tls ${tlsVersion} (provider plugin, used by every stack): not installed (looked in $PATH, ${tools}/pulumi-resource-tls/${tlsVersion}/bin, ${home}/.pulumi/plugins/resource-tls-${tlsVersion})`,
        );
        const osVersion = PLUGINS.find((p) => p.plugin === "openstack")!.version;
        expect(lines).toContain(
            `  missing  pulumi-resource-openstack ${osVersion} (provider plugin): not installed (looked in $PATH, ${tools}/pulumi-resource-openstack/${osVersion}/bin, ${home}/.pulumi/plugins/resource-openstack-${osVersion})`,
        );
        for (const p of PLUGINS) expect(lines.filter((l) => l.startsWith(`  missing  pulumi-resource-${p.plugin} ${p.version} `))).toHaveLength(1);
        expect(lines.slice(-4)).toEqual([
            "how to get them:",
            `  - install the Pulumi CLI ${CLI_VERSION} (https://www.pulumi.com/docs/install/ — it bundles pulumi-language-nodejs) and put it on PATH`,
            `  - or build it offline from Go modules: bash scripts/tools.sh pulumi (CLI, pulumi-language-nodejs, and the tls, command, kubernetes plugins into ${tools}); this fails where the Go module proxy refuses those module versions`,
            "  - provider plugins: before a preview or update the engine installs every plugin the project's packages declare, downloading missing ones from get.pulumi.com; " +
                "offline, install them first (bash scripts/tools.sh pulumi builds tls, command and kubernetes; pulumi plugin install resource <name> <version> where get.pulumi.com is reachable, then copy ~/.pulumi/plugins)",
        ]);
        expect((err as ToolchainError).missing.map((m) => m.name)).toEqual(["pulumi", "pulumi-language-nodejs"]);
    });

    test("a pulumi on PATH wins over the tools cache; the language host next to it and plugins in the cache or $PULUMI_HOME are found", () => {
        const home = tmp("home-full");
        const tools = `${home}/.cache/opke/tools`;
        const userBin = tmp("path-user");
        exe(`${tools}/pulumi/${CLI_VERSION}/bin/pulumi`);
        exe(`${userBin}/pulumi`);
        exe(`${userBin}/pulumi-language-nodejs`);
        const tls = PLUGINS.find((p) => p.plugin === "tls")!.version;
        const command = PLUGINS.find((p) => p.plugin === "command")!.version;
        exe(`${tools}/pulumi-resource-tls/${tls}/bin/pulumi-resource-tls`);
        exe(`${home}/.pulumi/plugins/resource-command-${command}/pulumi-resource-command`);
        fs.writeFileSync(`${userBin}/pulumi-resource-kubernetes`, "not executable", { mode: 0o644 });
        const tc = findToolchain({ projectRoot: ROOT, environ: { HOME: home, PATH: userBin } });
        expect([tc.cli.path, tc.cli.source]).toEqual([`${userBin}/pulumi`, "PATH"]);
        expect(tc.languageHost.path).toBe(`${userBin}/pulumi-language-nodejs`);
        expect(Object.fromEntries(tc.plugins.map((p) => [p.plugin, p.path ?? null]))).toEqual({
            cloudflare: null,
            command: `${home}/.pulumi/plugins/resource-command-${command}/pulumi-resource-command`,
            kubernetes: null,
            openstack: null,
            tls: `${tools}/pulumi-resource-tls/${tls}/bin/pulumi-resource-tls`,
        });
        // The CLI finds $PULUMI_HOME/plugins itself; only ambient folders go on its PATH.
        expect(tc.binDirs).toEqual([userBin, `${tools}/pulumi-resource-tls/${tls}/bin`]);
        expect(describeToolchain(tc).split("\n")[0]).toBe(`  ok       pulumi CLI ${CLI_VERSION}: ${userBin}/pulumi (PATH)`);
    });

    test("a pulumi on PATH that is a symlink: the language host is found next to the real binary (as the CLI finds its bundled plugins)", () => {
        const home = tmp("home-link");
        const install = tmp("install");
        const userBin = tmp("path-link");
        exe(`${install}/pulumi`);
        exe(`${install}/pulumi-language-nodejs`);
        fs.symlinkSync(`${install}/pulumi`, `${userBin}/pulumi`);
        const tc = findToolchain({ projectRoot: ROOT, environ: { HOME: home, PATH: userBin } });
        expect([tc.cli.path, tc.languageHost.path]).toEqual([`${userBin}/pulumi`, `${install}/pulumi-language-nodejs`]);
        expect(tc.languageHost.searched).toEqual([userBin, install, "$PATH", `${home}/.cache/opke/tools/pulumi-language-nodejs/${CLI_VERSION}/bin`]);
        expect(tc.binDirs).toEqual([userBin, install]);
    });

    test("without a pulumi on PATH: ~/.pulumi/bin, then the tools cache ($OPKE_TOOLS_DIR honoured)", () => {
        const home = tmp("home-cache");
        const tools = tmp("tools");
        exe(`${tools}/pulumi/${CLI_VERSION}/bin/pulumi`);
        exe(`${tools}/pulumi-language-nodejs/${CLI_VERSION}/bin/pulumi-language-nodejs`);
        const environ = { HOME: home, PATH: tmp("path-none"), OPKE_TOOLS_DIR: tools };
        let tc = findToolchain({ projectRoot: ROOT, environ });
        expect([tc.cli.path, tc.cli.source, tc.languageHost.path]).toEqual([
            `${tools}/pulumi/${CLI_VERSION}/bin/pulumi`,
            "opke tools cache",
            `${tools}/pulumi-language-nodejs/${CLI_VERSION}/bin/pulumi-language-nodejs`,
        ]);
        expect(tc.binDirs).toEqual([`${tools}/pulumi/${CLI_VERSION}/bin`, `${tools}/pulumi-language-nodejs/${CLI_VERSION}/bin`]);
        exe(`${home}/.pulumi/bin/pulumi`);
        tc = findToolchain({ projectRoot: ROOT, environ });
        expect([tc.cli.path, tc.cli.source]).toEqual([`${home}/.pulumi/bin/pulumi`, "~/.pulumi/bin"]);
    });

    test("findPulumi returns PulumiCommand.get({ root }) of the found CLI (a script answering `pulumi version`)", async () => {
        const home = tmp("home-cmd");
        const bin = `${home}/.pulumi/bin`;
        exe(`${bin}/pulumi`, `#!/bin/sh\n[ "$1" = version ] && echo ${CLI_VERSION}\n`);
        const { command, toolchain } = await findPulumi({ projectRoot: ROOT, environ: { HOME: home, PATH: tmp("path-cmd") }, needsProgram: false });
        expect(command.command).toBe(`${bin}/pulumi`);
        expect(command.version?.format()).toBe(CLI_VERSION.slice(1));
        expect(toolchain.languageHost.path).toBeUndefined();
    });

    test("explainFailure keeps the engine's error lines and adds the known hints", () => {
        const msg =
            "code: 255\n stdout: \n stderr: Previewing update (dev):\nerror: failed to load language plugin nodejs: no language plugin 'pulumi-language-nodejs' found in the workspace or on your $PATH\n";
        expect(explainFailure(new Error(msg), "dev")).toBe(
            "error: failed to load language plugin nodejs: no language plugin 'pulumi-language-nodejs' found in the workspace or on your $PATH\n" +
                "hint: the Node.js language host is missing: see `bash scripts/tools.sh pulumi` or install the Pulumi CLI (README, Deploying for real)",
        );
        expect(explainFailure(new Error("error: incorrect passphrase\n"), "prod", { backendUrl: "file:///x", passphraseSource: "$PULUMI_CONFIG_PASSPHRASE" })).toBe(
            "error: incorrect passphrase\nhint: the passphrase (from $PULUMI_CONFIG_PASSPHRASE) does not unlock stack prod's secrets: set the right PULUMI_CONFIG_PASSPHRASE",
        );
        expect(explainFailure(new Error("error: could not load plugin for tls provider 'default': no resource plugin 'pulumi-resource-tls' found"), "dev")).toContain(
            "hint: provider plugin tls is missing and could not be downloaded: bash scripts/tools.sh pulumi, or pulumi plugin install resource tls <version> where get.pulumi.com is reachable",
        );
    });
});

// ---------------------------------------------------------------------------------------------

describe("opke CLI: arguments", () => {
    test.each([
        [["preview", "dev"], { command: "preview", env: "dev", yes: false, diff: false, json: false, expectNoChanges: false }],
        [["up", "prod", "--yes", "--json"], { command: "up", env: "prod", yes: true, diff: false, json: true, expectNoChanges: false }],
        [["-y", "destroy", "--diff", "e2e-1"], { command: "destroy", env: "e2e-1", yes: true, diff: true, json: false, expectNoChanges: false }],
        [["preview", "dev", "--expect-no-changes", "--backend-url", "s3://b/opke"], { command: "preview", env: "dev", yes: false, diff: false, json: false, expectNoChanges: true, backendUrl: "s3://b/opke" }],
        [["drift", "--backend-url=file://~/st", "prod"], { command: "drift", env: "prod", yes: false, diff: false, json: false, expectNoChanges: false, backendUrl: "file://~/st" }],
    ])("%j parses", (argv, args) => {
        expect(parseArgs(argv)).toEqual({ kind: "run", args });
    });

    test.each([
        [[], "missing command; use one of preview, up, refresh, destroy, drift"],
        [["deploy", "dev"], 'unknown command "deploy"; use one of preview, up, refresh, destroy, drift'],
        [["up"], "up needs an environment (stack) name, e.g. `opke up dev`"],
        [["up", "dev", "prod"], 'unexpected argument "prod"; give one environment, e.g. `opke up dev`'],
        [["up", "dev", "--force"], 'unknown option "--force"; see opke --help'],
        [["up", "../dev"], `"../dev" is not a stack name; use letters, digits, '_', '.' and '-' (the name of a Pulumi.<env>.yaml)`],
        [["drift", "dev", "--expect-no-changes"], "--expect-no-changes is for preview only (drift always exits 3 on changes)"],
        [["preview", "dev", "--backend-url"], "--backend-url needs a URL, e.g. --backend-url file://~/.pulumi-opke or s3://my-bucket/opke"],
    ])("%j is a usage error", (argv, message) => {
        expect(parseArgs(argv)).toEqual({ kind: "usage-error", message });
    });

    test("-h/--help anywhere is help", () => {
        expect(parseArgs(["up", "--help"])).toEqual({ kind: "help" });
        expect(parseArgs(["-h"])).toEqual({ kind: "help" });
    });
});

describe("opke CLI: main with the operations stubbed", () => {
    const result = (over: Partial<OperationResult> = {}): OperationResult => ({
        kind: "preview",
        env: "dev",
        changes: { ...emptyCounts(), same: 4 },
        changed: false,
        resources: { create: [], update: [], replace: [], delete: [], same: [], read: [], import: [], other: [] },
        outputs: {},
        durationSeconds: 1.5,
        summary: "preview dev: no changes, 4 unchanged (1.5s)",
        backendUrl: "file:///p/.pulumi",
        warnings: [],
        ...over,
    });

    function harness(over: Partial<CliIO> = {}, ops: Partial<CliIO["ops"]> = {}) {
        const out: string[] = [];
        const err: string[] = [];
        const calls: string[] = [];
        const stub =
            (name: string, r: OperationResult | Error) =>
            async (env: string): Promise<OperationResult> => {
                calls.push(`${name} ${env}`);
                if (r instanceof Error) throw r;
                return r;
            };
        const io: Partial<CliIO> = {
            stdout: (t) => out.push(t),
            stderr: (t) => err.push(t),
            interactive: false,
            confirm: async () => false,
            environ: {},
            projectRoot: ROOT,
            now: () => 0,
            ops: {
                preview: stub("preview", result()),
                up: stub("up", result({ kind: "up" })),
                refresh: stub("refresh", result({ kind: "refresh" })),
                destroy: stub("destroy", result({ kind: "destroy" })),
                previewDrift: stub("previewDrift", result({ kind: "drift" })),
                ...ops,
            },
            ...over,
        };
        return { io, out, err, calls, stub };
    }

    test("--help prints the usage on stdout, exit 0; a usage error goes to stderr, exit 2", async () => {
        let h = harness();
        expect(await main(["--help"], h.io)).toBe(EXIT.ok);
        expect(h.out).toEqual([USAGE]);
        h = harness();
        expect(await main(["up"], h.io)).toBe(EXIT.usage);
        expect(h.err).toEqual(["opke: up needs an environment (stack) name, e.g. `opke up dev`\n(opke --help for usage)"]);
        expect(h.calls).toEqual([]);
    });

    test("up/refresh/destroy without --yes and without a terminal: exit 2, nothing run", async () => {
        for (const c of ["up", "refresh", "destroy"]) {
            const h = harness();
            expect(await main([c, "dev"], h.io)).toBe(EXIT.usage);
            expect(h.err).toEqual([`opke: ${c} dev changes the environment; pass --yes to run it without a confirmation prompt (no terminal to ask on)\n(opke --help for usage)`]);
            expect(h.calls).toEqual([]);
        }
    });

    test("up in a terminal previews first, asks, and stops on no", async () => {
        const h = harness({ interactive: true, confirm: async () => false }, {});
        h.io.ops!.preview = h.stub("preview", result({ changes: { ...emptyCounts(), create: 2 }, changed: true, summary: "preview dev: 2 to create (1.5s)" }));
        expect(await main(["up", "dev"], h.io)).toBe(EXIT.failure);
        expect(h.calls).toEqual(["preview dev"]);
        expect(h.err.slice(-1)).toEqual(["up dev: cancelled"]);
        const h2 = harness({ interactive: true, confirm: async () => true });
        expect(await main(["up", "dev"], h2.io)).toBe(EXIT.ok);
        expect(h2.calls).toEqual(["preview dev"]);
        expect(h2.err.slice(-1)).toEqual(["up dev: nothing to do"]);
    });

    test("up --yes prints the summary and the masked outputs", async () => {
        const h = harness({}, {});
        h.io.ops!.up = h.stub(
            "up",
            result({
                kind: "up",
                summary: "up dev: 3 created (2.0s)",
                outputs: { apiServer: { value: "https://api.dev.opke.test:6443", secret: false }, kubeconfig: { value: "[secret]", secret: true }, nodes: { value: [{ name: "c1" }], secret: false } },
            }),
        );
        expect(await main(["up", "dev", "--yes"], h.io)).toBe(EXIT.ok);
        expect(h.calls).toEqual(["up dev"]);
        expect(h.out).toEqual(["up dev: 3 created (2.0s)", "outputs:", "  apiServer: https://api.dev.opke.test:6443", "  kubeconfig: [secret]", '  nodes: [{"name":"c1"}]']);
    });

    test("preview --expect-no-changes exits 3 on changes and 0 without; --json prints the result", async () => {
        const changed = result({ changes: { ...emptyCounts(), update: 1, same: 3 }, changed: true, summary: "preview dev: 1 to update, 3 unchanged (1.5s)" });
        let h = harness({}, {});
        h.io.ops!.preview = h.stub("preview", changed);
        expect(await main(["preview", "dev", "--expect-no-changes"], h.io)).toBe(EXIT.changes);
        expect(h.out).toEqual(["preview dev: 1 to update, 3 unchanged (1.5s)"]);
        h = harness();
        h.io.ops!.preview = h.stub("preview", changed);
        expect(await main(["preview", "dev"], h.io)).toBe(EXIT.ok);
        h = harness();
        expect(await main(["preview", "dev", "--expect-no-changes", "--json"], h.io)).toBe(EXIT.ok);
        expect(JSON.parse(h.out.join(""))).toEqual(result());
    });

    test("drift runs refresh --preview-only and preview; exit 3 when either changed", async () => {
        let h = harness();
        expect(await main(["drift", "dev"], h.io)).toBe(EXIT.ok);
        expect(h.calls).toEqual(["previewDrift dev", "preview dev"]);
        expect(h.out.slice(-1)).toEqual(["drift dev: none"]);
        h = harness();
        h.io.ops!.previewDrift = h.stub("previewDrift", result({ kind: "drift", changed: true, changes: { ...emptyCounts(), update: 1 } }));
        expect(await main(["drift", "dev", "--json"], h.io)).toBe(EXIT.changes);
        const j = JSON.parse(h.out.join("")) as { kind: string; drift: boolean; refresh: { changed: boolean }; preview: { changed: boolean } };
        expect([j.kind, j.drift, j.refresh.changed, j.preview.changed]).toEqual(["drift", true, true, false]);
    });

    test("failures: settings → 2, operation → 1 with the failed resources (a missing toolchain: the next test)", async () => {
        let h = harness();
        h.io.ops!.preview = h.stub("preview", new SettingsError("stack prod: no passphrase"));
        expect(await main(["preview", "prod"], h.io)).toBe(EXIT.usage);
        expect(h.err.slice(-1)).toEqual(["opke: stack prod: no passphrase"]);
        h = harness();
        h.io.ops!.up = h.stub(
            "up",
            new OperationError("up dev failed:\nerror: update failed", "up", "dev", { resources: result().resources, failed: [PUSH_W1], diagnostics: [] }),
        );
        expect(await main(["up", "dev", "--yes"], h.io)).toBe(EXIT.failure);
        expect(h.err.slice(-2)).toEqual(["opke: up dev failed:\nerror: update failed", `failed resources: ${PUSH_W1}`]);
    });

    test("the real operations with nothing installed (temporary PATH and HOME): `opke preview dev` exits 1 naming what is missing", async () => {
        const home = tmp("home-cli");
        const err: string[] = [];
        const code = await main(["preview", "dev"], { stdout: () => undefined, stderr: (t) => err.push(t), interactive: false, environ: { HOME: home, PATH: tmp("path-cli") }, projectRoot: ROOT });
        expect(code).toBe(EXIT.failure);
        expect(err[0]).toBe("preview dev …");
        expect(err[1].split("\n").slice(0, 3)).toEqual([
            `opke: the Pulumi toolchain is incomplete (missing: pulumi ${CLI_VERSION}, pulumi-language-nodejs ${CLI_VERSION}); nothing was run.`,
            `  MISSING  pulumi CLI ${CLI_VERSION}: not found in $PATH, ${home}/.pulumi/bin, ${home}/.cache/opke/tools/pulumi/${CLI_VERSION}/bin`,
            `  MISSING  pulumi-language-nodejs ${CLI_VERSION} (the Node.js language host that runs index.ts): not found in $PATH, ${home}/.cache/opke/tools/pulumi-language-nodejs/${CLI_VERSION}/bin`,
        ]);
        expect(err[1]).toContain("bash scripts/tools.sh pulumi");
        // Nothing was created: no backend folder under the temporary HOME, none for a missing toolchain.
        expect(fs.readdirSync(home)).toEqual([]);
    });
});

describe("opke CLI: progress display", () => {
    test("one line per operation with its duration; unchanged resources and replacement parts are not listed; a heartbeat names what runs", () => {
        let t = 0;
        const lines: string[] = [];
        const d = new ProgressDisplay((l) => lines.push(l), () => t, 30);
        const step = (status: "planned" | "started" | "done" | "failed", kind: Extract<ProgressEvent, { type: "step" }>["kind"], op: string, urn: string, type: string, elapsedSeconds?: number) =>
            d.handle({ type: "step", status, kind, op, urn, resourceType: type, name: parseUrn(urn)!.name, ...(elapsedSeconds !== undefined ? { elapsedSeconds } : {}) });
        step("planned", "create", "create", KEY, "tls:index:PrivateKey");
        step("planned", "same", "same", PROVIDER, "pulumi:providers:tls");
        step("planned", "replace", "create-replacement", CERT, "tls:index:LocallySignedCert");
        step("planned", "replace", "replace", CERT, "tls:index:LocallySignedCert");
        step("started", "update", "update", PUSH_C1, "command:remote:Command");
        step("started", "update", "update", PUSH_W1, "command:remote:Command");
        t = 31_000;
        d.tick();
        d.tick();
        step("done", "update", "update", PUSH_C1, "command:remote:Command", 31);
        step("failed", "update", "update", PUSH_W1, "command:remote:Command", 31.2);
        step("done", "same", "same", PROVIDER, "pulumi:providers:tls", 0);
        d.handle({ type: "diagnostic", severity: "warning", message: "first\nsecond", name: "dev-apiserver" });
        d.handle({ type: "diagnostic", severity: "info", message: "bare metal (installed)" });
        expect(lines).toEqual([
            "  +  create             tls:index:PrivateKey                 dev-etcd-ca-key",
            "  +- replace            tls:index:LocallySignedCert          dev-apiserver",
            "  … running: dev-push-c1 (31.0s), dev-push-w1 (31.0s)",
            "  ~  updated            command:remote:Command               dev-push-c1  31.0s",
            "  !  failed             command:remote:Command               dev-push-w1  31.2s",
            "  warning: first [dev-apiserver]",
            "      second",
            "  info: bare metal (installed)",
        ]);
    });

    test("formatOutputValue: secrets masked, long values cut", () => {
        expect(formatOutputValue({ value: "x", secret: true })).toBe("[secret]");
        expect(formatOutputValue({ value: "a\nb", secret: false })).toBe("a\\nb");
        expect(formatOutputValue({ value: { k: "v".repeat(200) }, secret: false })).toBe(`{"k":"${"v".repeat(91)}… (208 chars)`);
    });
});
