/**
 * The one typed cluster description of opke.
 *
 * Every value a stack can set lives here, with its default. `Pulumi.yaml` declares the same keys
 * (a test keeps the two in step), the program reads them from stack config and `npm run render`
 * reads them from `Pulumi.<stack>.yaml`; both hand the raw object to `parseClusterConfig`
 * (lib/config/index.ts), which validates it once and returns a `ClusterConfig`.
 *
 * Structural rules (types, enums, unknown keys) are expressed with zod here; rules that relate
 * fields to each other (CIDR overlaps, node counts, IP membership, versions) live in
 * lib/config/validate.ts.
 */
import { z } from "zod";
import { BareMetalSpec, defaultBareMetal } from "../../modules/bare-metal/config";
import { OpenStackSpec } from "../../modules/openstack/config";
import { CloudflareSpec, GitOpsSpec } from "../../modules/argocd/config";
import versions from "../versions.json";

/**
 * Supported version windows (semver ranges, checked in lib/config/validate.ts). The defaults in
 * lib/versions.json must fall inside them (a test checks this). Widen a window only together with
 * the renderers that depend on the version (flags, API versions, image layouts).
 *
 * Kubernetes: 1.34 to 1.37; prereleases are rejected.
 */
export const SUPPORTED_KUBERNETES_VERSIONS = ">=1.34.0 <1.38.0";
/**
 * etcd: 3.5.x from 3.5.13, and 3.6.x. Moving a running 3.5 cluster to 3.6 needs every member on
 * a late 3.5 patch first (etcd's "Upgrade etcd from v3.5 to v3.6" guide: 3.5.26 or later).
 */
export const SUPPORTED_ETCD_VERSIONS = ">=3.5.13 <3.7.0";

/** Operating systems opke writes Ignition for. */
export const OperatingSystem = { Flatcar: "flatcar", FedoraCoreOS: "fedora-coreos" } as const;
export type OperatingSystem = (typeof OperatingSystem)[keyof typeof OperatingSystem];

/** Pod networks opke can install. */
export const Cni = { Flannel: "flannel", Cilium: "cilium" } as const;
export type Cni = (typeof Cni)[keyof typeof Cni];

/** Where the nodes come from. */
export const Platform = { BareMetal: "bare-metal", OpenStack: "openstack" } as const;
export type Platform = (typeof Platform)[keyof typeof Platform];

/** Key algorithms for every generated private key. */
export const KeyAlgorithm = { RSA: "RSA", ECDSA: "ECDSA" } as const;
export type KeyAlgorithm = (typeof KeyAlgorithm)[keyof typeof KeyAlgorithm];

export const NodeRole = { Controller: "controller", Worker: "worker" } as const;
export type NodeRole = (typeof NodeRole)[keyof typeof NodeRole];

/*
 * Messages below complete a line `<field path>: <value as JSON> <message>`, so each one reads
 * "<problem>; <what is allowed / the fix>" (see lib/config/validate.ts).
 */
const dnsLabel = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const dnsName = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;
const mac = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const labelKey = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
const absPath = /^\/(?!.*(^|\/)\.\.?(\/|$))[^\0]*[^/]$/;
const unitName = /^[A-Za-z0-9:_.\\@-]+\.(service|socket|timer|path|mount|automount|target|slice|scope|swap|device)$/;

const dnsLabelMessage = "is not a lowercase DNS label; use a-z, 0-9 and '-' (at most 63 characters, a letter or digit at both ends)";
const labelKeyMessage = "is not a Kubernetes label key; use [prefix/]name such as \"example.com/role\" (name: at most 63 of A-Z a-z 0-9 - _ ., alphanumeric at both ends)";
const labelValueMessage = "is not a Kubernetes label value; use at most 63 of A-Z a-z 0-9 - _ ., alphanumeric at both ends (or \"\")";

