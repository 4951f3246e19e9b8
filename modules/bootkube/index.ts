/**
 * modules/bootkube: static-pod control plane on every controller, kubelets on every node.
 *   - `kubeletIgnition(cfg, node)`, `controlPlaneIgnition(cfg, node)`: version-free units for Ignition;
 *   - `nodeFiles(cfg, node, m)`: the versioned and secret files the SSH push writes;
 *   - `clusterManifests(cfg, m)`, `adminKubeconfig(cfg, m)`;
 *   - `describeKubernetesPki(cfg)`: the Kubernetes PKI (modules/bootkube/pki.ts).
 */
export { adminKubeconfig, clusterManifests, controlPlaneIgnition, kubeletIgnition, nodeFiles } from "./render";
export {
    apiserverCommand,
    auditPolicy,
    CLUSTER_SIGNING_DURATION,
    controllerManagerCommand,
    encryptionConfig,
    INPUTS_ANNOTATION,
    schedulerCommand,
    serviceAccountIssuer,
    serviceAccountJwksUri,
} from "./manifests";
export { isKubeletLabel, kubeletConfig, kubeletEnv, imagesEnv, nodeLabels } from "./kubelet";
export { applyScript, FIELD_MANAGER, kubeUpgradeScript, scriptPrelude, type ScriptPreludeOptions } from "./scripts";
export {
    BOOTSTRAP_UNIT,
    containerRuntime,
    CRI_ENDPOINT,
    K8sPaths,
    KUBE_UPGRADE_UNIT,
    KUBELET_PATH_UNIT,
    KUBELET_UNIT,
    oneshotUnit,
    PkiFiles,
    type OneshotMount,
    type OneshotUnitOptions,
} from "./units";
export { describeKubernetesPki, KubernetesPkiIds } from "./pki";
