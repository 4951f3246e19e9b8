/**
 * `opke:openstack:Cluster` — the OpenStack platform: network, security groups, server group,
 * keypair, one port + one server per node (booted with the node's Ignition, image pinned by ID),
 * with sshVia "floating-ip" one floating IP per node attached to its port, an Octavia load balancer
 * for the Kubernetes API with a floating IP on its VIP port, an optional Designate record, and the
 * shared SSH provisioning (lib/provision) of every node.
 *
 * Floating IPs carry their association themselves (`portId`/`fixedIp` of
 * `networking.FloatingIp`, updated in place by the provider): no separate `FloatingIpAssociate`,
 * so a worker adds 4 resources (port, server, floating IP, push).
 *
 * Every child is `${name}-<thing>`, has `{ parent: this }` and uses the explicit provider built
 * here from the `openstack` config block and the secret config keys (default providers are
 * disabled in Pulumi.yaml). Resource options come from ./options.ts and the rule table from
 * ./rules.ts, both pure and table-tested.
 */
import * as openstack from "@pulumi/openstack";
import * as pulumi from "@pulumi/pulumi";
import { type ClusterConfig, NodeRole, Platform } from "../../lib/config/schema";
import { parseIpv4Cidr } from "../../lib/config/network";
import { type ConnectionSpec, provisionNodes, type Provisioned, sshConnection } from "../../lib/provision";
import type { Cluster, NodeAssets } from "../../stacks/cluster";
import { type OpenStackSpec, resolveNetwork, SshVia, subnetPlan } from "./config";
import { floatingIpOptions, instanceOptions, loadBalancerOptions, longLivedOptions, portOptions, pushDependsOn, uniqueValueOptions } from "./options";
import { secGroupRuleArgs, securityGroupRules, SecurityGroupRole } from "./rules";

/** Secrets for the provider, read by the program with `pulumi.Config.requireSecret`. */
export interface OpenStackCredentials {
    /** Keystone password of `openstack.userName` (secret key `opke:openstackPassword`). */
    password?: pulumi.Input<string>;
    /** Secret of `openstack.applicationCredentialId` (secret key `opke:openstackApplicationCredentialSecret`). */
    applicationCredentialSecret?: pulumi.Input<string>;
}

export interface OpenStackClusterArgs {
    /** The validated config; `platform` must be "openstack" and `openstack` set. */
    config: ClusterConfig;
    /** The core component: every node's Ignition and SSH tree. */
    cluster: Pick<Cluster, "nodes">;
    credentials: OpenStackCredentials;
}

/** A node's addresses. */
export interface NodeAddresses {
    /** The fixed IP on the node network (`nodes[].ip`). */
    fixedIp: string;
    /** The floating IP (sshVia "floating-ip" only). */
    floatingIp?: string;
}

/** Listener timeouts (ms): long-lived watch, exec, attach and log streams through the API. */
export const API_STREAM_TIMEOUT_MS = 3_600_000;
/** TTL of the API record in Designate (seconds). */
export const API_RECORD_TTL = 300;

/**
 * Health monitor of the API pool. TCP, not HTTPS GET /readyz: the API server runs with
 * --anonymous-auth=false, so an unauthenticated /readyz answers 401 and Octavia would mark every
 * member down. A TCP connect proves the API server listens; the pushes' own gates check /readyz
 * with the admin certificate.
 */
export const API_MONITOR = { type: "TCP", delay: 5, timeout: 3, maxRetries: 3, maxRetriesDown: 3 } as const;

/**
 * The explicit provider's inputs. The password or application-credential secret is always
 * wrapped in `pulumi.secret` (the SDK does so too for `password`).
 *
 * @throws Error naming the missing secret config key.
 */
