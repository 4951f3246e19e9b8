/**
 * Tests of the cluster description: lib/config (schema, cross-field validation, loaders) and the
 * Pulumi.yaml / Pulumi.dev.yaml files.
 *
 * What these tests prove: each bad config below yields exactly the listed messages (no more, no
 * fewer, in this order); good configs get the schema defaults and normalised versions; the stack
 * file loader, `--set` and the Pulumi config loader agree; Pulumi.yaml declares exactly the
 * schema's top-level keys with the schema's defaults.
 *
 * What they do not prove: that the real `pulumi` CLI accepts Pulumi.yaml and the stack files (it
 * is not installed here; test/fixtures/engine-allconfig.json was produced once with the Pulumi Go
 * SDK's own project/stack loading code, and this test only replays it), that a config which passes
 * here boots a working cluster (e.g. that the node CIDR matches the real network, or that MACs are
 * the machines' real ones), that the supported version windows match what the renderers can
 * really deploy, or that every invalid config is caught — only the listed rules are checked.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import YAML from "yaml";
import versions from "../lib/versions.json";
import {
    apiServerUrl,
    checkClusterConfig,
    ClusterConfigSchema,
    clusterNodes,
    ConfigError,
    dnsServiceIp,
    kubernetesServiceIp,
    loadPulumiConfig,
    loadStackFile,
    parseClusterConfig,
    parseSetArgument,
    rawConfigFromPulumi,
    schemaKindAtPath,
    serviceIp,
    SUPPORTED_ETCD_VERSIONS,
    SUPPORTED_KUBERNETES_VERSIONS,
    type ClusterConfig,
} from "../lib/config";
import semver from "semver";
import { TEST_SSH_KEY as KEY, threeByTwoNodes } from "./helpers/fixtures";

const ROOT = path.resolve(__dirname, "..");
const FIXTURES = path.join(__dirname, "fixtures");

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Raw = Record<string, any>;

/** A valid config: 3 controllers and 2 workers on bare metal, everything else defaulted. */
function base(): Raw {
    return {
        clusterName: "test",
        apiDnsName: "api.test.example",
        ...threeByTwoNodes(),
        ssh: { authorizedKeys: [KEY] },
    };
}

/** A complete `bareMetal` block for mode matchbox (Flatcar). */
function matchbox(): Raw {
    return {
        mode: "matchbox",
        matchboxUrl: "http://matchbox.example.com:8080",
        matchboxHost: { host: "matchbox.example.com" },
        osVersion: "4230.2.3",
    };
}

/** The issues of a config that must fail (fails the test if it passes). */
function issuesOf(raw: unknown): string[] {
    const result = checkClusterConfig(raw);
    if (result.ok) throw new Error("expected the config to be rejected, but it was accepted");
    return result.issues;
}

/** The issues of a ConfigError thrown by `fn`. */
function thrownIssues(fn: () => unknown): string[] {
    try {
        fn();
    } catch (e) {
        if (e instanceof ConfigError) return e.issues;
        throw e;
    }
    throw new Error("expected a ConfigError");
}

