/**
 * Stack configs for the benchmark, generated in memory: 3 controllers + N workers, for the
 * openstack and bare-metal platforms, in the form the Pulumi engine hands a program
 * (`pulumi.runtime.allConfig()`: `opke:<key>` → plain text for strings, JSON for everything else).
 *
 * Sized for 1000+ workers under lib/config/validate.ts:
 *   - network.nodeCidr 10.0.0.0/20 (the same for every size, so only N varies). On OpenStack the
 *     subnet opke creates keeps node IPs in the lower half (10.0.0.2–10.0.7.255, modules/openstack
 *     `subnetPlan`): controllers 10.0.0.11–13, workers from 10.0.1.0 upwards (up to 2000 workers);
 *   - network.podCidr 10.64.0.0/12 with the default nodePodPrefix 24: 4096 node subnets;
 *   - bare metal: mode matchbox (the full boot-config cost: one boot command per machine on the
 *     provisioning host), a generated MAC per machine;
 *   - pki: the default (RSA 2048). The tls mock returns fake PEMs of that shape (bench/fake-tls.ts);
 *   - the secret keys a real stack sets: opke:sshPrivateKey (so sshConnection does not warn once
 *     per node), opke:openstackPassword (openstack).
 * No gitops/cloudflare block: they add a fixed number of resources that do not grow with N.
 */

export type BenchPlatform = "openstack" | "bare-metal";
export type SshVia = "floating-ip" | "bastion";

export interface BenchConfigOptions {
    platform: BenchPlatform;
    workers: number;
    /** Default v1.36.3 (lib/versions.json at the time of writing; set explicitly so an upgrade is a known diff). */
    kubernetesVersion?: string;
    /** OpenStack only: how the pushes reach the nodes. Default floating-ip (the platform default). */
    sshVia?: SshVia;
}

export const CLUSTER_NAME = "bench";
export const MATCHBOX_HOST = "matchbox.bench.opke.test";
export const BASTION_HOST = "bastion.bench.opke.test";
export const CONTROLLERS = 3;
export const MAX_WORKERS = 2000;

const AUTHORIZED_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINlKIAfhwgD3osglJv0BO8m48FG+cBCSTQBl3O56poLQ opke-dev@example.test";
/** Not a usable key: the command provider only carries it (nothing in the program parses it). */
const FAKE_SSH_PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZWQyNTUxOQ==\n-----END OPENSSH PRIVATE KEY-----\n";

