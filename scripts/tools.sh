#!/usr/bin/env bash
# shellcheck disable=SC2317 # build_<name> and the *_fallback functions are called by name
# scripts/tools.sh: build the external binaries opke's tests need from Go modules, cached by
# version outside the repository, and reuse them when present. Nothing built is committed.
#
#   scripts/tools.sh [all|k8s|etcd|pulumi]...  build the named groups (default: all); one line per
#                                             group (per component for pulumi):
#                                               tools: <name> <version> cached (<dir>)
#                                               tools: <name> <version> built in <N>s
#   scripts/tools.sh env [groups]             print `export PATH=...` lines that prepend the bin dirs
#                                             of the groups already built; builds nothing:
#                                               eval "$(scripts/tools.sh env k8s etcd)"
#   scripts/tools.sh path <group|component>   print one bin dir (kubernetes, etcd, pulumi,
#                                             pulumi-language-nodejs, pulumi-resource-<name>)
#
# Versions, never written down here:
#   k8s, etcd   lib/versions.json ("kubernetes", "etcd")
#   pulumi      the installed npm packages: node_modules/@pulumi/<pkg>/package.json, else
#               package-lock.json, else package.json. The pulumi CLI and pulumi-language-nodejs
#               follow @pulumi/pulumi; pulumi-resource-<name> follows @pulumi/<name> for each of
#               tls, command and kubernetes that the project depends on (others are skipped).
#   Overrides for trying another version: OPKE_TOOLS_VERSION_{K8S,ETCD,PULUMI,TLS,COMMAND,KUBERNETES}
#
# Layout: ${OPKE_TOOLS_DIR:-$HOME/.cache/opke/tools}/<name>/<version>/bin/<binary>, for example
# kubernetes/v1.36.3/bin/kube-apiserver. Beside bin/: src/ (the wrapper Go module used for the
# build), build.log, and .complete, written only once every binary of that entry exists and ran,
# so an interrupted build is redone next time. GOMODCACHE and GOCACHE keep Go's defaults.
#
# How: modules with `replace` directives cannot be `go install`ed by version, so each entry is
# built from a small wrapper module of our own that requires the upstream module at the pinned
# version and repeats its replace lines, pointing local-path replaces at published versions
# (k8s.io/<staging> => v0.Y.Z, pulumi sdk/pkg => the same release, the pulumi-tls ./shim => a
# few lines of shim written here). Builds run one after another under `nice -n 10`, with
# `-trimpath -ldflags "-s -w"` plus version ldflags.
#
# A `pulumi` already on PATH outside this cache is used as is for the CLI and its language
# host; only the missing resource plugins are then built. The CLI finds pulumi-language-nodejs
# and pulumi-resource-<name> on PATH (ambient plugins), so a local-backend `pulumi preview` of a
# Node.js program needs the pulumi bin dirs on PATH and no download; no pulumi-analyzer-* is
# needed unless a policy pack is used.
#
# Known limit (Go module proxy reachable from this project's machines, as measured): it serves
# github.com/pulumi/pulumi/pkg/v3 but not pulumi-language-nodejs nor the provider modules at the
# versions asked for, so those pulumi entries fail loudly and the pulumi group exits non-zero;
# `scripts/tools.sh k8s etcd` builds what the cluster tests need.
#
# Environment knobs: OPKE_TOOLS_DIR (cache root), OPKE_TOOLS_GONOSUMDB (module globs added to
# GONOSUMDB for the pulumi builds; default github.com/pulumi/pulumi/pkg/v3, whose checksum the
# module proxy's checksum database does not serve here).

set -euo pipefail
shopt -s inherit_errexit

SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_DIR=${OPKE_TOOLS_DIR:-${HOME:?HOME is not set}/.cache/opke/tools}
[[ $TOOLS_DIR == /* ]] || TOOLS_DIR=$PWD/$TOOLS_DIR
PULUMI_GONOSUMDB=${OPKE_TOOLS_GONOSUMDB-github.com/pulumi/pulumi/pkg/v3}
PULUMI_PLUGINS=(tls command kubernetes)

die() {
  echo "tools: error: $*" >&2
  exit 1
}

# ---------------------------------------------------------------------------------------------
# Versions

# load_versions: read every version once (one node process) into VERSIONS[k8s|etcd|<npm pkg>].
declare -A VERSIONS=()
load_versions() {
  local out key val override
  if command -v node >/dev/null 2>&1; then
    # shellcheck disable=SC2016 # JavaScript, not shell
    out=$(node -e '
      const fs = require("fs"), path = require("path");
      const [root, ...pkgs] = process.argv.slice(1);
      const read = (f) => { try { return JSON.parse(fs.readFileSync(path.join(root, f), "utf8")); } catch { return undefined; } };
      const versions = read("lib/versions.json") || {};
      const out = { k8s: versions.kubernetes, etcd: versions.etcd };
      const pj = read("package.json");
      const deps = pj ? { ...(pj.devDependencies || {}), ...(pj.dependencies || {}) } : undefined;
      const lock = (read("package-lock.json") || {}).packages || {};
      for (const name of pkgs) {
        const dep = `@pulumi/${name}`;
        if (deps && !(dep in deps)) continue; // not a dependency of the project
        let v = (read(`node_modules/${dep}/package.json`) || {}).version;
        if (!v) v = (lock[`node_modules/${dep}`] || {}).version;
        if (!v && deps) { const m = /\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?/.exec(deps[dep]); if (m) v = m[0]; }
        if (v) out[name] = "v" + v.replace(/^v/, "");
      }
      for (const [k, v] of Object.entries(out)) if (typeof v === "string" && v) console.log(k, v);
    ' "$ROOT" pulumi "${PULUMI_PLUGINS[@]}")
  else # enough for k8s and etcd; the npm versions need node
    out=$(sed -n 's/^[[:space:]]*"\(kubernetes\|etcd\)"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1 \2/p' "$ROOT/lib/versions.json" |
      sed 's/^kubernetes /k8s /')
  fi
  while read -r key val; do # the first one wins (the sed fallback also sees nested keys)
    [[ -z $key || -n ${VERSIONS[$key]:-} ]] || VERSIONS[$key]=$val
  done <<<"$out"
  for key in k8s etcd pulumi "${PULUMI_PLUGINS[@]}"; do
    override="OPKE_TOOLS_VERSION_${key^^}"
    [[ -z ${!override:-} ]] || VERSIONS[$key]=v${!override#v}
  done
}

# version KEY: the pinned version of k8s, etcd or an @pulumi npm package, or nothing.
version() { echo "${VERSIONS[$1]:-}"; }

# ---------------------------------------------------------------------------------------------
# Cache entries

entry_dir() { echo "$TOOLS_DIR/$1/$2"; }
is_complete() { [[ -f $(entry_dir "$1" "$2")/.complete ]]; }

# A pulumi CLI on PATH that is not ours (then it and its language host are used as they are).
foreign_pulumi() {
  local p
  p=$(command -v pulumi 2>/dev/null) || return 1
  [[ $p != "$TOOLS_DIR"/* ]] || return 1
  echo "$p"
}

# entries GROUP: lines "<name> <version>" of the cache entries that make up a group.
entries() {
  local v p
  case $1 in
    k8s | kubernetes)
      v=$(version k8s)
      [[ $v =~ ^v1\.[0-9]+\.[0-9]+ ]] || die "no Kubernetes version in lib/versions.json (got '$v')"
      echo "kubernetes $v"
      ;;
    etcd)
      v=$(version etcd)
      [[ $v =~ ^v3\.[0-9]+\.[0-9]+ ]] || die "no etcd version in lib/versions.json (got '$v')"
      echo "etcd $v"
      ;;
    pulumi)
      if ! foreign_pulumi >/dev/null; then
        v=$(version pulumi)
        [[ -n $v ]] || die "no @pulumi/pulumi in node_modules, package-lock.json or package.json"
        echo "pulumi $v"
        echo "pulumi-language-nodejs $v"
      fi
      for p in "${PULUMI_PLUGINS[@]}"; do
        v=$(version "$p")
        [[ -z $v ]] || echo "pulumi-resource-$p $v"
      done
      ;;
    *) die "unknown group '$1' (groups: all k8s etcd pulumi)" ;;
  esac
}

expand_groups() {
  if [[ $# -eq 0 ]]; then set -- all; fi
  local g
  for g in "$@"; do
    if [[ $g == all ]]; then printf '%s\n' etcd k8s pulumi; else echo "$g"; fi
  done
}

# ---------------------------------------------------------------------------------------------
# Building

LOG=
# run CMD...: run a command with its output going to the entry's build.log; on failure print
# that command's output (less Go's download chatter) and stop.
run() {
  local out rc=0
  out=$(mktemp)
  printf "+%s\n" "$(printf " %q" "$@")" >>"$LOG"
  "$@" >"$out" 2>&1 || rc=$?
  cat "$out" >>"$LOG"
  if [[ $rc -ne 0 ]]; then
    {
      echo "tools: FAILED (exit $rc): $*"
      grep -v '^go: downloading ' "$out" | tail -n 200
      echo "tools: full log: $LOG"
    } >&2
    rm -f "$out"
    return "$rc"
  fi
  rm -f "$out"
}

gobuild() { # gobuild OUT PKG [extra ldflags]
  run nice -n 10 go build -trimpath -ldflags "-s -w ${3:-}" -o "$1" "$2"
}

# gomod_info MODULE@VERSION: path of the module's go.mod in the module cache (downloads it).
gomod_file() {
  local json
  json=$(go mod download -json "$1" 2>&1) || {
    echo "tools: FAILED: go mod download -json $1" >&2
    echo "$json" >&2
    return 1
  }
  sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p' <<<"$json"
}

# Print a go.mod's `replace` directives ("lhs [v] => rhs [v]"), or its `require`s ("mod v").
gomod_replaces() {
  awk '/^replace[ \t]*\(/ { b = 1; next } b && /^\)/ { b = 0; next }
       { sub(/\/\/.*/, "") }
       b && NF { print; next }
       /^replace[ \t]/ { sub(/^replace[ \t]+/, ""); print }' "$1"
}
gomod_requires() {
  awk '/^require[ \t]*\(/ { b = 1; next } b && /^\)/ { b = 0; next }
       { sub(/\/\/.*/, "") }
       b && NF { print $1, $2; next }
       /^require[ \t]/ { print $2, $3 }' "$1"
}
gomod_go() { awk '$1 == "go" { print $2; exit }' "$1"; }

