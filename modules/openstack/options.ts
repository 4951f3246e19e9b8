/**
 * Resource options of the OpenStack component as pure functions, so tests can table-test them
 * (Pulumi mocks never see resource options). The component merges each piece with
 * `{ parent, provider }`.
 *
 * The rule (issue 3): no server, port, volume or boot config is ever replaced by a config or
 * version change. A node is re-provisioned only on purpose: by bumping its `generation`, or by a
 * targeted replace (see `instanceOptions`).
 */
import type * as pulumi from "@pulumi/pulumi";
import { hostOptions } from "../../lib/provision/plan";

/**
 * Server inputs Pulumi must never act on for an existing server:
 *   - userData: the node's Ignition. Ignition runs once, on first boot; a new Ignition (new
 *     units, extras) reaches new nodes and targeted replacements. The provider would otherwise REPLACE
 *     the server (user_data is ForceNew).
 *   - imageId / blockDevices: the pinned image (and the boot volume built from it). The provider
 *     REBUILDS the server on an imageId change and replaces it on a blockDevices change; running
 *     nodes update in place (Flatcar update engine / Zincati). A new imageId or volumeSize
 *     applies to new nodes and targeted replacements.
 *   - flavorName: a flavor change RESIZES the server (reboot, maybe migration), and Pulumi would
 *     resize every node of the role at once — for the controllers that is an outage.
 *   - keyPair, availabilityZone, schedulerHints: ForceNew; they only steer where and how a new
 *     server starts (Ignition installs the SSH keys; the server group cannot change for an
 *     existing server anyway).
 * Not ignored: `networks` (the node's port, which never changes), `name`, `metadata` (updated in
 * place), `configDrive` (constant).
 *
 * Cost (anchors-pulumi §B.2): refresh hides drift in these fields, and running nodes keep their
 * old Ignition. That is the point: the SSH pushes carry everything that changes.
 */
export const INSTANCE_IGNORED_CHANGES: readonly string[] = [
    "userData",
    "imageId",
    "blockDevices",
    "flavorName",
    "keyPair",
    "availabilityZone",
    "schedulerHints",
];

/**
 * Options of a node's `compute.Instance` (lib/provision `hostOptions` plus OpenStack's own):
 *   - ignoreChanges: INSTANCE_IGNORED_CHANGES (above).
 *   - replacementTrigger: the node's `generation`. The engine compares it with the value recorded
 *     at the last deployment and replaces the server when it differs — the explicit, per-node way
 *     to re-provision (fresh root disk; the port, fixed IP and floating IP stay). Bump one node at
 *     a time (`pulumi config set --path 'workers[1].generation' 1`); a controller comes back with
 *     an empty etcd data directory, so remove its etcd member first.
 *     Engine semantics (read in pulumi/pkg v3.248.0 resource/deploy/step_generator.go): ignored
 *     inputs keep their RECORDED values on every later step, replacements included
 *     (processIgnoreChanges runs before Check, and the replacement is created from those inputs).
 *     So a generation bump re-creates the server from the boot config recorded when it was first
 *     created (Ignition, image, flavor, zone). To re-create a node from the CURRENT ones, use a
 *     targeted replace, `pulumi up --replace <the instance's URN>`: the engine then checks the
 *     program's own values (isTargetedReplace) — still one node at a time.
 *   - deleteBeforeReplace: the new server takes over the node's port (and with it the fixed IP and
 *     floating IP); a port can only be bound to one server, so the old one must go first.
 *   - protect: `openstack.protect` (a protected server cannot be replaced either).
 */
export function instanceOptions(node: { generation: number }, protect: boolean): pulumi.CustomResourceOptions {
    return {
        ...hostOptions(node, INSTANCE_IGNORED_CHANGES),
        deleteBeforeReplace: true,
        ...(protect ? { protect: true } : {}),
    };
}

/**
 * Options of a node's port: it holds the node's fixed IP, so a replacement (e.g. a changed network)
 * must free the address before the new port claims it. The port is not tied to `generation`: a
 * re-provisioned node keeps its port, IP and floating IP.
 */
export function portOptions(protect: boolean): pulumi.CustomResourceOptions {
    return { deleteBeforeReplace: true, ...(protect ? { protect: true } : {}) };
}

/**
 * Options of a floating IP, which also holds its association (`portId`/`fixedIp`; there is no
 * separate `FloatingIpAssociate`): a node's floating IP on its port and fixed IP, the API's on the
 * load balancer's VIP port.
 *   - deleteBeforeReplace: a fixed IP of a port takes one floating IP per external network, so a
 *     replacement (e.g. another pool) that is created first would be refused while the old one
 *     still holds the port. A change of `portId`/`fixedIp` alone (a replaced port or load
 *     balancer) is an in-place re-association, not a replacement; the address stays.
 *   - protect: `openstack.protect` (the address is what DNS, kubeconfigs and firewalls know).
 * The component adds `dependsOn` on the router interface (when opke creates the network): Neutron
 * associates a floating IP only with a port on a subnet routed to the external network.
 */
export function floatingIpOptions(protect: boolean): pulumi.CustomResourceOptions {
    return { deleteBeforeReplace: true, ...(protect ? { protect: true } : {}) };
}

/**
 * Options of resources that hold a unique value inside OpenStack, which the replacement would
 * claim again: the Designate record set (name + type unique in the zone), load-balancer members
 * (address + port unique in a pool) and the listener (port unique on the load balancer).
 */
export function uniqueValueOptions(): pulumi.CustomResourceOptions {
    return { deleteBeforeReplace: true };
}

/** Options of the long-lived network objects (network, subnet, router, router interface): `protect` when asked. */
export function longLivedOptions(protect: boolean): pulumi.CustomResourceOptions {
    return protect ? { protect: true } : {};
}

/**
 * Octavia is slow: an amphora load balancer takes minutes to become ACTIVE, and every child
 * (listener, pool, member, monitor) waits for it to leave PENDING_UPDATE. Generous timeouts on the
 * load balancer itself; the children use the provider's defaults.
 */
export function loadBalancerOptions(protect: boolean): pulumi.CustomResourceOptions {
    return { customTimeouts: { create: "30m", update: "30m", delete: "30m" }, ...(protect ? { protect: true } : {}) };
}

/** What a node's SSH pushes wait for, in order. */
export interface PushPrerequisites {
    /** The node's server. */
    instance: pulumi.Resource;
    /**
     * The node's floating IP the pushes connect through (sshVia "floating-ip"); it carries the
     * association with the node's port, so once it exists the node is reachable.
     */
    floatingIp?: pulumi.Resource;
    /** A controller's load-balancer member. */
    member?: pulumi.Resource;
    /**
     * The API path the node's kubelet uses once the pushes start it: listener, pool, monitor, the
     * API floating IP (on the VIP port) and the DNS record (when opke manages it), plus every
     * controller member for workers.
     */
    api: pulumi.Resource[];
}

/**
 * `dependsOn` of a node's pushes: the server exists, SSH can reach it (its floating IP, which
 * holds the association with its port), and — for a controller — it is a member of the API pool,
 * so the kubelets started by the pushes find the API through the load balancer. Returned in a
 * fixed order.
 */
export function pushDependsOn(p: PushPrerequisites): pulumi.Resource[] {
    return [p.instance, ...(p.floatingIp ? [p.floatingIp] : []), ...(p.member ? [p.member] : []), ...p.api];
}
