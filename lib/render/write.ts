/**
 * Writes a rendered cluster to a folder (the layout `npm run render` promises):
 *
 *   <out>/index.json                          every node: name, role, IP (+ MAC)
 *   <out>/nodes/<node>/ignition.json          exact user_data / boot config bytes
 *   <out>/nodes/<node>/boot/…                 bare metal, bareMetal.mode matchbox/directory only: the
 *                                             machine's Matchbox profiles/, groups/, ignition/ files
 *                                             (as written to bareMetal.assetsDir) and install.ipxe
 *   <out>/nodes/<node>/ssh/<absolute path>    every file pushed over SSH, mode applied on disk
 *   <out>/nodes/<node>/ssh.manifest.json      mode, owner, secrecy, sha256 and restarts of each pushed file
 *   <out>/cluster/manifests/<name>.yaml       cluster manifests applied by the bootstrap one-shot
 *   <out>/cluster/addons/<name>.yaml          addon manifests (CNI, kube-proxy, CoreDNS) applied by addons.service
 *   <out>/cluster/gitops/<NN>-<kind>-….yaml   every object modules/argocd creates (secrets redacted), chart/release.yaml
 *   <out>/cluster/auth/kubeconfig-admin       the admin kubeconfig
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { octal } from "../assets";
import { ClusterConfig } from "../config/schema";
import { renderBootFiles } from "../../modules/bare-metal/matchbox";
import { RenderedCluster, sha256 } from "./index";

const MARKER = "index.json";

export interface SshManifest {
    node: string;
    directories: { path: string; mode: string; owner: string }[];
    files: { path: string; mode: string; owner: string; secret: boolean; sha256: string; restarts: string[] }[];
}

export function sshManifest(nodeName: string, rendered: RenderedCluster["nodes"][number]["ssh"]): SshManifest {
    return {
        node: nodeName,
        directories: rendered.directories.map((d) => ({ path: d.path, mode: octal(d.mode), owner: d.owner })),
        files: rendered.files.map((f) => ({
            path: f.path,
            mode: octal(f.mode),
            owner: f.owner,
            secret: f.secret,
            sha256: sha256(f.content),
            restarts: f.restarts,
        })),
    };
}

/**
 * Prepare `out`: it may be missing, empty, or an earlier render (recognised by its index.json),
 * which is replaced. Anything else is refused so a typo cannot wipe a folder.
 */
export function prepareOutDir(out: string): void {
    if (!fs.existsSync(out)) {
        fs.mkdirSync(out, { recursive: true });
        return;
    }
    if (!fs.statSync(out).isDirectory()) {
        throw new Error(`--out ${out} is a file; give a folder`);
    }
    const entries = fs.readdirSync(out);
    if (entries.length === 0) {
        return;
    }
    if (!entries.includes(MARKER)) {
        throw new Error(`--out ${out} is not empty and holds no earlier render (no ${MARKER}); give an empty or new folder`);
    }
    for (const e of entries) {
        fs.rmSync(path.join(out, e), { recursive: true, force: true });
    }
}

function writeFile(file: string, content: string, mode = 0o644): void {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content, { mode });
    fs.chmodSync(file, mode);
}

export interface WriteSummary {
    nodes: { name: string; role: string; ip: string; ignitionBytes: number; sshFiles: number; sshSecretFiles: number; sshBytes: number }[];
    manifests: number;
    addons: number;
    gitops: number;
    files: number;
}

