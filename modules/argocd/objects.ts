/**
 * Pure renderers of every Kubernetes object the argocd module creates itself (not the chart's
 * objects): the GitOps plan (config resolved against the cluster), namespaces, Secrets, the
 * server-side-apply patches of Argo CD's settings, the AppProject, the self-management Application
 * and the stage Applications, plus the Helm release's arguments and the checks that tie the
 * release to the Git copy of Argo CD's configuration.
 *
 * No Pulumi imports. Secret values are a type parameter `S`: the component passes
 * `pulumi.Output<string>` (secret), `npm run render` passes redacted strings, and both get the same
 * objects. Output is deterministic (fixed key order, no timestamps, no randomness).
 *
 * Ownership (the README's GitOps section has the table): Pulumi keeps every object rendered here. The chart's
 * objects (CRDs, workloads, argocd-cm, argocd-rbac-cm, argocd-cmd-params-cm, argocd-secret) are
 * installed once by Pulumi's Helm release and owned afterwards by Argo CD itself (Application
 * `argocd` → gitops/argocd → Application `argo-cd`: the same chart, version and values.yaml). The
 * only fields Pulumi writes into those objects are the keys of the `*Patch` objects below, each a
 * key the chart never renders, so the two field managers never share a field.
 */
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import type { ClusterConfig } from "../../lib/config/schema";
import { ARGO_CD_CHART, ARGO_HELM_REPOSITORY, stageDependencies, type GitOpsSpec, type SsoSpec } from "./config";

/** The in-cluster API server as Argo CD names it. */
export const IN_CLUSTER = "https://kubernetes.default.svc";
/** The AppProject every opke Application (and every Application in gitops/) uses. */
export const PROJECT = "opke";
/** Helm release name of Argo CD: the Deployments' selectors carry it, so the self-managed render must use it too. */
export const RELEASE_NAME = "argocd";
/** Name of the self-management Application (gitops/README.md: names Pulumi uses). */
export const SELF_APPLICATION = "argocd";
/** Pulumi-owned Secret with the values Argo CD settings reference as `$opke-argocd-secrets:<key>`. */
export const ARGOCD_SECRETS = "opke-argocd-secrets";
/** The repository credential Secret. */
export const REPOSITORY_SECRET = "opke-repository";
/** The age identity Secret the repo server mounts (gitops/argocd/values.yaml: SOPS_AGE_KEY_FILE=/sops-age/keys.txt). */
export const SOPS_AGE_SECRET = "sops-age";
/** Argo CD's CRDs that opke waits for (condition Established) before its first AppProject/Application. */
export const ARGO_CRDS = ["appprojects.argoproj.io", "applications.argoproj.io"] as const;
/** Placeholder in stage paths, replaced by `cfg.platform` (gitops/README.md, "Platforms"). */
export const PLATFORM_TOKEN = "{platform}";

const MANAGED_BY = { "app.kubernetes.io/managed-by": "pulumi" } as const;
const REPLICATE_TO = "replicator.v1.mittwald.de/replicate-to";
const REPLICATION_ALLOWED = "replicator.v1.mittwald.de/replication-allowed";
const REPLICATION_ALLOWED_NAMESPACES = "replicator.v1.mittwald.de/replication-allowed-namespaces";
/** Namespaces that pull `cloudflare-api-token` (gitops/appstage-01-online/secrets.yaml). */
export const CLOUDFLARE_TOKEN_CONSUMERS = "cert-manager,external-dns";

/** argocd-secret keys of the webhook secret per provider (Gitea sends Gogs-compatible events). */
export const WEBHOOK_KEYS = {
    github: "webhook.github.secret",
    gitlab: "webhook.gitlab.secret",
    gitea: "webhook.gogs.secret",
} as const;

// ---------------------------------------------------------------------------------------------
// The plan: config resolved against the cluster