/** An integer in [min, max]; `fix` says what is allowed. */
function intBetween(min: number, max: number, fix: string) {
    return z.number().int(`is not a whole number; ${fix}`).min(min, `is out of range; ${fix}`).max(max, `is out of range; ${fix}`);
}

export const Taint = z.strictObject({
    /** Taint key, a Kubernetes label key such as "example.com/dedicated". Required. */
    key: z.string().regex(labelKey, labelKeyMessage),
    /** Taint value, a Kubernetes label value. Defaults to none (the taint has only a key). */
    value: z.string().regex(labelValue, labelValueMessage).optional(),
    /** What the taint does to pods that do not tolerate it: NoSchedule, PreferNoSchedule or NoExecute. Required. */
    effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]),
});
export type Taint = z.infer<typeof Taint>;

const fileModeFix = "use an octal string such as \"0644\" or a number from 0 to 4095";
const fileModeMessage = `is not a file mode; ${fileModeFix}`;

/** A file added to a node's Ignition. Content must be version-free and secret-free. */
export const ExtraFile = z.strictObject({
    /** Absolute path of the file on the node, e.g. "/etc/motd". Required. */
    path: z.string().regex(absPath, "is not an absolute file path; use a path such as \"/etc/motd\" (no . or .. segments, no trailing '/')"),
    /** The file's text (written as is, owned by root). Required; keep it version-free and secret-free. */
    contents: z.string(),
    /** Octal mode as a string or number, e.g. "0644". Defaults to 0644. */
    mode: z
        .union([z.string().regex(/^0?[0-7]{3,4}$/, fileModeMessage), intBetween(0, 0o7777, fileModeFix)], { error: fileModeMessage })
        .default("0644"),
});
export type ExtraFile = z.infer<typeof ExtraFile>;

/** A systemd unit (or a drop-in for one) added to a node's Ignition. */
export const ExtraUnit = z.strictObject({
    /** Unit name with its type suffix, e.g. "example.service". Required. */
    name: z.string().regex(unitName, "is not a systemd unit name; use a name such as \"example.service\""),
    /** Full unit contents. Omit when only adding drop-ins to an existing unit. */
    contents: z.string().optional(),
    /** Enable the unit (WantedBy from its [Install] section). Defaults to true when contents are given. */
    enabled: z.boolean().optional(),
    /** Mask the unit. Defaults to false. */
    mask: z.boolean().default(false),
    /** Drop-ins for the unit (files in `/etc/systemd/system/<name>.d/`). Defaults to none. */
    dropins: z.array(z.strictObject({
        /** Drop-in file name ending in .conf, e.g. "10-opke.conf". Required. */
        name: z.string().regex(/^[A-Za-z0-9_.@-]+\.conf$/, "is not a drop-in file name; use a name ending in .conf such as \"10-opke.conf\""),
        /** The drop-in's text. Required. */
        contents: z.string(),
    })).default([]),
});
export type ExtraUnit = z.infer<typeof ExtraUnit>;

/** Extra Ignition content: files and units. */
export const Extras = z.strictObject({
    /** Files to add. Defaults to none. */
    files: z.array(ExtraFile).default([]),
    /** systemd units (or drop-ins for existing units) to add. Defaults to none. */
    units: z.array(ExtraUnit).default([]),
});
export type Extras = z.infer<typeof Extras>;

/** A fresh empty `Extras` per parse (a shared literal would share its arrays between configs). */
const noExtras = (): Extras => ({ files: [], units: [] });

