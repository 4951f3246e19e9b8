/**
 * OpenStack (modules/openstack): the `openstack` config block and its validation, the pure
 * security-group rule table, the pure resource-option functions, and the `opke:openstack:Cluster`
 * component under Pulumi mocks (3 controllers + 2 workers).
 *
 * What these tests prove:
 *   - validation: the exact messages for the openstack rules (platform, login, network mode, node
 *     IPs in the subnet opke creates, SSH reachability, pinned image IDs, CIDRs);
 *   - the rule table, exactly, for flannel and Cilium, and that every rule reaches the mocks with
 *     exactly those inputs and the right group IDs;
 *   - the option functions (ignoreChanges, replacementTrigger from `generation`, deleteBeforeReplace,
 *     protect, the pushes' dependsOn order), and — through the legacy `transformations` option,
 *     which the Node SDK applies in-process and children inherit — that the component really hands
 *     those options to each Instance, Port, floating IP, member and push (deletedWith the Instance);
 *   - the exact inputs of the provider (the password is a secret), a controller's and a worker's
 *     Instance (user data = the node's Ignition, image pinned by ID, flavor, port, server group),
 *     ports and fixed IPs, the load balancer, listener, pool, members, monitor, floating IPs (each
 *     attached to its port itself: no FloatingIpAssociate) and the Designate record; exact resource
 *     types and counts; every child uses the explicit provider;
 *   - a Kubernetes version bump (v1.36.3 → v1.36.1) changes no input of any OpenStack resource
 *     (no Instance, port or boot config changes) while every node's push changes (its payload and
 *     the payload hash in `create`), exactly one push per node and nothing else among the commands.
 *
 * What they do not prove (mocks run no provider and no engine):
 *   - that Nova, Neutron, Octavia and Designate accept these inputs (flavor/image existence,
 *     quotas, Octavia provider capabilities, server-group policies, a subnet's router), or that the
 *     provider really treats them as documented (ForceNew/rebuild/resize per field);
 *   - the engine's option semantics: that ignoreChanges suppresses the diffs, that a changed
 *     replacementTrigger replaces the server (and, as read in the engine source, re-creates it from
 *     the recorded boot config), deleteBeforeReplace ordering, protect; only the options we pass
 *     are checked;
 *   - that provider config changes (e.g. a rotated password) do not replace resources;
 *   - that the nodes boot, reach each other through these security groups, or that the API answers
 *     through the load balancer.
 */
import * as pulumi from "@pulumi/pulumi";
import { outputValue, PulumiMocks, RecordedResource, setupPulumiMocks } from "./helpers/mocks";
import { checkClusterConfig, parseClusterConfig, type ClusterConfig } from "../lib/config";
import { securityGroupRules, type SecurityGroupRuleSpec } from "../modules/openstack/rules";
import { floatingIpOptions, INSTANCE_IGNORED_CHANGES, instanceOptions, loadBalancerOptions, longLivedOptions, portOptions, pushDependsOn, uniqueValueOptions } from "../modules/openstack/options";
import { OpenStackSpec, resolveNetwork, subnetPlan } from "../modules/openstack/config";
import { parseIpv4Cidr } from "../lib/config/network";
import { TEST_SSH_KEY as KEY, threeByTwoNodes } from "./helpers/fixtures";

const IMAGE = "5f2c0b36-4f6a-4b8e-9a0e-2f1c3d4e5f60";
const EXTERNAL = "0e4c6f2a-9a7b-4c1d-8e3f-112233445566";
const ZONE = "7d1e2f3a-4b5c-4d6e-8f90-a1b2c3d4e5f6";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Raw = Record<string, any>;

/** The openstack block of the test cluster. */
function openstackBlock(overrides: Raw = {}): Raw {
    return {
        authUrl: "https://keystone.example.com:5000/v3",
        region: "RegionOne",
        projectName: "k8s",
        userName: "opke",
        imageId: IMAGE,
        controllerFlavor: "m1.large",
        workerFlavor: "m1.xlarge",
        externalNetworkId: EXTERNAL,
        allowedSshCidrs: ["203.0.113.7/32"],
        allowedApiCidrs: ["198.51.100.0/24"],
        dnsZoneId: ZONE,
        ...overrides,
    };
}

/** 3 controllers + 2 workers on OpenStack; opke creates the network (10.0.0.0/24). */
function raw(overrides: Raw = {}, os: Raw = {}): Raw {
    return {
        clusterName: "os1",
        platform: "openstack",
        apiDnsName: "api.os1.example.com",
        ...threeByTwoNodes({ macs: false, w1: { generation: 3 } }),
        ssh: { authorizedKeys: [KEY] },
        pki: { algorithm: "ECDSA" },
        openstack: openstackBlock(os),
        ...overrides,
    };
}

function issuesOf(config: unknown): string[] {
    const result = checkClusterConfig(config);
    if (result.ok) throw new Error("expected the config to be rejected, but it was accepted");
    return result.issues;
}

