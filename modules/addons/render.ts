/**
 * The cluster addons GitOps needs before it can run: the pod network (flannel, or Cilium), kube-proxy
 * (flannel only: Cilium replaces it) and CoreDNS.
 *
 *   - `addonManifests(cfg)`: one YAML stream per addon — `10-flannel.yaml` + `20-kube-proxy.yaml`, or
 *     `10-cilium.yaml`; then `30-coredns.yaml`. Pure; images pinned in lib/versions.json `addons`,
 *     kube-proxy at the control plane's version.
 *   - `addonsIgnition(cfg, node)`: `addons.service` on every controller (installed, not enabled,
 *     version-free): a one-shot that runs /opt/addons/apply inside `${KUBECTL_IMAGE}` (the same
 *     unit builder as bootkube's bootstrap.service), only once /opt/bootstrap/bootstrap.done exists.
 *   - `addonsFiles(cfg, node)`: controller 0 only — /opt/addons/manifests/*.yaml (restart
 *     addons.service when they change) and /opt/addons/apply.
 *
 * Flow. First up: the provisioning's bootstrap step runs `systemctl start bootstrap.service`, then
 * `systemctl start addons.service` (the push before it wrote the files; the restart it journalled
 * was skipped by ConditionPathExists because the cluster was not bootstrapped yet). Later: a push
 * that changes a manifest (a Kubernetes version change moves kube-proxy's image; an addon bump in
 * lib/versions.json) restarts addons.service, which re-applies everything server-side.
 *
 * The apply prunes nothing: an object dropped from a manifest stays in the cluster, and so do the
 * manifests of the other CNI on controller 0 if network.cni is changed (not supported on a running
 * cluster).
 */
import { IgnitionParts, NodeDirectory, NodeFile, NodeSshAssets, sortFiles } from "../../lib/assets";
import { ClusterConfig, ClusterNode, Cni, NodeRole, OperatingSystem } from "../../lib/config/schema";
import { scriptPrelude } from "../bootkube/scripts";
import { K8sPaths, oneshotUnit } from "../bootkube/units";
import { ciliumManifests } from "./cilium";
import { corednsManifests } from "./coredns";
import { flannelManifests } from "./flannel";
import { kubeProxyManifests } from "./kube-proxy";
import { yamlStream } from "./objects";

/** Paths on controller 0. */
export const AddonsPaths = {
    dir: "/opt/addons",
    manifestsDir: "/opt/addons/manifests",
    apply: "/opt/addons/apply",
} as const;

export const ADDONS_UNIT = "addons.service";
/** Field manager of the addons' server-side apply (bootkube's cluster manifests use "opke"). */
export const ADDONS_FIELD_MANAGER = "opke-addons";

/** A rendered manifest file: `name` is the file name under /opt/addons/manifests. */
export interface AddonManifest {
    name: string;
    content: string;
}

/** Every addon manifest for the config, in apply order (kubectl applies a directory by file name). */
export function addonManifests(cfg: ClusterConfig): AddonManifest[] {
    const coredns: AddonManifest = { name: "30-coredns.yaml", content: yamlStream(corednsManifests(cfg)) };
    const cni = cfg.network.cni;
    switch (cni) {
        case Cni.Flannel:
            return [
                { name: "10-flannel.yaml", content: yamlStream(flannelManifests(cfg)) },
                { name: "20-kube-proxy.yaml", content: yamlStream(kubeProxyManifests(cfg)) },
                coredns,
            ];
        case Cni.Cilium:
            return [{ name: "10-cilium.yaml", content: yamlStream(ciliumManifests(cfg)) }, coredns];
        default: {
            const never: never = cni;
            throw new Error(`network.cni: "${String(never)}" is not supported; use "flannel" or "cilium"`);
        }
    }
}

