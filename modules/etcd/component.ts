import * as pulumi from "@pulumi/pulumi";
import { IgnitionParts } from "../../lib/assets";
import { ClusterConfig } from "../../lib/config/schema";
import { createPki } from "../../lib/pki/pulumi";
import { PkiMaterial } from "../../lib/pki/spec";
import { describeEtcdPki } from "./pki";
import { etcdIgnition } from "./render";

export interface EtcdClusterArgs {
    /**
     * The validated cluster description (lib/config `parseClusterConfig`). A plain value, not a
     * `pulumi.Input`, on purpose: it is validated once before any resource is registered, and the
     * Ignition derived from it must be known in preview.
     */
    config: ClusterConfig;
}

/**
 * One etcd member per controller: the etcd CA, per-member server and peer certificates and the
 * apiserver's client certificate (@pulumi/tls), plus the version-free unit for Ignition. The member
 * files themselves (etcd.env, image.env, certificates) are rendered per node by lib/render.
 */
export class EtcdCluster extends pulumi.ComponentResource {
    /** Certificates and keys of the etcd PKI, by id (see modules/etcd/pki.ts). Secret. */
    public readonly material: pulumi.Output<PkiMaterial>;
    /** The `etcd-member.service` unit every controller's Ignition carries. Version-free. */
    public readonly ignition: IgnitionParts;
    /** etcd client URLs, one per member. */
    public readonly clientUrls: string[];

    constructor(name: string, args: EtcdClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opke:etcd:EtcdCluster", name, {}, opts);
        const cfg = args.config;
        this.material = createPki(name, describeEtcdPki(cfg), this).material;
        this.ignition = etcdIgnition(cfg);
        this.clientUrls = cfg.controllers.map((c) => `https://${c.ip}:2379`);
        this.registerOutputs({ material: this.material, clientUrls: this.clientUrls });
    }
}