describe("openstack config", () => {
    test("a complete block gets its defaults", () => {
        const cfg = parseClusterConfig(raw());
        expect(cfg.openstack).toEqual({
            ...openstackBlock(),
            projectDomainName: "Default",
            userDomainName: "Default",
            serverGroupPolicy: "anti-affinity",
            network: { create: true },
            nodePortCidrs: [],
            sshVia: "floating-ip",
            protect: false,
        });
        expect(resolveNetwork(cfg.openstack!.network)).toEqual({ kind: "create", dnsNameservers: [] });
    });

    test("an existing network and application credentials are accepted", () => {
        const cfg = parseClusterConfig(
            raw({}, {
                userName: undefined,
                projectName: undefined,
                applicationCredentialId: "0123456789abcdef0123456789abcdef",
                network: { id: "11111111-2222-4333-8444-555555555555", subnetId: "66666666-7777-4888-9999-AAAAAAAAAAAA" },
            }),
        );
        expect(resolveNetwork(cfg.openstack!.network)).toEqual({
            kind: "existing",
            networkId: "11111111-2222-4333-8444-555555555555",
            subnetId: "66666666-7777-4888-9999-aaaaaaaaaaaa",
        });
    });

    test("an empty openstack mapping (Pulumi.yaml's default) counts as unset", () => {
        const bare = raw({ platform: "bare-metal", openstack: {} });
        const result = checkClusterConfig(bare);
        expect(result.ok && result.config.openstack).toBe(undefined);
        expect(issuesOf(raw({ openstack: {} }))).toEqual([
            'openstack: missing; platform "openstack" needs the OpenStack settings; set openstack.authUrl, imageId, controllerFlavor, externalNetworkId and the login (see Pulumi.openstack-example.yaml)',
        ]);
    });

    const BAD: [string, Raw, string[]][] = [
        [
            "openstack block on bare metal",
            raw({ platform: "bare-metal" }),
            ['openstack: is only used with platform "openstack" (platform is "bare-metal"); remove it or set platform: openstack'],
        ],
        [
            "no openstack block",
            raw({ openstack: undefined }),
            [
                'openstack: missing; platform "openstack" needs the OpenStack settings; set openstack.authUrl, imageId, controllerFlavor, externalNetworkId and the login (see Pulumi.openstack-example.yaml)',
            ],
        ],
        [
            "image by name, bad URL, flavor empty, bad external network",
            raw({}, { imageId: "flatcar-stable", authUrl: "keystone:5000", controllerFlavor: "", externalNetworkId: "public" }),
            [
                'openstack.authUrl: "keystone:5000" is not a URL; use the Keystone v3 endpoint such as "https://keystone.example.com:5000/v3"',
                'openstack.imageId: "flatcar-stable" is not an image ID; pin the image by its UUID (openstack image show -f value -c id <name>); a name would float to whatever image carries it next',
                'openstack.controllerFlavor: "" is empty; set a flavor name such as "m1.large"',
                'openstack.externalNetworkId: "public" is not a network ID; use the UUID of the external network (openstack network list --external)',
            ],
        ],
        [
            "no login",
            raw({}, { userName: undefined, projectName: undefined }),
            [
                "openstack.userName: missing; set the OpenStack user (its password goes in the secret config opke:openstackPassword), or log in with openstack.applicationCredentialId",
                "openstack.projectName: missing; set the project to build in: openstack.projectName or openstack.projectId",
            ],
        ],
        [
            "project by name and ID",
            raw({}, { projectId: "0123456789abcdef0123456789abcdef" }),
            ['openstack.projectId: "0123456789abcdef0123456789abcdef" is set together with openstack.projectName; set only one of them'],
        ],
        [
            "application credential with user and project",
            raw({}, { applicationCredentialId: "0123456789abcdef0123456789abcdef" }),
            [
                'openstack.userName: "opke" is not used with openstack.applicationCredentialId (an application credential carries its user and project); remove it',
                'openstack.projectName: "k8s" is not used with openstack.applicationCredentialId (an application credential carries its user and project); remove it',
            ],
        ],
        [
            "network neither created nor existing",
            raw({}, { network: {} }),
            ['openstack.network: {} sets neither create nor id; use { create: true } to let opke create the network, or { id: "<network UUID>", subnetId: "<subnet UUID>" }'],
        ],
        [
            "network created and existing",
            raw({}, { network: { create: true, id: "11111111-2222-4333-8444-555555555555" } }),
            [
                'openstack.network: {"create":true,"id":"11111111-2222-4333-8444-555555555555"} sets create together with id/subnetId; use either { create: true } or { id, subnetId } of an existing network',
            ],
        ],
        [
            "existing network without subnet, with DNS servers",
            raw({}, { network: { id: "11111111-2222-4333-8444-555555555555", dnsNameservers: ["9.9.9.9"] } }),
            [
                "openstack.network.subnetId: missing; an existing network needs the UUID of its subnet on network.nodeCidr",
                'openstack.network.dnsNameservers: ["9.9.9.9"] only applies to a network opke creates; set DNS servers on the existing subnet, or remove it',
            ],
        ],
        [
            "create: false",
            raw({}, { network: { create: false } }),
            ["openstack.network.create: false is not allowed; use one of true"],
        ],
        [
            "node IPs on the gateway and in the DHCP pool of the subnet opke creates",
            raw({ controllers: [{ name: "c1", ip: "10.0.0.1" }, { name: "c2", ip: "10.0.0.12" }, { name: "c3", ip: "10.0.0.200" }] }),
            [
                'controllers[0].ip: "10.0.0.1" is the gateway of the subnet opke creates; use an address from 10.0.0.2 to 10.0.0.127',
                'controllers[2].ip: "10.0.0.200" is in the DHCP pool of the subnet opke creates (10.0.0.128 to 10.0.0.254); use an address from 10.0.0.2 to 10.0.0.127',
            ],
        ],
        [
            "no SSH source, bad and duplicate CIDRs",
            raw({}, { allowedSshCidrs: [], allowedApiCidrs: ["198.51.100.1/24", "0.0.0.0/0", "0.0.0.0/0"], nodePortCidrs: ["10.0.0.0/33"] }),
            [
                'openstack.allowedApiCidrs[0]: "198.51.100.1/24" has host bits set; use "198.51.100.0/24"',
                'openstack.nodePortCidrs[0]: "10.0.0.0/33" is not an IPv4 CIDR; use ADDRESS/PREFIX such as "203.0.113.0/24" (a single host is /32)',
                'openstack.allowedSshCidrs: [] is empty, so the nodes\' SSH port is closed and the pushes cannot run (openstack.sshVia "floating-ip"); list the public address the host running pulumi connects from, such as "203.0.113.7/32"',
                "openstack.allowedApiCidrs[2]: \"0.0.0.0/0\" is already listed at openstack.allowedApiCidrs[1]; list each CIDR once",
            ],
        ],
        [
            "SSH source left at its default",
            raw({}, { allowedSshCidrs: undefined, sshVia: "direct" }),
            [
                'openstack.allowedSshCidrs: [] (default) is empty, so the nodes\' SSH port is closed and the pushes cannot run (openstack.sshVia "direct"); list the address of the host running pulumi on the node network, such as "203.0.113.7/32"',
            ],
        ],
        [
            "bastion mode without bastion",
            raw({}, { sshVia: "bastion" }),
            ['ssh.bastion: missing; openstack.sshVia "bastion" connects through it; set ssh.bastion.host (and port, user)'],
        ],
        [
            "bastion without bastion mode",
            raw({ ssh: { authorizedKeys: [KEY], bastion: { host: "bastion.example.com" } } }),
            ['ssh.bastion: {"host":"bastion.example.com"} is only used with openstack.sshVia "bastion" (it is "floating-ip"); remove it or set openstack.sshVia: bastion'],
        ],
        [
            "unknown key and bad volume size",
            raw({}, { flavor: "m1.large", volumeSize: 0 }),
            [
                "openstack.volumeSize: 0 is out of range; use a size in GiB from 1 to 16384",
                "openstack.flavor: unknown key; allowed keys are authUrl, region, projectName, projectId, projectDomainName, userName, userDomainName, applicationCredentialId, cacertFile, imageId, controllerFlavor, workerFlavor, volumeSize, availabilityZone, serverGroupPolicy, externalNetworkId, network, allowedApiCidrs, allowedSshCidrs, nodePortCidrs, sshVia, loadBalancerProvider, dnsZoneId, protect",
            ],
        ],
        [
            "a node network too small for the subnet plan",
            raw({ network: { nodeCidr: "10.0.0.8/30" }, controllers: [{ name: "c1", ip: "10.0.0.9" }], workers: [] }),
            ['network.nodeCidr: "10.0.0.8/30" is too small for the subnet opke creates (gateway, node addresses and a DHCP pool); use a /29 or larger'],
        ],
    ];
    test.each(BAD)("%s", (_name, config, issues) => {
        expect(issuesOf(config)).toEqual(issues);
    });

    test("subnet plan: gateway, node range, DHCP pool in the upper half", () => {
        expect(subnetPlan(parseIpv4Cidr("10.0.0.0/24")!)).toEqual({
            gatewayIp: "10.0.0.1",
            allocationPool: { start: "10.0.0.128", end: "10.0.0.254" },
            nodeRange: { first: "10.0.0.2", last: "10.0.0.127" },
        });
        expect(subnetPlan(parseIpv4Cidr("192.168.8.0/29")!)).toEqual({
            gatewayIp: "192.168.8.1",
            allocationPool: { start: "192.168.8.4", end: "192.168.8.6" },
            nodeRange: { first: "192.168.8.2", last: "192.168.8.3" },
        });
        expect(subnetPlan(parseIpv4Cidr("192.168.8.0/30")!)).toBeUndefined();
    });

    test("the secret keys are skipped by the loaders, never part of the config", () => {
        const { rawConfigFromPulumi } = require("../lib/config") as typeof import("../lib/config");
        expect(rawConfigFromPulumi({ "opke:clusterName": "os1", "opke:openstackPassword": "hunter2", "opke:openstackApplicationCredentialSecret": "s3cret" })).toEqual({
            clusterName: "os1",
        });
    });
});