/** `addons.service`: version-free, secret-free (Ignition). */
export function addonsUnit(os: OperatingSystem): string {
    return oneshotUnit(os, {
        description: "opke addons: apply /opt/addons/manifests (pod network, kube-proxy, CoreDNS)",
        container: "opke-addons",
        script: AddonsPaths.apply,
        conditions: [`ConditionPathExists=${K8sPaths.bootstrapDone}`],
        mounts: [{ path: AddonsPaths.dir, writable: false }],
    });
}

/** Controllers: `addons.service`, installed but not enabled (the SSH step starts it). Workers: nothing. */
export function addonsIgnition(cfg: ClusterConfig, node: ClusterNode): IgnitionParts {
    if (node.role !== NodeRole.Controller) return { files: [], units: [] };
    return { files: [], units: [{ name: ADDONS_UNIT, contents: addonsUnit(cfg.os), enabled: false }] };
}

/**
 * /opt/addons/apply: bounded wait for /readyz, server-side apply of every manifest (retried a
 * bounded number of times), then a bounded wait for the CoreDNS rollout that only reports — the
 * manifests are applied at that point, and a slow image pull must not fail the push that
 * triggered the run. Overridable from the environment like bootkube's scripts: KUBECONFIG,
 * OPKE_ADDONS_DIR, OPKE_WAIT_ATTEMPTS, OPKE_WAIT_SECONDS, OPKE_APPLY_ATTEMPTS,
 * OPKE_ROLLOUT_TIMEOUT.
 */
export function addonsApplyScript(): string {
    return `#!/usr/bin/env bash
# opke addons: apply the pod network, kube-proxy (with flannel) and CoreDNS server-side.
# Started by addons.service on controller 0 after the bootstrap, and again whenever the SSH push
# changes a manifest (e.g. a Kubernetes version change); safe to run again. Prunes nothing.
${scriptPrelude({
    name: "addons",
    dirVariable: "ADDONS_DIR",
    dirEnv: "OPKE_ADDONS_DIR",
    dirDefault: AddonsPaths.dir,
    fieldManager: ADDONS_FIELD_MANAGER,
    missingHint: "push the addons files first",
})}
# The CoreDNS rollout wait (kubectl duration); a timeout is reported, not fatal.
ROLLOUT_TIMEOUT="\${OPKE_ROLLOUT_TIMEOUT:-300s}"

wait_for_api
apply_manifests

if kubectl --namespace=kube-system rollout status deployment/coredns --timeout="\${ROLLOUT_TIMEOUT}"; then
  log "CoreDNS is rolled out"
else
  log "CoreDNS did not finish rolling out within \${ROLLOUT_TIMEOUT} (the manifests are applied); check: kubectl --namespace=kube-system get pods -o wide"
fi
log "done"
`;
}

const OWNER = "root:root";

/** Controller 0: the manifests and the apply script. Every other node: nothing. */
export function addonsFiles(cfg: ClusterConfig, node: ClusterNode): NodeSshAssets {
    if (node.role !== NodeRole.Controller || node.index !== 0) return { directories: [], files: [] };
    const first = cfg.controllers[0];
    if (first === undefined || first.name !== node.name || first.ip !== node.ip) {
        throw new Error(`addons: node "${node.name}" (${node.ip}) is not controllers[0]; pass a node from clusterNodes(cfg)`);
    }
    const directories: NodeDirectory[] = [
        { path: AddonsPaths.dir, mode: 0o755, owner: OWNER },
        { path: AddonsPaths.manifestsDir, mode: 0o755, owner: OWNER },
    ];
    const files: NodeFile[] = [
        { path: AddonsPaths.apply, content: addonsApplyScript(), mode: 0o755, owner: OWNER, secret: false, restarts: [] },
        ...addonManifests(cfg).map(
            (m): NodeFile => ({
                path: `${AddonsPaths.manifestsDir}/${m.name}`,
                content: m.content,
                mode: 0o644,
                owner: OWNER,
                secret: false,
                restarts: [ADDONS_UNIT],
            }),
        ),
    ];
    return { directories, files: sortFiles(files) };
}
