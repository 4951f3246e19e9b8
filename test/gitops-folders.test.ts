/**
 * The gitops/ folders that Argo CD syncs (gitops/README.md):
 *   - every folder with a kustomization.yaml builds OFFLINE with the pinned kubectl
 *     (`kubectl kustomize`, Kubernetes version of lib/versions.json, built by
 *     `bash scripts/tools.sh k8s`): no remote bases, no kustomize Helm inflation, and the build runs
 *     with HTTP(S) proxies pointing at a closed port, so any fetch fails;
 *   - folders whose generators are KSOPS (SOPS-encrypted Secrets) are not built (that needs the
 *     ksops plugin and the cluster's age key); instead every file they decrypt must be SOPS-encrypted;
 *   - every rendered object parses and has apiVersion, kind and metadata.name; no "replaced from
 *     settings" placeholder survives (each settings replacement found its target);
 *   - every Application validates against @kubernetes-models/argo-cd (run in a child node process:
 *     the package is ESM-only), lives in namespace argocd, uses project opke, has no finalizer, an
 *     automated prune+selfHeal sync policy with known sync options and an integer sync wave;
 *   - every Helm chart source is pinned to one exact version, every Git source to a tag or a commit,
 *     every image (in manifests and in Helm values) to a tag other than latest, or a digest;
 *   - gitops/argocd renders Argo CD's self-management: one Application `argo-cd`, the argo-cd chart
 *     at the bootstrap's pinned version (lib/versions.json argocd.chart), release name argocd, no
 *     finalizer, with gitops/argocd/values.yaml byte for byte as its values; that file has what the
 *     folders need (Application health check, server.insecure, KSOPS); no other folder renders the
 *     chart or an object it owns;
 *   - stage folders do not chain (no stage Application inside a stage, no child pointing back into
 *     gitops/); Application names are unique per platform, across the stages, gitops/argocd and the
 *     names Pulumi uses itself;
 *   - every stage of the default stage list has a path for every platform (the rule in
 *     gitops/README.md, "Platforms"), and the README lists every chart, Git source and image with its
 *     pinned version.
 *
 * What this does not prove: that the pinned charts and images exist or accept these values (Argo CD
 * fetches them at sync time), that the cluster becomes healthy, that the Pulumi bootstrap really
 * installs with gitops/argocd/values.yaml (modules/argocd's own tests), or that the kustomize
 * bundled with the running Argo CD renders exactly like the pinned kubectl.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { loadStackFile, Platform } from "../lib/config";

const ROOT = path.resolve(__dirname, "..");
const GITOPS = path.join(ROOT, "gitops");
const VERSIONS = JSON.parse(fs.readFileSync(path.join(ROOT, "lib", "versions.json"), "utf8")) as Record<string, unknown>;
const README = fs.readFileSync(path.join(GITOPS, "README.md"), "utf8");

/** The stage list documented in gitops/README.md; used while the config schema has no gitops.stages. */
const DOCUMENTED_STAGE_PATHS: [string, string][] = [
    ["appstage-00-bootstrap", "gitops/appstage-00-bootstrap/{platform}"],
    ["appstage-01-online", "gitops/appstage-01-online"],
    ["appstage-02-example", "gitops/appstage-02-example"],
];
/** Application names the Pulumi argocd module creates itself (gitops/README.md). */
const PULUMI_APPLICATIONS = ["argocd"];
const PROJECT = "opke";
const ARGOCD_NAMESPACE = "argocd";
const IN_CLUSTER = "https://kubernetes.default.svc";
const KNOWN_SYNC_OPTIONS = new Set([
    "CreateNamespace=true",
    "ServerSideApply=true",
    "RespectIgnoreDifferences=true",
    "PruneLast=true",
    "ApplyOutOfSyncOnly=true",
    "SkipDryRunOnMissingResource=true",
]);
const PLACEHOLDER = "replaced from settings";
/** Folders that render nothing by design: the build-time settings. */
const EMPTY_BY_DESIGN = new Set(["gitops/settings"]);
/** Placeholder of stage paths replaced by cfg.platform (modules/argocd, gitops/README.md "Platforms"). */
const PLATFORM_TOKEN = "{platform}";
/** Objects the argo-cd chart renders; gitops/ must never render them a second time. */
const ARGO_CD_CHART_OBJECTS = ["argocd-cm", "argocd-cmd-params-cm", "argocd-rbac-cm", "argocd-secret", "argocd-server", "argocd-repo-server", "argocd-application-controller"];
const ARGOCD_VALUES_FILE = path.join(GITOPS, "argocd", "values.yaml");
const HEALTH_LUA_KEY = "resource.customizations.health.argoproj.io_Application";
const EXACT_VERSION = /^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;
const COMMIT = /^[0-9a-f]{40}$/;

