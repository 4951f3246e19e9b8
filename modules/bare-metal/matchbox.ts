/**
 * Pure renderers of a machine's network boot and install configuration for Matchbox (v0.10):
 * profiles, groups and Ignition files as they sit in Matchbox's data directory, plus the iPXE
 * script Matchbox serves from them. Config + the node's Ignition text in, text out: no Pulumi, no
 * clock, no network; the same inputs always give the same bytes.
 *
 * Layout written below `bareMetal.assetsDir` (Matchbox's `-data-path`), with `<id>` =
 * `<clusterName>.<node>` (a dot cannot occur in a DNS label, so ids of two clusters sharing one
 * Matchbox never collide):
 *
 *   Fedora CoreOS (one boot):
 *     profiles/<id>.json    live kernel + initramfs + rootfs; coreos-installer kernel args
 *     groups/<id>.json      selector { mac } (and/or { uuid })          → profile <id>
 *     ignition/<id>.ign     the node's Ignition, byte-identical to cluster.nodes[i].ignition
 *
 *   Flatcar (install boot, then the installed OS fetches nothing from Matchbox again):
 *     profiles/<id>.install.json   PXE kernel + initrd, flatcar.first_boot=yes
 *     groups/<id>.install.json     selector { mac }                    → profile <id>.install
 *     ignition/<id>.install.ign    installer.service: flatcar-install … -i <final Ignition>, reboot;
 *                                  sshd on port 2222 while installing (Typhoon #181)
 *     profiles/<id>.json           no boot section; ignition_id <id>.ign
 *     groups/<id>.json             selector { mac, os: "installed" }   → profile <id>
 *     ignition/<id>.ign            the node's Ignition, byte-identical
 *   Matchbox picks the matching group with the most selectors, so the installer's request with
 *   `os=installed` gets the final Ignition and every PXE request without it gets the installer.
 *
 * Everything here is version-free in the OPKE sense: no Kubernetes or etcd version and no secret
 * ever reaches these files (the node's Ignition is version- and secret-free by construction and
 * the install Ignition holds only public SSH keys). The OS image version (`bareMetal.osVersion`)
 * does appear: it is the image to install, not something an upgrade changes.
 *
 * Matchbox serves `.ign` files after parsing them as Ignition 3.x and re-encoding the JSON, so the
 * bytes a machine receives differ in whitespace/key order from the file; the content is the same.
 *
 * Known PXE pitfalls handled here: `initrd=main` together with `--name main` on the initrd
 * (Typhoon #638, "VFS: Cannot open root device" under UEFI); the Ignition URL carries
 * `uuid=${uuid}&mac=${mac:hexhyp}`, expanded by iPXE, so Matchbox can match the machine (#326,
 * install never fetching Ignition); the SSH keys come from the node's Ignition itself, not from a
 * Matchbox template variable (#514).
 */
import { createHash } from "node:crypto";
import { ClusterConfig, NodeRole, OperatingSystem, Platform } from "../../lib/config/schema";
import { assertIgnitionSafe, IgnitionBuilder, serializeIgnition } from "../ignition";
import { BareMetalMode } from "./config";

/** What the boot renderers need of a node (a `ClusterNode` or a `NodeAssets` both fit). */
export interface BootNode {
    name: string;
    role: NodeRole;
    mac?: string;
}

/** `boot` of a Matchbox profile: what iPXE loads. */
export interface MatchboxBoot {
    kernel: string;
    initrd: string[];
    args: string[];
}

/** A Matchbox profile as stored in `profiles/<id>.json`. */
export interface MatchboxProfile {
    id: string;
    name: string;
    boot?: MatchboxBoot;
    ignition_id: string;
}

/** A Matchbox group as stored in `groups/<id>.json`. */
export interface MatchboxGroup {
    id: string;
    name: string;
    profile: string;
    selector: Record<string, string>;
}

/** One file below the Matchbox data directory. */
export interface BootFile {
    /** Relative to `bareMetal.assetsDir`, e.g. `profiles/dev.c1.json`. */
    path: string;
    content: string;
}

/** A machine's complete boot configuration. */
export interface MachineBoot {
    node: string;
    /** `<clusterName>.<node>`: the id of the node's final profile and group. */
    id: string;
    os: OperatingSystem;
    profiles: MatchboxProfile[];
    groups: MatchboxGroup[];
    /** The iPXE script Matchbox serves this machine when it PXE-boots (its install boot). */
    ipxe: string;
    /** Every file written into the data directory, sorted by path. */
    files: BootFile[];
    /**
     * Every path this machine can ever own in the data directory (for both operating systems),
     * sorted: what a write removes when it no longer renders it, and what a delete removes.
     */
    owned: string[];
    /** Files that must exist below Matchbox's assets directory when `cachedInstall` is on (else empty). */
    cachedAssets: string[];
}

