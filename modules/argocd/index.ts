/**
 * modules/argocd: the GitOps finish of opke (Argo CD bootstrap, credentials, secrets, staged
 * app-of-apps) and Cloudflare (tunnel or DNS records). the README (GitOps) describes the flow and the
 * ownership of every object.
 *
 *   config.ts     zod schemas of `gitops` / `cloudflare`, secret config keys, stage-graph validation
 *   secrets.ts    age identity/recipient, webhook secret, registry credentials (pure)
 *   objects.ts    every Kubernetes object the module creates, as pure renderers (used by
 *                 `npm run render` too), and the checks against gitops/argocd
 *   component.ts  `opke:argocd:GitOps`
 *   cloudflare.ts `opke:argocd:Cloudflare`
 */
import * as pulumi from "@pulumi/pulumi";
import type * as tls from "@pulumi/tls";
import type { ClusterConfig } from "../../lib/config/schema";
import type { PkiMaterial } from "../../lib/pki/spec";
import { CloudflareEdge } from "./cloudflare";
import { GitOps, readGitOpsSecrets } from "./component";

export * from "./config";
export * from "./objects";
export * from "./secrets";
export { CloudflareEdge, plannedRecords, tunnelIngresses, tunnelName, type CloudflareArgs } from "./cloudflare";
export { GitOps, isMovingRevision, localChartProblem, readGitCopy, readGitOpsSecrets, releaseIgnoreChanges, stageDependsOn, PROJECT_DIR, type GitOpsArgs, type GitOpsSecretConfig } from "./component";

export interface GitOpsFinishArgs {
    /** Admin kubeconfig (secret): Cluster.adminKubeconfig. */
    kubeconfig: pulumi.Input<string>;
    /** All PKI material (secret): Cluster.material (the Kubernetes CA goes into `cluster-ca`). */
    material: pulumi.Output<PkiMaterial>;
    /** Cluster.tlsProvider. */
    tlsProvider: tls.Provider;
    /** The platform component (its provisioning must be done before anything is applied to the cluster). */
    clusterReady?: pulumi.Resource[];
    /** Where gitops/ is; defaults to the repository root. */
    projectDir?: string;
}

export interface GitOpsFinish {
    gitops?: GitOps;
    cloudflare?: CloudflareEdge;
    /** Stack outputs to merge into the program's outputs (each top-level, so only the secret ones are secret). */
    outputs: Record<string, unknown>;
}

/**
 * Creates the Cloudflare component (when `cfg.cloudflare` is set) and the GitOps component (when
 * `cfg.gitops` is set), both named after the cluster, and returns their stack outputs:
 * `deployKeyPublicKey`, `ageRecipient`, `webhookSecret` (secret), `webhookUrl`, `tunnelId`.
 */
export function createGitOps(cfg: ClusterConfig, args: GitOpsFinishArgs, opts?: pulumi.ComponentResourceOptions): GitOpsFinish {
    const outputs: Record<string, unknown> = {};
    const cloudflare = cfg.cloudflare ? new CloudflareEdge(cfg.clusterName, { config: cfg }, opts) : undefined;
    if (cloudflare?.tunnelId) outputs.tunnelId = cloudflare.tunnelId;
    let gitops: GitOps | undefined;
    if (cfg.gitops) {
        gitops = new GitOps(
            cfg.clusterName,
            {
                config: cfg,
                kubeconfig: args.kubeconfig,
                clusterCaPem: pulumi.unsecret(args.material.apply((m) => m.certificates["kubernetes-ca"].certPem)),
                tlsProvider: args.tlsProvider,
                clusterReady: args.clusterReady,
                tunnelToken: cloudflare?.tunnelToken,
                secrets: readGitOpsSecrets(),
                projectDir: args.projectDir,
            },
            opts,
        );
        if (gitops.deployKeyPublicKey) outputs.deployKeyPublicKey = gitops.deployKeyPublicKey;
        outputs.ageRecipient = gitops.ageRecipient;
        if (gitops.webhookSecret) outputs.webhookSecret = gitops.webhookSecret;
        if (gitops.webhookUrl) outputs.webhookUrl = gitops.webhookUrl;
    }
    return { gitops, cloudflare, outputs };
}