export const NodeSpec = z.strictObject({
    /** Node (and host) name: a DNS label. */
    name: z.string().regex(dnsLabel, dnsLabelMessage),
    /** The node's IPv4 address on the node network (inside `network.nodeCidr`). */
    ip: z.string(),
    /** MAC address of the boot interface; required on bare metal (PXE selects the machine by it). */
    mac: z
        .string()
        .transform((s) => s.toLowerCase())
        .pipe(z.string().regex(mac, "is not a MAC address; use six hex pairs separated by ':' such as \"52:54:00:12:34:56\""))
        .optional(),
    /** Kubernetes node labels added to the role's own labels. */
    labels: z.record(z.string().regex(labelKey, labelKeyMessage), z.string().regex(labelValue, labelValueMessage)).default({}),
    /** Kubernetes taints added to the role's own taints. */
    taints: z.array(Taint).default([]),
    /** Extra Ignition files and units for this node only. */
    extras: Extras.default(noExtras),
    /**
     * Re-provisioning generation. Bumping it re-creates this host on purpose (new boot config and
     * new instance); nothing else ever does. Defaults to 0.
     */
    generation: intBetween(0, Number.MAX_SAFE_INTEGER, "use 0 or a higher whole number").default(0),
});
export type NodeSpecInput = z.input<typeof NodeSpec>;
export type NodeSpec = z.infer<typeof NodeSpec>;

export const NetworkSpec = z.strictObject({
    /** The network the nodes' IPs are on (IPv4 CIDR, host bits zero). Defaults to 10.0.0.0/24. */
    nodeCidr: z.string().default("10.0.0.0/24"),
    /** Pod network. Must not overlap the node or service network. Defaults to 10.20.0.0/16. */
    podCidr: z.string().default("10.20.0.0/16"),
    /**
     * Service network, /12 to /28. Its first address is the `kubernetes` Service; the 10th is
     * cluster DNS. Defaults to 10.3.0.0/16.
     */
    serviceCidr: z.string().default("10.3.0.0/16"),
    /** Cluster DNS domain. Defaults to cluster.local. */
    clusterDomain: z.string().regex(dnsName, "is not a DNS domain; use lowercase labels separated by dots such as \"cluster.local\"").default("cluster.local"),
    /** Pod network implementation. Defaults to flannel. */
    cni: z.enum([Cni.Flannel, Cni.Cilium]).default(Cni.Flannel),
    /** Size of each node's pod subnet (prefix length, longer than podCidr's). Defaults to 24. */
    nodePodPrefix: intBetween(16, 28, "use a prefix length from 16 to 28").default(24),
});
export type NetworkSpec = z.infer<typeof NetworkSpec>;

/** An OpenSSH public key as `<type> <base64>` (a trailing comment is allowed and ignored). */
const hostKeyLine = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,2}( .*)?$/;
const hostKeyMessage = "is not an SSH host key; paste the node's public host key such as \"ssh-ed25519 AAAA...\" (ssh-keyscan -t ed25519 <host>)";

/** A jump host the pushes connect through (the @pulumi/command provider's `proxy`). */
export const SshBastionSpec = z.strictObject({
    /** DNS name or IPv4 address of the bastion. Required. */
    host: z.string().regex(/^(?=.{1,253}$)[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$/, "is not a host name or IPv4 address; use a name such as \"bastion.example.com\""),
    /** Defaults to 22. */
    port: intBetween(1, 65535, "use a port number from 1 to 65535 such as 22").default(22),
    /** Login user on the bastion; defaults to ssh.user. */
    user: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, "is not a POSIX user name; use lowercase letters, digits, '_' and '-', starting with a letter or '_' (at most 32)").optional(),
    /** The bastion's host key (pinned when given). */
    hostKey: z.string().regex(hostKeyLine, hostKeyMessage).optional(),
});
export type SshBastionSpec = z.infer<typeof SshBastionSpec>;