export function providerArgs(os: OpenStackSpec, credentials: OpenStackCredentials): openstack.ProviderArgs {
    const common: openstack.ProviderArgs = {
        authUrl: os.authUrl,
        ...(os.region !== undefined ? { region: os.region } : {}),
        ...(os.cacertFile !== undefined ? { cacertFile: os.cacertFile } : {}),
    };
    if (os.applicationCredentialId !== undefined) {
        if (credentials.applicationCredentialSecret === undefined) {
            throw new Error("openstack.applicationCredentialId is set but the secret is missing; run pulumi config set --secret opke:openstackApplicationCredentialSecret <secret>");
        }
        return { ...common, applicationCredentialId: os.applicationCredentialId, applicationCredentialSecret: pulumi.secret(credentials.applicationCredentialSecret) };
    }
    if (credentials.password === undefined) {
        throw new Error("openstack.userName is set but the password is missing; run pulumi config set --secret opke:openstackPassword <password>");
    }
    return {
        ...common,
        userName: os.userName,
        userDomainName: os.userDomainName,
        password: pulumi.secret(credentials.password),
        ...(os.projectId !== undefined ? { tenantId: os.projectId } : { tenantName: os.projectName, projectDomainName: os.projectDomainName }),
    };
}

/** Octavia balancing method: the OVN driver only offers SOURCE_IP_PORT. */
export function poolMethod(os: Pick<OpenStackSpec, "loadBalancerProvider">): string {
    return os.loadBalancerProvider === "ovn" ? "SOURCE_IP_PORT" : "ROUND_ROBIN";
}

export class OpenStackCluster extends pulumi.ComponentResource {
    public readonly provider: openstack.Provider;
    /** `https://<apiDnsName>:<apiPort>`. */
    public readonly apiEndpoint: string;
    /** The API load balancer's floating IP (publish apiDnsName → this address, or let Designate). */
    public readonly loadBalancerAddress: pulumi.Output<string>;
    /** The API load balancer's VIP on the node network. */
    public readonly loadBalancerVip: pulumi.Output<string>;
    /** Every node's fixed (and floating) IP, by node name. */
    public readonly nodeIps: pulumi.Output<Record<string, NodeAddresses>>;
    public readonly ports: Record<string, openstack.networking.Port>;
    public readonly instances: Record<string, openstack.compute.Instance>;
    /** The SSH pushes and the bootstrap one-shot. */
    public readonly provisioned: Provisioned;

