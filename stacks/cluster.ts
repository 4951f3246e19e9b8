import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { NodeSshAssets } from "../lib/assets";
import { ClusterConfig, clusterNodes, NodeRole } from "../lib/config/schema";
import { mergeMaterial, PkiMaterial } from "../lib/pki/spec";
import { renderNodeSsh, sha256 } from "../lib/render";
import { ControlPlane } from "../modules/bootkube/component";
import { EtcdCluster } from "../modules/etcd/component";
import { NodeConfigs } from "../modules/ignition/component";

export interface ClusterArgs {
    /** The validated cluster description (lib/config `parseClusterConfig`). */
    config: ClusterConfig;
}

/** What a platform needs to bring one node up: its boot config and its SSH asset tree. */
export interface NodeAssets {
    name: string;
    role: NodeRole;
    /** Position among the nodes of its role; controller 0 runs the bootstrap one-shot. */
    index: number;
    ip: string;
    mac?: string;
    /** Re-provisioning generation from config (bumping it re-creates the host on purpose). */
    generation: number;
    /** Ignition JSON: immutable, version-free, secret-free. */
    ignition: string;
    /** Files pushed over SSH (versions, keys, kubeconfigs). Secret. */
    ssh: pulumi.Output<NodeSshAssets>;
    /** sha256 over the node's whole SSH tree (paths, modes, owners, contents). */
    sshHash: pulumi.Output<string>;
}

/** Canonical hash of an SSH asset tree; changes exactly when something pushed would change. */
export function sshTreeHash(ssh: NodeSshAssets): string {
    return sha256(JSON.stringify(ssh));
}

/**
 * One cluster: the etcd, bootkube and ignition modules wired together. Platforms (OpenStack,
 * bare metal) take `nodes` and boot each host with its Ignition, then push its SSH tree.
 */
export class Cluster extends pulumi.ComponentResource {
    public readonly etcd: EtcdCluster;
    public readonly controlPlane: ControlPlane;
    public readonly ignition: NodeConfigs;
    /** Every node, controllers first. */
    public readonly nodes: NodeAssets[];
    /** All PKI material (etcd + Kubernetes). Secret. */
    public readonly material: pulumi.Output<PkiMaterial>;
    /** Admin kubeconfig. Secret. */
    public readonly adminKubeconfig: pulumi.Output<string>;
    public readonly apiServerUrl: string;
    /** The explicit tls provider every certificate and key is created with (default providers are off). */
    public readonly tlsProvider: tls.Provider;

    constructor(name: string, args: ClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opke:index:Cluster", name, {}, opts);
        const cfg = args.config;
        this.tlsProvider = new tls.Provider(`${name}-tls`, {}, { parent: this });
        const pkiOpts = { parent: this, providers: [this.tlsProvider] };
        this.etcd = new EtcdCluster(`${name}-etcd`, { config: cfg }, pkiOpts);
        this.controlPlane = new ControlPlane(`${name}-bootkube`, { config: cfg }, pkiOpts);
        this.ignition = new NodeConfigs(`${name}-ignition`, { config: cfg }, { parent: this });
        this.material = pulumi.secret(
            pulumi.all([this.etcd.material, this.controlPlane.material]).apply(([e, k]) => mergeMaterial(e, k)),
        );
        this.nodes = clusterNodes(cfg).map((node) => {
            const ssh = pulumi.secret(this.material.apply((m) => renderNodeSsh(cfg, node, m)));
            return {
                name: node.name,
                role: node.role,
                index: node.index,
                ip: node.ip,
                ...(node.mac ? { mac: node.mac } : {}),
                generation: node.generation,
                ignition: this.ignition.configs[node.name],
                ssh,
                sshHash: pulumi.unsecret(ssh.apply(sshTreeHash)),
            };
        });
        this.adminKubeconfig = this.controlPlane.adminKubeconfig;
        this.apiServerUrl = `https://${cfg.apiDnsName}:${cfg.apiPort}`;
        this.registerOutputs({
            apiServerUrl: this.apiServerUrl,
            adminKubeconfig: this.adminKubeconfig,
            nodes: this.nodes.map((n) => ({ name: n.name, role: n.role, ip: n.ip, sshHash: n.sshHash })),
        });
    }
}
