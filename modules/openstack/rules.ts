/**
 * The security-group rule table of an OpenStack cluster, as pure data (table-tested in
 * test/openstack.test.ts; the component turns each row into one `networking.SecGroupRule`).
 *
 * Two groups, both attached to ports (not to servers):
 *   - "node"        every node (controllers and workers)
 *   - "controller"  controllers only (in addition to "node")
 *
 * Every rule is an IPv4 ingress rule. Egress is left to Neutron's default egress rules of a new
 * group (allow all, IPv4 and IPv6): nodes pull images and reach NTP/DNS. Neutron groups are
 * stateful, so replies and related ICMP errors (path-MTU discovery) pass without extra rules.
 *
 * Rule ids derive from the rule's content (never from its position), so adding a CIDR adds one
 * rule and touches no other. Neutron rules are immutable: any change to a rule replaces it.
 */
import type { ClusterConfig } from "../../lib/config/schema";
import { Cni } from "../../lib/config/schema";
import type { OpenStackSpec } from "./config";

/** The groups opke creates. */
export const SecurityGroupRole = { Node: "node", Controller: "controller" } as const;
export type SecurityGroupRole = (typeof SecurityGroupRole)[keyof typeof SecurityGroupRole];

/** NodePort range of kube-proxy / Cilium (Kubernetes' default --service-node-port-range). */
export const NODE_PORT_RANGE = { min: 30000, max: 32767 } as const;
/** VXLAN port of flannel and Cilium (the Linux kernel's default VXLAN port as both configure it). */
export const VXLAN_PORT = 8472;
/** Cilium's node-to-node health-check port. */
export const CILIUM_HEALTH_PORT = 4240;
/** The kubelet API. */
export const KUBELET_PORT = 10250;
/** etcd client and peer ports. */
export const ETCD_PORTS = { min: 2379, max: 2380 } as const;

/** Where a rule's traffic may come from: a CIDR, or the members of one of opke's groups. */
export type RuleSource = { cidr: string } | { group: SecurityGroupRole };

export interface SecurityGroupRuleSpec {
    /** Stable id; the Pulumi resource is `${name}-${group}-${id}`. */
    id: string;
    /** The group the rule belongs to. */
    group: SecurityGroupRole;
    protocol: "tcp" | "udp" | "icmp";
    /** Port range (tcp/udp only; equal bounds for one port). */
    ports?: { min: number; max: number };
    source: RuleSource;
    /** Neutron rule description (what the rule is for). */
    description: string;
}

/** A CIDR as an id fragment: 203.0.113.0/24 → 203-0-113-0-24. */
function cidrId(cidr: string): string {
    return cidr.replace(/[./]/g, "-");
}

/** The CNI's node-to-node rules (overlay and health), one branch per CNI. */
function cniRules(cni: Cni): SecurityGroupRuleSpec[] {
    const fromNodes = { group: SecurityGroupRole.Node } as const;
    switch (cni) {
        case Cni.Flannel:
            return [
                { id: "flannel-vxlan", group: "node", protocol: "udp", ports: { min: VXLAN_PORT, max: VXLAN_PORT }, source: fromNodes, description: "flannel VXLAN between nodes" },
            ];
        case Cni.Cilium:
            return [
                { id: "cilium-vxlan", group: "node", protocol: "udp", ports: { min: VXLAN_PORT, max: VXLAN_PORT }, source: fromNodes, description: "Cilium VXLAN between nodes" },
                {
                    id: "cilium-health",
                    group: "node",
                    protocol: "tcp",
                    ports: { min: CILIUM_HEALTH_PORT, max: CILIUM_HEALTH_PORT },
                    source: fromNodes,
                    description: "Cilium health checks between nodes",
                },
            ];
        default: {
            const unknown: never = cni;
            throw new Error(`no security-group rules for CNI ${JSON.stringify(unknown)}`);
        }
    }
}