/** Matchbox id of a node's final profile/group. */
export function machineId(cfg: Pick<ClusterConfig, "clusterName">, nodeName: string): string {
    return `${cfg.clusterName}.${nodeName}`;
}

/** The paths a machine can own below the data directory, whatever the OS. */
export function ownedPaths(id: string): string[] {
    return [`groups/${id}.install.json`, `groups/${id}.json`, `ignition/${id}.install.ign`, `ignition/${id}.ign`, `profiles/${id}.install.json`, `profiles/${id}.json`];
}

/** Matchbox's v0.10 iPXE template (matchbox/http/ipxe.go), applied to a profile's boot section. */
export function ipxeScript(boot: MatchboxBoot): string {
    return `#!ipxe\nkernel ${boot.kernel}${boot.args.map((a) => ` ${a}`).join("")}\n${boot.initrd.map((i) => `initrd ${i}\n`).join("")}boot\n`;
}

/** Quote a word for POSIX sh (single quotes; `'` written as `'\''`). */
export function shellQuote(word: string): string {
    return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** `bareMetal` settings resolved for one machine. */
export interface MachineSettings {
    installDisk: string;
    kernelArgs: string[];
    uuid?: string;
    mac?: string;
}

export function machineSettings(cfg: ClusterConfig, node: BootNode): MachineSettings {
    const m = cfg.bareMetal.machines[node.name];
    return {
        installDisk: m?.installDisk ?? cfg.bareMetal.installDisk,
        kernelArgs: [...cfg.bareMetal.kernelArgs, ...(m?.kernelArgs ?? [])],
        ...(m?.uuid !== undefined ? { uuid: m.uuid } : {}),
        ...(node.mac !== undefined ? { mac: node.mac } : {}),
    };
}

/** The selector that identifies the machine: its MAC and/or its UUID. */
function machineSelector(node: BootNode, s: MachineSettings): Record<string, string> {
    if (s.mac === undefined && s.uuid === undefined) {
        throw new Error(
            `node ${node.name}: bare-metal boot needs the machine's MAC (${node.role}s[].mac) or bareMetal.machines.${node.name}.uuid (was the config validated with parseClusterConfig?)`,
        );
    }
    return { ...(s.mac !== undefined ? { mac: s.mac } : {}), ...(s.uuid !== undefined ? { uuid: s.uuid } : {}) };
}

/** Serialized JSON with keys sorted recursively, 2-space indentation and a trailing newline. */
function canonicalJson(value: unknown): string {
    const sort = (v: unknown): unknown => {
        if (Array.isArray(v)) return v.map(sort);
        if (v !== null && typeof v === "object") {
            return Object.fromEntries(
                Object.keys(v)
                    .sort()
                    .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
                    .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
            );
        }
        return v;
    };
    return JSON.stringify(sort(value), null, 2) + "\n";
}

interface BootInputs {
    url: string;
    version: string;
    channel: string;
    cached: boolean;
}

function bootInputs(cfg: ClusterConfig, node: BootNode): BootInputs {
    const bm = cfg.bareMetal;
    if (bm.matchboxUrl === undefined || bm.osVersion === undefined) {
        throw new Error(
            `node ${node.name}: bareMetal.matchboxUrl and bareMetal.osVersion are required to render a boot configuration (was the config validated with parseClusterConfig?)`,
        );
    }
    return { url: bm.matchboxUrl, version: bm.osVersion, channel: bm.osChannel, cached: bm.cachedInstall };
}

/** iPXE expands these when it runs the kernel line, so Matchbox can match the machine. */
const IPXE_LABELS = "uuid=${uuid}&mac=${mac:hexhyp}";

/** Fedora CoreOS live PXE artifacts (names of FCOS 42 and later: `live-kernel.x86_64`). */
function fcosArtifacts(b: BootInputs): { kernel: string; initramfs: string; rootfs: string; cachedAssets: string[] } {
    const file = (suffix: string) => `fedora-coreos-${b.version}-${suffix}`;
    const names = { kernel: file("live-kernel.x86_64"), initramfs: file("live-initramfs.x86_64.img"), rootfs: file("live-rootfs.x86_64.img") };
    const base = b.cached
        ? `${b.url}/assets/fedora-coreos`
        : `https://builds.coreos.fedoraproject.org/prod/streams/${b.channel}/builds/${b.version}/x86_64`;
    return {
        kernel: `${base}/${names.kernel}`,
        initramfs: `${base}/${names.initramfs}`,
        rootfs: `${base}/${names.rootfs}`,
        cachedAssets: b.cached ? [names.kernel, names.initramfs, names.rootfs].map((n) => `fedora-coreos/${n}`) : [],
    };
}

/** Flatcar PXE artifacts (amd64). `baseUrl` is flatcar-install's `-b` when the images are cached. */
function flatcarArtifacts(b: BootInputs): { kernel: string; initrd: string; baseUrl?: string; cachedAssets: string[] } {
    const base = b.cached ? `${b.url}/assets/flatcar/${b.version}` : `https://${b.channel}.release.flatcar-linux.net/amd64-usr/${b.version}`;
    return {
        kernel: `${base}/flatcar_production_pxe.vmlinuz`,
        initrd: `${base}/flatcar_production_pxe_image.cpio.gz`,
        ...(b.cached ? { baseUrl: `${b.url}/assets/flatcar` } : {}),
        cachedAssets: b.cached
            ? [
                  "flatcar_production_pxe.vmlinuz",
                  "flatcar_production_pxe_image.cpio.gz",
                  "flatcar_production_image.bin.bz2",
                  "flatcar_production_image.bin.bz2.sig",
              ].map((n) => `flatcar/${b.version}/${n}`)
            : [],
    };
}

/** The installer script the Flatcar install Ignition runs (bash; shellcheck-clean). */
export function flatcarInstallerScript(args: { ignitionUrl: string; installDisk: string; channel: string; version: string; baseUrl?: string }): string {
    const install = [
        "flatcar-install",
        "-d",
        shellQuote(args.installDisk),
        "-C",
        shellQuote(args.channel),
        "-V",
        shellQuote(args.version),
        ...(args.baseUrl !== undefined ? ["-b", shellQuote(args.baseUrl)] : []),
        "-i",
        "/run/opke-install/ignition.json",
    ].join(" ");
    return [
        "#!/bin/bash",
        "# opke: install Flatcar to disk with this node's final Ignition, then reboot into it.",
        "set -euxo pipefail",
        "mkdir -p /run/opke-install",
        `curl --fail --silent --show-error --location --retry 10 --retry-delay 5 --output /run/opke-install/ignition.json ${shellQuote(args.ignitionUrl)}`,
        install,
        "udevadm settle",
        "systemctl reboot",
        "",
    ].join("\n");
}

const INSTALLER_UNIT = [
    "[Unit]",
    "Description=Install Flatcar to disk with the node's Ignition (opke)",
    "Requires=network-online.target",
    "After=network-online.target",
    "[Service]",
    "Type=simple",
    "ExecStart=/opt/installer",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
].join("\n");

/**
 * Typhoon #181: while the PXE system installs, sshd listens on 2222 only, so the SSH wait (port 22)
 * cannot reach the install environment; an admin can still debug an install on port 2222.
 */
const SSHD_PORT_DROPIN = ["[Socket]", "ListenStream=", "ListenStream=2222", ""].join("\n");

/** The Ignition of the Flatcar PXE install environment. */
export function flatcarInstallIgnition(cfg: ClusterConfig, installerScript: string): string {
    const b = new IgnitionBuilder();
    b.addFile("/opt/installer", installerScript, 0o500, true, "bare-metal installer");
    b.addUnit({ name: "installer.service", contents: INSTALLER_UNIT, enabled: true }, "bare-metal installer");
    b.addUnit({ name: "sshd.socket", dropins: [{ name: "10-sshd-port.conf", contents: SSHD_PORT_DROPIN }] }, "bare-metal installer sshd port");
    const user = cfg.ssh.user;
    b.addUser(user, cfg.ssh.authorizedKeys, "ssh.user", user === "core" ? [] : ["sudo"]);
    const json = serializeIgnition(b.build());
    assertIgnitionSafe(json, "Flatcar install Ignition", [cfg.kubernetesVersion, cfg.etcdVersion]);
    return json;
}

/**
 * The boot configuration of one machine (modes `matchbox` and `directory`). `ignition` is the
 * node's Ignition (cluster.nodes[i].ignition / renderNodeIgnition); it is written unchanged.
 */
export function renderBootConfig(cfg: ClusterConfig, node: BootNode, ignition: string): MachineBoot {
    const b = bootInputs(cfg, node);
    const s = machineSettings(cfg, node);
    const selector = machineSelector(node, s);
    const id = machineId(cfg, node.name);
    const label = `${cfg.clusterName} ${node.role} ${node.name}`;
    const ignitionUrl = `${b.url}/ignition?${IPXE_LABELS}`;
    let profiles: MatchboxProfile[];
    let groups: MatchboxGroup[];
    const ignitionFiles: BootFile[] = [{ path: `ignition/${id}.ign`, content: ignition }];
    let cachedAssets: string[];
    switch (cfg.os) {
        case OperatingSystem.FedoraCoreOS: {
            const a = fcosArtifacts(b);
            cachedAssets = a.cachedAssets;
            profiles = [
                {
                    id,
                    name: `${label}: Fedora CoreOS ${b.channel} install to ${s.installDisk}`,
                    boot: {
                        kernel: a.kernel,
                        initrd: [`--name main ${a.initramfs}`],
                        args: [
                            "initrd=main",
                            `coreos.live.rootfs_url=${a.rootfs}`,
                            `coreos.inst.install_dev=${s.installDisk}`,
                            `coreos.inst.ignition_url=${ignitionUrl}`,
                            ...s.kernelArgs,
                        ],
                    },
                    ignition_id: `${id}.ign`,
                },
            ];
            groups = [{ id, name: label, profile: id, selector }];
            break;
        }
        case OperatingSystem.Flatcar: {
            const a = flatcarArtifacts(b);
            cachedAssets = a.cachedAssets;
            const installId = `${id}.install`;
            const query = Object.entries({ ...(s.uuid !== undefined ? { uuid: s.uuid } : {}), ...(s.mac !== undefined ? { mac: s.mac } : {}), os: "installed" })
                .map(([k, v]) => `${k}=${v}`)
                .join("&");
            const script = flatcarInstallerScript({
                ignitionUrl: `${b.url}/ignition?${query}`,
                installDisk: s.installDisk,
                channel: b.channel,
                version: b.version,
                ...(a.baseUrl !== undefined ? { baseUrl: a.baseUrl } : {}),
            });
            ignitionFiles.push({ path: `ignition/${installId}.ign`, content: flatcarInstallIgnition(cfg, script) });
            profiles = [
                {
                    id: installId,
                    name: `${label}: Flatcar ${b.channel} install to ${s.installDisk}`,
                    boot: {
                        kernel: a.kernel,
                        initrd: [`--name main ${a.initrd}`],
                        args: ["initrd=main", `flatcar.config.url=${ignitionUrl}`, "flatcar.first_boot=yes", ...s.kernelArgs],
                    },
                    ignition_id: `${installId}.ign`,
                },
                { id, name: `${label}: installed`, ignition_id: `${id}.ign` },
            ];
            groups = [
                { id: installId, name: `${label} (install)`, profile: installId, selector },
                { id, name: `${label} (installed)`, profile: id, selector: { ...selector, os: "installed" } },
            ];
            break;
        }
        default: {
            const unreachable: never = cfg.os;
            throw new Error(`bareMetal: unsupported os ${String(unreachable)}`);
        }
    }
    const bootProfile = profiles.find((p) => p.boot !== undefined);
    if (!bootProfile?.boot) throw new Error(`node ${node.name}: no boot profile rendered`);
    const files = [
        ...profiles.map((p) => ({ path: `profiles/${p.id}.json`, content: canonicalJson(p) })),
        ...groups.map((g) => ({ path: `groups/${g.id}.json`, content: canonicalJson(g) })),
        ...ignitionFiles,
    ].sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
    return { node: node.name, id, os: cfg.os, profiles, groups, ipxe: ipxeScript(bootProfile.boot), files, owned: ownedPaths(id), cachedAssets };
}

/** True when the config boots machines through Matchbox files (modes `matchbox` and `directory`). */
export function writesBootConfig(cfg: ClusterConfig): boolean {
    if (cfg.platform !== Platform.BareMetal) return false;
    switch (cfg.bareMetal.mode) {
        case BareMetalMode.Installed:
            return false;
        case BareMetalMode.Matchbox:
        case BareMetalMode.Directory:
            return true;
        default: {
            const unreachable: never = cfg.bareMetal.mode;
            throw new Error(`bareMetal.mode: unsupported ${String(unreachable)}`);
        }
    }
}

/**
 * What `npm run render` writes to `<out>/nodes/<node>/boot/`: the data-directory files under their
 * relative paths, the iPXE script as `install.ipxe` and, when images are cached, `cached-assets.txt`.
 * Empty when the config writes no boot configuration (mode `installed`, or not bare metal).
 */
export function renderBootFiles(cfg: ClusterConfig, node: BootNode, ignition: string): BootFile[] {
    if (!writesBootConfig(cfg)) return [];
    const m = renderBootConfig(cfg, node, ignition);
    return [
        ...m.files,
        { path: "install.ipxe", content: m.ipxe },
        ...(m.cachedAssets.length > 0 ? [{ path: "cached-assets.txt", content: m.cachedAssets.join("\n") + "\n" }] : []),
    ];
}

// ---------------------------------------------------------------------------------------------
// Delivery: one shell command per machine writes its files (stdin) and removes stale ones.

export function sha256(text: string): string {
    return createHash("sha256").update(text).digest("hex");
}

/**
 * The payload on stdin: per file a line `<relative path> <sha256>` and a line with the base64 of
 * its bytes. Deterministic (files sorted by path).
 */
export function encodeBootPayload(files: BootFile[]): string {
    return files.map((f) => `${f.path} ${sha256(f.content)}\n${Buffer.from(f.content, "utf8").toString("base64")}\n`).join("");
}

/**
 * Writes a payload into the data directory: `opke-boot <dir> <id> <payload sha256> <owned paths…>`.
 * Verifies the payload hash before touching anything, writes each file atomically (temporary file
 * in the same directory, checked against its sha256, mode 0644, fsync, rename; unchanged files are
 * left alone), then removes the machine's owned paths the payload no longer contains (e.g. the
 * Flatcar install files after a switch to Fedora CoreOS). Prints paths only.
 */
export const BOOT_WRITER_SCRIPT = `set -euo pipefail
umask 022
root=$1 id=$2 want=$3
shift 3
payload=$(mktemp)
tmp=
trap 'rm -f -- "$payload" \${tmp:+"$tmp"}' EXIT
cat >"$payload"
got=$(sha256sum "$payload" | cut -d " " -f 1)
if [ "$got" != "$want" ]; then
  echo "opke-boot $id: payload sha256 $got, expected $want; nothing written" >&2
  exit 1
fi
declare -A written=()
while read -r rel sum; do
  IFS= read -r data
  case $rel in
    "" | /* | *..* ) echo "opke-boot $id: refusing path $rel" >&2; exit 1 ;;
  esac
  target=$root/$rel
  dir=\${target%/*}
  mkdir -p "$dir"
  tmp=$(mktemp "$dir/.opke-boot.XXXXXX")
  printf '%s' "$data" | base64 -d >"$tmp"
  if [ "$(sha256sum "$tmp" | cut -d " " -f 1)" != "$sum" ]; then
    echo "opke-boot $id: $rel does not match its sha256; nothing renamed" >&2
    exit 1
  fi
  chmod 0644 "$tmp"
  if cmp -s "$tmp" "$target"; then
    rm -f -- "$tmp"
    echo "opke-boot $id: unchanged $rel"
  else
    sync -- "$tmp"
    mv -f -- "$tmp" "$target"
    echo "opke-boot $id: wrote $rel"
  fi
  tmp=
  written[$rel]=1
done <"$payload"
for rel in "$@"; do
  if [ -z "\${written[$rel]:-}" ] && [ -e "$root/$rel" ]; then
    rm -f -- "\${root:?}/$rel"
    echo "opke-boot $id: removed $rel"
  fi
done
`;

/** Removes a machine's owned paths: `opke-boot-delete <dir> <id> <owned paths…>`. */
export const BOOT_DELETE_SCRIPT = `set -euo pipefail
root=$1 id=$2
shift 2
for rel in "$@"; do
  if [ -e "$root/$rel" ]; then
    rm -f -- "\${root:?}/$rel"
    echo "opke-boot $id: removed $rel"
  fi
done
`;

/** The create/delete command lines and stdin of one machine's boot configuration. */
export interface BootCommand {
    create: string;
    delete: string;
    stdin: string;
    /** sha256 of `stdin`. */
    payloadSha256: string;
}

/**
 * The command lines for one machine. `sudo` prefixes `sudo -n` (remote non-root users). The
 * lines carry no file contents (those go on stdin) and nothing version- or secret-bearing.
 */
export function bootCommand(boot: MachineBoot, assetsDir: string, sudo: boolean): BootCommand {
    const stdin = encodeBootPayload(boot.files);
    const payloadSha256 = sha256(stdin);
    const prefix = sudo ? "sudo -n " : "";
    const owned = boot.owned.map(shellQuote).join(" ");
    return {
        create: `${prefix}/bin/bash -c ${shellQuote(BOOT_WRITER_SCRIPT)} opke-boot ${shellQuote(assetsDir)} ${shellQuote(boot.id)} ${payloadSha256} ${owned}`,
        delete: `${prefix}/bin/bash -c ${shellQuote(BOOT_DELETE_SCRIPT)} opke-boot-delete ${shellQuote(assetsDir)} ${shellQuote(boot.id)} ${owned}`,
        stdin,
        payloadSha256,
    };
}