export interface ResolvedStage {
    name: string;
    /** Repository path with `{platform}` replaced. */
    path: string;
    /** Names of the stages that must be Synced and Healthy first (defaults applied). */
    dependsOn: string[];
    syncOptions: string[];
    timeoutSeconds: number;
}

/** Where the seed install takes the chart from (the `helm.v3.Release` chart arguments). */
export interface ChartSource {
    /** `argo-cd` (with `repository`), an `oci://` reference, or a local path. */
    chart: string;
    /** Pinned chart version (omitted for a local path: the chart there is what it is). */
    version?: string;
    /** Helm repository (only for the repository form). */
    repository?: string;
    /** Human-readable form for messages and the render. */
    display: string;
}

export interface GitOpsPlan {
    clusterName: string;
    platform: ClusterConfig["platform"];
    clusterDomain: string;
    apiDnsName: string;
    spec: GitOpsSpec;
    namespace: string;
    chart: ChartSource;
    /** Repository path of the chart values both installs use (the seed reads it from the project folder). */
    valuesFile: string;
    stages: ResolvedStage[];
    /** Argo CD's external URL (gitops.url, else https://<tunnel argocd hostname>), if known. */
    url?: string;
    tunnel?: { namespace: string; hostnames: { api?: string; argocd?: string } };
    /** True when `cluster-secrets/cloudflare-api-token` is created (a cloudflare block is configured). */
    cloudflareToken: boolean;
}

/** The values file of the chart, relative to the repository root (gitops/README.md, "Argo CD manages itself"). */
export function valuesFileOf(spec: GitOpsSpec): string {
    return `${spec.selfManagement.path}/values.yaml`;
}

/** The seed install's chart source from `gitops.chart`. */
export function chartSource(spec: GitOpsSpec): ChartSource {
    const c = spec.chart;
    if (c.path !== undefined) return { chart: c.path, display: `${c.path} (local chart, must be ${ARGO_CD_CHART} ${c.version})` };
    if (c.oci !== undefined) return { chart: c.oci, version: c.version, display: `${c.oci}:${c.version}` };
    const repository = c.repository ?? ARGO_HELM_REPOSITORY;
    return { chart: ARGO_CD_CHART, version: c.version, repository, display: `${repository} ${ARGO_CD_CHART} ${c.version}` };
}

/**
 * Resolves the `gitops` and `cloudflare` blocks against the cluster. Returns undefined when there
 * is no `gitops` block.
 */
export function gitopsPlan(cfg: ClusterConfig): GitOpsPlan | undefined {
    const spec = cfg.gitops;
    if (!spec) return undefined;
    const deps = stageDependencies(spec.stages);
    const tunnel = cfg.cloudflare?.tunnel && cfg.cloudflare.tunnel.enabled ? cfg.cloudflare.tunnel : undefined;
    const url = spec.url ?? (tunnel?.hostnames.argocd ? `https://${tunnel.hostnames.argocd}` : undefined);
    return {
        clusterName: cfg.clusterName,
        platform: cfg.platform,
        clusterDomain: cfg.network.clusterDomain,
        apiDnsName: cfg.apiDnsName,
        spec,
        namespace: spec.namespace,
        chart: chartSource(spec),
        valuesFile: valuesFileOf(spec),
        stages: spec.stages.map((s, i) => ({
            name: s.name,
            path: s.path.split(PLATFORM_TOKEN).join(cfg.platform),
            dependsOn: deps[i],
            syncOptions: [...s.syncOptions],
            timeoutSeconds: s.timeoutSeconds,
        })),
        ...(url !== undefined ? { url } : {}),
        ...(tunnel ? { tunnel: { namespace: tunnel.namespace, hostnames: { ...tunnel.hostnames } } } : {}),
        cloudflareToken: cfg.cloudflare !== undefined,
    };
}

/** Where push webhooks go, once Argo CD's URL is known. */
export function webhookUrl(plan: GitOpsPlan): string | undefined {
    return plan.url !== undefined ? `${plan.url}/api/webhook` : undefined;
}

