/**
 * etcd: one member per controller, run as a container by a version-free systemd unit.
 *
 * Split along the OPKE rule (see lib/assets.ts):
 *   - Ignition (`etcdIgnition`) carries only `etcd-member.service`. It knows neither the etcd
 *     version nor any member's name, address or certificate: it reads the image from
 *     /etc/etcd/image.env and every etcd setting from /etc/etcd/etcd.env.
 *   - The SSH push (`etcdMemberFiles`) writes those two files and the member's certificates. A
 *     new etcd version only changes /etc/etcd/image.env, so no host is ever re-created for it.
 *
 * Security: client and peer traffic are both mutual TLS (`client-cert-auth`,
 * `peer-client-cert-auth`) against the etcd CA; the only plain-HTTP listener is the metrics
 * endpoint, bound to 127.0.0.1.
 *
 * Pure: config and PEM strings in, text out. No Pulumi imports.
 */
import { IgnitionParts, NodeDirectory, NodeFile, NodeSshAssets, sortFiles } from "../../lib/assets";
import { ClusterConfig, ClusterNode, NodeRole, OperatingSystem } from "../../lib/config/schema";
import { PkiMaterial } from "../../lib/pki/spec";
import { EtcdPkiIds } from "./pki";

/** The systemd unit that runs the local etcd member. */
export const ETCD_UNIT = "etcd-member.service";
/** Name of the etcd container (docker or podman). */
export const ETCD_CONTAINER = "etcd-member";

/** Paths on the controllers (the same inside the container: the directories are bind-mounted 1:1). */
export const EtcdPaths = {
    configDir: "/etc/etcd",
    /** ETCD_* variables only: every etcd flag, no version. */
    env: "/etc/etcd/etcd.env",
    /** `ETCD_IMAGE=<repository>:<version>`: the only versioned etcd file. */
    imageEnv: "/etc/etcd/image.env",
    dataDir: "/var/lib/etcd",
    tlsDir: "/etc/ssl/etcd",
    ca: "/etc/ssl/etcd/ca.crt",
    serverCert: "/etc/ssl/etcd/server.crt",
    serverKey: "/etc/ssl/etcd/server.key",
    peerCert: "/etc/ssl/etcd/peer.crt",
    peerKey: "/etc/ssl/etcd/peer.key",
} as const;

export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;
/** Plain-HTTP metrics and health (`/metrics`, `/health`), loopback only. */
export const ETCD_METRICS_URL = "http://127.0.0.1:2381";

/** `https://<ip>:2379` of every member, in controller order (the apiserver's --etcd-servers). */
export function etcdClientUrls(cfg: ClusterConfig): string[] {
    return cfg.controllers.map((c) => `https://${c.ip}:${ETCD_CLIENT_PORT}`);
}

/**
 * `etcd-member.service` for every controller. Version-free and member-free: identical on all
 * controllers and across etcd versions.
 *
 * The unit is enabled but starts only once the SSH push has written the member files
 * (`ConditionPathExists=` on each, so before that it is skipped, not failed); the push then
 * restarts it, and every file change restarts it again (`NodeFile.restarts`).
 */
export function etcdIgnition(cfg: ClusterConfig): IgnitionParts {
    return { files: [], units: [{ name: ETCD_UNIT, contents: etcdUnit(cfg.os), enabled: true }] };
}

function etcdUnit(os: OperatingSystem): string {
    const rt = runtime(os);
    const conditions = [EtcdPaths.env, EtcdPaths.imageEnv, EtcdPaths.ca, EtcdPaths.serverCert, EtcdPaths.serverKey, EtcdPaths.peerCert, EtcdPaths.peerKey]
        .map((p) => `ConditionPathExists=${p}`);
    return [
        "[Unit]",
        "Description=etcd member (opke)",
        "Documentation=https://etcd.io/docs/",
        ...rt.unitDeps,
        "Wants=network-online.target",
        "After=network-online.target",
        "# The SSH push writes these files and restarts this unit; until then it is skipped.",
        ...conditions,
        "",
        "[Service]",
        `EnvironmentFile=${EtcdPaths.imageEnv}`,
        `ExecStartPre=/usr/bin/mkdir -p -m 0700 ${EtcdPaths.dataDir}`,
        `ExecStartPre=-${rt.bin} rm --force ${ETCD_CONTAINER}`,
        `ExecStart=${rt.bin} run --rm --name ${ETCD_CONTAINER} \\`,
        "  --network host \\",
        `  --env-file ${EtcdPaths.env} \\`,
        `  --volume ${EtcdPaths.dataDir}:${EtcdPaths.dataDir}:${rt.rw} \\`,
        `  --volume ${EtcdPaths.tlsDir}:${EtcdPaths.tlsDir}:${rt.ro} \\`,
        "  ${ETCD_IMAGE}",
        `ExecStop=-${rt.bin} stop ${ETCD_CONTAINER}`,
        "Restart=on-failure",
        "RestartSec=10s",
        "TimeoutStartSec=0",
        "LimitNOFILE=40000",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ].join("\n");
}

/** The container runtime of each OS: docker on Flatcar, podman on Fedora CoreOS (SELinux labels). */
function runtime(os: OperatingSystem): { bin: string; unitDeps: string[]; ro: string; rw: string } {
    switch (os) {
        case OperatingSystem.Flatcar:
            return { bin: "/usr/bin/docker", unitDeps: ["Requires=docker.service", "After=docker.service"], ro: "ro", rw: "rw" };
        case OperatingSystem.FedoraCoreOS:
            // `Z`: private SELinux label, only the etcd container uses these directories.
            return { bin: "/usr/bin/podman", unitDeps: [], ro: "ro,Z", rw: "rw,Z" };
        default: {
            const never: never = os;
            throw new Error(`os: "${String(never)}" is not supported; use "flatcar" or "fedora-coreos"`);
        }
    }
}