export const SshSpec = z.strictObject({
    /** The login user on the nodes (also the user Ignition gives the authorized keys to). Defaults to core. */
    user: z
        .string()
        .regex(/^[a-z_][a-z0-9_-]{0,31}$/, "is not a POSIX user name; use lowercase letters, digits, '_' and '-', starting with a letter or '_' (at most 32)")
        .default("core"),
    /** Public keys allowed to log in as `user`; at least one. */
    authorizedKeys: z
        .array(
            z
                .string()
                .regex(
                    /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/=]+( .*)?$/,
                    "is not an OpenSSH public key line; paste a .pub line such as \"ssh-ed25519 AAAA... user@host\"",
                ),
        )
        .min(1, "is empty; list at least one OpenSSH public key"),
    /** SSH port of the nodes, for the pushes (lib/provision). Defaults to 22. */
    port: intBetween(1, 65535, "use a port number from 1 to 65535 such as 22").default(22),
    /**
     * Pinned host keys by node name (`c1: "ssh-ed25519 AAAA…"`): the pushes then refuse any other
     * key. Nodes not listed are not checked (the SSH provider ignores host keys when none is given).
     */
    hostKeys: z.record(z.string().regex(dnsLabel, dnsLabelMessage), z.string().regex(hostKeyLine, hostKeyMessage)).default({}),
    /** Jump host for the pushes (`{ host, port, user, hostKey }`); none by default. */
    bastion: SshBastionSpec.optional(),
    /**
     * ssh-agent socket to authenticate with, pinned to a path. Without it (and without the secret
     * config `opke:sshPrivateKey`) the provider uses SSH_AUTH_SOCK of the process at run time.
     */
    agentSocketPath: z.string().regex(absPath, "is not an absolute path; use the agent socket's path such as \"/run/user/1000/ssh-agent.socket\"").optional(),
});
export type SshSpec = z.infer<typeof SshSpec>;

/** Rolling upgrades of the nodes (lib/provision). */
export const UpgradeSpec = z.strictObject({
    /**
     * Workers pushed (and restarted) at a time during an upgrade; controllers always go one at a
     * time. Defaults to 1.
     */
    maxUnavailable: intBetween(1, 10000, "use a whole number of workers, 1 or more, such as 1").default(1),
});
export type UpgradeSpec = z.infer<typeof UpgradeSpec>;

export const PkiSpec = z.strictObject({
    /** Algorithm of every generated key. Defaults to RSA. */
    algorithm: z.enum([KeyAlgorithm.RSA, KeyAlgorithm.ECDSA]).default(KeyAlgorithm.RSA),
    /** RSA modulus size. Defaults to 2048. */
    rsaBits: z.literal([2048, 3072, 4096]).default(2048),
    /** ECDSA curve. Defaults to P256. */
    ecdsaCurve: z.enum(["P256", "P384"]).default("P256"),
    /** Validity of leaf certificates in hours. Defaults to 8760 (one year). */
    validityHours: intBetween(1, Number.MAX_SAFE_INTEGER, "use a positive number of hours such as 8760").default(8760),
    /** Renew leaf certificates this many hours before they expire. Defaults to 720 (30 days). */
    earlyRenewalHours: intBetween(0, Number.MAX_SAFE_INTEGER, "use 0 or more hours, less than pki.validityHours").default(720),
    /** Validity of the CAs in hours. Defaults to 87600 (ten years). */
    caValidityHours: intBetween(1, Number.MAX_SAFE_INTEGER, "use a positive number of hours such as 87600").default(87600),
    /** Renew the CAs this many hours before they expire. Defaults to 8760 (one year). */
    caEarlyRenewalHours: intBetween(0, Number.MAX_SAFE_INTEGER, "use 0 or more hours, less than pki.caValidityHours").default(8760),
});
export type PkiSpec = z.infer<typeof PkiSpec>;

/** An image repository without tag or digest (the tag is always the configured version). */
const imageRepository = z
    .string()
    .regex(
        /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(\/[a-z0-9]+([._-]+[a-z0-9]+)*)*$/,
        "is not an image repository; use a repository without tag or digest such as \"quay.io/coreos/etcd\"",
    );