// ---------------------------------------------------------------------------------------------
// Objects

export interface ObjectMeta {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
}

export interface K8sObject {
    apiVersion: string;
    kind: string;
    metadata: ObjectMeta;
    [field: string]: unknown;
}

export interface SecretObject<S> extends K8sObject {
    apiVersion: "v1";
    kind: "Secret";
    type: string;
    stringData: Record<string, S | string>;
}

export function namespaceObject(name: string): K8sObject {
    return { apiVersion: "v1", kind: "Namespace", metadata: { name, labels: { ...MANAGED_BY } } };
}

/** Namespaces the module creates: Argo CD's, the common secrets', and the tunnel's (if any). */
export function namespaces(plan: GitOpsPlan): K8sObject[] {
    const names = [plan.namespace, plan.spec.commonSecrets.namespace, ...(plan.tunnel ? [plan.tunnel.namespace] : [])];
    return [...new Set(names)].map(namespaceObject);
}

export type RepositoryCredential<S> = { kind: "deploy-key"; sshPrivateKey: S } | { kind: "https-token"; username: string; password: S };

/** The repository Secret (declarative setup: label `argocd.argoproj.io/secret-type: repository`, exact URL). */
export function repositorySecret<S>(plan: GitOpsPlan, cred: RepositoryCredential<S>): SecretObject<S> {
    const auth: Record<string, S | string> = cred.kind === "deploy-key" ? { sshPrivateKey: cred.sshPrivateKey } : { username: cred.username, password: cred.password };
    return {
        apiVersion: "v1",
        kind: "Secret",
        metadata: {
            name: REPOSITORY_SECRET,
            namespace: plan.namespace,
            labels: { "argocd.argoproj.io/secret-type": "repository", "app.kubernetes.io/part-of": "argocd", ...MANAGED_BY },
        },
        type: "Opaque",
        stringData: { type: "git", url: plan.spec.repoUrl, ...auth },
    };
}

/** Secret `sops-age` with `keys.txt` (the age identity), before the repo server's first sync. */
export function sopsAgeSecret<S>(plan: GitOpsPlan, keysFile: S): SecretObject<S> {
    return {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: SOPS_AGE_SECRET, namespace: plan.namespace, labels: { ...MANAGED_BY } },
        type: "Opaque",
        stringData: { "keys.txt": keysFile },
    };
}

/** Keys of Secret `opke-argocd-secrets` for this plan (empty: the Secret is not created). */
export function argocdSecretKeys(plan: GitOpsPlan): { webhook?: string; dexClientSecret?: string } {
    return {
        ...(plan.spec.webhook ? { webhook: WEBHOOK_KEYS[plan.spec.webhook.provider] } : {}),
        ...(plan.spec.sso ? { dexClientSecret: `dex.${plan.spec.sso.provider}.clientSecret` } : {}),
    };
}

/**
 * Secret `opke-argocd-secrets` (label part-of argocd, so Argo CD resolves `$opke-argocd-secrets:<key>`):
 * the webhook secret and the Dex client secret. Undefined when neither is configured.
 */
export function argocdSecrets<S>(plan: GitOpsPlan, values: { webhookSecret?: S; dexClientSecret?: S }): SecretObject<S> | undefined {
    const keys = argocdSecretKeys(plan);
    const data: Record<string, S | string> = {};
    if (keys.webhook !== undefined) {
        if (values.webhookSecret === undefined) throw new Error("argocdSecrets: the webhook secret is missing");
        data[keys.webhook] = values.webhookSecret;
    }
    if (keys.dexClientSecret !== undefined) {
        if (values.dexClientSecret === undefined) throw new Error("argocdSecrets: the Dex client secret is missing");
        data[keys.dexClientSecret] = values.dexClientSecret;
    }
    if (Object.keys(data).length === 0) return undefined;
    return {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: ARGOCD_SECRETS, namespace: plan.namespace, labels: { "app.kubernetes.io/part-of": "argocd", ...MANAGED_BY } },
        type: "Opaque",
        stringData: data,
    };
}

