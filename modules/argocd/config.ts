/**
 * The `gitops` and `cloudflare` blocks of the cluster description (`opke:gitops`,
 * `opke:cloudflare` in Pulumi.<stack>.yaml), plus the secret config keys they read.
 *
 * Structural rules (types, formats, enums, unknown keys) are zod schemas here. The rules that relate
 * fields to each other — the stage graph (seed 002: "a stage is only allowed to depend on the
 * previous stages, but never on anything from the following stages"), credentials against the
 * repository URL, SSO, Cloudflare hostnames against `apiDnsName` — are in `gitopsConfigIssues`,
 * which lib/config/validate.ts calls with the raw config so every problem is reported in one go,
 * in the project's one-line format `<field path>: <value as JSON> <problem>; <fix>`.
 *
 * Both blocks are optional. Pulumi.yaml declares them with `default: {}` (the engine insists on a
 * default for every declared key a stack may omit), and the loaders in lib/config/load.ts read an
 * empty mapping as "not set".
 *
 * This file imports nothing from lib/config (lib/config/schema.ts imports it), so there are no
 * import cycles.
 */
import { z } from "zod";
import versions from "../../lib/versions.json";

/**
 * Secret config keys (`pulumi config set --secret opke:<key> …`). They are not part of the cluster
 * description: the loaders skip them, and the GitOps/Cloudflare components read them with
 * `pulumi.Config.getSecret` so they stay secret from the engine to the Kubernetes Secret.
 */
export const GITOPS_SECRET_KEYS = {
    /** An age identity (`AGE-SECRET-KEY-1…`) to use instead of the one opke derives. */
    sopsAgeKey: "sopsAgeKey",
    /** Client secret of the GitHub/GitLab OAuth application Dex uses (gitops.sso). */
    dexClientSecret: "dexClientSecret",
    /** HTTPS token for the GitOps repository (gitops.credentials: https-token). */
    gitopsToken: "gitopsToken",
    /** Registry pull credentials: the text of a `.dockerconfigjson` (`{"auths": {…}}`). */
    registryCredentials: "registryCredentials",
    /** Cloudflare API token Pulumi uses (cloudflare block): Zone DNS edit, plus Account Cloudflare Tunnel edit for a tunnel. */
    cloudflareApiToken: "cloudflareApiToken",
    /**
     * Cloudflare API token for the cluster (cert-manager DNS-01, external-dns: Zone DNS edit only),
     * stored as `cluster-secrets/cloudflare-api-token`. Defaults to `cloudflareApiToken`.
     */
    cloudflareDnsApiToken: "cloudflareDnsApiToken",
} as const;
export type GitOpsSecretKey = (typeof GITOPS_SECRET_KEYS)[keyof typeof GITOPS_SECRET_KEYS];

/** Where the official Argo CD chart is published (argoproj/argo-helm). */
export const ARGO_HELM_REPOSITORY = "https://argoproj.github.io/argo-helm";
export const ARGO_CD_CHART = "argo-cd";

/**
 * The stage folders of this repository's `gitops/` tree (seed 000's "domino"): stage 00 brings the
 * base services (secret replication, load balancer, ingress; one folder per platform, so its path
 * holds `{platform}`, replaced by `cfg.platform`), stage 01 puts the cluster online (cert-manager,
 * external-dns, cloudflared), stage 02 is the example workload stage.
 */
export const DEFAULT_STAGES = [
    { name: "appstage-00-bootstrap", path: "gitops/appstage-00-bootstrap/{platform}" },
    { name: "appstage-01-online", path: "gitops/appstage-01-online" },
    { name: "appstage-02-example", path: "gitops/appstage-02-example" },
] as const;

/** Argo CD's own configuration in the GitOps repository (the self-management Application's Git source). */
export const DEFAULT_SELF_MANAGEMENT_PATH = "gitops/argocd";

