/**
 * The two fixed bash programs the SSH step runs on a node, and the command lines that run them.
 *
 *   - `INSTALLER` (opke-push): reads a payload (lib/provision/payload.ts) from stdin, verifies it,
 *     writes every file atomically and only when content, mode or owner differ, journals the units
 *     to restart BEFORE renaming (so a push cut mid-way and re-run still restarts them), then
 *     `systemctl daemon-reload` and restarts exactly the journalled units: etcd-member and the
 *     kubelet, then the health gates (bounded) where the component was healthy before the push or
 *     a previous push left its gate pending, then any other journalled unit (so a one-shot that
 *     talks to the API, such as addons.service, runs once the API is confirmed back).
 *   - `BOOTSTRAP` (opke-bootstrap): on controller 0, once: waits (bounded) for etcd health and the
 *     apiserver's /readyz, starts `bootstrap.service` and checks that it marked the cluster
 *     bootstrapped, then starts `addons.service` (modules/addons: pod network, kube-proxy, CoreDNS;
 *     idempotent). When /opt/bootstrap/bootstrap.done exists it only starts addons.service, so a
 *     run cut after the bootstrap still applies the addons when it is retried.
 *
 * Both are constant text: no versions, no secrets, no node data. Everything variable comes as
 * positional arguments (node name, payload sha256, gates, API port, wait bounds) and, for the
 * installer, the payload on stdin. They print paths, unit names and health verdicts to stderr and a
 * one-line summary to stdout; never file contents.
 *
 * The scripts are written without `${` (they live in String.raw templates), pass shellcheck (a test
 * runs it) and use only what Flatcar and Fedora CoreOS ship: bash, coreutils, util-linux (flock),
 * grep, sed, procps (pgrep), curl, systemctl.
 *
 * Health checks (all on the node itself, loopback only):
 *   - etcd:      http://127.0.0.1:2381/health (etcd's metrics listener, plain HTTP on loopback, see
 *                modules/etcd/render.ts) reports {"health":"true"} — a member with a leader, so this
 *                is a quorum check;
 *   - kubelet:   http://127.0.0.1:10248/healthz answers "ok";
 *   - apiserver: https://127.0.0.1:<apiPort>/readyz answers "ok" (verified against
 *                /etc/kubernetes/pki/ca.crt, authenticated with the apiserver-kubelet-client
 *                certificate: /readyz and /version are readable by every authenticated user through
 *                system:public-info-viewer; anonymous auth is off), AND /version reports the version
 *                of the image in /etc/kubernetes/manifests/kube-apiserver.yaml, AND — when this push
 *                changed that manifest — the kube-apiserver process is a new one (the kubelet
 *                re-created the static pod). Without the last two checks the old apiserver would
 *                pass the gate before the kubelet even noticed the new manifest.
 *
 * When is a gate applied? A component is gated when it answered its health check before the push
 * (one probe), or when /var/lib/opke/gates-pending says a previous push on this node restarted it
 * and did not see it healthy again. So the first install never waits for an etcd quorum that cannot
 * exist yet, a retried first install does not either, and a retried upgrade re-checks the node it
 * left unhealthy before the next node is touched.
 */

/** Where the installer keeps its journal and state on the node. */
export const STATE_DIR = "/var/lib/opke";
export const JOURNAL = "/var/lib/opke/pending-restarts";
export const GATES_PENDING = "/var/lib/opke/gates-pending";
export const BOOTSTRAP_DONE = "/opt/bootstrap/bootstrap.done";

/** Health-check components a push can be gated on. */
export type Gate = "etcd" | "kubelet" | "apiserver";
export const GATE_ORDER: readonly Gate[] = ["etcd", "kubelet", "apiserver"];

/** Units restarted first, in this order; any other journalled unit follows in name order. */
export const RESTART_ORDER = ["etcd-member.service", "kubelet.service"] as const;