/** Container image repositories; the tags come from `kubernetesVersion` / `etcdVersion`. */
export const ImagesSpec = z.strictObject({
    /** Repository of the kubelet image (it must provide /usr/local/bin/kubelet). Defaults to quay.io/poseidon/kubelet. */
    kubelet: imageRepository.default("quay.io/poseidon/kubelet"),
    /** Repository prefix of the control-plane images (kube-apiserver, …) and the kubectl image. Defaults to registry.k8s.io. */
    kubernetesRegistry: imageRepository.default("registry.k8s.io"),
    /** Repository of the etcd image. Defaults to quay.io/coreos/etcd. */
    etcd: imageRepository.default("quay.io/coreos/etcd"),
});
export type ImagesSpec = z.infer<typeof ImagesSpec>;

/** The raw stack config shape: the keys under `opke:` in Pulumi.<stack>.yaml. */
export const ClusterConfigSchema = z.strictObject({
    /** Cluster name: a DNS label, used in resource names and certificates. Required. */
    clusterName: z.string().regex(dnsLabel, dnsLabelMessage),
    /** Where the nodes run. Defaults to bare-metal. */
    platform: z.enum([Platform.BareMetal, Platform.OpenStack]).default(Platform.BareMetal),
    /** DNS name of the Kubernetes API (load balancer or round-robin record). Required. */
    apiDnsName: z.string().regex(dnsName, "is not a DNS name; use lowercase labels separated by dots such as \"api.example.com\""),
    /** Port of the Kubernetes API. Defaults to 6443. */
    apiPort: intBetween(1, 65535, "use a port number from 1 to 65535 such as 6443").default(6443),
    /**
     * Kubernetes version, `1.36.3` or `v1.36.3` (normalised to `v1.36.3`), inside
     * SUPPORTED_KUBERNETES_VERSIONS. Defaults to lib/versions.json `kubernetes`.
     */
    kubernetesVersion: z.string().default(versions.kubernetes),
    /** etcd version, `3.6.16` or `v3.6.16`, inside SUPPORTED_ETCD_VERSIONS. Defaults to lib/versions.json `etcd`. */
    etcdVersion: z.string().default(versions.etcd),
    /** Node operating system. Defaults to flatcar. */
    os: z.enum([OperatingSystem.Flatcar, OperatingSystem.FedoraCoreOS]).default(OperatingSystem.Flatcar),
    /** Node, pod and service networks, cluster domain, CNI. Every field has a default. */
    network: NetworkSpec.default(NetworkSpec.parse({})),
    /** Control-plane nodes: an odd number (1, 3, 5 …); each runs an etcd member. */
    controllers: z.array(NodeSpec),
    /** Worker nodes. Defaults to none. */
    workers: z.array(NodeSpec).default([]),
    /** Login user and authorized keys. Required (at least one key). */
    ssh: SshSpec,
    /** Rolling upgrades: workers per batch. Every field has a default. */
    upgrade: UpgradeSpec.default(UpgradeSpec.parse({})),
    /** Key algorithm and certificate lifetimes. Every field has a default. */
    pki: PkiSpec.default(PkiSpec.parse({})),
    /** Image repositories. Every field has a default. */
    images: ImagesSpec.default(ImagesSpec.parse({})),
    /** Extra Ignition files and units for every controller. */
    controllerExtras: Extras.default(noExtras),
    /** Extra Ignition files and units for every worker. */
    workerExtras: Extras.default(noExtras),
    /**
     * Bare-metal boot and install (platform bare-metal): mode installed (default), matchbox or
     * directory, Matchbox endpoint and host, pinned OS image, install disk, kernel arguments and
     * per-machine settings. See modules/bare-metal/config.ts. Every field has a default.
     */
    bareMetal: BareMetalSpec.default(defaultBareMetal),
    /**
     * OpenStack settings: required when platform is "openstack", rejected otherwise (checked in
     * lib/config/validate.ts; an empty mapping counts as unset, as Pulumi.yaml's default is {}).
     * See modules/openstack/config.ts. The credentials are separate secret keys.
     */
    openstack: OpenStackSpec.optional(),
    /** GitOps bootstrap: Argo CD, credentials, the staged app-of-apps (modules/argocd/config.ts). Optional; {} counts as unset. */
    gitops: GitOpsSpec.optional(),
    /** Cloudflare tunnel or plain DNS records (modules/argocd/config.ts). Optional; {} counts as unset. */
    cloudflare: CloudflareSpec.optional(),
});