/**
 * `/etc/etcd/etcd.env` of one member: every etcd flag as an `ETCD_*` variable (docker/podman
 * `--env-file` format: `KEY=value` lines, no quoting, no comments). No version, no secret.
 */
export function etcdEnv(cfg: ClusterConfig, node: ClusterNode): string {
    const member = controllerOf(cfg, node);
    const vars: [string, string][] = [
        ["ETCD_NAME", member.name],
        ["ETCD_DATA_DIR", EtcdPaths.dataDir],
        ["ETCD_LISTEN_CLIENT_URLS", `https://${member.ip}:${ETCD_CLIENT_PORT},https://127.0.0.1:${ETCD_CLIENT_PORT}`],
        ["ETCD_ADVERTISE_CLIENT_URLS", `https://${member.ip}:${ETCD_CLIENT_PORT}`],
        ["ETCD_LISTEN_PEER_URLS", `https://${member.ip}:${ETCD_PEER_PORT}`],
        ["ETCD_INITIAL_ADVERTISE_PEER_URLS", `https://${member.ip}:${ETCD_PEER_PORT}`],
        ["ETCD_INITIAL_CLUSTER", cfg.controllers.map((c) => `${c.name}=https://${c.ip}:${ETCD_PEER_PORT}`).join(",")],
        // Only read when the data directory is empty; an existing member ignores it.
        ["ETCD_INITIAL_CLUSTER_STATE", "new"],
        ["ETCD_INITIAL_CLUSTER_TOKEN", cfg.clusterName],
        ["ETCD_STRICT_RECONFIG_CHECK", "true"],
        ["ETCD_LISTEN_METRICS_URLS", ETCD_METRICS_URL],
        ["ETCD_TRUSTED_CA_FILE", EtcdPaths.ca],
        ["ETCD_CERT_FILE", EtcdPaths.serverCert],
        ["ETCD_KEY_FILE", EtcdPaths.serverKey],
        ["ETCD_CLIENT_CERT_AUTH", "true"],
        ["ETCD_PEER_TRUSTED_CA_FILE", EtcdPaths.ca],
        ["ETCD_PEER_CERT_FILE", EtcdPaths.peerCert],
        ["ETCD_PEER_KEY_FILE", EtcdPaths.peerKey],
        ["ETCD_PEER_CLIENT_CERT_AUTH", "true"],
    ];
    return vars.map(([k, v]) => `${k}=${v}\n`).join("");
}

/** `/etc/etcd/image.env`: `ETCD_IMAGE=<images.etcd>:<etcdVersion>`. */
export function etcdImageEnv(cfg: ClusterConfig): string {
    return `ETCD_IMAGE=${cfg.images.etcd}:${cfg.etcdVersion}\n`;
}

/**
 * Everything the SSH push writes for the etcd member on controller `node`: etcd.env, image.env,
 * the etcd CA certificate and the member's server and peer certificates and keys. Every file
 * restarts `etcd-member.service` when it changes (etcd reads them only at start).
 */
export function etcdMemberFiles(cfg: ClusterConfig, node: ClusterNode, m: PkiMaterial): NodeSshAssets {
    const member = controllerOf(cfg, node);
    const ca = cert(m, EtcdPkiIds.ca);
    const server = cert(m, EtcdPkiIds.server(member.name));
    const peer = cert(m, EtcdPkiIds.peer(member.name));
    const restarts = [ETCD_UNIT];
    const pub = (path: string, content: string): NodeFile => ({ path, content, mode: 0o644, owner: "root:root", secret: false, restarts });
    const key = (path: string, content: string): NodeFile => ({ path, content, mode: 0o600, owner: "root:root", secret: true, restarts });

    const directories: NodeDirectory[] = [
        { path: EtcdPaths.configDir, mode: 0o755, owner: "root:root" },
        { path: EtcdPaths.tlsDir, mode: 0o700, owner: "root:root" },
        { path: EtcdPaths.dataDir, mode: 0o700, owner: "root:root" },
    ].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return {
        directories,
        files: sortFiles([
            pub(EtcdPaths.env, etcdEnv(cfg, member)),
            pub(EtcdPaths.imageEnv, etcdImageEnv(cfg)),
            pub(EtcdPaths.ca, ca.certPem),
            pub(EtcdPaths.serverCert, server.certPem),
            key(EtcdPaths.serverKey, server.keyPem),
            pub(EtcdPaths.peerCert, peer.certPem),
            key(EtcdPaths.peerKey, peer.keyPem),
        ]),
    };
}

/** The controller entry of `node`; etcd runs on controllers only. */
function controllerOf(cfg: ClusterConfig, node: ClusterNode): ClusterNode {
    const index = cfg.controllers.findIndex((c) => c.name === node.name);
    if (node.role !== NodeRole.Controller || index < 0) {
        throw new Error(`etcd: node "${node.name}" is not a controller; etcd members run on the nodes listed under controllers`);
    }
    const c = cfg.controllers[index];
    if (c.ip !== node.ip) {
        throw new Error(`etcd: node "${node.name}" has ip ${node.ip} but controllers[${index}].ip is ${c.ip}; pass the node from clusterNodes(cfg)`);
    }
    return { ...c, role: NodeRole.Controller, index };
}

function cert(m: PkiMaterial, id: string): { certPem: string; keyPem: string } {
    const c = m.certificates[id];
    if (c === undefined) {
        throw new Error(`etcd: certificate "${id}" is missing from the PKI material; generate it from describeEtcdPki(cfg) (modules/etcd/pki.ts)`);
    }
    return c;
}