type Obj = Record<string, any>;

// ------------------------------------------------------------------------------------------------
// The pinned kubectl

const KUBERNETES_VERSION = String(VERSIONS.kubernetes);
const TOOLS_DIR = process.env.OPKE_TOOLS_DIR ?? path.join(os.homedir(), ".cache", "opke", "tools");
const BUILD_HINT =
    `build it with \`bash scripts/tools.sh k8s\` (compiles kubectl ${KUBERNETES_VERSION} from Go modules into ` +
    `${TOOLS_DIR}/kubernetes/${KUBERNETES_VERSION}/bin, several minutes the first time), ` +
    `or set OPKE_KUBECTL to a kubectl binary`;

/** The kubectl to build with: OPKE_KUBECTL, else the one scripts/tools.sh builds. Throws with the fix. */
function kubectl(): string {
    const bin = process.env.OPKE_KUBECTL ?? path.join(TOOLS_DIR, "kubernetes", KUBERNETES_VERSION, "bin", "kubectl");
    if (!fs.existsSync(bin)) throw new Error(`kubectl not found at ${bin}: ${BUILD_HINT}`);
    const r = spawnSync(bin, ["version", "--client"], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${bin} version --client failed (${r.status}): ${r.stderr}; ${BUILD_HINT}`);
    if (!process.env.OPKE_KUBECTL && !r.stdout.includes(`Client Version: ${KUBERNETES_VERSION}`)) {
        throw new Error(`${bin} is not kubectl ${KUBERNETES_VERSION}: ${r.stdout}; ${BUILD_HINT}`);
    }
    return bin;
}

/** Environment in which any HTTP(S) or Git fetch fails at once: the builds must not need a network. */
const OFFLINE_ENV: NodeJS.ProcessEnv = {
    ...process.env,
    HTTP_PROXY: "http://127.0.0.1:9",
    HTTPS_PROXY: "http://127.0.0.1:9",
    http_proxy: "http://127.0.0.1:9",
    https_proxy: "http://127.0.0.1:9",
    ALL_PROXY: "http://127.0.0.1:9",
    NO_PROXY: "",
    no_proxy: "",
    GIT_TERMINAL_PROMPT: "0",
};

// ------------------------------------------------------------------------------------------------
// Folders

function kustomizationDirs(dir: string): string[] {
    const out: string[] = [];
    const entries = fs.readdirSync(dir, { withFileTypes: true });
    if (entries.some((e) => e.isFile() && e.name === "kustomization.yaml")) out.push(dir);
    for (const e of entries) if (e.isDirectory()) out.push(...kustomizationDirs(path.join(dir, e.name)));
    return out;
}

function rel(p: string): string {
    return path.relative(ROOT, p);
}

function readYaml(file: string): Obj {
    return parseYaml(fs.readFileSync(file, "utf8")) as Obj;
}

/** Files of a folder's KSOPS generators, or [] when it has none. */
function ksopsFiles(dir: string, kustomization: Obj): string[] {
    const files: string[] = [];
    for (const g of (kustomization.generators ?? []) as string[]) {
        const gen = readYaml(path.join(dir, g));
        if (gen?.kind === "ksops") files.push(...((gen.files ?? []) as string[]).map((f) => path.join(dir, f)));
    }
    return files;
}

/** Problems that make `file` not a SOPS-encrypted Secret (empty when it is one). */
function sopsProblems(file: string): string[] {
    if (!fs.existsSync(file)) return [`${rel(file)}: missing`];
    const doc = readYaml(file);
    const problems: string[] = [];
    if (!doc?.sops?.mac || !(doc.sops.age || doc.sops.pgp || doc.sops.kms)) problems.push(`${rel(file)}: no sops metadata (mac and a recipient)`);
    for (const field of ["data", "stringData"]) {
        for (const [k, v] of Object.entries((doc?.[field] ?? {}) as Obj)) {
            if (typeof v !== "string" || !v.startsWith("ENC[")) problems.push(`${rel(file)}: ${field}.${k} is not encrypted`);
        }
    }
    return problems;
}

interface Built {
    dir: string;
    objects: Obj[];
}

function build(dir: string, bin: string): Built {
    const r = spawnSync(bin, ["kustomize", dir], { encoding: "utf8", env: OFFLINE_ENV, timeout: 60_000 });
    if (r.status !== 0) throw new Error(`kubectl kustomize ${rel(dir)} failed (${r.status ?? r.signal}):\n${r.stderr}`);
    const objects: Obj[] = [];
    for (const doc of parseAllDocuments(r.stdout)) {
        if (doc.errors.length > 0) throw new Error(`${rel(dir)}: unparsable output: ${doc.errors.map((e) => e.message).join("; ")}`);
        const o = doc.toJS() as Obj | null;
        if (o !== null) objects.push(o);
    }
    return { dir, objects };
}

// ------------------------------------------------------------------------------------------------
// Stages and platforms (the rule of gitops/README.md, "Platforms")

const PLATFORMS = Object.values(Platform) as string[];

/**
 * Path (relative to the repository) of a stage Application on a platform, from the stage's folder:
 * `<folder>/<platform>` when that has a kustomization.yaml, else `<folder>` itself.
 */
function stagePath(folder: string, platform: string): string {
    const perPlatform = path.join(folder, platform);
    return fs.existsSync(path.join(ROOT, perPlatform, "kustomization.yaml")) ? perPlatform : folder;
}

/**
 * The default stages as {name, folder}, `folder` being the configured path (it may hold
 * `{platform}`): modules/argocd/config.ts DEFAULT_STAGES, else cfg.gitops.stages of the dev stack,
 * else the list in gitops/README.md.
 */
function defaultStages(): { name: string; folder: string }[] {
    let stages: unknown[] | undefined;
    try {
        // modules/argocd/config.ts (the schema of opke:gitops), read without importing Pulumi code.
        stages = (require("../modules/argocd/config") as Obj).DEFAULT_STAGES as unknown[] | undefined;
    } catch {
        stages = undefined;
    }
    if (stages === undefined) {
        const cfg = loadStackFile(ROOT, "dev") as unknown as Obj;
        stages = cfg.gitops?.stages as unknown[] | undefined;
    }
    if (stages === undefined) return DOCUMENTED_STAGE_PATHS.map(([name, folder]) => ({ name, folder }));
    return stages.map((s) =>
        typeof s === "string" ? { name: s, folder: `gitops/${s}` } : { name: String((s as Obj).name), folder: String((s as Obj).path ?? `gitops/${(s as Obj).name}`) },
    );
}

// ------------------------------------------------------------------------------------------------
// Application checks

function sourcesOf(app: Obj): Obj[] {
    return [...(app.spec?.source ? [app.spec.source] : []), ...((app.spec?.sources ?? []) as Obj[])];
}

/** Problems with how a source is pinned (empty when pinned). */
function pinProblems(name: string, s: Obj): string[] {
    const rev = String(s.targetRevision ?? "");
    if (s.chart) {
        return EXACT_VERSION.test(rev) ? [] : [`${name}: chart ${s.chart} targetRevision '${rev}' is not one exact version`];
    }
    return EXACT_VERSION.test(rev) || COMMIT.test(rev) ? [] : [`${name}: ${s.repoURL} targetRevision '${rev}' is not a tag or a commit`];
}

/** Every image reference in an object tree: `image: repo:tag` strings and `{repository, tag}` maps. */
function images(node: unknown, trail = ""): { at: string; ref: string; tag: string | undefined }[] {
    const out: { at: string; ref: string; tag: string | undefined }[] = [];
    if (Array.isArray(node)) {
        node.forEach((n, i) => out.push(...images(n, `${trail}[${i}]`)));
    } else if (node !== null && typeof node === "object") {
        const o = node as Obj;
        for (const [k, v] of Object.entries(o)) {
            const at = `${trail}.${k}`;
            if (/image$/i.test(k) && typeof v === "string") {
                const digest = v.includes("@sha256:");
                const last = v.split("/").pop() ?? "";
                out.push({ at, ref: v, tag: digest ? "digest" : last.includes(":") ? last.split(":").pop() : undefined });
            } else if (/image$/i.test(k) && v !== null && typeof v === "object" && "repository" in (v as Obj)) {
                const im = v as Obj;
                out.push({ at, ref: `${im.repository}:${im.tag ?? ""}`, tag: im.tag === undefined ? undefined : String(im.tag) });
            } else {
                out.push(...images(v, at));
            }
        }
    }
    return out;
}

/** Helm values of an Application source, as objects (valuesObject and the parsed values string). */
function helmValues(s: Obj): unknown[] {
    const out: unknown[] = [];
    if (s.helm?.valuesObject) out.push(s.helm.valuesObject);
    if (typeof s.helm?.values === "string") out.push(parseYaml(s.helm.values));
    return out;
}

/** String leaves of lib/versions.json whose key path mentions Argo CD, as [path, value]. */
function argoPins(node: unknown, trail: string[] = []): [string, string][] {
    if (node === null || typeof node !== "object") return [];
    const out: [string, string][] = [];
    for (const [k, v] of Object.entries(node as Obj)) {
        const p = [...trail, k];
        if (typeof v === "string" && p.some((x) => /argo/i.test(x)) && EXACT_VERSION.test(v)) out.push([p.join("."), v]);
        else out.push(...argoPins(v, p));
    }
    return out;
}

/** Validation messages of each Application by @kubernetes-models/argo-cd (null when valid). */
function validateApplications(apps: Obj[]): (string | null)[] {
    const script = `
        import { Application } from "@kubernetes-models/argo-cd/argoproj.io/v1alpha1";
        let input = "";
        for await (const chunk of process.stdin) input += chunk;
        const out = JSON.parse(input).map((o) => {
            try { new Application(o).validate(); return null; } catch (e) { return String(e && e.message); }
        });
        process.stdout.write(JSON.stringify(out));`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
        cwd: ROOT,
        input: JSON.stringify(apps),
        encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`Application validator failed (${r.status}): ${r.stderr}`);
    return JSON.parse(r.stdout) as (string | null)[];
}

// ------------------------------------------------------------------------------------------------

const DIRS = kustomizationDirs(GITOPS);
const KSOPS_DIRS = new Map<string, string[]>();
for (const dir of DIRS) {
    const files = ksopsFiles(dir, readYaml(path.join(dir, "kustomization.yaml")));
    if (files.length > 0) KSOPS_DIRS.set(dir, files);
}
const BUILD_DIRS = DIRS.filter((d) => !KSOPS_DIRS.has(d));

describe("gitops/ folders", () => {
    const built = new Map<string, Built>();
    let apps: { dir: string; app: Obj }[] = [];

    beforeAll(() => {
        // Throws (every test then fails) when the pinned kubectl is missing: a missing tool is a
        // failure with the fix in the message, never a skip.
        const bin = kubectl();
        for (const dir of BUILD_DIRS) built.set(dir, build(dir, bin));
        apps = [...built.values()].flatMap((b) => b.objects.filter((o) => o.kind === "Application").map((app) => ({ dir: b.dir, app })));
    });

    it("finds the folders of the layout in gitops/README.md", () => {
        expect(DIRS.map(rel).sort()).toEqual(
            expect.arrayContaining([
                "gitops/appstage-00-bootstrap/bare-metal",
                "gitops/appstage-00-bootstrap/common",
                "gitops/appstage-00-bootstrap/openstack",
                "gitops/appstage-01-online",
                "gitops/appstage-02-example",
                "gitops/argocd",
                "gitops/settings",
            ]),
        );
        // Only kustomization.yaml is recognised (Argo CD and this test look for that name).
        const stray = DIRS.flatMap((d) => fs.readdirSync(d)).filter((f) => /^(kustomization\.yml|Kustomization)$/.test(f));
        expect(stray).toEqual([]);
    });

    it.each(BUILD_DIRS.map(rel))("%s builds offline; every object has apiVersion, kind and metadata.name", (dir) => {
        const b = built.get(path.join(ROOT, dir))!;
        const bad = b.objects.filter((o) => typeof o.apiVersion !== "string" || typeof o.kind !== "string" || typeof o.metadata?.name !== "string" || o.metadata.name === "");
        expect(bad).toEqual([]);
        // A placeholder left over means a settings replacement missed its target.
        expect(b.objects.filter((o) => JSON.stringify(o).includes(PLACEHOLDER)).map((o) => `${o.kind}/${o.metadata?.name}`)).toEqual([]);
        if (EMPTY_BY_DESIGN.has(dir)) expect(b.objects).toEqual([]);
        else expect(b.objects.length).toBeGreaterThan(0);
    });

    it("uses no remote bases and no kustomize Helm inflation", () => {
        const problems: string[] = [];
        for (const dir of DIRS) {
            const k = readYaml(path.join(dir, "kustomization.yaml"));
            for (const field of ["helmCharts", "helmGlobals", "bases"]) if (k[field] !== undefined) problems.push(`${rel(dir)}: ${field}`);
            for (const field of ["resources", "components"]) {
                for (const r of (k[field] ?? []) as string[]) {
                    if (/:\/\/|^git@|\?ref=|github\.com\//.test(r)) problems.push(`${rel(dir)}: remote ${field} entry ${r}`);
                    else if (!fs.existsSync(path.join(dir, r))) problems.push(`${rel(dir)}: ${field} entry ${r} does not exist`);
                }
            }
        }
        expect(problems).toEqual([]);
    });

    it("keeps SOPS-encrypted Secrets encrypted in KSOPS folders (not built: they need the age key)", () => {
        const problems = [...KSOPS_DIRS.values()].flat().flatMap(sopsProblems);
        expect(problems).toEqual([]);
    });

    it("recognises a KSOPS folder and an unencrypted file in it", () => {
        // Fixture, because the repository ships no encrypted Secret (the age recipient is per cluster).
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "opke-ksops-"));
        try {
            fs.writeFileSync(path.join(dir, "kustomization.yaml"), "generators:\n  - gen.yaml\n");
            fs.writeFileSync(path.join(dir, "gen.yaml"), "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: g\nfiles:\n  - s.sops.yaml\n");
            fs.writeFileSync(path.join(dir, "s.sops.yaml"), "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  token: plain\n");
            const files = ksopsFiles(dir, readYaml(path.join(dir, "kustomization.yaml")));
            expect(files).toEqual([path.join(dir, "s.sops.yaml")]);
            expect(sopsProblems(files[0]).map((p) => p.replace(/^.*s\.sops\.yaml/, "s.sops.yaml"))).toEqual([
                "s.sops.yaml: no sops metadata (mac and a recipient)",
                "s.sops.yaml: stringData.token is not encrypted",
            ]);
            fs.writeFileSync(
                path.join(dir, "s.sops.yaml"),
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  token: ENC[AES256_GCM,data:x,type:str]\nsops:\n  mac: ENC[x]\n  age:\n    - recipient: age1x\n",
            );
            expect(sopsProblems(files[0])).toEqual([]);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("validates every Application with @kubernetes-models/argo-cd", () => {
        const results = validateApplications(apps.map((a) => a.app));
        const failures = results.flatMap((r, i) => (r === null ? [] : [`${rel(apps[i].dir)} ${apps[i].app.metadata.name}: ${r}`]));
        expect(failures).toEqual([]);
        expect(apps.length).toBeGreaterThan(0);
    });

    it("gives every Application the opke placement and sync policy", () => {
        const problems: string[] = [];
        for (const { dir, app } of apps) {
            const id = `${rel(dir)} ${app.metadata.name}`;
            const spec = app.spec ?? {};
            if (app.metadata.namespace !== ARGOCD_NAMESPACE) problems.push(`${id}: namespace ${app.metadata.namespace}`);
            if (spec.project !== PROJECT) problems.push(`${id}: project ${spec.project}`);
            if (app.metadata.finalizers !== undefined) problems.push(`${id}: finalizers ${JSON.stringify(app.metadata.finalizers)}`);
            if (spec.destination?.server !== IN_CLUSTER || !spec.destination?.namespace) problems.push(`${id}: destination ${JSON.stringify(spec.destination)}`);
            if (spec.syncPolicy?.automated?.prune !== true || spec.syncPolicy?.automated?.selfHeal !== true) problems.push(`${id}: not automated prune+selfHeal`);
            for (const o of (spec.syncPolicy?.syncOptions ?? []) as string[]) if (!KNOWN_SYNC_OPTIONS.has(o)) problems.push(`${id}: sync option ${o}`);
            if (!((spec.syncPolicy?.syncOptions ?? []) as string[]).includes("ServerSideApply=true")) problems.push(`${id}: no ServerSideApply=true`);
            if (spec.ignoreDifferences && !spec.syncPolicy.syncOptions.includes("RespectIgnoreDifferences=true")) problems.push(`${id}: ignoreDifferences without RespectIgnoreDifferences=true`);
        }
        for (const b of built.values()) {
            for (const o of b.objects) {
                const wave = o.metadata?.annotations?.["argocd.argoproj.io/sync-wave"];
                if (wave !== undefined && !/^-?\d+$/.test(wave)) problems.push(`${rel(b.dir)} ${o.kind}/${o.metadata.name}: sync wave '${wave}'`);
            }
        }
        expect(problems).toEqual([]);
    });

    it("pins every chart, Git source and image", () => {
        const problems: string[] = [];
        for (const { app } of apps) {
            for (const s of sourcesOf(app)) {
                problems.push(...pinProblems(app.metadata.name, s));
                for (const v of helmValues(s)) {
                    for (const im of images(v, `${app.metadata.name} values`)) {
                        if (!im.tag || im.tag === "latest") problems.push(`${im.at}: image ${im.ref} is not pinned`);
                    }
                }
            }
        }
        for (const b of built.values()) {
            for (const o of b.objects) {
                for (const im of images(o.spec, `${rel(b.dir)} ${o.kind}/${o.metadata.name}`)) {
                    if (!im.tag || im.tag === "latest") problems.push(`${im.at}: image ${im.ref} is not pinned`);
                }
            }
        }
        for (const im of images(readYaml(ARGOCD_VALUES_FILE), "gitops/argocd/values.yaml")) {
            if (!im.tag || im.tag === "latest") problems.push(`${im.at}: image ${im.ref} is not pinned`);
        }
        expect(problems).toEqual([]);
    });

    it("renders Argo CD's self-management once, at the bootstrap's chart version and values", () => {
        const argo = apps.filter((a) => sourcesOf(a.app).some((src) => src.chart === "argo-cd"));
        expect(argo.map((a) => `${rel(a.dir)} ${a.app.metadata.name}`)).toEqual(["gitops/argocd argo-cd"]);
        const { app } = argo[0];
        const source = app.spec.source;
        expect([source.repoURL, source.chart, source.helm.releaseName, app.spec.destination.namespace]).toEqual([
            "https://argoproj.github.io/argo-helm",
            "argo-cd",
            "argocd",
            ARGOCD_NAMESPACE,
        ]);
        expect(app.metadata.finalizers).toBeUndefined();
        // The values Argo CD renders are gitops/argocd/values.yaml byte for byte (the bootstrap installs with that file).
        expect(source.helm.values).toBe(fs.readFileSync(ARGOCD_VALUES_FILE, "utf8"));
        // Same chart version as the bootstrap pin (lib/versions.json: the argo* entry whose path says chart).
        const pins = argoPins(VERSIONS);
        const chart = pins.find(([p]) => /chart/i.test(p)) ?? (pins.length === 1 ? pins[0] : undefined);
        expect(chart).toBeDefined();
        expect(source.targetRevision.replace(/^v/, "")).toBe(chart![1].replace(/^v/, ""));

        // No other folder renders an object of the chart: two owners would fight over it.
        const problems: string[] = [];
        for (const b of built.values()) {
            if (rel(b.dir) === "gitops/argocd") continue;
            for (const o of b.objects) {
                if (o.metadata?.namespace === ARGOCD_NAMESPACE && ARGO_CD_CHART_OBJECTS.includes(o.metadata.name) && o.kind !== "Ingress") {
                    problems.push(`${rel(b.dir)}: ${o.kind}/${o.metadata.name} belongs to the argo-cd chart`);
                }
            }
        }
        expect(problems).toEqual([]);

        const values = readYaml(ARGOCD_VALUES_FILE);
        expect(values.configs.params["server.insecure"]).toBe(true);
        expect(values.configs.cm["kustomize.buildOptions"]).toBe("--enable-alpha-plugins --enable-exec");
        expect(values.configs.cm[HEALTH_LUA_KEY]).toContain("hs.status = obj.status.health.status");
        expect(values.configs.cm[HEALTH_LUA_KEY]).toContain("return hs");
        // KSOPS reads the age identity from Secret argocd/sops-age, key keys.txt.
        expect(values.repoServer.volumes).toContainEqual({ name: "sops-age", secret: { secretName: "sops-age", optional: true } });
        expect(values.repoServer.env).toContainEqual({ name: "SOPS_AGE_KEY_FILE", value: "/sops-age/keys.txt" });
        expect(values.repoServer.volumeMounts).toContainEqual({ name: "custom-tools", mountPath: "/usr/local/bin/ksops", subPath: "ksops" });
    });

    it("keeps stages unchained and Application names unique per platform", () => {
        const stageDirs = fs.readdirSync(GITOPS).filter((d) => /^appstage-\d\d-[a-z0-9-]+$/.test(d));
        const problems: string[] = [];
        for (const { dir, app } of apps) {
            if (/^appstage-/.test(app.metadata.name)) problems.push(`${rel(dir)}: stage Application ${app.metadata.name} inside a folder (Pulumi creates stages)`);
            for (const s of sourcesOf(app)) if (typeof s.path === "string" && s.path.startsWith("gitops/")) problems.push(`${rel(dir)} ${app.metadata.name}: points back into ${s.path}`);
        }
        for (const platform of PLATFORMS) {
            const names = new Map<string, string>(PULUMI_APPLICATIONS.map((n) => [n, "Pulumi"]));
            for (const stage of stageDirs) names.set(stage, "Pulumi");
            const dirs = [...stageDirs.map((s) => stagePath(`gitops/${s}`, platform)), "gitops/argocd"];
            for (const d of dirs) {
                const b = built.get(path.join(ROOT, d));
                if (!b) {
                    problems.push(`${platform}: ${d} is not a built folder`);
                    continue;
                }
                for (const o of b.objects.filter((x) => x.kind === "Application")) {
                    const seen = names.get(o.metadata.name);
                    if (seen !== undefined) problems.push(`${platform}: Application ${o.metadata.name} in ${d} and ${seen}`);
                    names.set(o.metadata.name, d);
                }
            }
        }
        expect(problems).toEqual([]);
    });

    it("has a folder for every default stage on every platform", () => {
        const stages = defaultStages();
        expect(stages).toEqual(DOCUMENTED_STAGE_PATHS.map(([name, folder]) => ({ name, folder })));
        const problems: string[] = [];
        stages.forEach(({ name, folder }, i) => {
            if (!/^appstage-\d\d-[a-z0-9-]+$/.test(name)) problems.push(`${name}: not appstage-NN-<name>`);
            if (i > 0 && name.slice(0, 11) <= stages[i - 1].name.slice(0, 11)) problems.push(`${name}: number not after ${stages[i - 1].name}`);
            for (const p of PLATFORMS) {
                const resolved = folder.split(PLATFORM_TOKEN).join(p);
                if (!built.has(path.join(ROOT, resolved))) problems.push(`${name}: ${resolved} (${p}) is not a built folder`);
                // The token and the layout agree: a per-platform folder is always addressed with {platform}.
                if (resolved !== stagePath(resolved, p) && !folder.includes(PLATFORM_TOKEN)) problems.push(`${name}: ${folder} has per-platform folders; use ${folder}/${PLATFORM_TOKEN}`);
            }
        });
        // Every stage folder has its own kustomization.yaml or one subfolder per platform, never a mix.
        for (const d of fs.readdirSync(GITOPS).filter((x) => /^appstage-/.test(x))) {
            const hasOwn = fs.existsSync(path.join(GITOPS, d, "kustomization.yaml"));
            const perPlatform = PLATFORMS.filter((p) => fs.existsSync(path.join(GITOPS, d, p, "kustomization.yaml")));
            if (hasOwn ? perPlatform.length > 0 : perPlatform.length !== PLATFORMS.length) {
                problems.push(`gitops/${d}: needs its own kustomization.yaml or one of ${PLATFORMS.map((p) => `${p}/`).join(", ")} for every platform, not both`);
            }
        }
        expect(problems).toEqual([]);
    });

    it("lists every chart, Git source and image with its version in gitops/README.md", () => {
        const missing: string[] = [];
        const lines = README.split("\n");
        const listed = (...parts: string[]) => lines.some((l) => parts.every((p) => l.includes(p)));
        for (const { app } of apps) {
            for (const s of sourcesOf(app)) {
                if (!listed(s.repoURL, s.chart ?? s.path, String(s.targetRevision))) missing.push(`${s.repoURL} ${s.chart ?? s.path} ${s.targetRevision}`);
                for (const v of helmValues(s)) for (const im of images(v)) if (!listed(im.ref)) missing.push(im.ref);
            }
        }
        for (const b of built.values()) for (const o of b.objects) for (const im of images(o.spec)) if (!listed(im.ref)) missing.push(im.ref);
        for (const im of images(readYaml(ARGOCD_VALUES_FILE))) if (!listed(im.ref)) missing.push(im.ref);
        expect([...new Set(missing)]).toEqual([]);
    });
});