/** Bad configs: a change to `base()` (or a replacement value) and the exact issue lines. */
const BAD_CONFIGS: [name: string, mutate: (c: Raw) => unknown, issues: string[]][] = [
    [
        "unknown top-level key",
        (c) => { c.bogus = 1; },
        [
            "bogus: unknown key; allowed keys are clusterName, platform, apiDnsName, apiPort, kubernetesVersion, etcdVersion, os, network, controllers, workers, ssh, upgrade, pki, images, controllerExtras, workerExtras, bareMetal, openstack, gitops, cloudflare",
        ],
    ],
    [
        "unknown key close to a known one",
        (c) => { c.apiport = 7443; },
        [
            "apiport: unknown key; did you mean apiPort? allowed keys are clusterName, platform, apiDnsName, apiPort, kubernetesVersion, etcdVersion, os, network, controllers, workers, ssh, upgrade, pki, images, controllerExtras, workerExtras, bareMetal, openstack, gitops, cloudflare",
        ],
    ],
    [
        "unknown nested key",
        (c) => { c.network = { podCIDR: "10.20.0.0/16" }; },
        [
            "network.podCIDR: unknown key; did you mean podCidr? allowed keys are nodeCidr, podCidr, serviceCidr, clusterDomain, cni, nodePodPrefix",
        ],
    ],
    [
        "unknown node key",
        (c) => { c.controllers[1].hostname = "c2.example"; },
        [
            "controllers[1].hostname: unknown key; allowed keys are name, ip, mac, labels, taints, extras, generation",
        ],
    ],
    [
        "missing clusterName",
        (c) => { delete c.clusterName; },
        [
            "clusterName: missing; set a lowercase DNS label such as \"dev\"",
        ],
    ],
    [
        "clusterName not a DNS label",
        (c) => { c.clusterName = "Dev_1"; },
        [
            "clusterName: \"Dev_1\" is not a lowercase DNS label; use a-z, 0-9 and '-' (at most 63 characters, a letter or digit at both ends)",
        ],
    ],
    [
        "apiDnsName not a DNS name",
        (c) => { c.apiDnsName = "api_server"; },
        [
            "apiDnsName: \"api_server\" is not a DNS name; use lowercase labels separated by dots such as \"api.example.com\"",
        ],
    ],
    [
        "unknown platform",
        (c) => { c.platform = "aws"; },
        [
            "platform: \"aws\" is not allowed; use one of \"bare-metal\", \"openstack\"",
        ],
    ],
    [
        "unknown os",
        (c) => { c.os = "ubuntu"; },
        [
            "os: \"ubuntu\" is not allowed; use one of \"flatcar\", \"fedora-coreos\"",
        ],
    ],
    [
        "unknown cni",
        (c) => { c.network = { cni: "calico" }; },
        [
            "network.cni: \"calico\" is not allowed; use one of \"flannel\", \"cilium\"",
        ],
    ],
    [
        "apiPort as a string",
        (c) => { c.apiPort = "6443"; },
        [
            "apiPort: \"6443\" is a string; expected a number",
        ],
    ],
    [
        "apiPort out of range",
        (c) => { c.apiPort = 70000; },
        [
            "apiPort: 70000 is out of range; use a port number from 1 to 65535 such as 6443",
        ],
    ],
    [
        "apiPort not whole",
        (c) => { c.apiPort = 6443.5; },
        [
            "apiPort: 6443.5 is not a whole number; use a port number from 1 to 65535 such as 6443",
        ],
    ],
    [
        "apiPort on the etcd client port",
        (c) => { c.apiPort = 2379; },
        [
            "apiPort: 2379 collides with the etcd client port on the controllers; use another port such as 6443",
        ],
    ],
    [
        "kubernetesVersion as a YAML number",
        (c) => { c.kubernetesVersion = 1.36; },
        [
            "kubernetesVersion: 1.36 is a decimal number; expected a string (quote it in YAML)",
        ],
    ],
    [
        "kubernetesVersion without patch",
        (c) => { c.kubernetesVersion = "1.36"; },
        [
            "kubernetesVersion: \"1.36\" is not a version; use MAJOR.MINOR.PATCH such as \"v1.36.3\" (a leading \"v\" is optional)",
        ],
    ],
    [
        "kubernetesVersion too old",
        (c) => { c.kubernetesVersion = "v1.33.5"; },
        [
            "kubernetesVersion: \"v1.33.5\" is not supported; use a version in >=1.34.0 <1.38.0 such as \"v1.36.3\"",
        ],
    ],
    [
        "kubernetesVersion too new",
        (c) => { c.kubernetesVersion = "1.38.0"; },
        [
            "kubernetesVersion: \"1.38.0\" is not supported; use a version in >=1.34.0 <1.38.0 such as \"v1.36.3\"",
        ],
    ],
    [
        "kubernetesVersion prerelease",
        (c) => { c.kubernetesVersion = "1.37.0-rc.1"; },
        [
            "kubernetesVersion: \"1.37.0-rc.1\" is a prerelease; use a released version such as \"v1.36.3\"",
        ],
    ],
    [
        "etcdVersion 3.4",
        (c) => { c.etcdVersion = "3.4.30"; },
        [
            "etcdVersion: \"3.4.30\" is not supported; use a version in >=3.5.13 <3.7.0 such as \"v3.6.16\"",
        ],
    ],
    [
        "etcdVersion before 3.5.13",
        (c) => { c.etcdVersion = "v3.5.12"; },
        [
            "etcdVersion: \"v3.5.12\" is not supported; use a version in >=3.5.13 <3.7.0 such as \"v3.6.16\"",
        ],
    ],
    [
        "etcdVersion garbage",
        (c) => { c.etcdVersion = "latest"; },
        [
            "etcdVersion: \"latest\" is not a version; use MAJOR.MINOR.PATCH such as \"v3.6.16\" (a leading \"v\" is optional)",
        ],
    ],
    [
        "podCidr without prefix",
        (c) => { c.network = { podCidr: "10.20.0.0" }; },
        [
            "network.podCidr: \"10.20.0.0\" is not an IPv4 CIDR; use ADDRESS/PREFIX such as \"10.20.0.0/16\"",
        ],
    ],
    [
        "nodeCidr with host bits",
        (c) => { c.network = { nodeCidr: "10.0.0.1/24" }; },
        [
            "network.nodeCidr: \"10.0.0.1/24\" has host bits set; use \"10.0.0.0/24\"",
        ],
    ],
    [
        "IPv6 serviceCidr",
        (c) => { c.network = { serviceCidr: "fd00::/108" }; },
        [
            "network.serviceCidr: \"fd00::/108\" is not an IPv4 CIDR; use ADDRESS/PREFIX such as \"10.3.0.0/16\"",
        ],
    ],
    [
        "podCidr overlaps nodeCidr",
        (c) => { c.network = { podCidr: "10.0.0.0/16" }; },
        [
            "network.podCidr: \"10.0.0.0/16\" overlaps network.nodeCidr \"10.0.0.0/24\"; choose disjoint ranges",
        ],
    ],
    [
        "serviceCidr overlaps default podCidr",
        (c) => { c.network = { serviceCidr: "10.20.0.0/24" }; },
        [
            "network.serviceCidr: \"10.20.0.0/24\" overlaps network.podCidr \"10.20.0.0/16\"; choose disjoint ranges",
        ],
    ],
    [
        "serviceCidr too small",
        (c) => { c.network = { serviceCidr: "10.3.0.0/29" }; },
        [
            "network.serviceCidr: \"10.3.0.0/29\" is too small; use a /28 or larger (it needs .1 for the kubernetes Service and .10 for DNS)",
        ],
    ],
    [
        "serviceCidr too large",
        (c) => { c.network = { serviceCidr: "10.64.0.0/11" }; },
        [
            "network.serviceCidr: \"10.64.0.0/11\" is too large; use a /12 or smaller (kube-apiserver rejects larger service ranges)",
        ],
    ],
    [
        "nodeCidr too small for the nodes",
        (c) => {
    c.network = { nodeCidr: "10.0.0.12/30" };
    c.controllers = [{ name: "c1", ip: "10.0.0.13", mac: "52:54:00:00:00:13" }];
    c.workers = [{ name: "w1", ip: "10.0.0.14", mac: "52:54:00:00:00:14" }, { name: "w2", ip: "10.0.0.15", mac: "52:54:00:00:00:15" }];
  },
        [
            "network.nodeCidr: \"10.0.0.12/30\" has room for 2 node addresses but there are 3 nodes; use a /29 or larger",
            "workers[1].ip: \"10.0.0.15\" is the broadcast address of network.nodeCidr \"10.0.0.12/30\"; use an address from 10.0.0.13 to 10.0.0.14",
        ],
    ],
    [
        "podCidr too small for the nodes",
        (c) => { c.network = { podCidr: "10.20.0.0/22" }; },
        [
            "network.podCidr: \"10.20.0.0/22\" has room for 4 node subnets of /24 but there are 5 nodes; use a /21 or larger, or a longer network.nodePodPrefix",
        ],
    ],
    [
        "nodePodPrefix not longer than podCidr",
        (c) => { c.network = { podCidr: "10.20.0.0/16", nodePodPrefix: 16 }; },
        [
            "network.nodePodPrefix: 16 is not longer than the /16 of network.podCidr \"10.20.0.0/16\"; use 17 to 28",
        ],
    ],
    [
        "podCidr too small for any node subnet",
        (c) => { c.network = { podCidr: "10.20.0.0/28", nodePodPrefix: 28 }; },
        [
            "network.nodePodPrefix: 28 is not longer than the /28 of network.podCidr \"10.20.0.0/28\"; use a larger network.podCidr (/27 or larger)",
        ],
    ],
    [
        "nodePodPrefix out of range",
        (c) => { c.network = { nodePodPrefix: 30 }; },
        [
            "network.nodePodPrefix: 30 is out of range; use a prefix length from 16 to 28",
        ],
    ],
    [
        "even controller count",
        (c) => { c.controllers.pop(); },
        [
            "controllers: 2 controllers is even; use an odd number (1, 3, 5) so etcd keeps quorum",
        ],
    ],
    [
        "no controllers",
        (c) => { c.controllers = []; },
        [
            "controllers: 0 controllers is too few; use an odd number (1, 3, 5) so etcd keeps quorum",
        ],
    ],
    [
        "duplicate node name across roles",
        (c) => { c.workers[0].name = "c1"; },
        [
            "workers[0].name: \"c1\" is already used by controllers[0]; give every node its own name",
        ],
    ],
    [
        "duplicate node IP",
        (c) => { c.workers[1].ip = "10.0.0.21"; },
        [
            "workers[1].ip: \"10.0.0.21\" is already used by workers[0]; give every node its own IP",
        ],
    ],
    [
        "node IP outside nodeCidr",
        (c) => { c.workers[1].ip = "10.1.0.22"; },
        [
            "workers[1].ip: \"10.1.0.22\" is outside network.nodeCidr \"10.0.0.0/24\"; use an address from 10.0.0.1 to 10.0.0.254",
        ],
    ],
    [
        "node IP is the network address",
        (c) => { c.controllers[0].ip = "10.0.0.0"; },
        [
            "controllers[0].ip: \"10.0.0.0\" is the network address of network.nodeCidr \"10.0.0.0/24\"; use an address from 10.0.0.1 to 10.0.0.254",
        ],
    ],
    [
        "node IP is the broadcast address",
        (c) => { c.workers[0].ip = "10.0.0.255"; },
        [
            "workers[0].ip: \"10.0.0.255\" is the broadcast address of network.nodeCidr \"10.0.0.0/24\"; use an address from 10.0.0.1 to 10.0.0.254",
        ],
    ],
    [
        "node IP not IPv4",
        (c) => { c.controllers[1].ip = "10.0.0.300"; },
        [
            "controllers[1].ip: \"10.0.0.300\" is not an IPv4 address; use four decimal octets such as \"10.0.0.11\"",
        ],
    ],
    [
        "node IP with leading zero",
        (c) => { c.controllers[1].ip = "10.0.0.012"; },
        [
            "controllers[1].ip: \"10.0.0.012\" is not an IPv4 address; use four decimal octets such as \"10.0.0.11\"",
        ],
    ],
    [
        "bare metal node without MAC in matchbox mode",
        (c) => { c.bareMetal = matchbox(); delete c.workers[1].mac; },
        [
            "workers[1].mac: missing; bareMetal.mode \"matchbox\" selects each machine by the MAC address of its boot interface; set it such as \"52:54:00:12:34:56\", or set bareMetal.machines.w2.uuid",
        ],
    ],
    [
        "bare metal node without MAC in directory mode",
        (c) => { c.bareMetal = { ...matchbox(), mode: "directory" }; delete c.bareMetal.matchboxHost; delete c.controllers[0].mac; },
        [
            "controllers[0].mac: missing; bareMetal.mode \"directory\" selects each machine by the MAC address of its boot interface; set it such as \"52:54:00:12:34:56\", or set bareMetal.machines.c1.uuid",
        ],
    ],
    [
        "matchbox mode without endpoint, host and OS version",
        (c) => { c.bareMetal = { mode: "matchbox" }; },
        [
            "bareMetal.matchboxUrl: missing; bareMetal.mode \"matchbox\" needs the Matchbox HTTP endpoint the machines reach while booting, such as \"http://matchbox.example.com:8080\"",
            "bareMetal.osVersion: missing; bareMetal.mode \"matchbox\" installs a pinned image; set the Flatcar version to install such as \"4230.2.3\"",
            "bareMetal.matchboxHost: missing; bareMetal.mode \"matchbox\" writes the Matchbox files over SSH; set the provisioning host such as { host: \"matchbox.example.com\" }, or use bareMetal.mode \"directory\" to write them locally",
        ],
    ],
    [
        "directory mode on Fedora CoreOS without OS version",
        (c) => { c.os = "fedora-coreos"; c.bareMetal = { mode: "directory", matchboxUrl: "http://10.0.0.2:8080" }; },
        [
            "bareMetal.osVersion: missing; bareMetal.mode \"directory\" installs a pinned image; set the Fedora CoreOS version to install such as \"42.20250929.3.0\"",
        ],
    ],
    [
        "unknown bare-metal mode",
        (c) => { c.bareMetal = { mode: "pxe" }; },
        [
            "bareMetal.mode: \"pxe\" is not allowed; use one of \"installed\", \"matchbox\", \"directory\"",
        ],
    ],
    [
        "Matchbox URL with a trailing slash",
        (c) => { c.bareMetal = { ...matchbox(), matchboxUrl: "http://matchbox.example.com:8080/" }; },
        [
            "bareMetal.matchboxUrl: \"http://matchbox.example.com:8080/\" is not an HTTP URL; use the Matchbox endpoint the machines reach such as \"http://matchbox.example.com:8080\" (no trailing '/', no query)",
        ],
    ],
    [
        "unpinned Flatcar version and a Fedora CoreOS stream",
        (c) => { c.bareMetal = { ...matchbox(), osVersion: "current", osChannel: "testing" }; },
        [
            "bareMetal.osVersion: \"current\" is not a Flatcar version; pin a release such as \"4230.2.3\"",
            "bareMetal.osChannel: \"testing\" is not a Flatcar channel; use one of \"stable\", \"beta\", \"alpha\"",
        ],
    ],
    [
        "Flatcar version and channel on Fedora CoreOS",
        (c) => { c.os = "fedora-coreos"; c.bareMetal = { ...matchbox(), osChannel: "beta" }; },
        [
            "bareMetal.osVersion: \"4230.2.3\" is not a Fedora CoreOS version; pin a release such as \"42.20250929.3.0\"",
            "bareMetal.osChannel: \"beta\" is not a Fedora CoreOS stream; use one of \"stable\", \"testing\", \"next\"",
        ],
    ],
    [
        "machine settings for an unknown node, a duplicate UUID, a bad disk and kernel argument",
        (c) => {
    c.bareMetal = {
        ...matchbox(),
        machines: {
            c1: { uuid: "4C4C4544-0042-3010-8056-B8C04F4C5931" },
            w9: { installDisk: "/dev/sdb" },
            w1: { uuid: "4c4c4544-0042-3010-8056-b8c04f4c5931" },
        },
    };
  },
        [
            "bareMetal.machines.w9: unknown node; machines are keyed by node name, one of c1, c2, c3, w1, w2",
            "bareMetal.machines.w1.uuid: \"4c4c4544-0042-3010-8056-b8c04f4c5931\" is already used by bareMetal.machines.c1; give every machine its own UUID",
        ],
    ],
    [
        "bad install disk, kernel argument and matchbox host",
        (c) => {
    c.bareMetal = {
        ...matchbox(),
        installDisk: "sda",
        kernelArgs: ["console=tty0 console=ttyS0"],
        matchboxHost: { host: "matchbox_host", port: 0 },
    };
  },
        [
            "bareMetal.matchboxHost.host: \"matchbox_host\" is not a host name or IPv4 address; use e.g. \"matchbox.example.com\" or \"10.0.0.2\"",
            "bareMetal.matchboxHost.port: 0 is out of range; use a port number from 1 to 65535 such as 22",
            "bareMetal.installDisk: \"sda\" is not a block device path; use a path such as \"/dev/sda\", \"/dev/nvme0n1\" or \"/dev/disk/by-id/…\"",
            "bareMetal.kernelArgs[0]: \"console=tty0 console=ttyS0\" is not one kernel argument; write each argument as its own list entry, without spaces or quotes, such as \"console=ttyS0,115200n8\"",
        ],
    ],
    [
        "duplicate MAC (case-insensitive)",
        (c) => { c.workers[1].mac = "52:54:00:00:00:1A"; c.workers[0].mac = "52:54:00:00:00:1a"; },
        [
            "workers[1].mac: \"52:54:00:00:00:1A\" is already used by workers[0]; give every node its own MAC address",
        ],
    ],
    [
        "malformed MAC",
        (c) => { c.controllers[2].mac = "52:54:00:zz:00:13"; },
        [
            "controllers[2].mac: \"52:54:00:zz:00:13\" is not a MAC address; use six hex pairs separated by ':' such as \"52:54:00:12:34:56\"",
        ],
    ],
    [
        "no authorized keys",
        (c) => { c.ssh.authorizedKeys = []; },
        [
            "ssh.authorizedKeys: [] is empty; list at least one OpenSSH public key",
        ],
    ],
    [
        "authorized key not a key",
        (c) => { c.ssh.authorizedKeys = ["AAAAC3Nza... me@host"]; },
        [
            "ssh.authorizedKeys[0]: \"AAAAC3Nza... me@host\" is not an OpenSSH public key line; paste a .pub line such as \"ssh-ed25519 AAAA... user@host\"",
        ],
    ],
    [
        "controllers missing",
        (c) => { delete c.controllers; },
        [
            "controllers: missing; list the controller nodes (an odd number: 1, 3 or 5), each with name and ip",
        ],
    ],
    [
        "node without ip",
        (c) => { delete c.controllers[0].ip; },
        [
            "controllers[0].ip: missing; set the node's IPv4 address inside network.nodeCidr",
        ],
    ],
    [
        "node not a mapping",
        (c) => { c.workers[0] = "w1"; },
        [
            "workers[0]: \"w1\" is a string; expected a mapping (key: value)",
        ],
    ],
    [
        "ssh missing",
        (c) => { delete c.ssh; },
        [
            "ssh: missing; set ssh.authorizedKeys to at least one OpenSSH public key",
        ],
    ],
    [
        "leaf early renewal not before expiry",
        (c) => { c.pki = { earlyRenewalHours: 8760 }; },
        [
            "pki.earlyRenewalHours: 8760 is not less than pki.validityHours 8760; renew before expiry, e.g. 720 for a one-year certificate",
        ],
    ],
    [
        "CA early renewal not before expiry",
        (c) => { c.pki = { caValidityHours: 8760, caEarlyRenewalHours: 9000, validityHours: 4380 }; },
        [
            "pki.caEarlyRenewalHours: 9000 is not less than pki.caValidityHours 8760; renew before expiry, e.g. 8760 for a ten-year CA",
        ],
    ],
    [
        "leaf outlives CA",
        (c) => { c.pki = { validityHours: 100000 }; },
        [
            "pki.validityHours: 100000 is longer than pki.caValidityHours 87600; a certificate must not outlive its CA",
        ],
    ],
    [
        "unsupported RSA size",
        (c) => { c.pki = { rsaBits: 1024 }; },
        [
            "pki.rsaBits: 1024 is not allowed; use one of 2048, 3072, 4096",
        ],
    ],
    [
        "invalid label key",
        (c) => { c.workers[0].labels = { "Bad Key!": "x" }; },
        [
            "workers[0].labels[\"Bad Key!\"]: \"Bad Key!\" is not a Kubernetes label key; use [prefix/]name such as \"example.com/role\" (name: at most 63 of A-Z a-z 0-9 - _ ., alphanumeric at both ends)",
        ],
    ],
    [
        "invalid label value",
        (c) => { c.workers[0].labels = { "example.com/role": "-edge" }; },
        [
            "workers[0].labels[\"example.com/role\"]: \"-edge\" is not a Kubernetes label value; use at most 63 of A-Z a-z 0-9 - _ ., alphanumeric at both ends (or \"\")",
        ],
    ],
    [
        "duplicate taint",
        (c) => { c.workers[0].taints = [{ key: "dedicated", value: "a", effect: "NoSchedule" }, { key: "dedicated", value: "b", effect: "NoSchedule" }]; },
        [
            "workers[0].taints[1]: {\"key\":\"dedicated\",\"value\":\"b\",\"effect\":\"NoSchedule\"} repeats workers[0].taints[0] (same key and effect); keep one",
        ],
    ],
    [
        "unknown taint effect",
        (c) => { c.workers[0].taints = [{ key: "dedicated", effect: "Never" }]; },
        [
            "workers[0].taints[0].effect: \"Never\" is not allowed; use one of \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"",
        ],
    ],
    [
        "duplicate extra file path in a role",
        (c) => { c.workerExtras = { files: [{ path: "/etc/motd", contents: "a" }, { path: "/etc/motd", contents: "b" }] }; },
        [
            "workerExtras.files[1].path: \"/etc/motd\" is already written by workerExtras.files[0]; write each path once per node",
        ],
    ],
    [
        "node extra file collides with role extra file",
        (c) => { c.workerExtras = { files: [{ path: "/etc/motd", contents: "a" }] }; c.workers[1].extras = { files: [{ path: "/etc/motd", contents: "b" }] }; },
        [
            "workers[1].extras.files[0].path: \"/etc/motd\" is already written by workerExtras.files[0]; write each path once per node",
        ],
    ],
    [
        "duplicate extra unit",
        (c) => { c.controllerExtras = { units: [{ name: "a.service", contents: "[Unit]" }, { name: "a.service", mask: true }] }; },
        [
            "controllerExtras.units[1].name: \"a.service\" is already defined by controllerExtras.units[0]; define each unit once (add drop-ins to extend it)",
        ],
    ],
    [
        "relative extra file path",
        (c) => { c.controllerExtras = { files: [{ path: "etc/motd", contents: "a" }] }; },
        [
            "controllerExtras.files[0].path: \"etc/motd\" is not an absolute file path; use a path such as \"/etc/motd\" (no . or .. segments, no trailing '/')",
        ],
    ],
    [
        "bad extra unit name",
        (c) => { c.controllerExtras = { units: [{ name: "hello", contents: "[Unit]" }] }; },
        [
            "controllerExtras.units[0].name: \"hello\" is not a systemd unit name; use a name such as \"example.service\"",
        ],
    ],
    [
        "bad extra file mode",
        (c) => { c.controllerExtras = { files: [{ path: "/etc/motd", contents: "a", mode: "999" }] }; },
        [
            "controllerExtras.files[0].mode: \"999\" is not a file mode; use an octal string such as \"0644\" or a number from 0 to 4095",
        ],
    ],
    [
        "image repository with tag",
        (c) => { c.images = { etcd: "quay.io/coreos/etcd:v3.6.16" }; },
        [
            "images.etcd: \"quay.io/coreos/etcd:v3.6.16\" is not an image repository; use a repository without tag or digest such as \"quay.io/coreos/etcd\"",
        ],
    ],
    [
        "clusterDomain not a domain",
        (c) => { c.network = { clusterDomain: "Cluster Local" }; },
        [
            "network.clusterDomain: \"Cluster Local\" is not a DNS domain; use lowercase labels separated by dots such as \"cluster.local\"",
        ],
    ],
    [
        "negative generation",
        (c) => { c.workers[0].generation = -1; },
        [
            "workers[0].generation: -1 is out of range; use 0 or a higher whole number",
        ],
    ],
    [
        "network is null",
        (c) => { c.network = null; },
        [
            "network: null is empty (null); expected a mapping (key: value)",
        ],
    ],
    [
        "workers not a list",
        (c) => { c.workers = "w1"; },
        [
            "workers: \"w1\" is a string; expected a list",
        ],
    ],
    [
        "config is not a mapping",
        () => "clusterName: dev",
        [
            "(root): \"clusterName: dev\" is a string; expected a mapping (key: value)",
        ],
    ],
    [
        "several problems at once",
        (c) => {
    c.clusterName = "Prod";
    c.kubernetesVersion = "1.30.0";
    c.network = { podCidr: "10.0.0.0/8" };
    c.controllers.pop();
    c.workers[0].name = "c2";
    c.extra = true;
  },
        [
            "clusterName: \"Prod\" is not a lowercase DNS label; use a-z, 0-9 and '-' (at most 63 characters, a letter or digit at both ends)",
            "extra: unknown key; allowed keys are clusterName, platform, apiDnsName, apiPort, kubernetesVersion, etcdVersion, os, network, controllers, workers, ssh, upgrade, pki, images, controllerExtras, workerExtras, bareMetal, openstack, gitops, cloudflare",
            "kubernetesVersion: \"1.30.0\" is not supported; use a version in >=1.34.0 <1.38.0 such as \"v1.36.3\"",
            "network.podCidr: \"10.0.0.0/8\" overlaps network.nodeCidr \"10.0.0.0/24\"; choose disjoint ranges",
            "network.serviceCidr: \"10.3.0.0/16\" (default) overlaps network.podCidr \"10.0.0.0/8\"; choose disjoint ranges",
            "controllers: 2 controllers is even; use an odd number (1, 3, 5) so etcd keeps quorum",
            "workers[0].name: \"c2\" is already used by controllers[1]; give every node its own name",
        ],
    ],
];

