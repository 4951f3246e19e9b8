/**
 * The asset model shared by every renderer, the offline render and the SSH push.
 *
 * Immutable, version-free, secret-free content goes into Ignition (modules/ignition). Everything
 * that carries a version or a secret is a `NodeFile`: rendered locally, written by `npm run render`
 * under `nodes/<node>/ssh/<path>`, and pushed over SSH by the platforms (one session per node).
 */

/** A file pushed to a node over SSH. */
export interface NodeFile {
    /** Absolute path on the node. */
    path: string;
    /** File contents (UTF-8 text). */
    content: string;
    /** Octal permission bits, e.g. 0o644. Keys are 0o600. */
    mode: number;
    /** `user:group` the file is owned by on the node. */
    owner: string;
    /** True when the content is key material, a token or a kubeconfig with credentials. */
    secret: boolean;
    /**
     * systemd units to restart when this file's content changes (after `daemon-reload`).
     * Empty when the consumer picks changes up by itself (the kubelet watches static pods).
     */
    restarts: string[];
}

/** A directory the push creates (before its files), with its mode and owner. */
export interface NodeDirectory {
    path: string;
    mode: number;
    owner: string;
}

/** Everything pushed to one node over SSH. */
export interface NodeSshAssets {
    directories: NodeDirectory[];
    files: NodeFile[];
}

export function octal(mode: number): string {
    return "0" + mode.toString(8).padStart(3, "0");
}

/** Sort files by path so every renderer's output is deterministic. */
export function sortFiles(files: NodeFile[]): NodeFile[] {
    return [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * Version-free, secret-free content a domain module (etcd, bootkube, …) contributes to a node's
 * Ignition. modules/ignition assembles the parts of a node into one Ignition 3.3.0 config.
 */
export interface IgnitionParts {
    files: IgnitionFilePart[];
    units: IgnitionUnitPart[];
}

export interface IgnitionFilePart {
    path: string;
    contents: string;
    /** Octal permission bits, e.g. 0o644. */
    mode: number;
}

export interface IgnitionUnitPart {
    name: string;
    /** Full unit text; omit to only add drop-ins to a unit the OS ships. */
    contents?: string;
    enabled?: boolean;
    mask?: boolean;
    dropins?: { name: string; contents: string }[];
}