# mirror_replaces GOMOD FALLBACK: the replace lines a wrapper needs to build GOMOD's module.
# Replaces to another module are repeated as they are. A replace to a local folder (upstream's
# monorepo layout) becomes: what FALLBACK prints for the module path, if anything; else the
# module at the version GOMOD requires; it is dropped when GOMOD does not require the module.
mirror_replaces() {
  local gomod=$1 fallback=$2 line lhs rhs req to
  local -a f
  while read -r line; do
    read -r -a f <<<"$line"
    lhs=${f[0]}
    if [[ ${f[1]} == "=>" ]]; then rhs=("${f[@]:2}"); else rhs=("${f[@]:3}"); fi
    if [[ ${rhs[0]} != ./* && ${rhs[0]} != ../* ]]; then
      echo "$line"
      continue
    fi
    to=$("$fallback" "$lhs")
    if [[ -z $to ]]; then
      req=$(gomod_requires "$gomod" | awk -v m="$lhs" '$1 == m { print $2; exit }')
      [[ -n $req ]] || continue
      [[ $req != v0.0.0 && $req != *-00010101000000-000000000000 ]] ||
        die "cannot map local replace '$line' of $gomod to a published version"
      to="$lhs $req"
    fi
    echo "$lhs => $to"
  done < <(gomod_replaces "$gomod")
}

# write_wrapper DIR NAME GOVERSION REQUIRES REPLACES [EXTRA]: the wrapper module's go.mod.
write_wrapper() {
  local dir=$1
  rm -rf "$dir"
  mkdir -p "$dir"
  {
    echo "// Generated by opke scripts/tools.sh: builds $2 from its published modules."
    echo "module opke.local/tools/$2"
    echo
    echo "go $3"
    [[ -z ${6:-} ]] || printf '\n%s\n' "$6"
    printf '\nrequire (\n'
    printf '\t%s\n' "$4"
    echo ")"
    if [[ -n $5 ]]; then
      printf '\nreplace (\n'
      sort -u <<<"$5" | awk '{ print "\t" $0 }'
      echo ")"
    fi
  } >"$dir/go.mod"
}

# check_version PATTERN BIN ARGS...: the binary runs and its output has PATTERN (grep -E).
check_version() {
  local pattern=$1 out rc=0
  shift
  out=$("$@" 2>&1) || rc=$?
  printf '+ %s\n%s\n' "$*" "$out" >>"$LOG"
  [[ $rc -eq 0 ]] || die "$* exited $rc: $out"
  grep -qE -- "$pattern" <<<"$out" || die "$* does not print '$pattern': $out"
}

max_go() { printf '%s\n' "$@" | sort -V | tail -n 1; }

# --- etcd ------------------------------------------------------------------------------------
etcd_fallback() { [[ $1 != go.etcd.io/etcd/*/v3 ]] || echo "$1 $VERSION"; }