/** Settings, logging and the health probes shared by both programs. */
const COMMON = String.raw`set -euo pipefail
umask 077
export LC_ALL=C
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() {
  printf '%s[%s]: %s\n' "$prog" "$node" "$*" >&2
}

fail() {
  local code=$1
  shift
  log "FAILED: $*"
  exit "$code"
}

pki=/etc/kubernetes/pki
manifest=/etc/kubernetes/manifests/kube-apiserver.yaml

# One HTTP(S) request on loopback; prints the body, fails on any error or non-2xx answer.
fetch() {
  curl --fail --silent --max-time 5 "$@" 2>/dev/null
}

probe_etcd() {
  local out
  out=$(fetch http://127.0.0.1:2381/health) || return 1
  case $out in
    *'"health":"true"'* | *'"health": "true"'*) return 0 ;;
  esac
  return 1
}

probe_kubelet() {
  local out
  out=$(fetch http://127.0.0.1:10248/healthz) || return 1
  [ "$out" = ok ]
}

api() {
  fetch --cacert "$pki/ca.crt" --cert "$pki/apiserver-kubelet-client.crt" \
    --key "$pki/apiserver-kubelet-client.key" "https://127.0.0.1:$apiport$1"
}

probe_apiserver() {
  local out
  [ -r "$pki/apiserver-kubelet-client.key" ] || return 1
  out=$(api /readyz) || return 1
  [ "$out" = ok ]
}

# The version of the kube-apiserver image in the static pod manifest ("" when unknown).
manifest_version() {
  [ -r "$manifest" ] || return 0
  sed -n 's/.*kube-apiserver:\(v[0-9][^" ]*\).*/\1/p' "$manifest" | sed -n 1p
}

# The gitVersion the running apiserver reports ("" when it does not answer).
running_version() {
  local out
  out=$(api /version) || return 0
  printf '%s\n' "$out" | sed -n 's/.*"gitVersion": *"\([^"]*\)".*/\1/p' | sed -n 1p
}

apiserver_pid() {
  pgrep -n -x kube-apiserver || true
}

# wait_for NAME CHECK: runs CHECK up to $attempts times, $interval seconds apart.
wait_for() {
  local name=$1 check=$2 i
  for ((i = 1; i <= attempts; i++)); do
    if "$check"; then
      log "gate $name: healthy (check $i/$attempts)"
      return 0
    fi
    if [ "$i" -lt "$attempts" ]; then
      sleep "$interval"
    fi
  done
  return 1
}
`;

/**
 * opke-push. Usage (as root):
 *   bash -c "$INSTALLER" opke-push NODE PAYLOAD_SHA256 GATES API_PORT ATTEMPTS INTERVAL_SECONDS < payload
 * GATES: "none" or a comma-separated subset of etcd,kubelet,apiserver. Exit codes: 2 usage,
 * 3 payload rejected (nothing changed), 4 health gate failed (files and restarts done), 5 lock
 * timeout, 6 a restart failed (it stays journalled).
 */
