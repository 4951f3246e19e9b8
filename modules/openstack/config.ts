/**
 * The `openstack` block of the cluster description (stack config key `opke:openstack`), used when
 * `platform` is "openstack". lib/config/schema.ts embeds `OpenStackSpec`; the rules that relate
 * these fields to each other or to the rest of the config (auth combinations, network mode, node
 * IPs inside the subnet opke creates, SSH reachability) live in lib/config/validate.ts like every
 * other cross-field rule, so all problems are reported together with exact messages.
 *
 * Secrets are NOT part of this block: the password and the application-credential secret are
 * separate secret config keys (`OPENSTACK_SECRET_KEYS`, listed in lib/config/load.ts
 * `SECRET_CONFIG_KEYS` so the loaders skip them), read by the program with
 * `pulumi.Config.requireSecret` so they never pass through the plain-text config objects.
 *
 *     pulumi config set --secret opke:openstackPassword '…'
 *     pulumi config set --secret opke:openstackApplicationCredentialSecret '…'
 *
 * No Pulumi imports: pure data and functions.
 */
import { z } from "zod";
import { canonicalCidr, intToIp, isCanonicalCidr, parseIpv4, parseIpv4Cidr, type Ipv4Cidr } from "../../lib/config/network";

/** Secret stack config keys (under `opke:`) that hold OpenStack credentials. Never in the schema. */
export const OPENSTACK_SECRET_KEYS = {
    /** Keystone password of `openstack.userName`. */
    password: "openstackPassword",
    /** Secret of `openstack.applicationCredentialId`. */
    applicationCredentialSecret: "openstackApplicationCredentialSecret",
} as const;

/** How the host running `pulumi up` reaches each node's SSH port for the pushes. */
export const SshVia = { FloatingIp: "floating-ip", Bastion: "bastion", Direct: "direct" } as const;
export type SshVia = (typeof SshVia)[keyof typeof SshVia];