describe("bad configs", () => {
    test("the table has at least 30 cases", () => {
        expect(BAD_CONFIGS.length).toBeGreaterThanOrEqual(30);
    });

    test("base() itself is valid", () => {
        expect(checkClusterConfig(base()).ok).toBe(true);
    });

    test.each(BAD_CONFIGS)("%s", (_name, mutate, expected) => {
        const c = base();
        const replaced = mutate(c);
        expect(issuesOf(replaced === undefined ? c : replaced)).toEqual(expected);
    });

    test("parseClusterConfig throws a ConfigError listing every problem", () => {
        const c = base();
        c.controllers.pop();
        c.apiPort = 2380;
        let error: unknown;
        try {
            parseClusterConfig(c);
        } catch (e) {
            error = e;
        }
        expect(error).toBeInstanceOf(ConfigError);
        expect(error).toBeInstanceOf(Error);
        expect((error as ConfigError).issues).toEqual([
            "apiPort: 2380 collides with the etcd peer port on the controllers; use another port such as 6443",
            "controllers: 2 controllers is even; use an odd number (1, 3, 5) so etcd keeps quorum",
        ]);
        expect((error as ConfigError).message).toBe(
            "Invalid opke config (2 problems):\n" +
                "  - apiPort: 2380 collides with the etcd peer port on the controllers; use another port such as 6443\n" +
                "  - controllers: 2 controllers is even; use an odd number (1, 3, 5) so etcd keeps quorum",
        );
    });

    test("a single problem is counted in the singular", () => {
        expect(() => parseClusterConfig({ ...base(), os: "ubuntu" })).toThrow(
            'Invalid opke config (1 problem):\n  - os: "ubuntu" is not allowed; use one of "flatcar", "fedora-coreos"',
        );
    });
});