export const INSTALLER = String.raw`# opke-push: install this node's SSH asset tree from stdin (opke lib/provision/installer.ts).
prog=opke-push
node=unknown
` + COMMON + String.raw`
if [ "$#" -ne 6 ]; then
  log "usage: opke-push NODE PAYLOAD_SHA256 GATES API_PORT ATTEMPTS INTERVAL_SECONDS < payload"
  exit 2
fi
node=$1
want=$2
gates=$3
apiport=$4
attempts=$5
interval=$6
[[ $node =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || fail 2 "node name is not a DNS label"
[[ $want =~ ^[0-9a-f]{64}$ ]] || fail 2 "payload sha256 is not 64 hex digits"
[[ $gates =~ ^(none|(etcd|kubelet|apiserver)(,(etcd|kubelet|apiserver))*)$ ]] || fail 2 "gates must be none or a list of etcd,kubelet,apiserver"
[[ $apiport =~ ^[1-9][0-9]{0,4}$ ]] || fail 2 "API port is not a port number"
[[ $attempts =~ ^[1-9][0-9]{0,3}$ ]] || fail 2 "attempts is not a number from 1 to 9999"
[[ $interval =~ ^[0-9]{1,4}(\.[0-9]{1,3})?$ ]] || fail 2 "interval is not a number of seconds"

state=/var/lib/opke
journal=$state/pending-restarts
gatefile=$state/gates-pending
rundir=/run/opke
mkdir -p "$state" "$rundir"
chown root:root "$state" "$rundir"
chmod 0700 "$state" "$rundir"

# One push at a time per node.
exec 9>"$rundir/push.lock"
flock -w 600 9 || fail 5 "another push has held $rundir/push.lock for 600 s"

# Work directories of pushes that were killed (this one holds the lock, so none is running).
rm -rf "$rundir"/push.*
work=$(mktemp -d "$rundir/push.XXXXXX")
current_tmp=
cleanup() {
  rm -rf "$work"
  if [ -n "$current_tmp" ]; then rm -f "$current_tmp"; fi
}
trap cleanup EXIT

# 1. Receive and verify the whole payload before touching anything.
payload=$work/payload
cat >"$payload"
got=
read -r got _ < <(sha256sum "$payload") || true
[ "$got" = "$want" ] || fail 3 "payload sha256 is $got, expected $want (stdin cut short?); nothing was changed"
[ "$(sed -n 1p "$payload")" = "opke-payload 1" ] || fail 3 "stdin is not an opke payload (version 1); nothing was changed"

# 2. Which components gate this push: healthy now, or left pending by an earlier push.
has_gate() {
  case ",$gates," in
    *",$1,"*) return 0 ;;
  esac
  return 1
}
pending_gate() {
  [ -f "$gatefile" ] && grep -qxF "$1" "$gatefile"
}
must_etcd=0
must_kubelet=0
must_apiserver=0
if has_gate etcd && { pending_gate etcd || probe_etcd; }; then must_etcd=1; fi
if has_gate kubelet && { pending_gate kubelet || probe_kubelet; }; then must_kubelet=1; fi
if has_gate apiserver && { pending_gate apiserver || probe_apiserver; }; then must_apiserver=1; fi
api_pid_before=
if [ "$must_apiserver" = 1 ]; then api_pid_before=$(apiserver_pid); fi
if [ "$must_etcd$must_kubelet$must_apiserver" != 000 ]; then
  {
    if [ "$must_etcd" = 1 ]; then echo etcd; fi
    if [ "$must_kubelet" = 1 ]; then echo kubelet; fi
    if [ "$must_apiserver" = 1 ]; then echo apiserver; fi
  } >"$gatefile.tmp"
  sync "$gatefile.tmp"
  mv -f "$gatefile.tmp" "$gatefile"
fi

# 3. Directories and files.
written=0
unchanged=0
fixed=0
manifest_changed=0

# meta PATH MODE OWNER: sets mode and owner when they differ; returns 0 when it changed something.
meta() {
  local cur want_meta
  cur=$(stat -c '%a %U:%G' "$1")
  want_meta="$(printf '%o' "$((8#$2))") $3"
  [ "$cur" != "$want_meta" ] || return 1
  chown "$3" "$1"
  chmod "$2" "$1"
  return 0
}

journal_add() {
  local u
  touch "$journal"
  for u in $(printf '%s\n' "$1" | tr ',' ' '); do
    grep -qxF "$u" "$journal" || printf '%s\n' "$u" >>"$journal"
  done
  sync "$journal"
}

put_dir() {
  local mode=$1 owner=$2 path=$3 parent
  if [ -L "$path" ] || { [ -e "$path" ] && [ ! -d "$path" ]; }; then
    fail 3 "$path exists and is not a directory; move it away"
  fi
  if [ ! -d "$path" ]; then
    parent=$(dirname "$path")
    (umask 022 && mkdir -p "$parent")
    mkdir -m "$mode" "$path"
    chown "$owner" "$path"
    chmod "$mode" "$path"
    log "created $path"
  elif meta "$path" "$mode" "$owner"; then
    fixed=$((fixed + 1))
    log "set mode/owner of $path"
  fi
}

put_file() {
  local mode=$1 owner=$2 sum=$3 restarts=$4 path=$5 data=$6 dir cur tmp
  if [ -L "$path" ] || { [ -e "$path" ] && [ ! -f "$path" ]; }; then
    fail 3 "$path exists and is not a regular file; move it away"
  fi
  cur=
  if [ -f "$path" ]; then read -r cur _ < <(sha256sum "$path") || true; fi
  if [ "$cur" = "$sum" ]; then
    if meta "$path" "$mode" "$owner"; then
      fixed=$((fixed + 1))
      log "set mode/owner of $path"
    else
      unchanged=$((unchanged + 1))
    fi
    return 0
  fi
  dir=$(dirname "$path")
  if [ ! -d "$dir" ]; then (umask 022 && mkdir -p "$dir"); fi
  # A fixed, hidden temp name in the same directory: the rename is atomic, the kubelet ignores
  # dot-files in the manifest directory, and a temp left by a cut push is overwritten next time.
  tmp="$dir/.opke-push.$(basename "$path")"
  current_tmp=$tmp
  rm -f "$tmp"
  printf '%s' "$data" | base64 -d >"$tmp" || fail 3 "$path: content is not valid base64"
  cur=
  read -r cur _ < <(sha256sum "$tmp") || true
  [ "$cur" = "$sum" ] || fail 3 "$path: content does not match its sha256"
  chown "$owner" "$tmp"
  chmod "$mode" "$tmp"
  sync "$tmp"
  # Journal first: if the push dies after the rename, the next push still restarts the unit.
  if [ "$restarts" != - ]; then journal_add "$restarts"; fi
  if [ "$path" = "$manifest" ]; then manifest_changed=1; fi
  mv -f -T "$tmp" "$path"
  current_tmp=
  sync "$dir"
  written=$((written + 1))
  log "wrote $path"
}

ndirs=0
nfiles=0
complete=0
exec 3<"$payload"
read -r _ <&3
while read -r kind a b c _ e f <&3; do
  case $kind in
    d)
      put_dir "$a" "$b" "$c"
      ndirs=$((ndirs + 1))
      ;;
    f)
      read -r data <&3 || fail 3 "payload ends inside $f"
      put_file "$a" "$b" "$c" "$e" "$f" "$data"
      nfiles=$((nfiles + 1))
      ;;
    end)
      if [ "$a" != "$ndirs" ] || [ "$b" != "$nfiles" ]; then
        fail 3 "payload trailer says $a directories and $b files, read $ndirs and $nfiles"
      fi
      complete=1
      break
      ;;
    *) fail 3 "payload record $((ndirs + nfiles + 1)) is not d, f or end" ;;
  esac
done
exec 3<&-
[ "$complete" = 1 ] || fail 3 "payload has no trailer"

# 4. Restart exactly the journalled units (this push's and any a cut push left behind): first
#    etcd-member and the kubelet, then the health gates, then every other journalled unit (e.g. a
#    one-shot that talks to the API runs only once the API is confirmed back).
restarted=
restart_units() {
  local u
  for u in "$@"; do
    grep -qxF "$u" "$journal" || continue
    log "restarting $u"
    systemctl restart "$u" || fail 6 "systemctl restart $u failed; see journalctl -u $u (it stays in $journal and is restarted by the next push)"
    grep -vxF "$u" "$journal" >"$journal.tmp" || true
    sync "$journal.tmp"
    mv -f "$journal.tmp" "$journal"
    restarted="$restarted $u"
  done
}
if [ -s "$journal" ]; then
  systemctl daemon-reload
  restart_units etcd-member.service kubelet.service
fi

# 5. Health gates, bounded.
apiserver_ready() {
  probe_apiserver || return 1
  if [ "$manifest_changed" = 1 ] && [ -n "$api_pid_before" ]; then
    local pid
    pid=$(apiserver_pid)
    if [ -z "$pid" ] || [ "$pid" = "$api_pid_before" ]; then return 1; fi
  fi
  local want_version
  want_version=$(manifest_version)
  [ -z "$want_version" ] || [ "$(running_version)" = "$want_version" ]
}
gated=
if [ "$must_etcd" = 1 ]; then
  wait_for etcd probe_etcd || fail 4 "gate etcd: http://127.0.0.1:2381/health not healthy after $attempts checks $interval s apart; check etcd-member.service (journalctl -u etcd-member.service); the next push re-checks it"
  gated="$gated etcd"
fi
if [ "$must_kubelet" = 1 ]; then
  wait_for kubelet probe_kubelet || fail 4 "gate kubelet: http://127.0.0.1:10248/healthz not ok after $attempts checks $interval s apart; check kubelet.service; the next push re-checks it"
  gated="$gated kubelet"
fi
if [ "$must_apiserver" = 1 ]; then
  wait_for apiserver apiserver_ready || fail 4 "gate apiserver: https://127.0.0.1:$apiport/readyz not ok (or not yet the new kube-apiserver $(manifest_version)) after $attempts checks $interval s apart; check the kube-apiserver static pod; the next push re-checks it"
  gated="$gated apiserver"
fi
rm -f "$gatefile"

# 6. The other journalled units, in name order.
if [ -s "$journal" ]; then
  # shellcheck disable=SC2046 # unit names were checked by the renderer and the payload encoder
  restart_units $(sort -u "$journal")
fi
rm -f "$journal"
sync "$state"

log "done: $written written, $unchanged unchanged, $fixed mode/owner fixed; restarted:$(if [ -n "$restarted" ]; then echo "$restarted"; else echo " none"; fi); gated:$(if [ -n "$gated" ]; then echo "$gated"; else echo " none"; fi)"
echo "node=$node written=$written unchanged=$unchanged fixed=$fixed restarted=$(echo "$restarted" | tr ' ' ',' | sed 's/^,//')"
`;