describe("security-group rule table", () => {
    const cfg = (cni: "flannel" | "cilium", os: Raw = {}): [ClusterConfig, OpenStackSpec] => {
        const c = parseClusterConfig(raw({ network: { cni } }, os));
        return [c, c.openstack!];
    };
    /** One line per rule: group id protocol ports source — description. */
    const table = (rules: SecurityGroupRuleSpec[]) =>
        rules.map((r) => {
            const ports = r.ports ? (r.ports.min === r.ports.max ? `${r.ports.min}` : `${r.ports.min}-${r.ports.max}`) : "-";
            const source = "cidr" in r.source ? r.source.cidr : `group:${r.source.group}`;
            return `${r.group} ${r.id} ${r.protocol} ${ports} ${source} — ${r.description}`;
        });

    test("flannel, one SSH and one API source, NodePorts from two networks", () => {
        const [c, os] = cfg("flannel", { nodePortCidrs: ["192.0.2.0/24", "10.0.0.0/24"] });
        expect(table(securityGroupRules(c, os))).toEqual([
            "node icmp icmp - 10.0.0.0/24 — ICMP from the node network",
            "node kubelet tcp 10250 group:node — kubelet API from the nodes",
            "node flannel-vxlan udp 8472 group:node — flannel VXLAN between nodes",
            "node ssh-203-0-113-7-32 tcp 22 203.0.113.7/32 — SSH from 203.0.113.7/32",
            "node nodeport-tcp-192-0-2-0-24 tcp 30000-32767 192.0.2.0/24 — NodePorts (TCP) from 192.0.2.0/24",
            "node nodeport-udp-192-0-2-0-24 udp 30000-32767 192.0.2.0/24 — NodePorts (UDP) from 192.0.2.0/24",
            "node nodeport-tcp-10-0-0-0-24 tcp 30000-32767 10.0.0.0/24 — NodePorts (TCP) from 10.0.0.0/24",
            "node nodeport-udp-10-0-0-0-24 udp 30000-32767 10.0.0.0/24 — NodePorts (UDP) from 10.0.0.0/24",
            "controller etcd tcp 2379-2380 group:controller — etcd client and peer between controllers",
            "controller apiserver-nodes tcp 6443 10.0.0.0/24 — Kubernetes API from the node network (load balancer, kubelets)",
            "controller apiserver-198-51-100-0-24 tcp 6443 198.51.100.0/24 — Kubernetes API from 198.51.100.0/24",
        ]);
    });

    test("Cilium: VXLAN and health between nodes; the API port follows apiPort; no API sources", () => {
        const c = parseClusterConfig(raw({ network: { cni: "cilium" }, apiPort: 7443 }, { allowedApiCidrs: [] }));
        expect(table(securityGroupRules(c, c.openstack!))).toEqual([
            "node icmp icmp - 10.0.0.0/24 — ICMP from the node network",
            "node kubelet tcp 10250 group:node — kubelet API from the nodes",
            "node cilium-vxlan udp 8472 group:node — Cilium VXLAN between nodes",
            "node cilium-health tcp 4240 group:node — Cilium health checks between nodes",
            "node ssh-203-0-113-7-32 tcp 22 203.0.113.7/32 — SSH from 203.0.113.7/32",
            "controller etcd tcp 2379-2380 group:controller — etcd client and peer between controllers",
            "controller apiserver-nodes tcp 7443 10.0.0.0/24 — Kubernetes API from the node network (load balancer, kubelets)",
        ]);
    });

    test("etcd is open between controllers only, nowhere else", () => {
        const [c, os] = cfg("flannel");
        const etcd = securityGroupRules(c, os).filter((r) => r.ports && r.ports.min <= 2380 && r.ports.max >= 2379);
        expect(etcd).toEqual([
            { id: "etcd", group: "controller", protocol: "tcp", ports: { min: 2379, max: 2380 }, source: { group: "controller" }, description: "etcd client and peer between controllers" },
        ]);
    });
});