describe("good configs", () => {
    test("a minimal config gets every default", () => {
        const cfg = parseClusterConfig({
            clusterName: "mini",
            apiDnsName: "api.mini.example",
            controllers: [{ name: "c1", ip: "10.0.0.11", mac: "52:54:00:AB:CD:EF" }],
            ssh: { authorizedKeys: [KEY] },
        });
        const expected: ClusterConfig = {
            clusterName: "mini",
            platform: "bare-metal",
            apiDnsName: "api.mini.example",
            apiPort: 6443,
            kubernetesVersion: "v1.36.3",
            etcdVersion: "v3.6.16",
            os: "flatcar",
            network: {
                nodeCidr: "10.0.0.0/24",
                podCidr: "10.20.0.0/16",
                serviceCidr: "10.3.0.0/16",
                clusterDomain: "cluster.local",
                cni: "flannel",
                nodePodPrefix: 24,
            },
            controllers: [
                {
                    name: "c1",
                    ip: "10.0.0.11",
                    mac: "52:54:00:ab:cd:ef",
                    labels: {},
                    taints: [],
                    extras: { files: [], units: [] },
                    generation: 0,
                },
            ],
            workers: [],
            ssh: { user: "core", authorizedKeys: [KEY], port: 22, hostKeys: {} },
            upgrade: { maxUnavailable: 1 },
            pki: {
                algorithm: "RSA",
                rsaBits: 2048,
                ecdsaCurve: "P256",
                validityHours: 8760,
                earlyRenewalHours: 720,
                caValidityHours: 87600,
                caEarlyRenewalHours: 8760,
            },
            images: { kubelet: "quay.io/poseidon/kubelet", kubernetesRegistry: "registry.k8s.io", etcd: "quay.io/coreos/etcd" },
            controllerExtras: { files: [], units: [] },
            workerExtras: { files: [], units: [] },
            bareMetal: {
                mode: "installed",
                assetsDir: "/var/lib/matchbox",
                osChannel: "stable",
                installDisk: "/dev/sda",
                kernelArgs: ["console=tty0", "console=ttyS0,115200n8"],
                cachedInstall: false,
                installTimeoutMinutes: 60,
                machines: {},
            },
        };
        expect(cfg).toEqual(expected);
    });

    test.each([
        ["1.36.2", "v1.36.2"],
        ["v1.36.2", "v1.36.2"],
        ["1.34.0", "v1.34.0"],
        ["v1.37.12", "v1.37.12"],
    ])("kubernetesVersion %s is accepted as %s", (input, normalised) => {
        expect(parseClusterConfig({ ...base(), kubernetesVersion: input }).kubernetesVersion).toBe(normalised);
    });

    test.each([
        ["3.5.13", "v3.5.13"],
        ["v3.6.0", "v3.6.0"],
    ])("etcdVersion %s is accepted as %s", (input, normalised) => {
        expect(parseClusterConfig({ ...base(), etcdVersion: input }).etcdVersion).toBe(normalised);
    });

    test("the pinned versions are the defaults and lie inside the supported windows", () => {
        const cfg = parseClusterConfig(base());
        expect([cfg.kubernetesVersion, cfg.etcdVersion]).toEqual([versions.kubernetes, versions.etcd]);
        expect(semver.satisfies(versions.kubernetes.slice(1), SUPPORTED_KUBERNETES_VERSIONS)).toBe(true);
        expect(semver.satisfies(versions.etcd.slice(1), SUPPORTED_ETCD_VERSIONS)).toBe(true);
    });

    test("every parse gets its own default objects", () => {
        const a = parseClusterConfig(base());
        const b = parseClusterConfig(base());
        a.workerExtras.files.push({ path: "/etc/a", contents: "", mode: "0644" });
        a.controllers[0].extras.units.push({ name: "a.service", mask: true, dropins: [] });
        a.network.podCidr = "10.99.0.0/16";
        expect([b.workerExtras.files, b.controllers[0].extras.units, b.network.podCidr]).toEqual([[], [], "10.20.0.0/16"]);
    });

    test("bare-metal hosts installed by other means need no MAC address (the default mode)", () => {
        const c = base();
        for (const n of [...c.controllers, ...c.workers]) delete n.mac;
        const cfg = parseClusterConfig(c);
        expect(cfg.bareMetal.mode).toBe("installed");
        expect(clusterNodes(cfg).map((n) => n.mac)).toEqual([undefined, undefined, undefined, undefined, undefined]);
    });

    test("a PXE-booted machine may be selected by UUID instead of MAC; machine settings are normalised", () => {
        const c = base();
        delete c.workers[0].mac;
        c.os = "fedora-coreos";
        c.bareMetal = {
            ...matchbox(),
            osChannel: "testing",
            osVersion: "42.20250929.2.0",
            machines: { w1: { uuid: "4C4C4544-0042-3010-8056-B8C04F4C5931", installDisk: "/dev/disk/by-id/nvme-eui.0025388b91b1a2c3", kernelArgs: ["nomodeset"] } },
        };
        const cfg = parseClusterConfig(c);
        expect(cfg.bareMetal.machines).toEqual({
            w1: { uuid: "4c4c4544-0042-3010-8056-b8c04f4c5931", installDisk: "/dev/disk/by-id/nvme-eui.0025388b91b1a2c3", kernelArgs: ["nomodeset"] },
        });
        expect(cfg.bareMetal.matchboxHost).toEqual({ host: "matchbox.example.com", port: 22, user: "core" });
    });

    test("openstack nodes need no MAC address", () => {
        const c = base();
        c.platform = "openstack";
        c.openstack = {
            authUrl: "https://keystone.example.com:5000/v3",
            projectName: "k8s",
            userName: "opke",
            imageId: "5f2c0b36-4f6a-4b8e-9a0e-2f1c3d4e5f60",
            controllerFlavor: "m1.large",
            externalNetworkId: "0e4c6f2a-9a7b-4c1d-8e3f-112233445566",
            allowedSshCidrs: ["203.0.113.7/32"],
        };
        for (const n of [...c.controllers, ...c.workers]) delete n.mac;
        expect(clusterNodes(parseClusterConfig(c)).map((n) => [n.role, n.index, n.name, n.mac])).toEqual([
            ["controller", 0, "c1", undefined],
            ["controller", 1, "c2", undefined],
            ["controller", 2, "c3", undefined],
            ["worker", 0, "w1", undefined],
            ["worker", 1, "w2", undefined],
        ]);
    });

    test("the smallest networks that fit are accepted", () => {
        const c = base();
        c.network = { nodeCidr: "10.0.0.8/29", podCidr: "10.20.0.0/21", serviceCidr: "10.3.0.0/28" };
        c.controllers = [
            { name: "c1", ip: "10.0.0.9", mac: "52:54:00:00:00:09" },
            { name: "c2", ip: "10.0.0.10", mac: "52:54:00:00:00:0a" },
            { name: "c3", ip: "10.0.0.11", mac: "52:54:00:00:00:0b" },
        ];
        c.workers = [
            { name: "w1", ip: "10.0.0.12", mac: "52:54:00:00:00:0c" },
            { name: "w2", ip: "10.0.0.13", mac: "52:54:00:00:00:0d" },
            { name: "w3", ip: "10.0.0.14", mac: "52:54:00:00:00:0e" },
        ];
        const cfg = parseClusterConfig(c);
        expect(dnsServiceIp(cfg)).toBe("10.3.0.10");
        expect(() => serviceIp(cfg, 15)).toThrow("service IP #15 is outside network.serviceCidr 10.3.0.0/28 (1 to 14)");
    });
});