const dnsLabel = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const dnsName = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)+$/;
/** scp-like `git@host:org/repo.git` or `ssh://user@host[:port]/org/repo.git`. */
const sshGitUrl = /^(ssh:\/\/[A-Za-z0-9._-]+@[A-Za-z0-9.-]+(:[0-9]{1,5})?\/[^\s:]+|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s/][^\s]*)$/;
const httpsGitUrl = /^https:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?\/[^\s]+$/;
const httpsUrl = /^https:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?(\/[A-Za-z0-9._~%!$&'()*+,;=:@-]+)*$/;
const httpUrl = /^https?:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?(\/[A-Za-z0-9._~%!$&'()*+,;=:@-]+)*$/;
const ociChart = /^oci:\/\/[a-z0-9.-]+(:[0-9]{1,5})?(\/[a-z0-9._-]+)+$/;
const chartVersion = /^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$/;
/** A repository-relative folder: no leading "/", no "." or ".." segment, no trailing "/". */
const relPath = /^(?!\/)(?!.*(^|\/)\.\.?(\/|$))[^\s\\]*[^/\s\\]$/;
const syncOption = /^[A-Za-z]+=[A-Za-z0-9._/-]+$/;
const hex32 = /^[0-9a-f]{32}$/;

const dnsLabelMessage = "is not a DNS-1123 label; use a-z, 0-9 and '-' (at most 63 characters, a letter or digit at both ends)";
const dnsNameMessage = "is not a DNS name; use lowercase labels separated by dots such as \"argocd.example.com\"";

/** The problem with a repository-relative folder, or undefined when it is fine. */
export function repoPathProblem(p: string, example: string): string | undefined {
    if (p === "") return `is empty; use a folder relative to the repository root such as "${example}"`;
    if (p.startsWith("/")) return `is absolute; use a folder relative to the repository root such as "${example}"`;
    if (/(^|\/)\.\.?(\/|$)/.test(p)) return `contains a "." or ".." segment; use a plain folder relative to the repository root such as "${example}"`;
    if (!relPath.test(p)) return `is not a folder path; use '/'-separated names without spaces or a trailing '/', such as "${example}"`;
    return undefined;
}

/** A folder of the GitOps repository, relative to its root. */
function repoPath(example: string) {
    return z.string().superRefine((p, ctx) => {
        const problem = repoPathProblem(p, example);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
    });
}

/** One stage of the app-of-apps domino: an Argo CD Application for one folder of the repository. */
export const StageSpec = z.strictObject({
    /** Application name, a DNS-1123 label such as `appstage-00-bootstrap`. Unique. */
    name: z.string().regex(dnsLabel, `${dnsLabelMessage} such as "appstage-00-bootstrap"`),
    /**
     * Folder of the repository whose manifests (typically child Applications) this stage syncs;
     * `{platform}` is replaced by the platform (bare-metal, openstack).
     */
    path: repoPath("gitops/appstage-00-bootstrap"),
    /**
     * Stages that must be Synced and Healthy before this one is created; only earlier stages (seed
     * 002). Defaults to the previous stage (none for the first); `[]` starts the stage right after
     * Argo CD itself.
     */
    dependsOn: z.array(z.string()).optional(),
    /** Argo CD sync options for this stage, e.g. `ServerSideApply=true`. Defaults to none. */
    syncOptions: z
        .array(z.string().regex(syncOption, "is not a sync option; use Name=value such as \"ServerSideApply=true\""))
        .default([]),
    /** How long `pulumi up` waits for this stage to become Synced and Healthy. Defaults to 1800. */
    timeoutSeconds: z
        .number()
        .int("is not a whole number; use seconds from 60 to 86400 such as 1800")
        .min(60, "is out of range; use seconds from 60 to 86400 such as 1800")
        .max(86400, "is out of range; use seconds from 60 to 86400 such as 1800")
        .default(1800),
});
export type StageSpec = z.infer<typeof StageSpec>;

/** Where the Argo CD chart comes from. At most one of `repository`, `oci`, `path`. */
export const ChartSpec = z.strictObject({
    /** Chart version, pinned. Defaults to lib/versions.json `argocdChart`. */
    version: z
        .string()
        .regex(chartVersion, "is not a chart version; use MAJOR.MINOR.PATCH such as \"" + versions.argocd.chart + "\"")
        .default(versions.argocd.chart),
    /** A Helm repository URL (a mirror of https://argoproj.github.io/argo-helm). Default when nothing is set. */
    repository: z.string().regex(httpUrl, "is not a Helm repository URL; use http(s)://host/path such as \"https://argoproj.github.io/argo-helm\"").optional(),
    /** An OCI chart reference ending in the chart name, e.g. `oci://ghcr.io/argoproj/argo-helm/argo-cd`. */
    oci: z.string().regex(ociChart, "is not an OCI chart reference; use oci://registry/path/argo-cd such as \"oci://ghcr.io/argoproj/argo-helm/argo-cd\"").optional(),
    /**
     * A chart folder or .tgz on the machine that runs Pulumi (air-gapped sites). It must be the
     * argo-cd chart at `version`. The self-managed copy (gitops/argocd/application.yaml) must then
     * use a source the cluster reaches (an internal mirror) at the same version.
     */
    path: z.string().min(1, "is empty; give the chart folder or .tgz such as \"vendor/argo-cd-" + versions.argocd.chart + ".tgz\"").optional(),
});
export type ChartSpec = z.infer<typeof ChartSpec>;

/** OIDC single sign-on through Argo CD's bundled Dex. The client secret is `opke:dexClientSecret`. */
export const SsoSpec = z.strictObject({
    /** Dex connector: "github" or "gitlab". Required. */
    provider: z.enum(["github", "gitlab"]),
    /** OAuth application client ID. */
    clientId: z.string().min(1, "is empty; give the OAuth application's client ID"),
    /** GitHub organisations whose members may log in (required for github: without it any GitHub account can). */
    orgs: z.array(z.string().min(1, "is empty; give a GitHub organisation name")).default([]),
    /** GitLab groups whose members may log in (required for gitlab). */
    groups: z.array(z.string().min(1, "is empty; give a GitLab group path")).default([]),
    /** GitHub Enterprise / self-hosted GitLab base URL. Defaults to github.com / gitlab.com. */
    baseUrl: z.string().regex(httpsUrl, "is not an https URL; use https://host such as \"https://gitlab.example.com\"").optional(),
    /**
     * SSO groups (GitHub `org:team`, GitLab group path) bound to role:admin, in argocd-rbac-cm
     * `policy.opke.csv`. The default role (`policy.default`) is the chart's, set in the values file.
     */
    adminGroups: z.array(z.string().min(1, "is empty; give a group such as \"example:platform\"")).default([]),
});
export type SsoSpec = z.infer<typeof SsoSpec>;

/** The common secrets of seed 001: source Secrets that kubernetes-replicator (stage 00) copies everywhere. */
export const CommonSecretsSpec = z.strictObject({
    /** Namespace of the source Secrets. Defaults to cluster-secrets. */
    namespace: z.string().regex(dnsLabel, `${dnsLabelMessage} such as "cluster-secrets"`).default("cluster-secrets"),
    /** `replicator.v1.mittwald.de/replicate-to`: comma-separated namespaces or regular expressions. Defaults to ".*" (every namespace). */
    replicateTo: z.string().min(1, "is empty; use namespaces or regular expressions such as \".*\"").default(".*"),
});
export type CommonSecretsSpec = z.infer<typeof CommonSecretsSpec>;

/** The GitOps bootstrap: Argo CD, its configuration, credentials and the staged app-of-apps. */
export const GitOpsSpec = z.strictObject({
    /**
     * The GitOps repository (this repository or a fork; `gitops/` holds the stage folders). SSH form
     * (`git@github.com:org/repo.git`) for the deploy key, https for a token. Required.
     */
    repoUrl: z
        .string()
        .refine((u) => sshGitUrl.test(u) || httpsGitUrl.test(u), "is not a Git repository URL; use \"git@github.com:org/repo.git\" (deploy key) or \"https://github.com/org/repo.git\" (token)"),
    /**
     * Revision Argo CD syncs. Defaults to "main" — a moving branch; pin a tag or commit per
     * environment for a reproducible bootstrap (opke warns about branch names).
     */
    targetRevision: z.string().min(1, "is empty; use a branch, tag or commit such as \"main\" or \"v1.2.0\"").default("main"),
    /** The Argo CD Helm chart: version (pinned) and source. */
    chart: ChartSpec.default(() => ChartSpec.parse({})),
    /** Argo CD's namespace. Defaults to argocd. */
    namespace: z.string().regex(dnsLabel, `${dnsLabelMessage} such as "argocd"`).default("argocd"),
    /**
     * Argo CD's external URL (argocd-cm `url`, needed for SSO callbacks and the webhook URL output).
     * The chart renders argocd-cm, so the values file must give the same URL (`global.domain`);
     * opke checks that they agree. Defaults to https://<cloudflare.tunnel.hostnames.argocd> if any.
     */
    url: z.string().regex(httpsUrl, "is not an https URL; use https://host such as \"https://argocd.example.com\"").optional(),
    /** Optional OIDC SSO through Argo CD's Dex (GitHub or GitLab connector); the client secret is `opke:dexClientSecret`. */
    sso: SsoSpec.optional(),
    /**
     * Repository credentials: `deploy-key` (default; opke generates an ED25519 key, its public key is
     * the stack output `gitops.deployKeyPublicKey`) or `https-token` (secret `opke:gitopsToken`).
     */
    credentials: z.enum(["deploy-key", "https-token"]).default("deploy-key"),
    /** User name sent with the HTTPS token. Defaults to "git" (GitHub ignores it; GitLab accepts any). */
    tokenUsername: z.string().min(1, "is empty; use a user name such as \"git\"").default("git"),
    /** Push-triggered refresh: opke generates the webhook secret (stack output `gitops.webhookSecret`). */
    webhook: z
        .strictObject({
            /** The Git host that sends the push events: "github", "gitlab" or "gitea". Required. */
            provider: z.enum(["github", "gitlab", "gitea"]),
        })
        .optional(),
    /** Self-management: Argo CD's own Application, without a finalizer. */
    selfManagement: z
        .strictObject({
            /** Defaults to true. */
            enabled: z.boolean().default(true),
            /**
             * Argo CD's own configuration in the repository: the folder holds the Application that
             * renders the chart (application.yaml) and the chart values both installs use
             * (values.yaml). Defaults to gitops/argocd.
             */
            path: repoPath(DEFAULT_SELF_MANAGEMENT_PATH).default(DEFAULT_SELF_MANAGEMENT_PATH),
        })
        .default(() => ({ enabled: true, path: DEFAULT_SELF_MANAGEMENT_PATH })),
    /** Cluster CA bundle and registry pull credentials, replicated to every namespace (seed 001). */
    commonSecrets: CommonSecretsSpec.default(() => CommonSecretsSpec.parse({})),
    /** The staged app-of-apps, in order. Defaults to the three stage folders of `gitops/`. */
    stages: z.array(StageSpec).default(() => DEFAULT_STAGES.map((s) => StageSpec.parse(s))),
});
export type GitOpsSpec = z.infer<typeof GitOpsSpec>;
export type GitOpsSpecInput = z.input<typeof GitOpsSpec>;

/** A plain DNS record (public API load balancer, ingress). */
export const DnsRecordSpec = z.strictObject({
    /** Full record name inside the zone, e.g. "api.example.com". Required. */
    name: z.string().regex(dnsName, dnsNameMessage),
    /** Record type: A, AAAA or CNAME. Required. */
    type: z.enum(["A", "AAAA", "CNAME"]),
    /** IPv4/IPv6 address or target name. */
    content: z.string().min(1, "is empty; give the address or target name"),
    /** Proxy through Cloudflare. Defaults to false (the Kubernetes API needs a direct TCP path). */
    proxied: z.boolean().default(false),
    /** TTL in seconds, 1 = automatic. Defaults to 300. */
    ttl: z.number().int("is not a whole number; use 1 (automatic) or 60 to 86400").min(1, "is out of range; use 1 (automatic) or 60 to 86400").max(86400, "is out of range; use 1 (automatic) or 60 to 86400").default(300),
});
export type DnsRecordSpec = z.infer<typeof DnsRecordSpec>;

/** Cloudflare: an optional tunnel for online presence, or plain DNS records when endpoints are public. */
export const CloudflareSpec = z.strictObject({
    /** Cloudflare account ID (32 hex characters). */
    accountId: z.string().regex(hex32, "is not a Cloudflare account ID; copy the 32 hex characters from the dashboard"),
    /** Zone ID of the DNS zone the hostnames live in (32 hex characters). */
    zoneId: z.string().regex(hex32, "is not a Cloudflare zone ID; copy the 32 hex characters from the zone's overview page"),
    /** A Cloudflare Tunnel (remotely managed); cloudflared runs in the cluster as an Argo CD app. */
    tunnel: z
        .strictObject({
            /** Defaults to true. */
            enabled: z.boolean().default(true),
            /** Public hostnames routed through the tunnel (CNAME to the tunnel). At least one. */
            hostnames: z
                .strictObject({
                    /** Kubernetes API over the tunnel (tcp; clients use `cloudflared access tcp`). Must differ from apiDnsName. */
                    api: z.string().regex(dnsName, dnsNameMessage).optional(),
                    /** Argo CD UI/API and webhook endpoint. */
                    argocd: z.string().regex(dnsName, dnsNameMessage).optional(),
                })
                .default({}),
            /** Namespace of the tunnel token Secret (`tunnel-token`, key `token`). Defaults to cloudflared. */
            namespace: z.string().regex(dnsLabel, `${dnsLabelMessage} such as "cloudflared"`).default("cloudflared"),
        })
        .optional(),
    /** Plain DNS records (no tunnel), e.g. the API load balancer and the ingress when they are public. */
    dns: z
        .strictObject({
            /** The records opke manages in the zone `zoneId`. Defaults to none. */
            records: z.array(DnsRecordSpec).default([]),
        })
        .optional(),
});
export type CloudflareSpec = z.infer<typeof CloudflareSpec>;

// ---------------------------------------------------------------------------------------------
// Cross-field rules

/** The stage graph with defaults applied: each stage's dependencies by name (the previous stage unless given). */
export function stageDependencies(stages: readonly Pick<StageSpec, "name" | "dependsOn">[]): string[][] {
    return stages.map((s, i) => s.dependsOn ?? (i === 0 ? [] : [stages[i - 1].name]));
}

type Path = (string | number)[];

function formatPath(path: Path): string {
    let out = "";
    for (const s of path) out += typeof s === "number" ? `[${s}]` : out === "" ? s : `.${s}`;
    return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
    return v !== null && typeof v === "object" && !Array.isArray(v);
}

const SEED_002 = "a stage may depend only on earlier stages (seed 002)";

/** Stage graph rules over the stages that parsed; one line per problem, naming the stage. */
function stageIssues(rawStages: unknown): string[] {
    if (!Array.isArray(rawStages)) return [];
    const lines: string[] = [];
    const at = (...p: Path) => formatPath(["gitops", "stages", ...p]);
    if (rawStages.length === 0) {
        lines.push(`${at()}: [] is empty; list at least one stage such as {name: appstage-00-bootstrap, path: gitops/appstage-00-bootstrap}`);
        return lines;
    }
    const stages = rawStages.map((s) => {
        const r = StageSpec.safeParse(s);
        if (r.success) return r.data;
        // Keep what is usable for the graph (names and dependencies) even when another field is wrong.
        const rec = isRecord(s) ? s : {};
        const name = typeof rec.name === "string" && dnsLabel.test(rec.name) ? rec.name : undefined;
        const dependsOn = Array.isArray(rec.dependsOn) && rec.dependsOn.every((d) => typeof d === "string") ? (rec.dependsOn as string[]) : undefined;
        const path = typeof rec.path === "string" ? rec.path : undefined;
        return { name, dependsOn, path } as Partial<StageSpec>;
    });
    const index = new Map<string, number>();
    const paths = new Map<string, number>();
    stages.forEach((s, i) => {
        if (s.name !== undefined) {
            const first = index.get(s.name);
            if (first !== undefined) lines.push(`${at(i, "name")}: ${JSON.stringify(s.name)} is already used by ${at(first)}; give every stage its own name (it is the Application's name)`);
            else index.set(s.name, i);
        }
        if (s.path !== undefined && relPath.test(s.path)) {
            const first = paths.get(s.path);
            if (first !== undefined) {
                const owner = stages[first].name ? ` (${stages[first].name})` : "";
                lines.push(`${at(i, "path")}: ${JSON.stringify(s.path)} is already synced by ${at(first)}${owner}; give every stage its own folder (one Application per folder)`);
            } else paths.set(s.path, i);
        }
    });
    const deps = stages.map((s, i) => (s.name === undefined ? [] : s.dependsOn ?? (i === 0 ? [] : stages[i - 1].name !== undefined ? [stages[i - 1].name as string] : [])));
    /** The chain from stage `from` back to stage `to` along dependencies, if any (for cycle messages). */
    const chain = (from: number, to: number, seen = new Set<number>()): number[] | undefined => {
        if (from === to) return [to];
        if (seen.has(from)) return undefined;
        seen.add(from);
        for (const d of deps[from]) {
            const j = index.get(d);
            if (j === undefined) continue;
            const rest = chain(j, to, seen);
            if (rest) return [from, ...rest];
        }
        return undefined;
    };
    stages.forEach((s, i) => {
        if (s.name === undefined || s.dependsOn === undefined) return;
        const seen = new Set<string>();
        for (const d of s.dependsOn) {
            const where = at(i, "dependsOn");
            if (seen.has(d)) {
                lines.push(`${where}: ${JSON.stringify(d)} is listed twice; list each stage once`);
                continue;
            }
            seen.add(d);
            const j = index.get(d);
            if (d === s.name) {
                lines.push(`${where}: ${JSON.stringify(d)} is the stage itself; ${SEED_002}`);
            } else if (j === undefined) {
                const earlier = stages.slice(0, i).map((e) => e.name).filter((n): n is string => n !== undefined);
                const fix = earlier.length > 0 ? `use one of ${earlier.map((n) => JSON.stringify(n)).join(", ")}` : "the first stage can depend on none (dependsOn: [])";
                lines.push(`${where}: ${JSON.stringify(d)} is not a stage; ${SEED_002}: ${fix}`);
            } else if (j > i) {
                const back = chain(j, i);
                if (back) {
                    const cycle = [i, ...back].map((k) => stages[k].name).join(" → ");
                    lines.push(`${where}: ${JSON.stringify(d)} is a later stage that depends on this one (cycle ${cycle}); ${SEED_002}`);
                } else {
                    lines.push(`${where}: ${JSON.stringify(d)} is a later stage; ${SEED_002}`);
                }
            }
        }
    });
    return lines;
}

function gitopsBlockIssues(g: Record<string, unknown>): string[] {
    const lines: string[] = [];
    const repoUrl = typeof g.repoUrl === "string" ? g.repoUrl : undefined;
    const credentials = g.credentials === undefined ? "deploy-key" : g.credentials;
    const credShown = g.credentials === undefined ? `"deploy-key" (default)` : JSON.stringify(credentials);
    if (repoUrl !== undefined) {
        if (credentials === "deploy-key" && httpsGitUrl.test(repoUrl)) {
            const ssh = repoUrl.replace(/^https:\/\/([^/]+)\/(.+)$/, "git@$1:$2");
            lines.push(
                `gitops.repoUrl: ${JSON.stringify(repoUrl)} is an HTTPS URL but gitops.credentials is ${credShown}; ` +
                    `a deploy key needs the SSH form such as ${JSON.stringify(ssh)}, or set gitops.credentials: https-token`,
            );
        } else if (credentials === "https-token" && sshGitUrl.test(repoUrl)) {
            lines.push(
                `gitops.repoUrl: ${JSON.stringify(repoUrl)} is an SSH URL but gitops.credentials is ${credShown}; ` +
                    `a token needs the https form such as "https://github.com/org/repo.git", or use gitops.credentials: deploy-key`,
            );
        }
    }
    if (isRecord(g.chart)) {
        const set = (["repository", "oci", "path"] as const).filter((k) => g.chart && (g.chart as Record<string, unknown>)[k] !== undefined);
        if (set.length > 1) {
            lines.push(`gitops.chart: sets ${set.join(" and ")}; choose one chart source (repository, oci or path)`);
        }
    }
    if (isRecord(g.sso)) {
        const sso = g.sso;
        if (sso.provider === "github" && (!Array.isArray(sso.orgs) || sso.orgs.length === 0)) {
            lines.push("gitops.sso.orgs: missing; without an organisation any GitHub account can log in, so list at least one such as [\"example\"]");
        }
        if (sso.provider === "gitlab" && (!Array.isArray(sso.groups) || sso.groups.length === 0)) {
            lines.push("gitops.sso.groups: missing; without a group any GitLab account can log in, so list at least one such as [\"example/platform\"]");
        }
    }
    lines.push(...stageIssues(g.stages));
    return lines;
}

function cloudflareBlockIssues(c: Record<string, unknown>, raw: Record<string, unknown>): string[] {
    const lines: string[] = [];
    const tunnel = isRecord(c.tunnel) && c.tunnel.enabled !== false ? c.tunnel : undefined;
    const hostnames = tunnel && isRecord(tunnel.hostnames) ? tunnel.hostnames : {};
    const gitopsSet = isRecord(raw.gitops) && Object.keys(raw.gitops).length > 0;
    if (tunnel) {
        if (!gitopsSet) {
            lines.push("cloudflare.tunnel: needs gitops; cloudflared runs in the cluster as an Argo CD app, so set gitops.repoUrl, or use cloudflare.dns instead");
        }
        if (hostnames.api === undefined && hostnames.argocd === undefined) {
            lines.push("cloudflare.tunnel.hostnames: {} is empty; route at least one hostname such as {argocd: \"argocd.example.com\"}");
        }
        if (typeof hostnames.api === "string" && hostnames.api === raw.apiDnsName) {
            lines.push(
                `cloudflare.tunnel.hostnames.api: ${JSON.stringify(hostnames.api)} is apiDnsName; the nodes reach the API by that name, ` +
                    "so it must not point at the tunnel; use another name such as \"k8s.example.com\"",
            );
        }
        if (typeof hostnames.api === "string" && hostnames.api === hostnames.argocd) {
            lines.push(`cloudflare.tunnel.hostnames.argocd: ${JSON.stringify(hostnames.argocd)} is also hostnames.api; give each route its own hostname`);
        }
    }
    const records = isRecord(c.dns) && Array.isArray(c.dns.records) ? c.dns.records : [];
    const seen = new Map<string, number>();
    const tunnelNames = new Map(Object.entries(hostnames).filter(([, v]) => typeof v === "string").map(([k, v]) => [v as string, k]));
    records.forEach((r, i) => {
        if (!isRecord(r) || typeof r.name !== "string") return;
        const key = `${r.name}\u0000${String(r.type)}`;
        const first = seen.get(key);
        if (first !== undefined) {
            lines.push(`cloudflare.dns.records[${i}].name: ${JSON.stringify(r.name)} is already a ${String(r.type)} record in cloudflare.dns.records[${first}]; list each record once`);
        } else seen.set(key, i);
        const route = tunnelNames.get(r.name);
        if (route !== undefined) {
            lines.push(`cloudflare.dns.records[${i}].name: ${JSON.stringify(r.name)} is also cloudflare.tunnel.hostnames.${route}; the tunnel creates that CNAME, so remove the record`);
        }
    });
    return lines;
}

/**
 * Cross-field problems of the `gitops` and `cloudflare` blocks of a raw config (the keys under
 * `opke:`), as complete issue lines. Structural problems are zod's (reported separately); this
 * only looks at values that have the right shape.
 */
export function gitopsConfigIssues(raw: Record<string, unknown>): string[] {
    const lines: string[] = [];
    if (isRecord(raw.gitops) && Object.keys(raw.gitops).length > 0) lines.push(...gitopsBlockIssues(raw.gitops));
    if (isRecord(raw.cloudflare) && Object.keys(raw.cloudflare).length > 0) lines.push(...cloudflareBlockIssues(raw.cloudflare, raw));
    return lines;
}