describe("resource option functions", () => {
    const res = (n: string) => ({ n }) as unknown as pulumi.Resource;

    test.each([
        [0, false, { ignoreChanges: [...INSTANCE_IGNORED_CHANGES], replacementTrigger: 0, deleteBeforeReplace: true }],
        [3, false, { ignoreChanges: [...INSTANCE_IGNORED_CHANGES], replacementTrigger: 3, deleteBeforeReplace: true }],
        [1, true, { ignoreChanges: [...INSTANCE_IGNORED_CHANGES], replacementTrigger: 1, deleteBeforeReplace: true, protect: true }],
    ])("instance of generation %d (protect %s)", (generation, protect, expected) => {
        expect(instanceOptions({ generation }, protect)).toEqual(expected);
    });

    test("the instance ignores exactly its boot inputs", () => {
        expect(INSTANCE_IGNORED_CHANGES).toEqual(["userData", "imageId", "blockDevices", "flavorName", "keyPair", "availabilityZone", "schedulerHints"]);
    });

    test("a negative or fractional generation is refused", () => {
        expect(() => instanceOptions({ generation: -1 }, false)).toThrow("generation -1 is not a whole number ≥ 0");
    });

    test.each([
        ["port", portOptions(false), { deleteBeforeReplace: true }],
        ["protected port", portOptions(true), { deleteBeforeReplace: true, protect: true }],
        ["floating IP (holds the association)", floatingIpOptions(false), { deleteBeforeReplace: true }],
        ["protected floating IP", floatingIpOptions(true), { deleteBeforeReplace: true, protect: true }],
        ["record set, member, listener", uniqueValueOptions(), { deleteBeforeReplace: true }],
        ["network objects", longLivedOptions(false), {}],
        ["protected network objects", longLivedOptions(true), { protect: true }],
        ["load balancer", loadBalancerOptions(false), { customTimeouts: { create: "30m", update: "30m", delete: "30m" } }],
    ])("%s", (_name, actual, expected) => {
        expect(actual).toEqual(expected);
    });

    test("pushes wait for the server, its floating IP, its member and the API path, in that order", () => {
        const [instance, fip, member, listener, dns] = ["instance", "fip", "member", "listener", "dns"].map(res);
        expect(pushDependsOn({ instance, floatingIp: fip, member, api: [listener, dns] })).toEqual([instance, fip, member, listener, dns]);
        expect(pushDependsOn({ instance, floatingIp: fip, api: [listener] })).toEqual([instance, fip, listener]);
        expect(pushDependsOn({ instance, api: [] })).toEqual([instance]);
    });
});

// ---------------------------------------------------------------------------------------------
// The component under mocks

const T = {
    provider: "pulumi:providers:openstack",
    network: "openstack:networking/network:Network",
    subnet: "openstack:networking/subnet:Subnet",
    router: "openstack:networking/router:Router",
    routerInterface: "openstack:networking/routerInterface:RouterInterface",
    secGroup: "openstack:networking/secGroup:SecGroup",
    secGroupRule: "openstack:networking/secGroupRule:SecGroupRule",
    port: "openstack:networking/port:Port",
    instance: "openstack:compute/instance:Instance",
    serverGroup: "openstack:compute/serverGroup:ServerGroup",
    keypair: "openstack:compute/keypair:Keypair",
    loadBalancer: "openstack:loadbalancer/loadBalancer:LoadBalancer",
    listener: "openstack:loadbalancer/listener:Listener",
    pool: "openstack:loadbalancer/pool:Pool",
    member: "openstack:loadbalancer/member:Member",
    monitor: "openstack:loadbalancer/monitor:Monitor",
    floatingIp: "openstack:networking/floatingIp:FloatingIp",
    recordSet: "openstack:dns/recordSet:RecordSet",
    command: "command:remote:Command",
    commandProvider: "pulumi:providers:command",
} as const;

/** Floating IPs the mock hands out, by resource name. */
const FIPS: Record<string, string> = {
    "os1-api": "192.0.2.10",
    "os1-fip-c1": "192.0.2.11",
    "os1-fip-c2": "192.0.2.12",
    "os1-fip-c3": "192.0.2.13",
    "os1-fip-w1": "192.0.2.21",
    "os1-fip-w2": "192.0.2.22",
};

interface Captured {
    type: string;
    name: string;
    opts: pulumi.ResourceOptions;
}

interface Build {
    resources: RecordedResource[];
    captured: Captured[];
    cluster: import("../stacks/cluster").Cluster;
    os: import("../modules/openstack/component").OpenStackCluster;
}

