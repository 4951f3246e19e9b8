import * as pulumi from "@pulumi/pulumi";
import { ClusterConfig } from "../../lib/config/schema";
import { createPki } from "../../lib/pki/pulumi";
import { PkiMaterial } from "../../lib/pki/spec";
import { describeKubernetesPki } from "./pki";
import { adminKubeconfig, clusterManifests } from "./render";

export interface ControlPlaneArgs {
    /**
     * The validated cluster description (lib/config `parseClusterConfig`). A plain value on
     * purpose; see EtcdClusterArgs.config.
     */
    config: ClusterConfig;
}

/**
 * The Kubernetes control plane's credentials and cluster manifests: the Kubernetes and front-proxy
 * CAs, the apiserver serving and client certificates, the controller-manager, scheduler and admin
 * client certificates, the service-account key pair and the secrets seed (from which the kubelet
 * bootstrap token and the encryption-at-rest key are derived). Static pods, kubelet files and
 * scripts are rendered per node by lib/render from this material.
 */
export class ControlPlane extends pulumi.ComponentResource {
    /** Certificates and keys of the Kubernetes PKI, by id (see modules/bootkube/pki.ts). Secret. */
    public readonly material: pulumi.Output<PkiMaterial>;
    /** kubeconfig of `kubernetes-admin` (system:masters) for the API DNS name. Secret. */
    public readonly adminKubeconfig: pulumi.Output<string>;
    /** Manifests the bootstrap one-shot applies (RBAC, bootstrap-token Secret, …). Secret. */
    public readonly manifests: pulumi.Output<{ name: string; content: string }[]>;

    constructor(name: string, args: ControlPlaneArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opke:bootkube:ControlPlane", name, {}, opts);
        const cfg = args.config;
        this.material = createPki(name, describeKubernetesPki(cfg), this).material;
        this.adminKubeconfig = pulumi.secret(this.material.apply((m) => adminKubeconfig(cfg, m)));
        this.manifests = pulumi.secret(this.material.apply((m) => clusterManifests(cfg, m)));
        this.registerOutputs({ adminKubeconfig: this.adminKubeconfig, manifests: this.manifests });
    }
}