build_etcd() {
  local src=$DIR/src server ctl reps
  server=$(gomod_file "go.etcd.io/etcd/server/v3@$VERSION")
  ctl=$(gomod_file "go.etcd.io/etcd/etcdctl/v3@$VERSION")
  reps=$(mirror_replaces "$server" etcd_fallback; mirror_replaces "$ctl" etcd_fallback)
  write_wrapper "$src" etcd "$(max_go "$(gomod_go "$server")" "$(gomod_go "$ctl")")" \
    "go.etcd.io/etcd/server/v3 $VERSION"$'\n'"go.etcd.io/etcd/etcdctl/v3 $VERSION" "$reps"
  cd "$src"
  run go get "go.etcd.io/etcd/server/v3@$VERSION" "go.etcd.io/etcd/etcdctl/v3@$VERSION"
  gobuild "$DIR/bin/etcd" go.etcd.io/etcd/server/v3
  gobuild "$DIR/bin/etcdctl" go.etcd.io/etcd/etcdctl/v3
  check_version "etcd Version: ${VERSION#v}\$" "$DIR/bin/etcd" --version
  check_version "etcdctl version: ${VERSION#v}\$" "$DIR/bin/etcdctl" version
}

# --- Kubernetes ------------------------------------------------------------------------------
# k8s.io/kubernetes cannot be `go install`ed: its go.mod requires every k8s.io/<staging> module
# at v0.0.0 and replaces it with ./staging/src/...; the published staging modules of release
# v1.Y.Z are v0.Y.Z.
k8s_fallback() { [[ $1 != k8s.io/* ]] || echo "$1 v0.${VERSION#v1.}"; }

build_kubernetes() {
  local src=$DIR/src gomod reps ldflags major minor cmd pkg date
  gomod=$(gomod_file "k8s.io/kubernetes@$VERSION")
  reps=$(mirror_replaces "$gomod" k8s_fallback)
  write_wrapper "$src" kubernetes "$(gomod_go "$gomod")" "k8s.io/kubernetes $VERSION" "$reps" \
    "$(awk '$1 == "godebug"' "$gomod")"
  cd "$src"
  run go get "k8s.io/kubernetes@$VERSION"
  major=${VERSION#v}
  major=${major%%.*}
  minor=${VERSION#v*.}
  minor=${minor%%.*}
  date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  ldflags=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
  done
  for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    gobuild "$DIR/bin/$cmd" "k8s.io/kubernetes/cmd/$cmd" "$ldflags"
  done
  for cmd in kube-apiserver kube-controller-manager kube-scheduler; do
    check_version "^Kubernetes $VERSION\$" "$DIR/bin/$cmd" --version
  done
  check_version "^Client Version: $VERSION\$" "$DIR/bin/kubectl" version --client
}

# --- Pulumi ----------------------------------------------------------------------------------
# pulumi's own modules replace each other with sibling folders; use the same release instead.
pulumi_fallback() {
  case $1 in
    github.com/pulumi/pulumi/sdk/v3 | github.com/pulumi/pulumi/pkg/v3) echo "$1 $VERSION" ;;
  esac
}

pulumi_env() { # go's environment for the pulumi builds
  export GONOSUMDB="${GONOSUMDB:+$GONOSUMDB,}$PULUMI_GONOSUMDB"
}

# build_pulumi_cmd MODULE PKG BIN: one command of the pulumi repository.
build_pulumi_cmd() {
  local mod=$1 pkg=$2 bin=$3 src=$DIR/src gomod reps
  pulumi_env
  gomod=$(gomod_file "$mod@$VERSION")
  reps=$(mirror_replaces "$gomod" pulumi_fallback)
  write_wrapper "$src" "$bin" "$(gomod_go "$gomod")" "$mod $VERSION" "$reps"
  cd "$src"
  run go get "$mod@$VERSION"
  gobuild "$DIR/bin/$bin" "$pkg" "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$VERSION"
}

build_pulumi() {
  build_pulumi_cmd github.com/pulumi/pulumi/pkg/v3 github.com/pulumi/pulumi/pkg/v3/cmd/pulumi pulumi
  check_version "^$VERSION\$" "$DIR/bin/pulumi" version
}

# The Node.js language host is its own module (no tag of the pulumi repo names it, so the
# pulumi release's version is asked for, as pulumi's own release builds it from that commit).
build_pulumi-language-nodejs() {
  local mod=github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3
  build_pulumi_cmd "$mod" "$mod" pulumi-language-nodejs
  check_version "^v?${VERSION#v}\$" "$DIR/bin/pulumi-language-nodejs" -version
}

# pulumi-tls replaces github.com/hashicorp/terraform-provider-tls/shim with its unpublished
# ./shim folder: a module inside the upstream provider's path, so that it may import the
# upstream provider's internal constructor. Write that module here.
TLS_SHIM=github.com/hashicorp/terraform-provider-tls/shim
plugin_fallback() {
  case $1 in
    "$TLS_SHIM") echo ./shim ;;
    github.com/pulumi/pulumi/sdk/v3 | github.com/pulumi/pulumi/pkg/v3) ;; # use the required version
  esac
}

write_tls_shim() { # write_tls_shim DIR PROVIDER_GOMOD
  local req
  req=$(gomod_requires "$2")
  mkdir -p "$1/shim"
  {
    echo "module $TLS_SHIM"
    echo
    echo "go $(gomod_go "$2")"
    echo
    echo "require ("
    awk '$1 == "github.com/hashicorp/terraform-provider-tls" || $1 == "github.com/hashicorp/terraform-plugin-framework" { print "\t" $1, $2 }' <<<"$req"
    echo ")"
  } >"$1/shim/go.mod"
  cat >"$1/shim/shim.go" <<'EOF'
// Package shim exposes the upstream TLS provider's constructor (written by opke scripts/tools.sh).
package shim

import (
	"github.com/hashicorp/terraform-plugin-framework/provider"
	upstream "github.com/hashicorp/terraform-provider-tls/internal/provider"
)

func NewProvider() provider.Provider { return upstream.New() }
EOF
}

build_plugin() { # build_plugin NAME (tls, command, kubernetes)
  local name=$1 mod major src=$DIR/src gomod reps bin out rc=0
  major=${VERSION#v}
  major=${major%%.*}
  mod=github.com/pulumi/pulumi-$name/provider
  [[ $major -lt 2 ]] || mod+=/v$major
  bin=pulumi-resource-$name
  gomod=$(gomod_file "$mod@$VERSION")
  reps=$(mirror_replaces "$gomod" plugin_fallback)
  write_wrapper "$src" "$bin" "$(gomod_go "$gomod")" "$mod $VERSION" "$reps"
  [[ $reps != *"=> ./shim"* ]] || write_tls_shim "$src" "$gomod"
  cd "$src"
  run go get "$mod@$VERSION"
  gobuild "$DIR/bin/$bin" "$mod/cmd/$bin" "-X $mod/pkg/version.Version=$VERSION"
  # A provider plugin serves gRPC and has no version flag: check that it starts and parses flags.
  out=$(timeout 20 "$DIR/bin/$bin" -help 2>&1) || rc=$?
  echo "$out" | head -n 3 >>"$LOG"
  [[ $rc -eq 0 || $rc -eq 2 ]] || die "$bin -help exited $rc: $out"
}

# build_one NAME VERSION DIR: the build itself, run as its own process (so that `set -e` holds).
build_one() {
  LOG=$3/build.log DIR=$3 VERSION=$2
  : >"$LOG"
  export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod" GOTOOLCHAIN=${GOTOOLCHAIN:-local}
  case $1 in
    pulumi-resource-*) build_plugin "${1#pulumi-resource-}" ;;
    etcd | kubernetes | pulumi | pulumi-language-nodejs) "build_$1" ;;
    *) die "nothing builds '$1'" ;;
  esac
  # Every binary exists and ran (above); only now is the entry complete.
  date -u +%Y-%m-%dT%H:%M:%SZ >"$DIR/.complete"
}

# build_entry NAME VERSION: build one cache entry unless complete; print its line.
build_entry() {
  local name=$1 version=$2 dir start fd rc=0
  dir=$(entry_dir "$name" "$version")
  if is_complete "$name" "$version"; then
    echo "tools: $name $version cached ($dir)"
    return 0
  fi
  command -v go >/dev/null 2>&1 || die "go is needed to build $name $version"
  mkdir -p "$dir"
  exec {fd}>"$dir.lock"
  flock "$fd" # another tools.sh building the same entry: wait for it
  if is_complete "$name" "$version"; then
    exec {fd}>&-
    echo "tools: $name $version cached ($dir)"
    return 0
  fi
  echo "tools: $name $version building in $dir (log: $dir/build.log) ..." >&2
  start=$SECONDS
  rm -rf "${dir:?}/bin" "$dir/.complete"
  mkdir -p "$dir/bin"
  bash "$SELF" __build "$name" "$version" "$dir" || rc=$?
  exec {fd}>&-
  if [[ $rc -ne 0 ]]; then
    echo "tools: $name $version FAILED after $((SECONDS - start))s (log: $dir/build.log)" >&2
    return 1
  fi
  echo "tools: $name $version built in $((SECONDS - start))s"
}

cmd_build() {
  local g list name version failed=0 p
  for g in $(expand_groups "$@"); do
    list=$(entries "$g")
    if [[ $g == pulumi ]] && p=$(foreign_pulumi); then
      echo "tools: pulumi: using $p ($("$p" version 2>/dev/null || echo 'version unknown')) and its language host; building only the missing resource plugins"
    fi
    while read -r name version; do
      [[ -n $name ]] || continue
      build_entry "$name" "$version" || failed=1
    done <<<"$list"
  done
  [[ $failed -eq 0 ]] || die "some builds failed (see above)"
}

cmd_env() {
  local g list name version
  for g in $(expand_groups "$@"); do
    list=$(entries "$g")
    while read -r name version; do
      [[ -n $name ]] || continue
      if is_complete "$name" "$version"; then
        # shellcheck disable=SC2016 # $PATH is for the shell that evaluates this line
        printf 'export PATH=%q:"$PATH"\n' "$(entry_dir "$name" "$version")/bin"
      else
        echo "tools: $name $version is not built: run scripts/tools.sh $g" >&2
      fi
    done <<<"$list"
  done
}

cmd_path() {
  [[ $# -eq 1 ]] || die "usage: scripts/tools.sh path <group|component>"
  local want=$1 g list name version
  [[ $want != k8s ]] || want=kubernetes
  for g in etcd k8s pulumi; do
    list=$(entries "$g")
    while read -r name version; do
      if [[ -n $name && $name == "$want" ]]; then
        echo "$(entry_dir "$name" "$version")/bin"
        return 0
      fi
    done <<<"$list"
  done
  die "no tool entry named '$1'"
}

main() {
  case ${1:-all} in
    env) shift; load_versions; cmd_env "$@" ;;
    path) shift; load_versions; cmd_path "$@" ;;
    __build) shift; build_one "$@" ;;
    -h | --help | help) sed -n '/^# scripts\/tools.sh:/,/^$/s/^# \{0,1\}//p' "$SELF" ;;
    *) load_versions; cmd_build "$@" ;;
  esac
  # Exit here, before bash reads on: editing this file while it runs stays harmless.
  exit 0
}

main "$@"