    constructor(name: string, args: OpenStackClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opke:openstack:Cluster", name, {}, opts);
        const cfg = args.config;
        const os = cfg.openstack;
        if (cfg.platform !== Platform.OpenStack || os === undefined) {
            throw new Error(`opke:openstack:Cluster needs platform "openstack" and an openstack block (platform is ${JSON.stringify(cfg.platform)})`);
        }
        const nodes = args.cluster.nodes;
        const protect = os.protect;

        this.provider = new openstack.Provider(`${name}-provider`, providerArgs(os, args.credentials), { parent: this });
        const child = { parent: this, provider: this.provider };
        const invoke = { parent: this, provider: this.provider };

        // --- Network -----------------------------------------------------------------------------
        const network = resolveNetwork(os.network);
        let networkId: pulumi.Input<string>;
        let subnetId: pulumi.Input<string>;
        /**
         * Floating IPs attached to a port need the port's subnet routed to the external network
         * first (Neutron refuses the association otherwise); the servers pull images through it.
         */
        const routed: pulumi.Resource[] = [];
        switch (network.kind) {
            case "create": {
                const nodeCidr = parseIpv4Cidr(cfg.network.nodeCidr);
                const plan = nodeCidr && subnetPlan(nodeCidr);
                if (!plan) throw new Error(`network.nodeCidr ${cfg.network.nodeCidr} was not validated; use parseClusterConfig`);
                const net = new openstack.networking.Network(
                    `${name}-network`,
                    { name: cfg.clusterName, description: `opke ${cfg.clusterName}: node network`, adminStateUp: true },
                    { ...child, ...longLivedOptions(protect) },
                );
                const subnet = new openstack.networking.Subnet(
                    `${name}-subnet`,
                    {
                        name: cfg.clusterName,
                        description: `opke ${cfg.clusterName}: nodes in the lower half, DHCP pool in the upper half`,
                        networkId: net.id,
                        cidr: cfg.network.nodeCidr,
                        ipVersion: 4,
                        enableDhcp: true,
                        gatewayIp: plan.gatewayIp,
                        allocationPools: [plan.allocationPool],
                        dnsNameservers: network.dnsNameservers,
                    },
                    { ...child, ...longLivedOptions(protect) },
                );
                const router = new openstack.networking.Router(
                    `${name}-router`,
                    { name: cfg.clusterName, description: `opke ${cfg.clusterName}: node network to the external network`, adminStateUp: true, externalNetworkId: os.externalNetworkId },
                    { ...child, ...longLivedOptions(protect) },
                );
                const routerInterface = new openstack.networking.RouterInterface(`${name}-router-interface`, { routerId: router.id, subnetId: subnet.id }, { ...child, ...longLivedOptions(protect) });
                routed.push(routerInterface);
                networkId = net.id;
                subnetId = subnet.id;
                break;
            }
            case "existing":
                networkId = network.networkId;
                subnetId = network.subnetId;
                break;
            default: {
                const unknown: never = network;
                throw new Error(`unknown network mode ${JSON.stringify(unknown)}`);
            }
        }
        // The external network's name: floating IPs take their pool by name.
        const externalNetwork = openstack.networking.getNetworkOutput({ networkId: os.externalNetworkId }, invoke).apply((n) => {
            if (!n.name) throw new Error(`openstack.externalNetworkId ${os.externalNetworkId}: the network has no name; floating IPs need the pool name`);
            return n.name;
        });

        // --- Security groups ---------------------------------------------------------------------
        const groups: Record<SecurityGroupRole, openstack.networking.SecGroup> = {
            node: new openstack.networking.SecGroup(`${name}-node`, { name: `${cfg.clusterName}-node`, description: `opke ${cfg.clusterName}: every node` }, child),
            controller: new openstack.networking.SecGroup(
                `${name}-controller`,
                { name: `${cfg.clusterName}-controller`, description: `opke ${cfg.clusterName}: controllers` },
                child,
            ),
        };
        const groupIds = { node: groups.node.id, controller: groups.controller.id };
        const rules = securityGroupRules(cfg, os).map(
            (rule) => new openstack.networking.SecGroupRule(`${name}-${rule.group}-${rule.id}`, secGroupRuleArgs(rule, groupIds), child),
        );

        // --- Compute prerequisites ---------------------------------------------------------------
        const serverGroup = new openstack.compute.ServerGroup(
            `${name}-controllers`,
            { name: `${cfg.clusterName}-controllers`, policies: [os.serverGroupPolicy] },
            child,
        );
        // Ignition installs the authorized keys; the Nova keypair only makes the first key visible
        // to Nova (console, rescue, metadata). Autonamed: keypair names are unique per user.
        const keypair = new openstack.compute.Keypair(`${name}-keypair`, { publicKey: cfg.ssh.authorizedKeys[0] }, child);

        // --- Ports and servers -------------------------------------------------------------------
        this.ports = {};
        this.instances = {};
        const floatingIps: Record<string, openstack.networking.FloatingIp> = {};
        for (const node of nodes) {
            const controller = node.role === NodeRole.Controller;
            const port = new openstack.networking.Port(
                `${name}-port-${node.name}`,
                {
                    name: `${cfg.clusterName}-${node.name}`,
                    description: `opke ${cfg.clusterName}: ${node.role} ${node.name}`,
                    networkId,
                    adminStateUp: true,
                    fixedIps: [{ subnetId, ipAddress: node.ip }],
                    securityGroupIds: controller ? [groups.node.id, groups.controller.id] : [groups.node.id],
                },
                // The rules first: SSH (the pushes) must be open once the server is up.
                { ...child, ...portOptions(protect), dependsOn: rules },
            );
            this.ports[node.name] = port;
            this.instances[node.name] = new openstack.compute.Instance(
                `${name}-${node.name}`,
                instanceArgs(cfg, os, node, { portId: port.id, keyPair: keypair.name, serverGroupId: controller ? serverGroup.id : undefined }),
                // Routed first: the node pulls images over the router as soon as it boots.
                { ...child, ...instanceOptions(node, protect), dependsOn: routed },
            );
            if (os.sshVia === SshVia.FloatingIp) {
                // Allocated and associated with the node's port and fixed IP in one resource.
                floatingIps[node.name] = new openstack.networking.FloatingIp(
                    `${name}-fip-${node.name}`,
                    { pool: externalNetwork, description: `opke ${cfg.clusterName}: ${node.name}`, portId: port.id, fixedIp: node.ip },
                    { ...child, ...floatingIpOptions(protect), dependsOn: routed },
                );
            }
        }

        // --- API load balancer -------------------------------------------------------------------
        const lbName = `${cfg.clusterName}-api`;
        const lb = new openstack.loadbalancer.LoadBalancer(
            `${name}-api`,
            {
                name: lbName,
                description: `opke ${cfg.clusterName}: Kubernetes API`,
                vipSubnetId: subnetId,
                ...(os.loadBalancerProvider !== undefined ? { loadbalancerProvider: os.loadBalancerProvider } : {}),
            },
            // After the ports: on an existing subnet the VIP must not take a node's address.
            { ...child, ...loadBalancerOptions(protect), dependsOn: Object.values(this.ports) },
        );
        const listener = new openstack.loadbalancer.Listener(
            `${name}-api`,
            {
                name: lbName,
                loadbalancerId: lb.id,
                protocol: "TCP",
                protocolPort: cfg.apiPort,
                // The OVN driver has no listener timeouts.
                ...(os.loadBalancerProvider === "ovn" ? {} : { timeoutClientData: API_STREAM_TIMEOUT_MS, timeoutMemberData: API_STREAM_TIMEOUT_MS }),
            },
            { ...child, ...uniqueValueOptions() },
        );
        const pool = new openstack.loadbalancer.Pool(`${name}-api`, { name: lbName, listenerId: listener.id, protocol: "TCP", lbMethod: poolMethod(os) }, child);
        const monitor = new openstack.loadbalancer.Monitor(`${name}-api`, { name: lbName, poolId: pool.id, ...API_MONITOR }, child);
        const members: Record<string, openstack.loadbalancer.Member> = {};
        // Octavia locks the load balancer (PENDING_UPDATE) during every change: one member at a
        // time, after the monitor, rather than parallel creates that race for the lock.
        let previous: pulumi.Resource = monitor;
        for (const node of nodes.filter((n) => n.role === NodeRole.Controller)) {
            previous = members[node.name] = new openstack.loadbalancer.Member(
                `${name}-api-${node.name}`,
                { name: node.name, poolId: pool.id, address: node.ip, protocolPort: cfg.apiPort, subnetId },
                { ...child, ...uniqueValueOptions(), dependsOn: [previous] },
            );
        }
        // On the load balancer's VIP port (one fixed IP, so no fixedIp). A replaced load balancer
        // moves the floating IP to the new VIP port in place: the address stays.
        const apiFloatingIp = new openstack.networking.FloatingIp(
            `${name}-api`,
            { pool: externalNetwork, description: `opke ${cfg.clusterName}: Kubernetes API ${cfg.apiDnsName}`, portId: lb.vipPortId },
            { ...child, ...floatingIpOptions(protect), dependsOn: routed },
        );
        const apiPath: pulumi.Resource[] = [listener, pool, monitor, apiFloatingIp];
        if (os.dnsZoneId !== undefined) {
            apiPath.push(
                new openstack.dns.RecordSet(
                    `${name}-api`,
                    {
                        zoneId: os.dnsZoneId,
                        name: `${cfg.apiDnsName}.`,
                        type: "A",
                        ttl: API_RECORD_TTL,
                        records: [apiFloatingIp.address],
                        description: `opke ${cfg.clusterName}: Kubernetes API`,
                    },
                    { ...child, ...uniqueValueOptions() },
                ),
            );
        }

        // --- Provisioning ------------------------------------------------------------------------
        const controllerMembers = Object.values(members);
        this.provisioned = provisionNodes(
            name,
            {
                config: cfg,
                nodes,
                connection: (node) => nodeConnection(cfg, os, node, floatingIps[node.name]?.address),
                hostResource: (node) => this.instances[node.name],
                dependsOn: (node) =>
                    pushDependsOn({
                        instance: this.instances[node.name],
                        floatingIp: floatingIps[node.name],
                        member: members[node.name],
                        // A worker's kubelet needs the API behind the load balancer: every controller member too.
                        api: node.role === NodeRole.Controller ? apiPath : [...apiPath, ...controllerMembers],
                    }),
            },
            this,
        );

        // --- Outputs -----------------------------------------------------------------------------
        this.apiEndpoint = `https://${cfg.apiDnsName}:${cfg.apiPort}`;
        this.loadBalancerAddress = apiFloatingIp.address;
        this.loadBalancerVip = lb.vipAddress;
        this.nodeIps = pulumi
            .all(nodes.map((n) => (floatingIps[n.name] ? floatingIps[n.name].address : pulumi.output(undefined))))
            .apply((fips) =>
                Object.fromEntries(nodes.map((n, i): [string, NodeAddresses] => [n.name, fips[i] !== undefined ? { fixedIp: n.ip, floatingIp: fips[i] } : { fixedIp: n.ip }])),
            );
        this.registerOutputs({
            apiEndpoint: this.apiEndpoint,
            loadBalancerAddress: this.loadBalancerAddress,
            loadBalancerVip: this.loadBalancerVip,
            nodeIps: this.nodeIps,
        });
    }
}

