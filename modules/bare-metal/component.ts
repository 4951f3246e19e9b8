/**
 * `opke:bare-metal:Cluster`: boots the machines of a bare-metal cluster and hands them to the
 * shared SSH provisioning (lib/provision).
 *
 * Per machine, by `bareMetal.mode`:
 * - `matchbox`: ONE @pulumi/command `remote.Command` (`${name}-boot-${node}`) on the provisioning
 *   host (`bareMetal.matchboxHost`, over SSH) writes the machine's Matchbox profiles, groups and
 *   Ignition files into `bareMetal.assetsDir`. The files travel on stdin (no contents in the
 *   command line); the script checks the payload's sha256, writes each file atomically (temp file
 *   in the same directory, checked, fsync, rename) and removes the machine's own files it no
 *   longer renders. Its `delete` removes exactly that machine's files. Chosen over the Matchbox
 *   gRPC API / terraform-provider-matchbox: no client certificates to manage, no extra provider,
 *   and the same files `npm run render` writes to `<out>/nodes/<node>/boot/`.
 * - `directory`: the same script as a `local.Command`, writing into `bareMetal.assetsDir` on the
 *   machine that runs Pulumi (served by a Matchbox there, or synced to one).
 * - `installed`: nothing; the hosts were installed and booted with their Ignition by other means.
 * Then every node is provisioned by `provisionNodes` (pushes, bootstrap): each push dependsOn and
 * is deletedWith its machine's boot config, and in the PXE modes its connection carries the
 * install dial budget (options.ts `nodeConnection`): the push itself is the SSH wait.
 *
 * Boot configs are version-free: Kubernetes/etcd versions never reach their inputs (the node
 * Ignition is version-free, the install Ignition and profiles only name the OS image), so an
 * upgrade updates pushes only. Boot configs hold no secret (public SSH keys at most).
 *
 * The operator powers the machines on with a (one-time) network boot while `pulumi up` waits, e.g.
 * `ipmitool chassis bootdev pxe` + `power cycle`; machines must boot from disk afterwards (a
 * persistent PXE-first boot order with the Flatcar install group in place reinstalls them).
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { ClusterConfig, Platform } from "../../lib/config/schema";
import { connectionArgs, privateKeyFromConfig, provisionNodes, Provisioned } from "../../lib/provision";
import type { Cluster } from "../../stacks/cluster";
import { BareMetalMode } from "./config";
import { bootCommand, renderBootConfig } from "./matchbox";
import { bootCommandName, bootCommandOptions, matchboxConnection, nodeConnection, provisionWiring } from "./options";

export interface BareMetalClusterArgs {
    /** The validated cluster description (platform bare-metal). */
    config: ClusterConfig;
    /** The core component: nodes with their Ignition and SSH trees. */
    cluster: Cluster;
    /**
     * Private key for SSH to the nodes and the provisioning host (secret). Defaults to the secret
     * stack config `opke:sshPrivateKey`; without either, ssh-agent is used.
     */
    privateKey?: pulumi.Input<string>;
}

/** A machine's boot-config command: remote (mode matchbox) or local (mode directory). */
export type BootConfigCommand = command.remote.Command | command.local.Command;

export class BareMetalCluster extends pulumi.ComponentResource {
    /** The explicit command provider (default providers are disabled), shared with the pushes. */
    public readonly provider: command.Provider;
    /** Boot-config command per node name; empty in mode `installed`. */
    public readonly bootConfigs: Record<string, BootConfigCommand>;
    /** The shared provisioning: pushes per node and the bootstrap. */
    public readonly provisioned: Provisioned;

    constructor(name: string, args: BareMetalClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opke:bare-metal:Cluster", name, {}, opts);
        const cfg = args.config;
        if (cfg.platform !== Platform.BareMetal) {
            throw new Error(`opke:bare-metal:Cluster ${name}: platform is ${JSON.stringify(cfg.platform)}; this component builds platform "bare-metal" only`);
        }
        const privateKey = args.privateKey ?? privateKeyFromConfig();
        this.provider = new command.Provider(`${name}-command`, {}, { parent: this });
        this.bootConfigs = {};

        const mode = cfg.bareMetal.mode;
        for (const node of args.cluster.nodes) {
            const opts = bootCommandOptions({ parent: this, provider: this.provider, node });
            switch (mode) {
                case BareMetalMode.Installed:
                    break;
                case BareMetalMode.Matchbox: {
                    const c = bootCommand(renderBootConfig(cfg, node, node.ignition), cfg.bareMetal.assetsDir, cfg.bareMetal.matchboxHost?.user !== "root");
                    this.bootConfigs[node.name] = new command.remote.Command(
                        bootCommandName(name, node.name),
                        {
                            connection: connectionArgs(matchboxConnection(cfg, privateKey)),
                            create: c.create,
                            delete: c.delete,
                            stdin: c.stdin,
                            logging: "stdoutAndStderr",
                            addPreviousOutputInEnv: false,
                        },
                        opts,
                    );
                    break;
                }
                case BareMetalMode.Directory: {
                    const c = bootCommand(renderBootConfig(cfg, node, node.ignition), cfg.bareMetal.assetsDir, false);
                    this.bootConfigs[node.name] = new command.local.Command(
                        bootCommandName(name, node.name),
                        { create: c.create, delete: c.delete, stdin: c.stdin, logging: "stdoutAndStderr", addPreviousOutputInEnv: false },
                        opts,
                    );
                    break;
                }
                default: {
                    const unreachable: never = mode;
                    throw new Error(`bareMetal.mode: unsupported ${String(unreachable)}`);
                }
            }
        }

        const wiring = provisionWiring(this.bootConfigs);
        this.provisioned = provisionNodes(
            name,
            {
                config: cfg,
                nodes: args.cluster.nodes,
                connection: (node) => nodeConnection(cfg, node, privateKey),
                hostResource: wiring.hostResource,
                dependsOn: wiring.dependsOn,
                provider: this.provider,
            },
            this,
        );
        if (mode !== BareMetalMode.Installed) {
            pulumi.log.info(
                `bare metal (${mode}): PXE-boot ${args.cluster.nodes.map((n) => n.name).join(", ")} once their boot configs are written; ` +
                    `each push waits up to about ${cfg.bareMetal.installTimeoutMinutes} min for the installed OS to accept SSH`,
                this,
            );
        }
        this.registerOutputs({
            bootConfigs: Object.keys(this.bootConfigs),
            pushes: Object.keys(this.provisioned.pushes),
        });
    }
}
