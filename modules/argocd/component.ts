/**
 * `opke:argocd:GitOps`: the finish of `pulumi up`. Installs Argo CD (seed Helm release), gives it
 * credentials and secrets, and hands the cluster to Argo CD stage by stage.
 *
 * Order (each arrow is a `dependsOn`; see `gitopsOrder`):
 *
 *   k8s.Provider (after the platform's provisioning: `clusterReady`)
 *     → Namespaces → repository Secret, sops-age, opke-argocd-secrets, common source Secrets
 *     → Helm release `argocd` (chart pinned in lib/versions.json, values = gitops/argocd/values.yaml)
 *     → CRD gates (waitFor condition=Established) and settings patches
 *     → AppProject `opke` → Application `argocd` (self-management, no finalizer)
 *     → stage 0 → stage 1 → … (each created once the stages it depends on are Synced AND Healthy:
 *       `pulumi.com/waitFor` on every stage Application, with `pulumi.com/timeoutSeconds`)
 *
 * Previews: the admin kubeconfig comes from certificates created in the same program, so it is
 * unknown in the very first preview. That is accepted, not worked around: the provider is
 * configured with an unknown kubeconfig and every Kubernetes object previews as "create" with
 * unknown outputs. The module only uses resources whose preview tolerates that — plain objects,
 * `*Patch` objects, `apiextensions.CustomResource` (the provider degrades gracefully when a CRD is
 * not known yet) and `helm.v3.Release` (previews without a reachable cluster since
 * pulumi-kubernetes#1886) — and no `helm.v4.Chart`, whose preview fails on an unknown kubeconfig
 * (pulumi-kubernetes#3027). `clusterIdentifier` keeps the provider (and every object) from being
 * replaced when the kubeconfig changes later, e.g. after a certificate rotation
 * (pulumi-kubernetes#1148, #2745). `deleteUnreachable` lets `pulumi destroy` finish when the
 * cluster is already gone.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import type { ClusterConfig } from "../../lib/config/schema";
import { GITOPS_SECRET_KEYS } from "./config";
import {
    gitCopyProblems,
    gitopsObjects,
    gitopsPlan,
    releaseArgs,
    webhookUrl,
    type GitOpsPlan,
    type ObjectRole,
    type PlannedObject,
    type RepositoryCredential,
} from "./objects";
import { ageKeysFile, ageRecipient, deriveGitOpsSecrets, EMPTY_DOCKER_CONFIG, parseAgeIdentity, parseDockerConfigJson } from "./secrets";

/** The repository root: gitops/ and the chart values live there. */
export const PROJECT_DIR = path.resolve(__dirname, "..", "..");

/** Secret config values, read with `pulumi.Config.getSecret` (undefined when not set). */
export type GitOpsSecretConfig = Partial<Record<(typeof GITOPS_SECRET_KEYS)[keyof typeof GITOPS_SECRET_KEYS], pulumi.Output<string>>>;

/** Reads the secret config keys of the GitOps bootstrap (`opke:<key>`), each a secret Output or undefined. */
export function readGitOpsSecrets(): GitOpsSecretConfig {
    const config = new pulumi.Config("opke");
    const out: GitOpsSecretConfig = {};
    for (const key of Object.values(GITOPS_SECRET_KEYS)) {
        const value = config.getSecret(key);
        if (value !== undefined) out[key] = value;
    }
    return out;
}

export interface GitOpsArgs {
    /** The validated cluster description; `config.gitops` must be set. */
    config: ClusterConfig;
    /** Admin kubeconfig of the cluster (secret). */
    kubeconfig: pulumi.Input<string>;
    /** PEM of the Kubernetes CA, for the `cluster-ca` source Secret. */
    clusterCaPem: pulumi.Input<string>;
    /** The explicit tls provider (default providers are disabled) for the deploy key and the seed. */
    tlsProvider: tls.Provider;
    /** What must be done before anything is applied to the cluster (the platform's provisioning). */
    clusterReady?: pulumi.Input<pulumi.Resource>[];
    /** The Cloudflare tunnel token (secret) when cloudflare.tunnel is enabled (CloudflareEdge.tunnelToken). */
    tunnelToken?: pulumi.Input<string>;
    /** Secret config values; defaults to `readGitOpsSecrets()`. */
    secrets?: GitOpsSecretConfig;
    /** Where gitops/ is; defaults to the repository root. */
    projectDir?: string;
}

/** Resource names of the stage Applications each stage Application depends on (the domino), by stage name. */
export function stageDependsOn(plan: GitOpsPlan): Record<string, string[]> {
    return Object.fromEntries(plan.stages.map((s) => [s.name, [...s.dependsOn]]));
}