/** What a server needs from the resources around it. */
export interface InstanceLinks {
    portId: pulumi.Input<string>;
    keyPair: pulumi.Input<string>;
    /** The controllers' server group; undefined for workers. */
    serverGroupId?: pulumi.Input<string>;
}

/**
 * A node's `compute.Instance` inputs. `userData` is the node's Ignition verbatim (version-free and
 * secret-free, so plain text); the image is pinned by ID (or is the source of the boot volume).
 * The server attaches through its port only, so it has no security groups of its own.
 */
export function instanceArgs(cfg: ClusterConfig, os: OpenStackSpec, node: NodeAssets, links: InstanceLinks): openstack.compute.InstanceArgs {
    const controller = node.role === NodeRole.Controller;
    return {
        name: `${cfg.clusterName}-${node.name}`,
        flavorName: controller ? os.controllerFlavor : (os.workerFlavor ?? os.controllerFlavor),
        ...(os.volumeSize !== undefined
            ? { blockDevices: [{ uuid: os.imageId, sourceType: "image", destinationType: "volume", volumeSize: os.volumeSize, bootIndex: 0, deleteOnTermination: true }] }
            : { imageId: os.imageId }),
        userData: node.ignition,
        // Ignition reads user data from the config drive: no dependency on the metadata service.
        configDrive: true,
        keyPair: links.keyPair,
        networks: [{ port: links.portId }],
        ...(links.serverGroupId !== undefined ? { schedulerHints: [{ group: links.serverGroupId }] } : {}),
        ...(os.availabilityZone !== undefined ? { availabilityZone: os.availabilityZone } : {}),
        metadata: { "opke-cluster": cfg.clusterName, "opke-role": node.role, "opke-node": node.name, "opke-generation": String(node.generation) },
        // Give the OS a chance to shut down cleanly when a server is deleted (re-provisioning).
        stopBeforeDestroy: true,
    };
}

/**
 * How the pushes reach a node: its floating IP, its fixed IP through the bastion, or its fixed IP
 * directly. Built the same way on every run (the command provider diffs the secret connection).
 */
export function nodeConnection(cfg: ClusterConfig, os: OpenStackSpec, node: NodeAssets, floatingIp: pulumi.Input<string> | undefined): ConnectionSpec {
    switch (os.sshVia) {
        case SshVia.FloatingIp:
            if (floatingIp === undefined) throw new Error(`node ${node.name} has no floating IP`);
            return sshConnection(cfg, node, floatingIp);
        case SshVia.Bastion:
        case SshVia.Direct:
            return sshConnection(cfg, node, node.ip);
        default: {
            const unknown: never = os.sshVia;
            throw new Error(`unknown openstack.sshVia ${JSON.stringify(unknown)}`);
        }
    }
}