/**
 * Every rule of the cluster, in a fixed order: node group first, then controller group.
 *
 * Why each exists:
 *   - ICMP from the node network: ping and Cilium's ICMP health probes between nodes.
 *   - kubelet 10250 from the nodes: the API servers (exec, logs, metrics) and in-cluster scrapers,
 *     whose pod traffic leaves a node masqueraded to the node's address.
 *   - CNI overlay (and Cilium health) from the nodes. The pod network is encapsulated (VXLAN), so
 *     pod addresses never appear on the wire and ports need no allowed-address pairs for podCidr;
 *     an unencapsulated CNI mode (flannel host-gw, native routing) would need both.
 *   - SSH from `allowedSshCidrs`: the pushes (lib/provision) and operators.
 *   - NodePorts from `nodePortCidrs`, TCP and UDP.
 *   - etcd 2379-2380 between controllers only (the API servers reach etcd on their own host).
 *   - the API port from the node network: the Octavia amphorae (their member-side ports sit on the
 *     node subnet, so health checks and proxied connections come from there) and the kubelets.
 *   - the API port from `allowedApiCidrs`: direct access to a controller, e.g. when the load
 *     balancer is down.
 */
export function securityGroupRules(cfg: Pick<ClusterConfig, "apiPort" | "network">, os: Pick<OpenStackSpec, "allowedSshCidrs" | "allowedApiCidrs" | "nodePortCidrs">): SecurityGroupRuleSpec[] {
    const nodeCidr = cfg.network.nodeCidr;
    const rules: SecurityGroupRuleSpec[] = [
        { id: "icmp", group: "node", protocol: "icmp", source: { cidr: nodeCidr }, description: "ICMP from the node network" },
        { id: "kubelet", group: "node", protocol: "tcp", ports: { min: KUBELET_PORT, max: KUBELET_PORT }, source: { group: "node" }, description: "kubelet API from the nodes" },
        ...cniRules(cfg.network.cni),
        ...os.allowedSshCidrs.map(
            (cidr): SecurityGroupRuleSpec => ({ id: `ssh-${cidrId(cidr)}`, group: "node", protocol: "tcp", ports: { min: 22, max: 22 }, source: { cidr }, description: `SSH from ${cidr}` }),
        ),
        ...os.nodePortCidrs.flatMap((cidr): SecurityGroupRuleSpec[] =>
            (["tcp", "udp"] as const).map((protocol) => ({
                id: `nodeport-${protocol}-${cidrId(cidr)}`,
                group: "node",
                protocol,
                ports: { ...NODE_PORT_RANGE },
                source: { cidr },
                description: `NodePorts (${protocol.toUpperCase()}) from ${cidr}`,
            })),
        ),
        { id: "etcd", group: "controller", protocol: "tcp", ports: { ...ETCD_PORTS }, source: { group: "controller" }, description: "etcd client and peer between controllers" },
        {
            id: "apiserver-nodes",
            group: "controller",
            protocol: "tcp",
            ports: { min: cfg.apiPort, max: cfg.apiPort },
            source: { cidr: nodeCidr },
            description: "Kubernetes API from the node network (load balancer, kubelets)",
        },
        ...os.allowedApiCidrs.map(
            (cidr): SecurityGroupRuleSpec => ({
                id: `apiserver-${cidrId(cidr)}`,
                group: "controller",
                protocol: "tcp",
                ports: { min: cfg.apiPort, max: cfg.apiPort },
                source: { cidr },
                description: `Kubernetes API from ${cidr}`,
            }),
        ),
    ];
    const seen = new Set<string>();
    for (const r of rules) {
        const key = `${r.group}-${r.id}`;
        if (seen.has(key)) throw new Error(`duplicate security-group rule ${key}; list each CIDR once`);
        seen.add(key);
    }
    return rules;
}

/** The `networking.SecGroupRule` inputs of one rule, given the IDs of opke's groups. */
export function secGroupRuleArgs<Id>(rule: SecurityGroupRuleSpec, groupIds: Record<SecurityGroupRole, Id>) {
    return {
        description: rule.description,
        direction: "ingress",
        ethertype: "IPv4",
        protocol: rule.protocol,
        ...(rule.ports ? { portRangeMin: rule.ports.min, portRangeMax: rule.ports.max } : {}),
        ...("cidr" in rule.source ? { remoteIpPrefix: rule.source.cidr } : { remoteGroupId: groupIds[rule.source.group] }),
        securityGroupId: groupIds[rule.group],
    };
}