function ip(n: number): string {
    return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** 10.0.1.0 + i. */
export function workerIp(i: number): string {
    return ip(((10 << 24) | (0 << 16) | (1 << 8)) + i);
}

function mac(n: number): string {
    return ["52", "54", "00", ((n >> 16) & 255).toString(16).padStart(2, "0"), ((n >> 8) & 255).toString(16).padStart(2, "0"), (n & 255).toString(16).padStart(2, "0")].join(":");
}

export interface BenchNode {
    name: string;
    ip: string;
    role: "controller" | "worker";
    index: number;
}

/** Every node of the benchmark cluster, controllers first (as `clusterNodes` orders them). */
export function benchNodes(workers: number): BenchNode[] {
    if (!Number.isInteger(workers) || workers < 0 || workers > MAX_WORKERS) throw new Error(`workers: ${workers} is not 0 to ${MAX_WORKERS}`);
    const controllers = Array.from({ length: CONTROLLERS }, (_, i): BenchNode => ({ name: `c${i + 1}`, ip: `10.0.0.${11 + i}`, role: "controller", index: i }));
    const ws = Array.from({ length: workers }, (_, i): BenchNode => ({ name: `w${i + 1}`, ip: workerIp(i), role: "worker", index: i }));
    return [...controllers, ...ws];
}

/**
 * The floating IP the bench mocks give node i (position in `benchNodes`): 100.64.0.0 + i + 1;
 * any other floating IP (the API's) is 100.127.255.254. Lets bench/run.ts attribute an SSH target
 * to its node.
 */
export function floatingIpAddress(nodeIndex: number | undefined): string {
    return nodeIndex === undefined ? ip(((100 << 24) | (127 << 16) | (255 << 8) | 254) >>> 0) : ip(((100 << 24) | (64 << 16)) + nodeIndex + 1);
}

/** Resource name of a node's floating IP (modules/openstack: `${name}-fip-${node}`). */
export function floatingIpName(node: string): string {
    return `${CLUSTER_NAME}-fip-${node}`;
}

/** The raw opke config (keys without the `opke:` prefix), as a stack file would hold it. */
export function benchRawConfig(o: BenchConfigOptions): Record<string, unknown> {
    const nodes = benchNodes(o.workers);
    const withMac = o.platform === "bare-metal";
    const node = (n: BenchNode, i: number) => ({ name: n.name, ip: n.ip, ...(withMac ? { mac: mac(i + 1) } : {}) });
    const sshVia = o.sshVia ?? "floating-ip";
    const raw: Record<string, unknown> = {
        clusterName: CLUSTER_NAME,
        platform: o.platform,
        apiDnsName: "api.bench.opke.test",
        kubernetesVersion: o.kubernetesVersion ?? "v1.36.3",
        network: { nodeCidr: "10.0.0.0/20", podCidr: "10.64.0.0/12", serviceCidr: "10.3.0.0/16", cni: "flannel" },
        controllers: nodes.filter((n) => n.role === "controller").map((n) => node(n, nodes.indexOf(n))),
        workers: nodes.filter((n) => n.role === "worker").map((n) => node(n, nodes.indexOf(n))),
        ssh: {
            user: "core",
            authorizedKeys: [AUTHORIZED_KEY],
            ...(o.platform === "openstack" && sshVia === "bastion" ? { bastion: { host: BASTION_HOST } } : {}),
        },
    };
    switch (o.platform) {
        case "bare-metal":
            raw.bareMetal = {
                mode: "matchbox",
                matchboxUrl: `http://${MATCHBOX_HOST}:8080`,
                matchboxHost: { host: MATCHBOX_HOST, user: "core" },
                assetsDir: "/var/lib/matchbox",
                osChannel: "stable",
                osVersion: "4230.2.3",
                installDisk: "/dev/sda",
            };
            break;
        case "openstack":
            raw.openstack = {
                authUrl: "https://keystone.bench.opke.test:5000/v3",
                region: "RegionOne",
                projectName: "bench",
                userName: "opke",
                imageId: "5f2c0b36-4f6a-4b8e-9a0e-2f1c3d4e5f60",
                controllerFlavor: "m1.large",
                workerFlavor: "m1.xlarge",
                volumeSize: 40,
                externalNetworkId: "0e4c6f2a-9a7b-4c1d-8e3f-112233445566",
                network: { create: true },
                allowedSshCidrs: ["203.0.113.7/32"],
                allowedApiCidrs: ["198.51.100.0/24"],
                sshVia,
                dnsZoneId: "7d1e2f3a-4b5c-4d6e-8f90-a1b2c3d4e5f6",
            };
            break;
        default: {
            const never: never = o.platform;
            throw new Error(`unknown platform ${String(never)}`);
        }
    }
    return raw;
}

/**
 * What the engine hands the program for that stack: every `opke:` key as text (JSON for
 * non-strings), the project's `{}` defaults for the optional blocks not set, and the secret keys.
 */
export function benchEngineConfig(o: BenchConfigOptions): { all: Record<string, string>; secretKeys: string[] } {
    const raw = benchRawConfig(o);
    const all: Record<string, string> = {};
    for (const [k, v] of Object.entries(raw)) all[`opke:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
    for (const k of ["openstack", "bareMetal", "gitops", "cloudflare"]) if (all[`opke:${k}`] === undefined) all[`opke:${k}`] = "{}";
    all["pulumi:disable-default-providers"] = JSON.stringify(["*"]);
    all["opke:sshPrivateKey"] = FAKE_SSH_PRIVATE_KEY;
    const secretKeys = ["opke:sshPrivateKey"];
    if (o.platform === "openstack") {
        all["opke:openstackPassword"] = "bench-password";
        secretKeys.push("opke:openstackPassword");
    }
    return { all, secretKeys };
}