/** The Dex connector config (argocd-cm `dex.config`), the client secret as a reference. */
export function dexConfig(sso: SsoSpec): string {
    const clientSecret = `$${ARGOCD_SECRETS}:dex.${sso.provider}.clientSecret`;
    const connector =
        sso.provider === "github"
            ? {
                  type: "github",
                  id: "github",
                  name: "GitHub",
                  config: {
                      clientID: sso.clientId,
                      clientSecret,
                      ...(sso.baseUrl ? { hostName: new URL(sso.baseUrl).host } : {}),
                      orgs: sso.orgs.map((name) => ({ name })),
                  },
              }
            : {
                  type: "gitlab",
                  id: "gitlab",
                  name: "GitLab",
                  config: { baseURL: sso.baseUrl ?? "https://gitlab.com", clientID: sso.clientId, clientSecret, groups: [...sso.groups] },
              };
    return stringifyYaml({ connectors: [connector] });
}

/**
 * Server-side-apply patches of Argo CD's settings (pulumi `*Patch` resources). Each sets only keys
 * the chart never renders, so Argo CD (owner of the rest) and Pulumi never manage the same field:
 * argocd-secret `webhook.<provider>.secret` (a `$opke-argocd-secrets:` reference), argocd-cm
 * `dex.config` and argocd-rbac-cm `policy.opke.csv` (Argo CD appends every `policy.*.csv`).
 */
export function settingsPatches(plan: GitOpsPlan): K8sObject[] {
    const out: K8sObject[] = [];
    const keys = argocdSecretKeys(plan);
    if (keys.webhook !== undefined) {
        out.push({
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: "argocd-secret", namespace: plan.namespace },
            // `data`, not stringData: server-side apply tracks ownership of `data` keys.
            data: { [keys.webhook]: Buffer.from(`$${ARGOCD_SECRETS}:${keys.webhook}`).toString("base64") },
        });
    }
    const sso = plan.spec.sso;
    if (sso) {
        out.push({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "argocd-cm", namespace: plan.namespace }, data: { "dex.config": dexConfig(sso) } });
        if (sso.adminGroups.length > 0) {
            const csv = sso.adminGroups.map((g) => `g, ${g}, role:admin\n`).join("");
            out.push({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "argocd-rbac-cm", namespace: plan.namespace }, data: { "policy.opke.csv": csv } });
        }
    }
    return out;
}

/**
 * Gates on Argo CD's CRDs: patches that add only Pulumi's await annotations, so `pulumi up` waits
 * until each CRD is Established before the first AppProject/Application is created.
 */
export function crdGates(timeoutSeconds = 300): K8sObject[] {
    return ARGO_CRDS.map((name) => ({
        apiVersion: "apiextensions.k8s.io/v1",
        kind: "CustomResourceDefinition",
        metadata: { name, annotations: { "pulumi.com/waitFor": "condition=Established", "pulumi.com/timeoutSeconds": String(timeoutSeconds) } },
    }));
}

function commonSecret<S>(plan: GitOpsPlan, name: string, type: string, data: Record<string, S | string>, annotations: Record<string, string>): SecretObject<S> {
    return {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name, namespace: plan.spec.commonSecrets.namespace, labels: { ...MANAGED_BY }, annotations },
        type,
        stringData: data,
    };
}

/** Source Secret `cluster-ca` (`ca.crt`: the Kubernetes CA), pushed to every namespace by kubernetes-replicator. */
export function clusterCaSecret<S>(plan: GitOpsPlan, caPem: S | string): SecretObject<S> {
    return commonSecret<S>(plan, "cluster-ca", "Opaque", { "ca.crt": caPem }, { [REPLICATE_TO]: plan.spec.commonSecrets.replicateTo });
}