/** The files of the Git copy that the checks read (repository path → text, or undefined when missing). */
export function readGitCopy(plan: GitOpsPlan, projectDir: string): Record<string, string | undefined> {
    const read = (rel: string) => {
        const file = path.join(projectDir, rel);
        return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined;
    };
    const appFile = `${plan.spec.selfManagement.path}/application.yaml`;
    return { [plan.valuesFile]: read(plan.valuesFile), [appFile]: read(appFile) };
}

/** Release options: after the seed install the chart belongs to Argo CD, so Pulumi ignores later chart/values changes. */
export function releaseIgnoreChanges(plan: GitOpsPlan): string[] {
    return plan.spec.selfManagement.enabled ? ["chart", "version", "repositoryOpts", "values", "valueYamlFiles"] : [];
}

/** A local chart folder (gitops.chart.path) whose Chart.yaml is not the argo-cd chart at the pinned version; .tgz files are not opened. */
export function localChartProblem(plan: GitOpsPlan, projectDir: string): string | undefined {
    const p = plan.spec.chart.path;
    if (p === undefined) return undefined;
    const dir = path.resolve(projectDir, p);
    if (!fs.existsSync(dir)) return `gitops.chart.path: ${JSON.stringify(p)} does not exist (resolved to ${dir}); give the argo-cd chart folder or .tgz`;
    if (!fs.statSync(dir).isDirectory()) return undefined;
    const chartFile = path.join(dir, "Chart.yaml");
    if (!fs.existsSync(chartFile)) return `gitops.chart.path: ${JSON.stringify(p)} has no Chart.yaml; give the argo-cd chart folder (helm pull argo-cd --untar)`;
    const text = fs.readFileSync(chartFile, "utf8");
    const name = /^name:\s*(\S+)/m.exec(text)?.[1];
    const version = /^version:\s*"?([^"\s]+)"?/m.exec(text)?.[1];
    if (name !== "argo-cd" || version !== plan.spec.chart.version) {
        return `gitops.chart.path: ${JSON.stringify(p)} holds chart ${name ?? "?"} ${version ?? "?"}; expected argo-cd ${plan.spec.chart.version} (gitops.chart.version)`;
    }
    return undefined;
}

/** A moving revision (branch or HEAD) rather than a tag or commit. */
export function isMovingRevision(rev: string): boolean {
    return !/^[0-9a-f]{40}$/.test(rev) && !/^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/.test(rev);
}

export class GitOps extends pulumi.ComponentResource {
    public readonly plan: GitOpsPlan;
    public readonly provider: k8s.Provider;
    public readonly release: k8s.helm.v3.Release;
    public readonly project: k8s.apiextensions.CustomResource;
    public readonly selfApplication?: k8s.apiextensions.CustomResource;
    /** Stage Applications in config order. */
    public readonly stages: k8s.apiextensions.CustomResource[];
    /** The deploy key's OpenSSH public key (add it to the repository as a read-only deploy key). */
    public readonly deployKeyPublicKey?: pulumi.Output<string>;
    /** The age recipient (`age1…`) for `.sops.yaml`. Not secret. */
    public readonly ageRecipient: pulumi.Output<string>;
    /** The webhook shared secret (secret), for the repository's webhook settings. */
    public readonly webhookSecret?: pulumi.Output<string>;
    /** Where to point the repository's push webhook (needs gitops.url or a tunnel hostname). */
    public readonly webhookUrl?: string;
    /**
     * The secret values the component puts into Kubernetes Secrets, each a secret Output (for tests
     * and composition; never export them). The Kubernetes SDK marks Secret data secret on its own,
     * so this is where opke's own secretness is visible.
     */
    public readonly sensitive: {
        ageIdentity: pulumi.Output<string>;
        ageKeysFile: pulumi.Output<string>;
        repositoryCredential: pulumi.Output<string>;
        webhookSecret?: pulumi.Output<string>;
        dexClientSecret?: pulumi.Output<string>;
        registryCredentials?: pulumi.Output<string>;
        cloudflareToken?: pulumi.Output<string>;
        tunnelToken?: pulumi.Output<string>;
    };