/**
 * opke-bootstrap. Usage (as root): bash -c "$BOOTSTRAP" opke-bootstrap NODE API_PORT ATTEMPTS INTERVAL_SECONDS
 * Exit codes: 2 usage, 4 etcd/apiserver not healthy, 6 bootstrap.service failed or did not finish,
 * 7 addons.service failed.
 */
export const BOOTSTRAP = String.raw`# opke-bootstrap: start the one-shot cluster bootstrap on controller 0 (opke lib/provision/installer.ts).
prog=opke-bootstrap
node=unknown
` + COMMON + String.raw`
if [ "$#" -ne 4 ]; then
  log "usage: opke-bootstrap NODE API_PORT ATTEMPTS INTERVAL_SECONDS"
  exit 2
fi
node=$1
apiport=$2
attempts=$3
interval=$4
[[ $node =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || fail 2 "node name is not a DNS label"
[[ $apiport =~ ^[1-9][0-9]{0,4}$ ]] || fail 2 "API port is not a port number"
[[ $attempts =~ ^[1-9][0-9]{0,3}$ ]] || fail 2 "attempts is not a number from 1 to 9999"
[[ $interval =~ ^[0-9]{1,4}(\.[0-9]{1,3})?$ ]] || fail 2 "interval is not a number of seconds"

done_file=/opt/bootstrap/bootstrap.done
# addons.service (modules/addons) applies the pod network, kube-proxy and CoreDNS server-side. It
# runs only once bootstrap.done exists (ConditionPathExists) and is idempotent; a oneshot start
# returns when its script has finished.
start_addons() {
  log "starting addons.service"
  systemctl start addons.service || fail 7 "addons.service failed; see journalctl -u addons.service"
  log "addons applied"
}
if [ -e "$done_file" ]; then
  log "$done_file exists: the cluster is bootstrapped already; skipping bootstrap.service"
  start_addons
  echo "node=$node bootstrap=already-done"
  exit 0
fi

wait_for etcd probe_etcd || fail 4 "etcd is not healthy after $attempts checks $interval s apart (all controllers pushed? check etcd-member.service on each)"
wait_for apiserver probe_apiserver || fail 4 "https://127.0.0.1:$apiport/readyz is not ok after $attempts checks $interval s apart; check the kube-apiserver static pod and the kubelet"

log "starting bootstrap.service"
systemctl start bootstrap.service || fail 6 "bootstrap.service failed; see journalctl -u bootstrap.service"
# A oneshot start returns when the script has finished; the bounded wait covers a start that only
# queued the job (and a unit skipped by one of its Condition lines, which would never write it).
for ((i = 1; i <= attempts; i++)); do
  if [ -e "$done_file" ]; then break; fi
  sleep "$interval"
done
[ -e "$done_file" ] || fail 6 "bootstrap.service ran but $done_file is missing (skipped by a Condition? see systemctl status bootstrap.service)"
log "cluster bootstrapped"
start_addons
echo "node=$node bootstrap=done"
`;

