/**
 * modules/addons: what the cluster needs before GitOps can run — the pod network (flannel by
 * default, Cilium as an option), kube-proxy (not with Cilium) and CoreDNS.
 *   - `addonManifests(cfg)`: the manifests (one YAML stream per addon), also written by
 *     `npm run render` to `<out>/cluster/addons/`;
 *   - `addonsIgnition(cfg, node)`: `addons.service` (controllers; version-free);
 *   - `addonsFiles(cfg, node)`: /opt/addons on controller 0 (pushed over SSH).
 */
export {
    ADDONS_FIELD_MANAGER,
    ADDONS_UNIT,
    addonManifests,
    addonsApplyScript,
    addonsFiles,
    addonsIgnition,
    AddonsPaths,
    addonsUnit,
    type AddonManifest,
} from "./render";
export { ciliumConfig, ciliumManifests, CILIUM_VXLAN_PORT } from "./cilium";
export { corednsManifests, corednsReplicas, corefile } from "./coredns";
export { flannelCniConf, flannelManifests, flannelNetConf, FLANNEL_NAMESPACE, FLANNEL_VXLAN_PORT } from "./flannel";
export { kubeProxyConfiguration, kubeProxyImage, kubeProxyKubeconfig, kubeProxyManifests } from "./kube-proxy";
export { AddonImages } from "./objects";