/** Nova server-group policy for the controllers. */
export const ServerGroupPolicy = { AntiAffinity: "anti-affinity", SoftAntiAffinity: "soft-anti-affinity" } as const;
export type ServerGroupPolicy = (typeof ServerGroupPolicy)[keyof typeof ServerGroupPolicy];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Keystone IDs: 32 hex digits (some deployments use dashed UUIDs). */
const KEYSTONE_ID = /^([0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

function uuid(what: string, how: string) {
    return z
        .string()
        .transform((s) => s.toLowerCase())
        .pipe(z.string().regex(UUID, `is not ${what} ID; ${how}`));
}

/** An IPv4 CIDR with host bits zero; the messages match network.* in lib/config/validate.ts. */
const cidr = z.string().superRefine((text, ctx) => {
    const parsed = parseIpv4Cidr(text);
    if (!parsed) ctx.addIssue({ code: "custom", message: "is not an IPv4 CIDR; use ADDRESS/PREFIX such as \"203.0.113.0/24\" (a single host is /32)" });
    else if (!isCanonicalCidr(parsed)) ctx.addIssue({ code: "custom", message: `has host bits set; use ${JSON.stringify(canonicalCidr(parsed))}` });
});

const nonEmpty = (fix: string) => z.string().min(1, `is empty; ${fix}`);

/**
 * Where the nodes' ports live. Exactly one of:
 *   - `{ create: true }` — opke creates a network, a subnet on `network.nodeCidr` and a router
 *     with its gateway on `externalNetworkId` (the default);
 *   - `{ id, subnetId }` — an existing network and its subnet on `network.nodeCidr`; it must
 *     already be routed to `externalNetworkId` when floating IPs are used.
 * The combination is checked in lib/config/validate.ts; use `resolveNetwork` to read it.
 */
export const OpenStackNetworkSpec = z.strictObject({
    /** Create network, subnet and router. */
    create: z.literal(true).optional(),
    /** UUID of an existing Neutron network. */
    id: uuid("a network", "use the UUID of an existing network (openstack network show -f value -c id <name>)").optional(),
    /** UUID of the existing subnet on `network.nodeCidr` inside network `id`. */
    subnetId: uuid("a subnet", "use the UUID of the subnet on network.nodeCidr (openstack subnet show -f value -c id <name>)").optional(),
    /**
     * DNS servers handed out by the subnet opke creates (only with `create`). Defaults to [] (the
     * Neutron DHCP agent's resolver, which forwards to the cloud's DNS).
     */
    dnsNameservers: z
        .array(z.string().refine((s) => parseIpv4(s) !== undefined, "is not an IPv4 address; use four decimal octets such as \"9.9.9.9\""))
        .optional(),
});
export type OpenStackNetworkSpec = z.infer<typeof OpenStackNetworkSpec>;

/** The `openstack` block. Every field is documented with its default; required fields have none. */
export const OpenStackSpec = z.strictObject({
    // --- Provider (auth). The secrets are separate keys, see OPENSTACK_SECRET_KEYS. ---
    /** Keystone v3 URL, e.g. "https://keystone.example.com:5000/v3". Required. */
    authUrl: z.string().regex(/^https?:\/\/[^\s/]+(\/\S*)?$/, "is not a URL; use the Keystone v3 endpoint such as \"https://keystone.example.com:5000/v3\""),
    /** Region name. Defaults to none (the provider uses the only region in the catalog). */
    region: nonEmpty("set the region name such as \"RegionOne\", or leave it out").optional(),
    /** Project (tenant) to build in, by name. Set this or `projectId` (not with application credentials). */
    projectName: nonEmpty("set the project name, or use projectId").optional(),
    /** Project (tenant) to build in, by ID. Set this or `projectName` (not with application credentials). */
    projectId: z.string().regex(KEYSTONE_ID, "is not a Keystone project ID; use the 32 hex digits from openstack project show -f value -c id <name>").optional(),
    /** Domain of `projectName`. Defaults to "Default". Only used with `projectName`. */
    projectDomainName: nonEmpty("set the project's domain name such as \"Default\"").default("Default"),
    /** User to log in as (password in secret key `opke:openstackPassword`). Required unless `applicationCredentialId` is set. */
    userName: nonEmpty("set the OpenStack user name").optional(),
    /** Domain of `userName`. Defaults to "Default". Only used with `userName`. */
    userDomainName: nonEmpty("set the user's domain name such as \"Default\"").default("Default"),
    /**
     * Application credential to log in with instead of user and password (its secret in secret key
     * `opke:openstackApplicationCredentialSecret`). Defaults to none.
     */
    applicationCredentialId: z
        .string()
        .regex(KEYSTONE_ID, "is not an application credential ID; use the 32 hex digits from openstack application credential show -f value -c id <name>")
        .optional(),
    /** CA bundle file (on the host running pulumi) to verify the OpenStack APIs. Defaults to the system CAs. */
    cacertFile: nonEmpty("set a path to a PEM CA bundle, or leave it out").optional(),

    // --- Servers ---
    /**
     * Glance image UUID (Flatcar or Fedora CoreOS matching `os`). Required. Pinned by ID, never by
     * name: a name would float to a new image. Changing it later only affects new nodes and nodes
     * re-created with a targeted replace (`pulumi up --replace <instance URN>`, see
     * modules/openstack/options.ts); running nodes update in place (Flatcar update engine /
     * Zincati), and Pulumi ignores imageId on existing servers, also when `generation` re-creates
     * them (they keep their recorded image).
     */
    imageId: uuid("an image", "pin the image by its UUID (openstack image show -f value -c id <name>); a name would float to whatever image carries it next"),
    /**
     * Flavor name of the controllers. Required. Like the image, a change applies to new nodes and
     * targeted replacements only: a resize reboots the server, and Pulumi would resize every
     * controller at once.
     */
    controllerFlavor: nonEmpty("set a flavor name such as \"m1.large\""),
    /** Flavor name of the workers. Defaults to `controllerFlavor`. Same change rule as `controllerFlavor`. */
    workerFlavor: nonEmpty("set a flavor name such as \"m1.large\"").optional(),
    /**
     * Boot from a new Cinder volume of this many GiB (deleted with the server) instead of the
     * flavor's disk. Defaults to none (flavor disk). Like the image, new nodes and targeted replacements only.
     */
    volumeSize: z.number().int("is not a whole number; use a size in GiB such as 40").min(1, "is out of range; use a size in GiB from 1 to 16384").max(16384, "is out of range; use a size in GiB from 1 to 16384").optional(),
    /** Nova availability zone for every server. Defaults to none (the scheduler chooses). New nodes only. */
    availabilityZone: nonEmpty("set an availability zone name such as \"nova\", or leave it out").optional(),
    /**
     * Server-group policy that spreads the controllers over hypervisors. "anti-affinity" (the
     * default) fails to schedule when there are fewer hypervisors than controllers;
     * "soft-anti-affinity" spreads where it can. Workers are not grouped.
     */
    serverGroupPolicy: z.enum([ServerGroupPolicy.AntiAffinity, ServerGroupPolicy.SoftAntiAffinity]).default(ServerGroupPolicy.AntiAffinity),

    // --- Networking ---
    /** UUID of the external (provider) network: router gateway and floating IPs. Required. */
    externalNetworkId: uuid("a network", "use the UUID of the external network (openstack network list --external)"),
    /** The node network: `{ create: true }` (default) or an existing `{ id, subnetId }`. */
    network: OpenStackNetworkSpec.default({ create: true }),
    /**
     * Sources allowed to reach the Kubernetes API port on the controllers directly (security
     * group). The node network (load-balancer amphorae, kubelets) is always allowed. Defaults to []
     * (the API is reachable only through the load balancer, whose listener accepts any source and
     * relies on the API server's authentication).
     */
    allowedApiCidrs: z.array(cidr).default([]),
    /**
     * Sources allowed to reach SSH (port 22) on every node. opke pushes files over SSH, so this
     * must hold the address the nodes see the pushes come from (the pulumi host, its NAT address,
     * or the bastion). Defaults to [] (then validation asks for it).
     */
    allowedSshCidrs: z.array(cidr).default([]),
    /** Sources allowed to reach NodePorts (TCP and UDP 30000-32767) on every node. Defaults to []. */
    nodePortCidrs: z.array(cidr).default([]),
    /**
     * How pulumi reaches the nodes' SSH: "floating-ip" (default; one floating IP per node),
     * "bastion" (through `ssh.bastion`) or "direct" (the pulumi host is on the node network).
     */
    sshVia: z.enum([SshVia.FloatingIp, SshVia.Bastion, SshVia.Direct]).default(SshVia.FloatingIp),
    /** Octavia provider driver, e.g. "amphora" or "ovn". Defaults to the cloud's default driver. */
    loadBalancerProvider: nonEmpty("set an Octavia provider such as \"amphora\", or leave it out").optional(),
    /**
     * Designate zone UUID: opke then manages the A record `apiDnsName` → API floating IP (the zone
     * must contain apiDnsName). Defaults to none (you publish the record yourself).
     */
    dnsZoneId: uuid("a zone", "use the UUID of the Designate zone that holds apiDnsName (openstack zone show -f value -c id <zone.>)").optional(),

    // --- Lifecycle ---
    /**
     * Set Pulumi's `protect` on the servers, their ports, the network, subnet, router, load
     * balancer and floating IPs (the API's and the nodes'), so `pulumi destroy` (and a generation
     * bump) fails until you unprotect them. Defaults to false.
     */
    protect: z.boolean().default(false),
});
export type OpenStackSpec = z.infer<typeof OpenStackSpec>;
export type OpenStackSpecInput = z.input<typeof OpenStackSpec>;

/** The node network in a form the component can switch on. */
export type ResolvedNetwork =
    | { kind: "create"; dnsNameservers: string[] }
    | { kind: "existing"; networkId: string; subnetId: string };

/**
 * Reads a validated `openstack.network`. Validation (lib/config/validate.ts) guarantees exactly one
 * mode; this throws if called on an unvalidated spec.
 */
export function resolveNetwork(spec: OpenStackNetworkSpec): ResolvedNetwork {
    if (spec.create === true && spec.id === undefined && spec.subnetId === undefined) {
        return { kind: "create", dnsNameservers: spec.dnsNameservers ?? [] };
    }
    if (spec.create === undefined && spec.id !== undefined && spec.subnetId !== undefined && spec.dnsNameservers === undefined) {
        return { kind: "existing", networkId: spec.id, subnetId: spec.subnetId };
    }
    throw new Error(`openstack.network ${JSON.stringify(spec)} was not validated; use parseClusterConfig`);
}

/**
 * Address plan of the subnet opke creates on `network.nodeCidr`: the gateway is the first usable
 * address, the DHCP allocation pool is the upper half of the range (up to the last usable address)
 * and node IPs must lie between the gateway and the pool. Every address Neutron hands out by
 * itself (DHCP ports, the load-balancer VIP, Octavia amphorae) comes from the pool, so none can
 * ever take a node's address — also not one of a node added later. The plan depends only on the
 * CIDR, so it never changes while nodes come and go.
 */
export interface SubnetPlan {
    gatewayIp: string;
    allocationPool: { start: string; end: string };
    /** First and last address a node may use. */
    nodeRange: { first: string; last: string };
}

/** The plan for `nodeCidr`, or undefined when the range is too small to split (smaller than /29). */
export function subnetPlan(nodeCidr: Ipv4Cidr): SubnetPlan | undefined {
    const size = nodeCidr.last - nodeCidr.first + 1;
    if (size < 8) return undefined;
    const mid = nodeCidr.first + size / 2;
    return {
        gatewayIp: intToIp(nodeCidr.first + 1),
        allocationPool: { start: intToIp(mid), end: intToIp(nodeCidr.last - 1) },
        nodeRange: { first: intToIp(nodeCidr.first + 2), last: intToIp(mid - 1) },
    };
}