describe("network helpers", () => {
    const cfg = parseClusterConfig({ ...base(), apiPort: 7443, network: { serviceCidr: "10.96.0.0/12" } });

    test("service IPs count from the service network address", () => {
        expect([kubernetesServiceIp(cfg), dnsServiceIp(cfg), serviceIp(cfg, 256)]).toEqual(["10.96.0.1", "10.96.0.10", "10.96.1.0"]);
        expect(() => serviceIp(cfg, 0)).toThrow(RangeError);
    });

    test("apiServerUrl uses the API DNS name and port", () => {
        expect(apiServerUrl(cfg)).toBe("https://api.test.example:7443");
    });
});

describe("stack files", () => {
    test("Pulumi.dev.yaml is the complete example", () => {
        const cfg = loadStackFile(ROOT, "dev");
        expect(cfg.clusterName).toBe("dev");
        expect(cfg.platform).toBe("bare-metal");
        expect(cfg.apiDnsName).toBe("api.dev.opke.test");
        expect([cfg.kubernetesVersion, cfg.etcdVersion]).toEqual([versions.kubernetes, versions.etcd]);
        expect(clusterNodes(cfg).map((n) => `${n.role} ${n.name} ${n.ip} ${n.mac}`)).toEqual([
            "controller c1 10.0.0.11 52:54:00:00:00:11",
            "controller c2 10.0.0.12 52:54:00:00:00:12",
            "controller c3 10.0.0.13 52:54:00:00:00:13",
            "worker w1 10.0.0.21 52:54:00:00:00:21",
            "worker w2 10.0.0.22 52:54:00:00:00:22",
            "worker w3 10.0.0.23 52:54:00:00:00:23",
        ]);
        expect(cfg.workers[2].labels).toEqual({ "example.com/gpu": "true" });
        expect(cfg.workers[2].taints).toEqual([{ key: "example.com/gpu", value: "true", effect: "NoSchedule" }]);
        expect(cfg.workerExtras.files).toEqual([{ path: "/etc/motd.d/opke.conf", contents: "opke dev cluster worker\n", mode: "0644" }]);
        expect(cfg.ssh.authorizedKeys).toHaveLength(1);
        expect(cfg.bareMetal).toEqual({
            mode: "matchbox",
            matchboxUrl: "http://matchbox.dev.opke.test:8080",
            matchboxHost: { host: "matchbox.dev.opke.test", port: 22, user: "core" },
            assetsDir: "/var/lib/matchbox",
            osChannel: "stable",
            osVersion: "4230.2.3",
            installDisk: "/dev/sda",
            kernelArgs: ["console=tty0", "console=ttyS0,115200n8"],
            cachedInstall: false,
            installTimeoutMinutes: 60,
            machines: { w3: { installDisk: "/dev/nvme0n1", kernelArgs: [] } },
        });
    });

    test("the Pulumi config map of a stack gives the same config as its stack file", () => {
        const all = JSON.parse(fs.readFileSync(path.join(FIXTURES, "engine-allconfig.json"), "utf8")) as Record<string, string>;
        const fromEngine = loadPulumiConfig(all);
        expect(fromEngine).toEqual(loadStackFile(FIXTURES, "engine"));
        expect(fromEngine.kubernetesVersion).toBe("v1.36.2");
        expect(fromEngine.apiPort).toBe(7443);
        expect(fromEngine.workers[0].labels).toEqual({ "example.com/rack": "1", "example.com/spot": "true" });
        expect(fromEngine.pki.algorithm).toBe("ECDSA");
    });

    test("--set overrides scalars, nested fields and list entries", () => {
        const cfg = loadStackFile(ROOT, "dev", [
            "kubernetesVersion=1.36.2",
            "apiPort=7443",
            "network.podCidr=10.30.0.0/16",
            "opke:network.nodePodPrefix=25",
            "controllers[0].ip=10.0.0.31",
            'workers[0].labels["example.com/zone"]=a',
            'workers[1].taints=[{"key":"spot","effect":"NoSchedule"}]',
            "pki.rsaBits=4096",
        ]);
        expect(cfg.kubernetesVersion).toBe("v1.36.2");
        expect(cfg.apiPort).toBe(7443);
        expect(cfg.network.podCidr).toBe("10.30.0.0/16");
        expect(cfg.network.nodePodPrefix).toBe(25);
        expect(cfg.controllers[0].ip).toBe("10.0.0.31");
        expect(cfg.workers[0].labels).toEqual({ "example.com/zone": "a" });
        expect(cfg.workers[1].taints).toEqual([{ key: "spot", effect: "NoSchedule" }]);
        expect(cfg.pki.rsaBits).toBe(4096);
    });

    test("--set keeps string fields as text and validates the result", () => {
        expect(parseSetArgument("kubernetesVersion=1.36")).toEqual({ path: ["kubernetesVersion"], value: "1.36" });
        expect(parseSetArgument("clusterName=123")).toEqual({ path: ["clusterName"], value: "123" });
        expect(parseSetArgument("workers[1].generation=3")).toEqual({ path: ["workers", 1, "generation"], value: 3 });
        expect(thrownIssues(() => loadStackFile(ROOT, "dev", ["kubernetesVersion=1.36", "controllers[3].name=c4"]))).toEqual([
            "controllers[3].ip: missing; set the node's IPv4 address inside network.nodeCidr",
            'kubernetesVersion: "1.36" is not a version; use MAJOR.MINOR.PATCH such as "v1.36.3" (a leading "v" is optional)',
            "controllers: 4 controllers is even; use an odd number (1, 3, 5) so etcd keeps quorum",
            'controllers[3].mac: missing; bareMetal.mode "matchbox" selects each machine by the MAC address of its boot interface; set it such as "52:54:00:12:34:56", or set bareMetal.machines.c4.uuid',
        ]);
    });

    test("malformed --set arguments are reported", () => {
        expect(
            thrownIssues(() =>
                loadStackFile(ROOT, "dev", ["apiPort", "aws:region=eu", "controllers[0]..ip=1", "controllers[9].ip=10.0.0.99", "clusterName.x=1", "bogus=1"]),
            ),
        ).toEqual([
            '--set "apiPort": is not key=value; write e.g. --set kubernetesVersion=1.36.2',
            '--set "aws:region=eu": sets a "aws" key; --set only takes opke keys, written without a prefix',
            '--set "controllers[0]..ip=1": "controllers[0]..ip" is not a config path; use .key, [index] or ["key"] steps such as controllers[0].ip',
            '--set "controllers[9].ip=10.0.0.99": controllers has 3 entries; use an index from 0 to 3',
            '--set "clusterName.x=1": clusterName is "dev", not a mapping or list; set the whole value instead',
            "bogus: unknown key; allowed keys are clusterName, platform, apiDnsName, apiPort, kubernetesVersion, etcdVersion, os, network, controllers, workers, ssh, upgrade, pki, images, controllerExtras, workerExtras, bareMetal, openstack, gitops, cloudflare",
        ]);
    });

    test("a missing stack file names the path and the stacks that exist", () => {
        expect(thrownIssues(() => loadStackFile(ROOT, "nope"))).toEqual([
            `--stack: "nope" has no stack file (${path.join(ROOT, "Pulumi.nope.yaml")} does not exist); use one of dev, openstack-example`,
        ]);
    });

    describe("in a scratch project", () => {
        let dir: string;
        beforeEach(() => {
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "opke-config-"));
        });
        afterEach(() => {
            fs.rmSync(dir, { recursive: true, force: true });
        });
        const write = (stack: string, text: string) => fs.writeFileSync(path.join(dir, `Pulumi.${stack}.yaml`), text);

        test("secret values, keys without namespace and unknown opke keys are rejected; other namespaces are ignored", () => {
            write(
                "s",
                [
                    "encryptionsalt: v1:abc",
                    "config:",
                    "  aws:region: eu-central-1",
                    "  pulumi:disable-default-providers: ['*']",
                    "  clusterName: oops",
                    "  opke:clusterName: s",
                    "  opke:apiDnsName: api.s.example",
                    "  opke:platform: openstack",
                    "  opke:controllers: [{ name: c1, ip: 10.0.0.11 }]",
                    "  opke:ssh:",
                    "    authorizedKeys:",
                    "      - secure: v1:AAAABBBB",
                    "  opke:apiPrt: 7443",
                    "",
                ].join("\n"),
            );
            expect(thrownIssues(() => loadStackFile(dir, "s"))).toEqual([
                'Pulumi.s.yaml: config key "clusterName" has no namespace; write it as "opke:clusterName"',
                "ssh.authorizedKeys[0]: secure value; only sshPrivateKey, sopsAgeKey, dexClientSecret, gitopsToken, registryCredentials, cloudflareApiToken, cloudflareDnsApiToken, openstackPassword, openstackApplicationCredentialSecret may be secret, so store it in plain text (pulumi config set without --secret) or remove it",
                "apiPrt: unknown key; did you mean apiPort? allowed keys are clusterName, platform, apiDnsName, apiPort, kubernetesVersion, etcdVersion, os, network, controllers, workers, ssh, upgrade, pki, images, controllerExtras, workerExtras, bareMetal, openstack, gitops, cloudflare",
                'openstack: missing; platform "openstack" needs the OpenStack settings; set openstack.authUrl, imageId, controllerFlavor, externalNetworkId and the login (see Pulumi.openstack-example.yaml)',
            ]);
        });

        test("unreadable stack files name the file (and line) and stop there", () => {
            write("y", "config:\n  opke:clusterName: dev\n  opke:clusterName: prod\n");
            expect(thrownIssues(() => loadStackFile(dir, "y"))).toEqual(["Pulumi.y.yaml: is not valid YAML (line 3): Map keys must be unique; fix the syntax"]);
            write("z", "config: 3\n");
            expect(thrownIssues(() => loadStackFile(dir, "z"))).toEqual(["Pulumi.z.yaml: config: 3 is not a mapping; write one `opke:<key>: <value>` entry per line"]);
        });

        test("a stack file without config reports the required keys", () => {
            write("empty", "");
            expect(thrownIssues(() => loadStackFile(dir, "empty"))).toEqual([
                'clusterName: missing; set a lowercase DNS label such as "dev"',
                'apiDnsName: missing; set the DNS name of the Kubernetes API such as "api.example.com"',
                "controllers: missing; list the controller nodes (an odd number: 1, 3 or 5), each with name and ip",
                "ssh: missing; set ssh.authorizedKeys to at least one OpenSSH public key",
            ]);
        });
    });
});

