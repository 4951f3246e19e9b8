/**
 * The whole-cluster renderer: config (+ PKI material) → every asset every node gets.
 *
 * Both `pulumi up` (through the components in modules/) and `npm run render` call these functions,
 * so what the offline render writes is exactly what the program deploys (test/render-faithful.test.ts
 * proves it). Nothing here touches Pulumi, the network or the clock.
 */
import { createHash } from "node:crypto";
import { NodeDirectory, NodeFile, NodeSshAssets, sortFiles } from "../assets";
import { ClusterConfig, ClusterNode, clusterNodes, NodeRole } from "../config/schema";
import { PkiMaterial } from "../pki/spec";
import { etcdIgnition, etcdMemberFiles } from "../../modules/etcd";
import {
    adminKubeconfig,
    clusterManifests,
    controlPlaneIgnition,
    kubeletIgnition,
    nodeFiles,
} from "../../modules/bootkube";
import { assertIgnitionSafe, nodeIgnition, serializeIgnition } from "../../modules/ignition";
import { addonManifests, addonsFiles, addonsIgnition } from "../../modules/addons";
import { gitopsRenderFiles } from "../../modules/argocd/objects";

/** The exact Ignition bytes a node boots with. Version-free and secret-free by construction. */
export function renderNodeIgnition(cfg: ClusterConfig, node: ClusterNode): string {
    const parts = [kubeletIgnition(cfg, node)];
    switch (node.role) {
        case NodeRole.Controller:
            parts.push(etcdIgnition(cfg), controlPlaneIgnition(cfg, node), addonsIgnition(cfg, node));
            break;
        case NodeRole.Worker:
            break;
        default: {
            const unreachable: never = node.role;
            throw new Error(`unknown node role ${String(unreachable)}`);
        }
    }
    const json = serializeIgnition(nodeIgnition(cfg, node, parts));
    assertIgnitionSafe(json, `Ignition of node ${node.name}`);
    return json;
}

/**
 * Everything pushed to a node over SSH: etcd member files (controllers), Kubernetes files, and
 * the addons (controller 0).
 */
export function renderNodeSsh(cfg: ClusterConfig, node: ClusterNode, material: PkiMaterial): NodeSshAssets {
    const pieces: NodeSshAssets[] = [nodeFiles(cfg, node, material)];
    if (node.role === NodeRole.Controller) {
        pieces.push(etcdMemberFiles(cfg, node, material));
        if (node.index === 0) pieces.push(addonsFiles(cfg, node));
    }
    return mergeSshAssets(node.name, pieces);
}

/** Merge the asset trees of several modules; two modules writing one path is a programming error. */
export function mergeSshAssets(nodeName: string, pieces: NodeSshAssets[]): NodeSshAssets {
    const files = new Map<string, NodeFile>();
    const dirs = new Map<string, NodeDirectory>();
    for (const piece of pieces) {
        for (const f of piece.files) {
            if (files.has(f.path)) {
                throw new Error(`node ${nodeName}: two modules render ${f.path}`);
            }
            files.set(f.path, f);
        }
        for (const d of piece.directories) {
            const prev = dirs.get(d.path);
            if (prev && (prev.mode !== d.mode || prev.owner !== d.owner)) {
                throw new Error(
                    `node ${nodeName}: directory ${d.path} is rendered with mode/owner ` +
                        `${prev.mode.toString(8)} ${prev.owner} and ${d.mode.toString(8)} ${d.owner}`,
                );
            }
            dirs.set(d.path, d);
        }
    }
    return {
        directories: [...dirs.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
        files: sortFiles([...files.values()]),
    };
}

/** Cluster-level assets: the manifests applied at bootstrap, the addon manifests and the admin kubeconfig. */
export interface ClusterFiles {
    manifests: { name: string; content: string }[];
    /** The addon manifests addons.service applies (modules/addons), one YAML stream each. */
    addons: { name: string; content: string }[];
    /** Every object modules/argocd creates itself, secrets redacted (empty without a gitops block). */
    gitops: { name: string; content: string }[];
    adminKubeconfig: string;
}

export function renderClusterFiles(cfg: ClusterConfig, material: PkiMaterial): ClusterFiles {
    return {
        manifests: clusterManifests(cfg, material),
        addons: addonManifests(cfg),
        gitops: gitopsRenderFiles(cfg, material.certificates["kubernetes-ca"].certPem),
        adminKubeconfig: adminKubeconfig(cfg, material),
    };
}

export interface RenderedNode {
    node: ClusterNode;
    ignition: string;
    ssh: NodeSshAssets;
}

export interface RenderedCluster {
    nodes: RenderedNode[];
    cluster: ClusterFiles;
}

/** Render every asset of the cluster. */
export function renderCluster(cfg: ClusterConfig, material: PkiMaterial): RenderedCluster {
    return {
        nodes: clusterNodes(cfg).map((node) => ({
            node,
            ignition: renderNodeIgnition(cfg, node),
            ssh: renderNodeSsh(cfg, node, material),
        })),
        cluster: renderClusterFiles(cfg, material),
    };
}

export function sha256(text: string): string {
    return createHash("sha256").update(text).digest("hex");
}