describe("opke:openstack:Cluster under mocks", () => {
    let mocks: PulumiMocks;
    let first: Build;
    let second: Build;

    /** Builds the core Cluster and the OpenStack component for `overrides`, waits for every output. */
    async function build(overrides: Raw): Promise<Build> {
        mocks.reset();
        const { Cluster } = require("../stacks/cluster") as typeof import("../stacks/cluster");
        const { OpenStackCluster } = require("../modules/openstack/component") as typeof import("../modules/openstack/component");
        const cfg = parseClusterConfig(raw(overrides));
        const cluster = new Cluster("os1", { config: cfg });
        const captured: Captured[] = [];
        const capture: pulumi.ResourceTransformation = (args) => {
            captured.push({ type: args.type, name: args.name, opts: args.opts });
            return undefined;
        };
        const os = new OpenStackCluster(
            "os1",
            { config: cfg, cluster, credentials: { password: pulumi.secret("hunter2") } },
            { transformations: [capture] },
        );
        await outputValue(os.nodeIps);
        await outputValue(os.loadBalancerVip);
        await Promise.all(Object.values(os.provisioned.pushes).map((p) => outputValue(p.stdout)));
        await outputValue(os.provisioned.bootstrap.stdout);
        return { resources: [...mocks.resources], captured, cluster, os };
    }

    beforeAll(async () => {
        mocks = await setupPulumiMocks({
            outputs: (args) => {
                switch (args.type) {
                    case T.floatingIp:
                        return { address: FIPS[args.name] };
                    case T.loadBalancer:
                        return { vipAddress: "10.0.0.200", vipPortId: "vip-port-id" };
                    case T.keypair:
                        return { name: "os1-keypair-1a2b3c4" };
                    default:
                        return undefined;
                }
            },
            call: (args) => (args.token === "openstack:networking/getNetwork:getNetwork" ? { ...args.inputs, id: EXTERNAL, name: "public", external: true } : args.inputs),
        });
        first = await build({ kubernetesVersion: "v1.36.3" });
        second = await build({ kubernetesVersion: "v1.36.1" });
    });

    /** Custom resources of one type, by name (registration order depends on when inputs resolve). */
    const of = (b: Build, type: string) => b.resources.filter((r) => r.custom && r.type === type).sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
    const get = (b: Build, type: string, name: string) => {
        const found = b.resources.filter((r) => r.type === type && r.name === name);
        if (found.length !== 1) throw new Error(`expected one ${type} ${name}, found ${found.length}`);
        return found[0];
    };
    const optsOf = (b: Build, type: string, name: string) => {
        const found = b.captured.filter((c) => c.type === type && c.name === name);
        if (found.length !== 1) throw new Error(`expected one captured ${type} ${name}, found ${found.length}`);
        return found[0].opts as pulumi.CustomResourceOptions;
    };
    const urnOf = async (r: pulumi.Resource) => outputValue(r.urn);

    test("exact OpenStack resource types and counts for 3 controllers + 2 workers", () => {
        const counts: Record<string, number> = {};
        for (const r of first.resources) if (r.custom && (r.type.startsWith("openstack:") || r.type === T.provider)) counts[r.type] = (counts[r.type] ?? 0) + 1;
        expect(counts).toEqual({
            [T.provider]: 1,
            [T.network]: 1,
            [T.subnet]: 1,
            [T.router]: 1,
            [T.routerInterface]: 1,
            [T.secGroup]: 2,
            [T.secGroupRule]: 7,
            [T.serverGroup]: 1,
            [T.keypair]: 1,
            [T.port]: 5,
            [T.instance]: 5,
            [T.floatingIp]: 6,
            [T.loadBalancer]: 1,
            [T.listener]: 1,
            [T.pool]: 1,
            [T.monitor]: 1,
            [T.member]: 3,
            [T.recordSet]: 1,
        });
        expect(first.resources.filter((r) => !r.custom && r.type === "opke:openstack:Cluster").map((r) => r.name)).toEqual(["os1"]);
        expect(of(first, T.command).map((r) => r.name)).toEqual(["os1-bootstrap", "os1-push-c1", "os1-push-c2", "os1-push-c3", "os1-push-w1", "os1-push-w2"]);
    });

    test("every OpenStack resource uses the explicit provider, whose password is a secret", () => {
        const provider = get(first, T.provider, "os1-provider");
        expect(provider.inputs).toEqual({
            authUrl: "https://keystone.example.com:5000/v3",
            region: "RegionOne",
            userName: "opke",
            userDomainName: "Default",
            password: "hunter2",
            tenantName: "k8s",
            projectDomainName: "Default",
        });
        expect(provider.secretInputs).toEqual(["password"]);
        for (const r of first.resources.filter((x) => x.type.startsWith("openstack:"))) {
            expect([r.name, r.provider]).toEqual([r.name, "urn:pulumi:test::opke::opke:openstack:Cluster$pulumi:providers:openstack::os1-provider::os1-provider-id"]);
        }
        const getNetwork = mocks.calls.filter((c) => c.token === "openstack:networking/getNetwork:getNetwork");
        expect(getNetwork.map((c) => [c.inputs, c.provider])).toEqual([
            [{ networkId: EXTERNAL }, "urn:pulumi:test::opke::opke:openstack:Cluster$pulumi:providers:openstack::os1-provider::os1-provider-id"],
        ]);
    });

    test("network, subnet (nodes in the lower half, DHCP pool in the upper half), router", () => {
        expect(get(first, T.network, "os1-network").inputs).toEqual({ name: "os1", description: "opke os1: node network", adminStateUp: true });
        expect(get(first, T.subnet, "os1-subnet").inputs).toEqual({
            name: "os1",
            description: "opke os1: nodes in the lower half, DHCP pool in the upper half",
            networkId: "os1-network-id",
            cidr: "10.0.0.0/24",
            ipVersion: 4,
            enableDhcp: true,
            gatewayIp: "10.0.0.1",
            allocationPools: [{ start: "10.0.0.128", end: "10.0.0.254" }],
            dnsNameservers: [],
        });
        expect(get(first, T.router, "os1-router").inputs).toEqual({
            name: "os1",
            description: "opke os1: node network to the external network",
            adminStateUp: true,
            externalNetworkId: EXTERNAL,
        });
        expect(get(first, T.routerInterface, "os1-router-interface").inputs).toEqual({ routerId: "os1-router-id", subnetId: "os1-subnet-id" });
    });

    test("security groups and every rule, exactly", () => {
        expect(of(first, T.secGroup).map((r) => [r.name, r.inputs])).toEqual([
            ["os1-controller", { name: "os1-controller", description: "opke os1: controllers" }],
            ["os1-node", { name: "os1-node", description: "opke os1: every node" }],
        ]);
        const rule = (name: string, protocol: string, ports: [number, number] | undefined, group: string, source: { cidr: string } | { group: string }, description: string) => [
            name,
            {
                description,
                direction: "ingress",
                ethertype: "IPv4",
                protocol,
                ...(ports ? { portRangeMin: ports[0], portRangeMax: ports[1] } : {}),
                ...("cidr" in source ? { remoteIpPrefix: source.cidr } : { remoteGroupId: `os1-${source.group}-id` }),
                securityGroupId: `os1-${group}-id`,
            },
        ];
        expect(Object.fromEntries(of(first, T.secGroupRule).map((r) => [r.name, r.inputs]))).toEqual(Object.fromEntries([
            rule("os1-node-icmp", "icmp", undefined, "node", { cidr: "10.0.0.0/24" }, "ICMP from the node network"),
            rule("os1-node-kubelet", "tcp", [10250, 10250], "node", { group: "node" }, "kubelet API from the nodes"),
            rule("os1-node-flannel-vxlan", "udp", [8472, 8472], "node", { group: "node" }, "flannel VXLAN between nodes"),
            rule("os1-node-ssh-203-0-113-7-32", "tcp", [22, 22], "node", { cidr: "203.0.113.7/32" }, "SSH from 203.0.113.7/32"),
            rule("os1-controller-etcd", "tcp", [2379, 2380], "controller", { group: "controller" }, "etcd client and peer between controllers"),
            rule("os1-controller-apiserver-nodes", "tcp", [6443, 6443], "controller", { cidr: "10.0.0.0/24" }, "Kubernetes API from the node network (load balancer, kubelets)"),
            rule("os1-controller-apiserver-198-51-100-0-24", "tcp", [6443, 6443], "controller", { cidr: "198.51.100.0/24" }, "Kubernetes API from 198.51.100.0/24"),
        ]));
        expect(of(first, T.secGroupRule)).toHaveLength(7);
    });

    test("ports: fixed IPs on the subnet, controller ports in both groups", () => {
        expect(of(first, T.port).map((r) => [r.name, r.inputs])).toEqual(
            [
                ["c1", "10.0.0.11", "controller"],
                ["c2", "10.0.0.12", "controller"],
                ["c3", "10.0.0.13", "controller"],
                ["w1", "10.0.0.21", "worker"],
                ["w2", "10.0.0.22", "worker"],
            ].map(([node, ip, role]) => [
                `os1-port-${node}`,
                {
                    name: `os1-${node}`,
                    description: `opke os1: ${role} ${node}`,
                    networkId: "os1-network-id",
                    adminStateUp: true,
                    fixedIps: [{ subnetId: "os1-subnet-id", ipAddress: ip }],
                    securityGroupIds: role === "controller" ? ["os1-node-id", "os1-controller-id"] : ["os1-node-id"],
                },
            ]),
        );
    });

    test("a controller's Instance: Ignition as user data, pinned image, flavor, port, server group", () => {
        const c1 = first.cluster.nodes.find((n) => n.name === "c1")!;
        const instance = get(first, T.instance, "os1-c1");
        expect(instance.inputs).toEqual({
            name: "os1-c1",
            flavorName: "m1.large",
            imageId: IMAGE,
            userData: c1.ignition,
            configDrive: true,
            keyPair: "os1-keypair-1a2b3c4",
            networks: [{ port: "os1-port-c1-id" }],
            schedulerHints: [{ group: "os1-controllers-id" }],
            metadata: { "opke-cluster": "os1", "opke-role": "controller", "opke-node": "c1", "opke-generation": "0" },
            stopBeforeDestroy: true,
        });
        expect(instance.secretInputs).toEqual([]);
        expect(JSON.parse(instance.inputs.userData).ignition.version).toBe("3.3.0");
        expect(get(first, T.serverGroup, "os1-controllers").inputs).toEqual({ name: "os1-controllers", policies: ["anti-affinity"] });
        expect(get(first, T.keypair, "os1-keypair").inputs).toEqual({ publicKey: KEY });
    });

    test("a worker's Instance: worker flavor, no server group, its generation in metadata", () => {
        const w1 = first.cluster.nodes.find((n) => n.name === "w1")!;
        expect(get(first, T.instance, "os1-w1").inputs).toEqual({
            name: "os1-w1",
            flavorName: "m1.xlarge",
            imageId: IMAGE,
            userData: w1.ignition,
            configDrive: true,
            keyPair: "os1-keypair-1a2b3c4",
            networks: [{ port: "os1-port-w1-id" }],
            metadata: { "opke-cluster": "os1", "opke-role": "worker", "opke-node": "w1", "opke-generation": "3" },
            stopBeforeDestroy: true,
        });
        for (const n of first.cluster.nodes) expect(get(first, T.instance, `os1-${n.name}`).inputs.userData).toBe(n.ignition);
    });

    test("the API load balancer: listener, pool, monitor, members, floating IP, DNS record", () => {
        expect(get(first, T.loadBalancer, "os1-api").inputs).toEqual({ name: "os1-api", description: "opke os1: Kubernetes API", vipSubnetId: "os1-subnet-id" });
        expect(get(first, T.listener, "os1-api").inputs).toEqual({
            name: "os1-api",
            loadbalancerId: "os1-api-id",
            protocol: "TCP",
            protocolPort: 6443,
            timeoutClientData: 3600000,
            timeoutMemberData: 3600000,
        });
        expect(get(first, T.pool, "os1-api").inputs).toEqual({ name: "os1-api", listenerId: "os1-api-id", protocol: "TCP", lbMethod: "ROUND_ROBIN" });
        expect(get(first, T.monitor, "os1-api").inputs).toEqual({ name: "os1-api", poolId: "os1-api-id", type: "TCP", delay: 5, timeout: 3, maxRetries: 3, maxRetriesDown: 3 });
        expect(of(first, T.member).map((r) => [r.name, r.inputs])).toEqual(
            [
                ["c1", "10.0.0.11"],
                ["c2", "10.0.0.12"],
                ["c3", "10.0.0.13"],
            ].map(([node, ip]) => [`os1-api-${node}`, { name: node, poolId: "os1-api-id", address: ip, protocolPort: 6443, subnetId: "os1-subnet-id" }]),
        );
        // On the VIP port, which has one fixed IP: no fixedIp.
        expect(get(first, T.floatingIp, "os1-api").inputs).toEqual({ pool: "public", description: "opke os1: Kubernetes API api.os1.example.com", portId: "vip-port-id" });
        expect(get(first, T.recordSet, "os1-api").inputs).toEqual({
            zoneId: ZONE,
            name: "api.os1.example.com.",
            type: "A",
            ttl: 300,
            records: ["192.0.2.10"],
            description: "opke os1: Kubernetes API",
        });
    });

    test("one floating IP per node, associated to its port and fixed IP by itself", () => {
        expect(of(first, T.floatingIp).map((r) => r.name)).toEqual(["os1-api", "os1-fip-c1", "os1-fip-c2", "os1-fip-c3", "os1-fip-w1", "os1-fip-w2"]);
        for (const n of first.cluster.nodes) {
            expect(get(first, T.floatingIp, `os1-fip-${n.name}`).inputs).toEqual({ pool: "public", description: `opke os1: ${n.name}`, portId: `os1-port-${n.name}-id`, fixedIp: n.ip });
        }
        expect(first.resources.filter((r) => r.type.includes("floatingIpAssociate"))).toEqual([]);
    });

    test("outputs: API endpoint, load-balancer address, node IPs", async () => {
        expect(first.os.apiEndpoint).toBe("https://api.os1.example.com:6443");
        expect(await outputValue(first.os.loadBalancerAddress)).toBe("192.0.2.10");
        expect(await outputValue(first.os.loadBalancerVip)).toBe("10.0.0.200");
        expect(await outputValue(first.os.nodeIps)).toEqual({
            c1: { fixedIp: "10.0.0.11", floatingIp: "192.0.2.11" },
            c2: { fixedIp: "10.0.0.12", floatingIp: "192.0.2.12" },
            c3: { fixedIp: "10.0.0.13", floatingIp: "192.0.2.13" },
            w1: { fixedIp: "10.0.0.21", floatingIp: "192.0.2.21" },
            w2: { fixedIp: "10.0.0.22", floatingIp: "192.0.2.22" },
        });
    });

    test("the component hands the option functions' results to its children", async () => {
        for (const n of first.cluster.nodes) {
            const opts = optsOf(first, T.instance, `os1-${n.name}`);
            expect(opts.ignoreChanges).toEqual([...INSTANCE_IGNORED_CHANGES]);
            expect(opts.replacementTrigger).toBe(n.generation);
            expect(opts.deleteBeforeReplace).toBe(true);
            expect(opts.protect).toBeUndefined();
            expect(await Promise.all((opts.dependsOn as pulumi.Resource[]).map(urnOf))).toEqual([
                "urn:pulumi:test::opke::opke:openstack:Cluster$openstack:networking/routerInterface:RouterInterface::os1-router-interface",
            ]);
            expect(optsOf(first, T.port, `os1-port-${n.name}`).deleteBeforeReplace).toBe(true);
        }
        // Every floating IP (the nodes' and the API's) holds its association: deleteBeforeReplace,
        // not protected (openstack.protect is false here), after the router interface.
        for (const fip of ["os1-api", ...first.cluster.nodes.map((n) => `os1-fip-${n.name}`)]) {
            const opts = optsOf(first, T.floatingIp, fip);
            expect([fip, opts.deleteBeforeReplace, opts.protect]).toEqual([fip, true, undefined]);
            expect(await Promise.all((opts.dependsOn as pulumi.Resource[]).map(urnOf))).toEqual([
                "urn:pulumi:test::opke::opke:openstack:Cluster$openstack:networking/routerInterface:RouterInterface::os1-router-interface",
            ]);
        }
        expect(optsOf(first, T.recordSet, "os1-api").deleteBeforeReplace).toBe(true);
        expect(optsOf(first, T.member, "os1-api-c2").deleteBeforeReplace).toBe(true);
        // Members one at a time: c1 after the monitor, c2 after c1, c3 after c2.
        const memberDeps = async (node: string) => Promise.all((optsOf(first, T.member, `os1-api-${node}`).dependsOn as pulumi.Resource[]).map(urnOf));
        expect(await memberDeps("c1")).toEqual(["urn:pulumi:test::opke::opke:openstack:Cluster$openstack:loadbalancer/monitor:Monitor::os1-api"]);
        expect(await memberDeps("c3")).toEqual(["urn:pulumi:test::opke::opke:openstack:Cluster$openstack:loadbalancer/member:Member::os1-api-c2"]);
        expect(optsOf(first, T.loadBalancer, "os1-api").customTimeouts).toEqual({ create: "30m", update: "30m", delete: "30m" });
    });

    test("pushes are deletedWith their Instance and wait for it, its floating IP, its member and the API path", async () => {
        const name = (urn: string) => urn.slice(urn.lastIndexOf("::") + 2);
        const deps = async (node: string) => (await Promise.all((optsOf(first, T.command, `os1-push-${node}`).dependsOn as pulumi.Resource[]).map(urnOf))).map(name);
        for (const n of first.cluster.nodes) {
            expect(optsOf(first, T.command, `os1-push-${n.name}`).deletedWith).toBe(first.os.instances[n.name]);
        }
        expect(await deps("c1")).toEqual(["os1-c1", "os1-fip-c1", "os1-api-c1", "os1-api", "os1-api", "os1-api", "os1-api", "os1-api"]);
        expect(await deps("c2")).toEqual(["os1-push-c1", "os1-c2", "os1-fip-c2", "os1-api-c2", "os1-api", "os1-api", "os1-api", "os1-api", "os1-api"]);
        expect(await deps("w2")).toEqual([
            "os1-push-c3",
            "os1-bootstrap",
            "os1-push-w1",
            "os1-w2",
            "os1-fip-w2",
            "os1-api",
            "os1-api",
            "os1-api",
            "os1-api",
            "os1-api",
            "os1-api-c1",
            "os1-api-c2",
            "os1-api-c3",
        ]);
    });

    test("pushes connect to each node's floating IP", async () => {
        for (const n of first.cluster.nodes) {
            const push = get(first, T.command, `os1-push-${n.name}`);
            expect(push.inputs.connection.host).toBe(FIPS[`os1-fip-${n.name}`]);
            expect(push.secretInputs).toContain("connection");
        }
    });

    test("a Kubernetes version bump changes no OpenStack input and re-pushes every node exactly once", () => {
        const openstackResources = (b: Build) =>
            Object.fromEntries(
                b.resources.filter((r) => r.type.startsWith("openstack:") || r.type === T.provider).map((r) => [`${r.type} ${r.name}`, { inputs: r.inputs, secret: r.secretInputs, provider: r.provider }]),
            );
        const before = openstackResources(first);
        const after = openstackResources(second);
        expect(Object.keys(after)).toEqual(Object.keys(before));
        expect(after).toEqual(before);
        // The boot configs are byte-identical; the pushes are not.
        for (const n of first.cluster.nodes) expect(second.cluster.nodes.find((m) => m.name === n.name)!.ignition).toBe(n.ignition);
        const commands = (b: Build) => Object.fromEntries(of(b, T.command).map((r) => [r.name, r.inputs]));
        const [a, b] = [commands(first), commands(second)];
        const changed = Object.keys(a).filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
        expect(changed).toEqual(["os1-push-c1", "os1-push-c2", "os1-push-c3", "os1-push-w1", "os1-push-w2"]);
        // Caveat: the mocks mint fresh keys on every build, so the payloads would differ anyway; the
        // version itself is checked in the decoded payloads (the provisioning tests isolate it).
        const { decodePayload } = require("../lib/provision") as typeof import("../lib/provision");
        const kubeletEnv = (stdin: string) => decodePayload(stdin).files.find((f) => f.path === "/etc/kubernetes/kubelet.env")!.content;
        for (const k of changed) {
            expect(b[k].stdin).not.toBe(a[k].stdin);
            expect(b[k].create).not.toBe(a[k].create);
            expect(b[k].connection).toEqual(a[k].connection);
            expect(kubeletEnv(a[k].stdin)).toContain(":v1.36.3");
            expect(kubeletEnv(b[k].stdin)).toContain(":v1.36.1");
        }
    });

    test("the program builds opke:openstack:Cluster for the example stack, with the password from secret config", async () => {
        mocks.reset();
        const fs = require("node:fs") as typeof import("node:fs");
        const path = require("node:path") as typeof import("node:path");
        const { rawConfigFromStackFile } = require("../lib/config") as typeof import("../lib/config");
        const file = path.join(__dirname, "..", "Pulumi.openstack-example.yaml");
        const { raw: example, issues } = rawConfigFromStackFile("Pulumi.openstack-example.yaml", fs.readFileSync(file, "utf8"));
        expect(issues).toEqual([]);
        // What the engine hands the program: JSON for structured values, text for strings.
        const all: Record<string, string> = Object.fromEntries(Object.entries(example).map(([k, v]) => [`opke:${k}`, typeof v === "string" ? v : JSON.stringify(v)]));
        all["opke:pki"] = JSON.stringify({ algorithm: "ECDSA" });
        all["opke:openstackPassword"] = "hunter2";
        pulumi.runtime.setAllConfig(all, ["opke:openstackPassword"]);
        try {
            const { program } = require("../stacks/program") as typeof import("../stacks/program");
            const outputs = await program();
            expect(outputs.apiEndpoint).toBe("https://api.demo.k8s.example.com:6443");
            expect(Object.keys(outputs)).toEqual(expect.arrayContaining(["apiEndpoint", "loadBalancerAddress", "nodeIps"]));
            await outputValue(outputs.nodeIps as pulumi.Output<unknown>);
            // The servers register once their ports and the keypair resolved.
            for (let i = 0; i < 200 && mocks.resources.filter((r) => r.type === T.instance).length < 5; i++) await new Promise((r) => setTimeout(r, 10));
            expect(mocks.resources.filter((r) => r.type === "opke:openstack:Cluster").map((r) => r.name)).toEqual(["demo"]);
            const provider = mocks.resources.find((r) => r.type === T.provider)!;
            expect(provider.inputs.password).toBe("hunter2");
            expect(provider.secretInputs).toEqual(["password"]);
            expect(mocks.resources.filter((r) => r.type === T.instance).map((r) => r.inputs.blockDevices).sort()).toEqual(
                Array(5).fill([{ uuid: IMAGE, sourceType: "image", destinationType: "volume", volumeSize: 40, bootIndex: 0, deleteOnTermination: true }]),
            );
            expect(mocks.resources.filter((r) => r.type === T.instance).every((r) => r.inputs.imageId === undefined)).toBe(true);
        } finally {
            pulumi.runtime.setAllConfig({});
        }
    });
});