describe("loadPulumiConfig", () => {
    test("reads pulumi.runtime.allConfig() when called without a map", () => {
        // Loaded here, not at the top, so the rest of this file shows lib/config works without it.
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const pulumi = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
        const all = JSON.parse(fs.readFileSync(path.join(FIXTURES, "engine-allconfig.json"), "utf8")) as Record<string, string>;
        delete all.$comment;
        pulumi.runtime.setAllConfig(all);
        try {
            expect(loadPulumiConfig().clusterName).toBe("engine");
            pulumi.runtime.setAllConfig({ ...all, "opke:sshKeys": "[]", "other:thing": "x" });
            expect(thrownIssues(() => loadPulumiConfig())).toEqual([
                "sshKeys: unknown key; allowed keys are clusterName, platform, apiDnsName, apiPort, kubernetesVersion, etcdVersion, os, network, controllers, workers, ssh, upgrade, pki, images, controllerExtras, workerExtras, bareMetal, openstack, gitops, cloudflare",
            ]);
        } finally {
            pulumi.runtime.setAllConfig({});
        }
    });

    test("decodes engine strings by field type", () => {
        expect(
            rawConfigFromPulumi({
                "opke:clusterName": "123",
                "opke:kubernetesVersion": "1.36",
                "opke:apiPort": "6443",
                "opke:workers": "[]",
                "opke:bogus": "true",
                "opke:os": "flatcar",
                "pulumi:disable-default-providers": '["*"]',
            }),
        ).toEqual({ clusterName: "123", kubernetesVersion: "1.36", apiPort: 6443, workers: [], bogus: true, os: "flatcar" });
    });
});

