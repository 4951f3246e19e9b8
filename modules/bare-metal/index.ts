/**
 * modules/bare-metal: bare-metal machines booted and installed through Matchbox (Flatcar or
 * Fedora CoreOS), or hosts installed by other means, then provisioned over SSH (lib/provision).
 *
 * - config.ts: the `bareMetal` config block (zod; cross-field rules in lib/config/validate.ts).
 * - matchbox.ts: pure renderers of profiles, groups, Ignition files and iPXE per machine, and the
 *   delivery script/commands.
 * - options.ts: resource options and wiring as pure functions.
 * - component.ts: `opke:bare-metal:Cluster` (imports @pulumi/command; load it only where Pulumi runs).
 */
export * from "./config";
export {
    BOOT_DELETE_SCRIPT,
    BOOT_WRITER_SCRIPT,
    bootCommand,
    encodeBootPayload,
    flatcarInstallerScript,
    flatcarInstallIgnition,
    ipxeScript,
    machineId,
    machineSettings,
    ownedPaths,
    renderBootConfig,
    renderBootFiles,
    writesBootConfig,
} from "./matchbox";
export type { BootCommand, BootFile, BootNode, MachineBoot, MachineSettings, MatchboxBoot, MatchboxGroup, MatchboxProfile } from "./matchbox";
export {
    BOOT_COMMAND_TIMEOUTS,
    bootCommandName,
    bootCommandOptions,
    installDialBudget,
    matchboxConnection,
    nodeConnection,
    provisionWiring,
} from "./options";
export { BareMetalCluster } from "./component";
export type { BareMetalClusterArgs, BootConfigCommand } from "./component";