/** Source Secret `registry-credentials` (`.dockerconfigjson`), pushed to every namespace by kubernetes-replicator. */
export function registryCredentialsSecret<S>(plan: GitOpsPlan, dockerConfigJson: S | string): SecretObject<S> {
    return commonSecret<S>(plan, "registry-credentials", "kubernetes.io/dockerconfigjson", { ".dockerconfigjson": dockerConfigJson }, {
        [REPLICATE_TO]: plan.spec.commonSecrets.replicateTo,
    });
}

/** Source Secret `cloudflare-api-token` (`api-token`), pulled by cert-manager and external-dns (stage 01). */
export function cloudflareTokenSecret<S>(plan: GitOpsPlan, token: S): SecretObject<S> {
    return commonSecret<S>(plan, "cloudflare-api-token", "Opaque", { "api-token": token }, {
        [REPLICATION_ALLOWED]: "true",
        [REPLICATION_ALLOWED_NAMESPACES]: CLOUDFLARE_TOKEN_CONSUMERS,
    });
}

/** Secret `tunnel-token` (`token`) for the cloudflared Deployment (stage 01). */
export function tunnelTokenSecret<S>(plan: GitOpsPlan, token: S): SecretObject<S> {
    if (!plan.tunnel) throw new Error("tunnelTokenSecret: no Cloudflare tunnel is configured");
    return {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "tunnel-token", namespace: plan.tunnel.namespace, labels: { ...MANAGED_BY } },
        type: "Opaque",
        stringData: { token },
    };
}

/** The AppProject `opke`: every source, every namespace of this cluster, cluster-scoped resources (gitops/README.md). */
export function appProject(plan: GitOpsPlan): K8sObject {
    return {
        apiVersion: "argoproj.io/v1alpha1",
        kind: "AppProject",
        metadata: { name: PROJECT, namespace: plan.namespace, labels: { ...MANAGED_BY } },
        spec: {
            description: `opke bootstrap of cluster ${plan.clusterName}: Argo CD itself and the stages of ${plan.spec.repoUrl}`,
            sourceRepos: ["*"],
            destinations: [{ server: IN_CLUSTER, namespace: "*" }],
            clusterResourceWhitelist: [{ group: "*", kind: "*" }],
        },
    };
}

const RETRY = { limit: 10, backoff: { duration: "10s", factor: 2, maxDuration: "5m" } };

/** `pulumi.com/waitFor` value: Synced AND Healthy (a JSON list of conditions is ANDed, pulumi-kubernetes#3521). */
export const STAGE_WAIT_FOR = JSON.stringify(["jsonpath={.status.sync.status}=Synced", "jsonpath={.status.health.status}=Healthy"]);

function application(plan: GitOpsPlan, name: string, path: string, extra: { annotations?: Record<string, string>; labels?: Record<string, string>; syncOptions: string[] }): K8sObject {
    return {
        apiVersion: "argoproj.io/v1alpha1",
        kind: "Application",
        metadata: {
            name,
            namespace: plan.namespace,
            labels: { ...MANAGED_BY, ...extra.labels },
            ...(extra.annotations ? { annotations: extra.annotations } : {}),
        },
        spec: {
            project: PROJECT,
            source: { repoURL: plan.spec.repoUrl, targetRevision: plan.spec.targetRevision, path },
            destination: { server: IN_CLUSTER, namespace: plan.namespace },
            syncPolicy: {
                automated: { prune: true, selfHeal: true },
                ...(extra.syncOptions.length > 0 ? { syncOptions: [...extra.syncOptions] } : {}),
                retry: RETRY,
            },
        },
    };
}

/**
 * The self-management Application `argocd` → gitops/argocd (which renders Application `argo-cd`,
 * the chart at the pinned version with values.yaml). No finalizer: a cascading delete would delete
 * Argo CD while it processes the delete (argocd-autopilot#99). Undefined when disabled.
 */
export function selfManagementApplication(plan: GitOpsPlan): K8sObject | undefined {
    if (!plan.spec.selfManagement.enabled) return undefined;
    return application(plan, SELF_APPLICATION, plan.spec.selfManagement.path, { syncOptions: [] });
}

