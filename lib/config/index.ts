/**
 * Public API of the cluster description: parse and validate once, then every module consumes a
 * `ClusterConfig`.
 *
 *   const cfg = loadPulumiConfig();                       // inside the Pulumi program
 *   const cfg = loadStackFile(projectDir, "dev", sets);   // npm run render
 *   const cfg = parseClusterConfig(rawObject);            // tests, tools
 *
 * Importing this module does not load @pulumi/pulumi (only `loadPulumiConfig` does, when called),
 * so pure renderers may import it.
 */
export { checkClusterConfig, ConfigError, formatPath, formatValue, normaliseVersion, parseClusterConfig, type CheckResult } from "./validate";
export { CONFIG_NAMESPACE, loadPulumiConfig, loadStackConfig, loadStackFile, parseSetArgument, rawConfigFromPulumi, rawConfigFromStackFile } from "./load";
export {
    apiServerUrl,
    canonicalCidr,
    cidrContains,
    cidrsOverlap,
    dnsServiceIp,
    kubernetesServiceIp,
    parseIpv4,
    parseIpv4Cidr,
    serviceIp,
    type Ipv4Cidr,
} from "./network";
export * from "./schema";
