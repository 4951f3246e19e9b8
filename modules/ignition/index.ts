/**
 * modules/ignition: typed Ignition 3.3.0 configs for opke's nodes.
 *
 * Domain modules hand in version-free, secret-free `IgnitionParts` (lib/assets.ts);
 * `nodeIgnition` adds the host basics, the SSH user and the configured extras, and
 * `serializeIgnition` gives the canonical JSON that becomes a node's user data.
 */
export * from "./types";
export {
    IgnitionBuilder,
    IgnitionBuildError,
    SYSTEMD_UNIT_DIR,
    compareStrings,
    encodeDataUrl,
    decodeDataUrl,
    decodeDataUrlBytes,
} from "./builder";
export {
    hostIgnition,
    SYSCTL_PATH,
    MODULES_LOAD_PATH,
    LOGIND_INHIBITORS_PATH,
    FLANNEL_LINK_PATH,
    CONTAINERD_CONFIG_PATH,
} from "./host";
export { nodeIgnition, buildNodeIgnition, ignitionInputs, extraMode, serializeIgnition } from "./node";
export { assertIgnitionSafe, IgnitionSafetyError } from "./guard";
export type { UnitSpec } from "./builder";
export type { HostInputs, HostNode } from "./host";
export type { IgnitionInputs } from "./node";