/** Quotes a string for a POSIX shell: one single-quoted word. */
export function shellQuote(s: string): string {
    return `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface WaitBounds {
    /** Health checks per gate (etcd, kubelet, apiserver) after a push. */
    attempts: number;
    /** Seconds between checks (decimals allowed). */
    intervalSeconds: number;
}

function checkBounds(w: WaitBounds, what: string): void {
    if (!Number.isInteger(w.attempts) || w.attempts < 1 || w.attempts > 9999) throw new Error(`${what}: attempts ${w.attempts} must be a whole number from 1 to 9999`);
    if (!(w.intervalSeconds >= 0 && w.intervalSeconds < 10000) || !/^[0-9]{1,4}(\.[0-9]{1,3})?$/.test(String(w.intervalSeconds))) {
        throw new Error(`${what}: intervalSeconds ${w.intervalSeconds} must be 0 to 9999.999 seconds`);
    }
}

/**
 * The `create` line of a node's push: `sudo -n /bin/bash -c '<INSTALLER>' opke-push <args>`. The
 * payload goes on stdin. No secret and no file content is in this line; it changes exactly when
 * the payload (its sha256), the gates or the wait bounds change.
 */
export function pushCommand(o: { node: string; payloadSha256: string; gates: readonly Gate[]; apiPort: number; waits: WaitBounds }): string {
    checkBounds(o.waits, `push ${o.node}`);
    if (!/^[0-9a-f]{64}$/.test(o.payloadSha256)) throw new Error(`push ${o.node}: payload sha256 ${JSON.stringify(o.payloadSha256)} is not 64 hex digits`);
    const gates = GATE_ORDER.filter((g) => o.gates.includes(g));
    return [
        "sudo -n /bin/bash -c",
        shellQuote(INSTALLER),
        "opke-push",
        o.node,
        o.payloadSha256,
        gates.length > 0 ? gates.join(",") : "none",
        String(o.apiPort),
        String(o.waits.attempts),
        String(o.waits.intervalSeconds),
    ].join(" ");
}

/** The `create` line of the bootstrap one-shot on controller 0 (constant for a cluster). */
export function bootstrapCommand(o: { node: string; apiPort: number; waits: WaitBounds }): string {
    checkBounds(o.waits, `bootstrap ${o.node}`);
    return ["sudo -n /bin/bash -c", shellQuote(BOOTSTRAP), "opke-bootstrap", o.node, String(o.apiPort), String(o.waits.attempts), String(o.waits.intervalSeconds)].join(" ");
}