    constructor(name: string, args: GitOpsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opke:argocd:GitOps", name, {}, opts);
        const cfg = args.config;
        const plan = gitopsPlan(cfg);
        if (!plan) throw new Error("GitOps: config.gitops is not set; create the component only when the gitops block is configured");
        this.plan = plan;
        const projectDir = args.projectDir ?? PROJECT_DIR;
        const secrets = args.secrets ?? readGitOpsSecrets();

        const problems = gitCopyProblems(plan, readGitCopy(plan, projectDir));
        if (problems.length > 0) throw new Error(`GitOps: the Git copy of Argo CD's configuration disagrees with the config:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
        const valuesText = fs.readFileSync(path.join(projectDir, plan.valuesFile), "utf8");
        const localChart = localChartProblem(plan, projectDir);
        if (localChart) throw new Error(`GitOps: ${localChart}`);
        if (isMovingRevision(plan.spec.targetRevision)) {
            pulumi.log.warn(
                `gitops.targetRevision ${JSON.stringify(plan.spec.targetRevision)} is a branch: every sync takes its newest commit, so a re-bootstrap may not ` +
                    "reproduce this one; pin a tag or commit per environment",
                this,
            );
        }

        // --- credentials and secrets (pure derivations inside applies; everything secret stays secret)
        const tlsOpts = { parent: this, provider: args.tlsProvider };
        const seed = new tls.PrivateKey(`${name}-gitops-seed`, { algorithm: "ED25519" }, tlsOpts);
        const derived = pulumi.secret(seed.privateKeyPem.apply(deriveGitOpsSecrets));
        const suppliedAge = secrets.sopsAgeKey;
        const identity = pulumi.secret(suppliedAge ? suppliedAge.apply(parseAgeIdentity) : derived.apply((d) => d.ageIdentity));
        this.ageRecipient = pulumi.unsecret(identity.apply(ageRecipient));
        const keysFile = pulumi.secret(
            pulumi.all([identity, this.ageRecipient]).apply(([id, rcpt]) => ageKeysFile(id, rcpt, suppliedAge ? "supplied" : "derived")),
        );

        let credential: RepositoryCredential<pulumi.Output<string>>;
        if (plan.spec.credentials === "deploy-key") {
            const deployKey = new tls.PrivateKey(`${name}-deploy-key`, { algorithm: "ED25519" }, tlsOpts);
            credential = { kind: "deploy-key", sshPrivateKey: pulumi.secret(deployKey.privateKeyOpenssh) };
            // (tls always sets publicKeyOpenssh for ED25519; tolerate its absence under test doubles that omit it)
            this.deployKeyPublicKey = deployKey.publicKeyOpenssh.apply((k) => (typeof k === "string" ? k.trim() : k));
        } else {
            const token = secrets.gitopsToken;
            if (!token) throw new Error("gitops.credentials is https-token but opke:gitopsToken is not set; run `pulumi config set --secret opke:gitopsToken <token>`");
            credential = { kind: "https-token", username: plan.spec.tokenUsername, password: pulumi.secret(token) };
        }
        let dexClientSecret: pulumi.Output<string> | undefined;
        if (plan.spec.sso) {
            if (!secrets.dexClientSecret) throw new Error("gitops.sso is set but opke:dexClientSecret is not; run `pulumi config set --secret opke:dexClientSecret <OAuth client secret>`");
            dexClientSecret = pulumi.secret(secrets.dexClientSecret);
        }
        if (plan.spec.webhook) this.webhookSecret = pulumi.secret(derived.apply((d) => d.webhookSecret));
        this.webhookUrl = webhookUrl(plan);
        const dockerConfig = secrets.registryCredentials ? pulumi.secret(secrets.registryCredentials.apply(parseDockerConfigJson)) : EMPTY_DOCKER_CONFIG;
        let cloudflareToken: pulumi.Output<string> | undefined;
        if (plan.cloudflareToken) {
            const token = secrets.cloudflareDnsApiToken ?? secrets.cloudflareApiToken;
            if (!token) throw new Error("cloudflare is set but neither opke:cloudflareDnsApiToken nor opke:cloudflareApiToken is; run `pulumi config set --secret opke:cloudflareApiToken <token>`");
            cloudflareToken = pulumi.secret(token);
        }
        if (plan.tunnel && args.tunnelToken === undefined) throw new Error("GitOps: cloudflare.tunnel is enabled but no tunnelToken was passed (CloudflareEdge.tunnelToken)");

        // --- Kubernetes
        this.provider = new k8s.Provider(
            `${name}-k8s`,
            {
                kubeconfig: pulumi.secret(args.kubeconfig),
                enableServerSideApply: true,
                deleteUnreachable: true,
                clusterIdentifier: `opke-${cfg.clusterName}`,
            },
            { parent: this, dependsOn: args.clusterReady },
        );
        const k = { parent: this, provider: this.provider };
        const tunnelToken = args.tunnelToken !== undefined ? pulumi.secret(pulumi.output(args.tunnelToken)) : undefined;
        this.sensitive = {
            ageIdentity: identity,
            ageKeysFile: keysFile,
            repositoryCredential: credential.kind === "deploy-key" ? credential.sshPrivateKey : credential.password,
            ...(this.webhookSecret ? { webhookSecret: this.webhookSecret } : {}),
            ...(dexClientSecret ? { dexClientSecret } : {}),
            ...(typeof dockerConfig !== "string" ? { registryCredentials: dockerConfig } : {}),
            ...(cloudflareToken ? { cloudflareToken } : {}),
            ...(tunnelToken ? { tunnelToken } : {}),
        };
        const objects = gitopsObjects<pulumi.Output<string>>(plan, {
            credential,
            ageKeysFile: keysFile,
            webhookSecret: this.webhookSecret,
            dexClientSecret,
            clusterCaPem: pulumi.output(args.clusterCaPem),
            dockerConfigJson: dockerConfig,
            cloudflareToken,
            tunnelToken,
        });
        const of = (role: ObjectRole) => objects.filter((o) => o.role === role);

        const nsByName = new Map<string, k8s.core.v1.Namespace>();
        for (const o of of("namespace")) {
            nsByName.set(o.object.metadata.name, new k8s.core.v1.Namespace(`${name}-${o.id}`, o.object as k8s.core.v1.NamespaceArgs, k));
        }
        const secretsById = new Map<string, k8s.core.v1.Secret>();
        for (const o of of("secret")) {
            const ns = nsByName.get(o.object.metadata.namespace!)!;
            secretsById.set(o.id, new k8s.core.v1.Secret(`${name}-${o.id}`, o.object as k8s.core.v1.SecretArgs, { ...k, dependsOn: [ns] }));
        }
        const repoSecret = secretsById.get("repository")!;
        const sopsSecret = secretsById.get("sops-age")!;
        const settingsSecret = secretsById.get("argocd-secrets");
        const stageSecrets = [...secretsById.entries()].filter(([id]) => !["repository", "sops-age", "argocd-secrets"].includes(id)).map(([, r]) => r);

        const release = releaseArgs(plan);
        this.release = new k8s.helm.v3.Release(
            `${name}-argocd`,
            {
                ...release,
                chart: plan.spec.chart.path !== undefined ? path.resolve(projectDir, release.chart) : release.chart,
                valueYamlFiles: [new pulumi.asset.StringAsset(valuesText)],
            },
            {
                ...k,
                dependsOn: [nsByName.get(plan.namespace)!, repoSecret, sopsSecret, ...(settingsSecret ? [settingsSecret] : [])],
                ignoreChanges: releaseIgnoreChanges(plan),
            },
        );
        const gates = of("crd-gate").map(
            (o) => new k8s.apiextensions.v1.CustomResourceDefinitionPatch(`${name}-${o.id}`, o.object as k8s.apiextensions.v1.CustomResourceDefinitionPatchArgs, { ...k, dependsOn: [this.release] }),
        );
        const patchDeps = { ...k, dependsOn: [this.release, ...(settingsSecret ? [settingsSecret] : [])] };
        const patches = of("settings-patch").map((o) =>
            o.object.kind === "Secret"
                ? new k8s.core.v1.SecretPatch(`${name}-${o.id}`, o.object as k8s.core.v1.SecretPatchArgs, patchDeps)
                : new k8s.core.v1.ConfigMapPatch(`${name}-${o.id}`, o.object as k8s.core.v1.ConfigMapPatchArgs, patchDeps),
        );
        const custom = (o: PlannedObject, dependsOn: pulumi.Resource[]) =>
            new k8s.apiextensions.CustomResource(`${name}-${o.id}`, o.object as k8s.apiextensions.CustomResourceArgs, { ...k, dependsOn });

        this.project = custom(of("project")[0], [this.release, ...gates]);
        const argoReady: pulumi.Resource[] = [this.release, ...gates, this.project, ...patches, repoSecret];
        const self = of("self-application")[0];
        this.selfApplication = self ? custom(self, argoReady) : undefined;

        // Every stage: after Argo CD, its settings and credentials, the secrets the stages consume,
        // the self-management Application, and the stages it depends on (Synced and Healthy).
        const base: pulumi.Resource[] = [...argoReady, sopsSecret, ...stageSecrets, ...(this.selfApplication ? [this.selfApplication] : [])];
        const byName = new Map<string, k8s.apiextensions.CustomResource>();
        const deps = stageDependsOn(plan);
        this.stages = of("stage").map((o) => {
            const stageName = o.object.metadata.name;
            const app = custom(o, [...base, ...deps[stageName].map((d) => byName.get(d)!)]);
            byName.set(stageName, app);
            return app;
        });

        this.registerOutputs({
            ageRecipient: this.ageRecipient,
            deployKeyPublicKey: this.deployKeyPublicKey,
            webhookSecret: this.webhookSecret,
            webhookUrl: this.webhookUrl,
        });
    }
}