/** The validated, defaulted and normalised cluster description every module consumes. */
export type ClusterConfig = z.infer<typeof ClusterConfigSchema> & {
    /** Versions normalised to the `v`-prefixed form. */
    kubernetesVersion: `v${string}`;
    etcdVersion: `v${string}`;
};
export type ClusterConfigInput = z.input<typeof ClusterConfigSchema>;

/** A node together with its role, as the renderers see it. */
export interface ClusterNode extends NodeSpec {
    role: NodeRole;
    /** Position among the nodes of its role (controller 0 bootstraps the cluster). */
    index: number;
}

/** All nodes, controllers first, in config order. */
export function clusterNodes(cfg: ClusterConfig): ClusterNode[] {
    return [
        ...cfg.controllers.map((n, index) => ({ ...n, role: NodeRole.Controller, index })),
        ...cfg.workers.map((n, index) => ({ ...n, role: NodeRole.Worker, index })),
    ];
}

/** A path into the raw config: object keys and array indexes, e.g. ["controllers", 1, "ip"]. */
export type ConfigPath = readonly (string | number)[];

/** The parts of zod's internal schema definition that the introspection below reads. */
interface SchemaDef {
    type: string;
    innerType?: z.ZodType;
    in?: z.ZodType;
    element?: z.ZodType;
    valueType?: z.ZodType;
    shape?: Record<string, z.ZodType>;
}

function defOf(schema: z.ZodType): SchemaDef {
    return (schema as unknown as { _zod: { def: SchemaDef } })._zod.def;
}

/** Strips default/optional/pipe wrappers. */
function unwrap(schema: z.ZodType): z.ZodType {
    for (;;) {
        const def = defOf(schema);
        if ((def.type === "default" || def.type === "optional" || def.type === "nullable" || def.type === "prefault") && def.innerType) schema = def.innerType;
        else if (def.type === "pipe" && def.in) schema = def.in;
        else return schema;
    }
}

/**
 * The schema of the field at `path` below `root` (default: the whole config), with wrappers such
 * as `.default()` removed; undefined when the path names no field. Used to list allowed keys in
 * messages and to decide how `--set` and Pulumi config strings are decoded.
 */
export function schemaAtPath(path: ConfigPath, root: z.ZodType = ClusterConfigSchema): z.ZodType | undefined {
    let schema = unwrap(root);
    for (const segment of path) {
        const def = defOf(schema);
        let next: z.ZodType | undefined;
        if (def.type === "object" && typeof segment === "string") next = Object.hasOwn(def.shape ?? {}, segment) ? def.shape?.[segment] : undefined;
        else if (def.type === "array" && typeof segment === "number") next = def.element;
        else if (def.type === "record" && typeof segment === "string") next = def.valueType;
        if (!next) return undefined;
        schema = unwrap(next);
    }
    return schema;
}

/** The zod type name of the field at `path` ("string", "enum", "number", "object", "array", …). */
export function schemaKindAtPath(path: ConfigPath): string | undefined {
    const schema = schemaAtPath(path);
    return schema && defOf(schema).type;
}

/** The keys the object at `path` allows, in schema order; undefined when `path` is not an object. */
export function allowedKeysAtPath(path: ConfigPath): string[] | undefined {
    const schema = schemaAtPath(path);
    const def = schema && defOf(schema);
    return def?.type === "object" ? Object.keys(def.shape ?? {}) : undefined;
}
