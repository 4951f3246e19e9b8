import * as pulumi from "@pulumi/pulumi";
import { loadPulumiConfig } from "../lib/config";
import { Cluster } from "./cluster";

/**
 * The opke program: one function shared by index.ts (`pulumi up`) and the Automation API.
 * It reads and validates the stack config on every run (no module-level state), so a bad value
 * fails before any resource is registered.
 */
export async function program(): Promise<Record<string, unknown>> {
    const cfg = loadPulumiConfig();
    const cluster = new Cluster(cfg.clusterName, { config: cfg });
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
    };
}