export function writeRender(cfg: ClusterConfig, rendered: RenderedCluster, out: string): WriteSummary {
    prepareOutDir(out);
    const index = {
        clusterName: cfg.clusterName,
        platform: cfg.platform,
        apiServer: `https://${cfg.apiDnsName}:${cfg.apiPort}`,
        kubernetesVersion: cfg.kubernetesVersion,
        etcdVersion: cfg.etcdVersion,
        nodes: rendered.nodes.map(({ node }) => ({
            name: node.name,
            role: node.role,
            ip: node.ip,
            ...(node.mac ? { mac: node.mac } : {}),
        })),
    };
    let files = 0;
    writeFile(path.join(out, MARKER), JSON.stringify(index, null, 2) + "\n");
    files++;
    const summary: WriteSummary = { nodes: [], manifests: rendered.cluster.manifests.length, addons: rendered.cluster.addons.length, gitops: rendered.cluster.gitops.length, files: 0 };
    for (const { node, ignition, ssh } of rendered.nodes) {
        const dir = path.join(out, "nodes", node.name);
        writeFile(path.join(dir, "ignition.json"), ignition);
        files++;
        for (const f of renderBootFiles(cfg, node, ignition)) {
            writeFile(path.join(dir, "boot", f.path), f.content);
            files++;
        }
        for (const f of ssh.files) {
            writeFile(path.join(dir, "ssh", f.path), f.content, f.mode);
            files++;
        }
        writeFile(path.join(dir, "ssh.manifest.json"), JSON.stringify(sshManifest(node.name, ssh), null, 2) + "\n");
        files++;
        summary.nodes.push({
            name: node.name,
            role: node.role,
            ip: node.ip,
            ignitionBytes: Buffer.byteLength(ignition),
            sshFiles: ssh.files.length,
            sshSecretFiles: ssh.files.filter((f) => f.secret).length,
            sshBytes: ssh.files.reduce((n, f) => n + Buffer.byteLength(f.content), 0),
        });
    }
    for (const m of rendered.cluster.manifests) {
        writeFile(path.join(out, "cluster", "manifests", m.name), m.content);
        files++;
    }
    for (const m of rendered.cluster.addons) {
        writeFile(path.join(out, "cluster", "addons", m.name), m.content);
        files++;
    }
    for (const m of rendered.cluster.gitops) {
        writeFile(path.join(out, "cluster", "gitops", m.name), m.content);
        files++;
    }
    writeFile(path.join(out, "cluster", "auth", "kubeconfig-admin"), rendered.cluster.adminKubeconfig, 0o600);
    files++;
    summary.files = files;
    return summary;
}

/** A short human summary of what went where. */
export function formatSummary(cfg: ClusterConfig, out: string, s: WriteSummary, seconds: number): string {
    const lines = [
        `opke render: cluster ${cfg.clusterName} (${cfg.platform}, ${cfg.os}, Kubernetes ${cfg.kubernetesVersion}, etcd ${cfg.etcdVersion}, ${cfg.network.cni})`,
        `  API server  https://${cfg.apiDnsName}:${cfg.apiPort}`,
        "",
        "  node        role        ip             ignition   ssh files (secret)   ssh bytes",
    ];
    for (const n of s.nodes) {
        lines.push(
            `  ${n.name.padEnd(11)} ${n.role.padEnd(11)} ${n.ip.padEnd(14)} ${String(n.ignitionBytes).padStart(6)} B   ` +
                `${String(n.sshFiles).padStart(4)} (${String(n.sshSecretFiles).padStart(2)})          ${String(n.sshBytes).padStart(7)}`,
        );
    }
    lines.push(
        "",
        `  Ignition (immutable, version-free, secret-free) → ${out}/nodes/<node>/ignition.json`,
        `  SSH push (versioned and secret)                 → ${out}/nodes/<node>/ssh/  (modes/owners in ssh.manifest.json)`,
        `  Cluster manifests (${s.manifests})                         → ${out}/cluster/manifests/`,
        `  Addon manifests (${s.addons})                           → ${out}/cluster/addons/`,
        ...(s.gitops > 0 ? [`  GitOps objects (${s.gitops}, secrets redacted)         → ${out}/cluster/gitops/`] : []),
        `  Admin kubeconfig                                → ${out}/cluster/auth/kubeconfig-admin`,
        "",
        `  ${s.files} files in ${seconds.toFixed(2)} s. The PKI in this render is real but throwaway: ` +
            "pulumi up generates its own keys and keeps them, encrypted, in the stack state.",
    );
    return lines.join("\n");
}
