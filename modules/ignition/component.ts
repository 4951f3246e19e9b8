import * as pulumi from "@pulumi/pulumi";
import { ClusterConfig, clusterNodes } from "../../lib/config/schema";
import { renderNodeIgnition, sha256 } from "../../lib/render";

export interface NodeConfigsArgs {
    /**
     * The validated cluster description (lib/config `parseClusterConfig`). A plain value on
     * purpose: Ignition is computed synchronously, so it is known in preview.
     */
    config: ClusterConfig;
}

/**
 * The Ignition 3.3.0 config of every node: host basics, the domain modules' version-free units,
 * the SSH user and the configured extras. Immutable, version-free and secret-free, so it never
 * changes on an upgrade or a certificate rotation and never forces a host to be re-created.
 */
export class NodeConfigs extends pulumi.ComponentResource {
    /** Ignition JSON per node name: the exact bytes used as user_data / boot config. */
    public readonly configs: Record<string, string>;
    /** sha256 of each node's Ignition, for display and for platforms that key on it. */
    public readonly hashes: Record<string, string>;

    constructor(name: string, args: NodeConfigsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opke:ignition:NodeConfigs", name, {}, opts);
        const cfg = args.config;
        this.configs = {};
        this.hashes = {};
        for (const node of clusterNodes(cfg)) {
            const json = renderNodeIgnition(cfg, node);
            this.configs[node.name] = json;
            this.hashes[node.name] = sha256(json);
        }
        this.registerOutputs({ hashes: this.hashes });
    }
}
