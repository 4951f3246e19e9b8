/**
 * The control-plane scripts under /opt/bootstrap, pushed over SSH to every controller:
 *   - `apply`: the bootstrap one-shot (bootstrap.service): wait for the API, apply the cluster
 *     manifests server-side, mark the cluster bootstrapped;
 *   - `kube-upgrade`: after a version change (kube-upgrade.service): wait for the API, re-apply
 *     the cluster manifests, report the versions the control plane and the nodes run.
 *
 * The control plane itself upgrades because the SSH step rewrites each controller's static-pod
 * manifests (one controller at a time); these scripts only handle cluster objects.
 *
 * Both run inside `${KUBECTL_IMAGE}` (registry.k8s.io/kubectl: bash, coreutils, kubectl) and work
 * just as well on any host with bash and kubectl. Every wait is bounded; both are idempotent
 * (server-side apply with one field manager). Overridable from the environment, for tests and
 * manual runs: KUBECONFIG, OPKE_BOOTSTRAP_DIR, OPKE_WAIT_ATTEMPTS, OPKE_WAIT_SECONDS,
 * OPKE_APPLY_ATTEMPTS. Version-free: they take the version from whatever the API runs.
 */
import { K8sPaths } from "./units";

/** Field manager of every server-side apply opke makes, so re-applies own the same fields. */
export const FIELD_MANAGER = "opke";

/** What distinguishes the scripts built on `scriptPrelude`. */
export interface ScriptPreludeOptions {
    /** Log prefix. */
    name: string;
    /** Shell variable holding the script's directory (MANIFESTS is `<dir>/manifests`). */
    dirVariable: string;
    /** Environment variable that overrides the directory (tests, manual runs). */
    dirEnv: string;
    /** The directory on the node. */
    dirDefault: string;
    /** `--field-manager` of the server-side apply. */
    fieldManager: string;
    /** What to do when MANIFESTS is missing. */
    missingHint: string;
}

/** Shared prelude of the bootstrap scripts (/opt/bootstrap). */
function prelude(name: string): string {
    return scriptPrelude({
        name,
        dirVariable: "BOOTSTRAP_DIR",
        dirEnv: "OPKE_BOOTSTRAP_DIR",
        dirDefault: K8sPaths.bootstrapDir,
        fieldManager: FIELD_MANAGER,
        missingHint: "push the bootstrap files first",
    });
}

/**
 * Shared prelude: settings, logging, the bounded API wait (`wait_for_api`) and the bounded
 * server-side apply of `<dir>/manifests` (`apply_manifests`). Also used by modules/addons.
 */
export function scriptPrelude(o: ScriptPreludeOptions): string {
    const { name, dirVariable: dir } = o;
    return `set -euo pipefail

export KUBECONFIG="\${KUBECONFIG:-${K8sPaths.adminConf}}"
${dir}="\${${o.dirEnv}:-${o.dirDefault}}"
MANIFESTS="\${${dir}}/manifests"
# The API wait: at most WAIT_ATTEMPTS probes, WAIT_SECONDS apart (default 10 minutes).
WAIT_ATTEMPTS="\${OPKE_WAIT_ATTEMPTS:-120}"
WAIT_SECONDS="\${OPKE_WAIT_SECONDS:-5}"
# The apply: at most APPLY_ATTEMPTS tries (transient errors while the control plane settles).
APPLY_ATTEMPTS="\${OPKE_APPLY_ATTEMPTS:-12}"

log() {
  printf '%s: %s\\n' "${name}" "$*" >&2
}

# Waits until the API server reports ready (/readyz), or fails after WAIT_ATTEMPTS probes.
wait_for_api() {
  local attempt
  for ((attempt = 1; attempt <= WAIT_ATTEMPTS; attempt++)); do
    if kubectl get --raw=/readyz >/dev/null 2>&1; then
      log "API server ready"
      return 0
    fi
    log "waiting for the API server (\${attempt}/\${WAIT_ATTEMPTS})"
    sleep "\${WAIT_SECONDS}"
  done
  log "the API server was not ready after \${WAIT_ATTEMPTS} attempts; check the kube-apiserver static pods and etcd"
  return 1
}

# Applies every manifest under MANIFESTS (recursively) with server-side apply.
apply_manifests() {
  local attempt
  if [[ ! -d "\${MANIFESTS}" ]]; then
    log "\${MANIFESTS} does not exist; ${o.missingHint}"
    return 1
  fi
  for ((attempt = 1; attempt <= APPLY_ATTEMPTS; attempt++)); do
    if kubectl apply --server-side --force-conflicts --field-manager=${o.fieldManager} --recursive --filename="\${MANIFESTS}"; then
      log "applied \${MANIFESTS}"
      return 0
    fi
    log "apply failed (\${attempt}/\${APPLY_ATTEMPTS}); retrying"
    sleep "\${WAIT_SECONDS}"
  done
  log "could not apply \${MANIFESTS} after \${APPLY_ATTEMPTS} attempts"
  return 1
}
`;
}

/**
 * /opt/bootstrap/apply. Exits at once when bootstrap.done exists (bootstrap.service also has
 * `ConditionPathExists=!…/bootstrap.done`); touches it only after a successful apply, so an
 * interrupted run is simply repeated.
 */
export function applyScript(): string {
    return `#!/usr/bin/env bash
# opke bootstrap: apply the cluster manifests (bootstrap token, kubelet RBAC) once.
# Started by bootstrap.service on a controller; safe to run again.
${prelude("bootstrap")}
DONE="\${BOOTSTRAP_DIR}/bootstrap.done"

if [[ -e "\${DONE}" ]]; then
  log "\${DONE} exists: the cluster is bootstrapped already; nothing to do"
  exit 0
fi

wait_for_api
apply_manifests
touch "\${DONE}"
log "cluster bootstrapped; wrote \${DONE}"
`;
}

/** /opt/bootstrap/kube-upgrade. Never touches bootstrap.done. */
export function kubeUpgradeScript(): string {
    return `#!/usr/bin/env bash
# opke kube-upgrade: after a Kubernetes version change, re-apply the cluster manifests and report
# the versions the control plane and the nodes run. The static pods themselves are upgraded by the
# SSH push, one controller at a time. Started by kube-upgrade.service; safe to run again.
${prelude("kube-upgrade")}
wait_for_api
apply_manifests

log "API server version:"
kubectl version
log "control-plane pods:"
kubectl get pods --namespace=kube-system --selector=tier=control-plane \\
  --output=custom-columns='NAME:.metadata.name,IMAGE:.spec.containers[0].image,READY:.status.containerStatuses[0].ready'
log "nodes:"
kubectl get nodes \\
  --output=custom-columns='NAME:.metadata.name,KUBELET:.status.nodeInfo.kubeletVersion,READY:.status.conditions[?(@.type=="Ready")].status'
log "done"
`;
}
