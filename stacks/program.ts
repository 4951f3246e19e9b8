import * as pulumi from "@pulumi/pulumi";
import { loadPulumiConfig, Platform } from "../lib/config";
import { BareMetalCluster } from "../modules/bare-metal/component";
import { OPENSTACK_SECRET_KEYS, OpenStackCluster } from "../modules/openstack";
import { createGitOps } from "../modules/argocd";
import { Cluster } from "./cluster";

/**
 * The opke program: one function shared by index.ts (`pulumi up`) and the Automation API.
 * It reads and validates the stack config on every run (no module-level state), so a bad value
 * fails before any resource is registered.
 */
export async function program(): Promise<Record<string, unknown>> {
    const cfg = loadPulumiConfig();
    const cluster = new Cluster(cfg.clusterName, { config: cfg });
    // One platform component boots the hosts and runs the shared SSH provisioning (lib/provision).
    let platformOutputs: Record<string, unknown> = {};
    let platform: pulumi.Resource;
    switch (cfg.platform) {
        case Platform.BareMetal:
            platform = new BareMetalCluster(cfg.clusterName, { config: cfg, cluster });
            break;
        case Platform.OpenStack: {
            // The credentials are secret config keys, read here (never part of ClusterConfig).
            const config = new pulumi.Config();
            const credentials = cfg.openstack?.applicationCredentialId
                ? { applicationCredentialSecret: config.requireSecret(OPENSTACK_SECRET_KEYS.applicationCredentialSecret) }
                : { password: config.requireSecret(OPENSTACK_SECRET_KEYS.password) };
            const openstack = new OpenStackCluster(cfg.clusterName, { config: cfg, cluster, credentials });
            platform = openstack;
            platformOutputs = {
                apiEndpoint: openstack.apiEndpoint,
                loadBalancerAddress: openstack.loadBalancerAddress,
                nodeIps: openstack.nodeIps,
            };
            break;
        }
        default: {
            const unreachable: never = cfg.platform;
            throw new Error(`platform: unsupported ${String(unreachable)}`);
        }
    }
    // The finish (modules/argocd; README "GitOps"): Cloudflare and the Argo CD bootstrap, applied only
    // once the platform has provisioned every node. Outputs: deployKeyPublicKey, ageRecipient,
    // webhookSecret (secret), webhookUrl, tunnelId.
    const finish = createGitOps(cfg, {
        kubeconfig: cluster.adminKubeconfig,
        material: cluster.material,
        tlsProvider: cluster.tlsProvider,
        clusterReady: [platform],
    });
    return {
        apiServer: cluster.apiServerUrl,
        kubernetesVersion: cfg.kubernetesVersion,
        etcdVersion: cfg.etcdVersion,
        nodes: cluster.nodes.map((n) => ({
            name: n.name,
            role: n.role,
            ip: n.ip,
            ignitionSha256: cluster.ignition.hashes[n.name],
            sshSha256: n.sshHash,
        })),
        ignition: cluster.ignition.configs,
        kubeconfig: pulumi.secret(cluster.adminKubeconfig),
        ...platformOutputs,
        ...finish.outputs,
    };
}