/**
 * One Application per stage, in order. Each carries `pulumi.com/waitFor` (Synced and Healthy) and
 * `pulumi.com/timeoutSeconds`, so its creation completes only when the stage has converged, and
 * the component creates every stage after the stages it depends on (seed 000's domino; seed 002's
 * rule is enforced by the config validation). No finalizer: removing a stage from the config
 * leaves its apps running (delete them with cascade in Argo CD first).
 */
export function stageApplications(plan: GitOpsPlan): K8sObject[] {
    return plan.stages.map((s, i) =>
        application(plan, s.name, s.path, {
            labels: { "opke.io/stage": String(i) },
            annotations: { "pulumi.com/waitFor": STAGE_WAIT_FOR, "pulumi.com/timeoutSeconds": String(s.timeoutSeconds) },
            syncOptions: s.syncOptions,
        }),
    );
}

// ---------------------------------------------------------------------------------------------
// The seed install and the Git copy of Argo CD's configuration

/** Arguments of the seed `helm.v3.Release` (the chart values are the bytes of `plan.valuesFile`). */
export function releaseArgs(plan: GitOpsPlan): {
    name: string;
    namespace: string;
    chart: string;
    version?: string;
    repositoryOpts?: { repo: string };
    createNamespace: false;
    timeout: number;
    maxHistory: number;
} {
    return {
        name: RELEASE_NAME,
        namespace: plan.namespace,
        chart: plan.chart.chart,
        ...(plan.chart.version !== undefined ? { version: plan.chart.version } : {}),
        ...(plan.chart.repository !== undefined ? { repositoryOpts: { repo: plan.chart.repository } } : {}),
        createNamespace: false,
        timeout: 900,
        maxHistory: 5,
    };
}

/** The external URL the chart renders into argocd-cm (configs.cm.url, else https://<global.domain>). */
function chartUrl(values: Record<string, any>): string | undefined {
    const url = values?.configs?.cm?.url;
    if (typeof url === "string" && url !== "") return url;
    const domain = values?.global?.domain;
    return typeof domain === "string" && domain !== "" ? `https://${domain}` : undefined;
}

/**
 * Problems between the config and the Git copy of Argo CD's configuration (`files` maps repository
 * paths to text; missing files are skipped): the chart values must parse, SSO needs Dex enabled in
 * them, `gitops.url` must be the URL the chart renders, and the self-managed Application must render
 * the chart version the seed installs (lsst-sqre/phalanx#476). Each line names the file and the fix.
 */