describe("Pulumi.yaml", () => {
    const project = YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as {
        name: string;
        runtime: unknown;
        config: Record<string, { type?: string; description?: string; default?: unknown; value?: unknown }>;
    };
    const shape = ClusterConfigSchema.shape as Record<string, { safeParse(v: unknown): { success: boolean; data?: unknown }; parse(v: unknown): unknown }>;

    test("names the project and the TypeScript Node.js runtime", () => {
        expect(project.name).toBe("opke");
        expect(project.runtime).toEqual({ name: "nodejs", options: { typescript: true } });
    });

    test("declares exactly the schema's top-level keys, in schema order", () => {
        expect(Object.keys(project.config).filter((k) => !k.includes(":"))).toEqual(Object.keys(shape));
    });

    test("disables default providers", () => {
        expect(project.config["pulumi:disable-default-providers"]).toEqual({ value: ["*"] });
    });

    test.each(Object.keys(ClusterConfigSchema.shape))("%s has the schema's type and default", (key) => {
        const declared = project.config[key];
        const kind = schemaKindAtPath([key]);
        const pulumiType = kind === "string" || kind === "enum" ? "string" : kind === "number" ? "integer" : kind === "boolean" ? "boolean" : undefined;
        expect(declared.type).toBe(pulumiType);
        expect(declared.description).toEqual(expect.any(String));
        const zodDefault = shape[key].safeParse(undefined);
        if (!zodDefault.success) {
            expect(declared).not.toHaveProperty("default");
        } else if (zodDefault.data === undefined && kind === "object") {
            // Optional mappings (openstack): a declared key without a default would be required on
            // every stack (Pulumi's mergeConfig), so Pulumi.yaml gives {} and validation reads {} as unset.
            expect(declared.default).toEqual({});
        } else if (zodDefault.data !== null && typeof zodDefault.data === "object" && !Array.isArray(zodDefault.data)) {
            // Mappings default to {} and the schema fills in every field.
            expect(declared.default).toEqual({});
            expect(shape[key].parse({})).toEqual(zodDefault.data);
        } else {
            expect(declared.default).toEqual(zodDefault.data);
        }
    });
});