export function gitCopyProblems(plan: GitOpsPlan, files: Record<string, string | undefined>): string[] {
    const problems: string[] = [];
    const valuesText = files[plan.valuesFile];
    if (valuesText === undefined) {
        problems.push(
            `${plan.valuesFile}: missing; the seed install and the self-managed Application both use this file as the chart values ` +
                `(gitops.selfManagement.path ${JSON.stringify(plan.spec.selfManagement.path)})`,
        );
    } else {
        let values: unknown;
        try {
            values = parseYaml(valuesText);
        } catch (e) {
            problems.push(`${plan.valuesFile}: is not YAML (${(e as Error).message.split("\n")[0]}); fix the chart values`);
        }
        if (values !== undefined && (values === null || typeof values !== "object" || Array.isArray(values))) {
            problems.push(`${plan.valuesFile}: is not a mapping of chart values`);
        } else if (values !== undefined) {
            const v = values as Record<string, any>;
            if (plan.spec.sso && v.dex?.enabled !== true) {
                problems.push(
                    `${plan.valuesFile}: dex.enabled is ${JSON.stringify(v.dex?.enabled ?? "unset (chart default)")} but gitops.sso needs Dex; ` +
                        "set dex.enabled: true there (Git owns the chart values; opke only adds argocd-cm dex.config)",
                );
            }
            const rendered = chartUrl(v);
            if (plan.spec.url !== undefined && rendered !== plan.spec.url) {
                problems.push(
                    `${plan.valuesFile}: renders argocd-cm url ${JSON.stringify(rendered ?? "https://argocd.example.com (chart default)")} but gitops.url is ${JSON.stringify(plan.spec.url)}; ` +
                        `set global.domain: ${new URL(plan.spec.url).host} there (the chart owns argocd-cm url)`,
                );
            }
        }
    }
    const appFile = `${plan.spec.selfManagement.path}/application.yaml`;
    const appText = files[appFile];
    if (plan.spec.selfManagement.enabled && appText !== undefined && plan.chart.version !== undefined) {
        let app: any;
        try {
            app = parseYaml(appText);
        } catch {
            app = undefined;
        }
        const source = app?.spec?.source;
        const rev = typeof source?.targetRevision === "string" ? source.targetRevision.replace(/^v/, "") : undefined;
        if (source?.chart === ARGO_CD_CHART && rev !== undefined && rev !== plan.chart.version.replace(/^v/, "")) {
            problems.push(
                `${appFile}: renders ${ARGO_CD_CHART} ${source.targetRevision} but the seed installs ${plan.chart.version} (gitops.chart.version); ` +
                    "both installs must be the same version or they fight over Argo CD's objects (phalanx#476): change them together",
            );
        }
    }
    return problems;
}

// ---------------------------------------------------------------------------------------------
// Every object in creation order (npm run render, tests)

/** Values of the Secrets, as the component passes them (Outputs) or the render (redacted strings). */
export interface GitOpsSecretValues<S> {
    credential: RepositoryCredential<S>;
    /** keys.txt of Secret sops-age. */
    ageKeysFile: S;
    webhookSecret?: S;
    dexClientSecret?: S;
    clusterCaPem: S | string;
    dockerConfigJson: S | string;
    cloudflareToken?: S;
    tunnelToken?: S;
}

export type ObjectRole = "namespace" | "secret" | "crd-gate" | "settings-patch" | "project" | "self-application" | "stage";

export interface PlannedObject {
    /** Logical name suffix: the component names the resource `<component name>-<id>`. */
    id: string;
    role: ObjectRole;
    object: K8sObject;
}

/** Every Kubernetes object the module creates, in the order the component creates them. */
export function gitopsObjects<S>(plan: GitOpsPlan, v: GitOpsSecretValues<S>): PlannedObject[] {
    const out: PlannedObject[] = [];
    for (const ns of namespaces(plan)) out.push({ id: `ns-${ns.metadata.name}`, role: "namespace", object: ns });
    out.push({ id: "repository", role: "secret", object: repositorySecret(plan, v.credential) });
    out.push({ id: "sops-age", role: "secret", object: sopsAgeSecret(plan, v.ageKeysFile) });
    const settings = argocdSecrets(plan, { webhookSecret: v.webhookSecret, dexClientSecret: v.dexClientSecret });
    if (settings) out.push({ id: "argocd-secrets", role: "secret", object: settings });
    out.push({ id: "cluster-ca", role: "secret", object: clusterCaSecret(plan, v.clusterCaPem) });
    out.push({ id: "registry-credentials", role: "secret", object: registryCredentialsSecret(plan, v.dockerConfigJson) });
    if (plan.cloudflareToken) {
        if (v.cloudflareToken === undefined) throw new Error("gitopsObjects: the cluster's Cloudflare token is missing");
        out.push({ id: "cloudflare-api-token", role: "secret", object: cloudflareTokenSecret(plan, v.cloudflareToken) });
    }
    if (plan.tunnel) {
        if (v.tunnelToken === undefined) throw new Error("gitopsObjects: the tunnel token is missing");
        out.push({ id: "tunnel-token", role: "secret", object: tunnelTokenSecret(plan, v.tunnelToken) });
    }
    for (const gate of crdGates()) out.push({ id: `crd-${gate.metadata.name.split(".")[0]}`, role: "crd-gate", object: gate });
    for (const patch of settingsPatches(plan)) out.push({ id: `patch-${patch.metadata.name}`, role: "settings-patch", object: patch });
    out.push({ id: "project", role: "project", object: appProject(plan) });
    const self = selfManagementApplication(plan);
    if (self) out.push({ id: "app-argocd", role: "self-application", object: self });
    for (const stage of stageApplications(plan)) out.push({ id: `stage-${stage.metadata.name}`, role: "stage", object: stage });
    return out;
}

/** What `npm run render` writes in place of each secret value. */
export function redacted(what: string): string {
    return `<redacted: ${what}; pulumi up generates or reads it and keeps it secret in the stack state>`;
}

const PATCH_HEADER =
    "# Server-side apply patch (a Pulumi *Patch resource) of an object the Argo CD chart creates:\n" +
    "# Pulumi owns only the fields below; Argo CD (self-management) owns the rest of the object.\n";

/**
 * The files `npm run render` writes under `<out>/cluster/gitops/`: one YAML file per object the
 * module creates (secret values redacted; the Kubernetes CA is the render's own, public anyway) and
 * `chart/release.yaml`, a description of the seed Helm release. Empty without a gitops block.
 */
export function gitopsRenderFiles(cfg: ClusterConfig, clusterCaPem: string): { name: string; content: string }[] {
    const plan = gitopsPlan(cfg);
    if (!plan) return [];
    const credential: RepositoryCredential<string> =
        plan.spec.credentials === "deploy-key"
            ? { kind: "deploy-key", sshPrivateKey: redacted("deploy key, OpenSSH private key (public key: stack output deployKeyPublicKey)") }
            : { kind: "https-token", username: plan.spec.tokenUsername, password: redacted("opke:gitopsToken") };
    const objects = gitopsObjects<string>(plan, {
        credential,
        ageKeysFile: redacted("age identity keys.txt (recipient: stack output ageRecipient)"),
        ...(plan.spec.webhook ? { webhookSecret: redacted("webhook secret (stack output webhookSecret)") } : {}),
        ...(plan.spec.sso ? { dexClientSecret: redacted("opke:dexClientSecret") } : {}),
        clusterCaPem,
        // A kubernetes.io/dockerconfigjson Secret must hold JSON, so the placeholder is JSON too
        // (the apiserver rejects anything else; test:e2e:binaries applies this file).
        dockerConfigJson: JSON.stringify({ auths: {}, redacted: redacted("opke:registryCredentials (no registries when unset)") }),
        ...(plan.cloudflareToken ? { cloudflareToken: redacted("opke:cloudflareDnsApiToken, else opke:cloudflareApiToken") } : {}),
        ...(plan.tunnel ? { tunnelToken: redacted("Cloudflare tunnel token") } : {}),
    });
    const files = objects.map((o, i) => {
        const m = o.object.metadata;
        const base = `${String(i).padStart(2, "0")}-${o.object.kind.toLowerCase()}-${m.namespace ? `${m.namespace}-` : ""}${m.name}`;
        const header = o.role === "settings-patch" || o.role === "crd-gate" ? PATCH_HEADER : "";
        return { name: `${base}${o.role === "settings-patch" || o.role === "crd-gate" ? ".patch" : ""}.yaml`, content: header + stringifyYaml(o.object, { lineWidth: 0 }) };
    });
    const release = releaseArgs(plan);
    const description = {
        description: "The seed install of Argo CD (pulumi helm.v3.Release). Its chart values are exactly valuesFile; after the install the chart's objects belong to Argo CD (Application argocd -> " + plan.spec.selfManagement.path + ").",
        ...release,
        valuesFile: plan.valuesFile,
        ignoreChangesAfterInstall: plan.spec.selfManagement.enabled,
    };
    files.push({ name: "chart/release.yaml", content: stringifyYaml(description, { lineWidth: 0 }) });
    return files;
}
