/**
 * SSH connections of the pushes, built the same way on every run.
 *
 * @pulumi/command marks the whole `connection` input secret; when its secretness or shape differs
 * between runs the engine shows a diff and re-runs the command (pulumi-command#447). So the
 * connection is ALWAYS `pulumi.secret({...})` of an object with the same keys in the same order,
 * optional keys left out (never `undefined` one run and set the next), numbers always explicit.
 *
 * Credentials (decided here, documented in Pulumi.yaml's `ssh` description):
 *   - a private key from the secret stack config `opke:sshPrivateKey`
 *     (`pulumi config set --secret opke:sshPrivateKey < ~/.ssh/id_ed25519`), read with
 *     `pulumi.Config.getSecret` so it is a secret Output from the start and never passes through
 *     the plain ClusterConfig (the renderers never see it); or
 *   - ssh-agent: `ssh.agentSocketPath` pins a socket path; without it the provider uses
 *     SSH_AUTH_SOCK of the process at run time. That value is NOT copied into the connection:
 *     agent sockets get a new path per login, which would change the connection (and re-run every
 *     push) on each `up`.
 * Host keys: `ssh.hostKeys.<node>` pins a node's key ("ssh-ed25519 AAAA…"); without it the
 * provider does not check host keys at all (documented provider behaviour). Bastion:
 * `ssh.bastion` {host, port, user, hostKey} becomes the provider's `proxy`, with the same key or
 * agent.
 */
import * as pulumi from "@pulumi/pulumi";
import type * as command from "@pulumi/command";
import { ClusterConfig } from "../config/schema";
import { CONFIG_NAMESPACE } from "../config/load";

/** Name of the secret stack config key holding the SSH private key (PEM/OpenSSH text). */
export const SSH_PRIVATE_KEY_CONFIG = "sshPrivateKey";

/** How often the provider dials a host that is still booting, and how long each dial may take. */
export const DEFAULT_DIAL_ERROR_LIMIT = 60;
export const DEFAULT_PER_DIAL_TIMEOUT = 15;

export interface ProxySpec {
    host: string;
    port?: number;
    user: string;
    privateKey?: pulumi.Input<string>;
    agentSocketPath?: string;
    hostKey?: string;
}

/** Where and how to reach one node (contract: lib/provision `ConnectionSpec`). */
export interface ConnectionSpec {
    host: pulumi.Input<string>;
    /** Default 22. */
    port?: number;
    user: string;
    privateKey?: pulumi.Input<string>;
    agentSocketPath?: string;
    /** "ssh-ed25519 AAAA…" (a trailing comment is dropped). */
    hostKey?: string;
    proxy?: ProxySpec;
    /** Dial attempts while the host boots (default 60; the provider waits between attempts). */
    dialErrorLimit?: number;
    /** Seconds per dial attempt (default 15). */
    perDialTimeout?: number;
}

/** "type base64" of an OpenSSH public key line (the comment dropped), or undefined. */
export function hostKeyOf(line: string | undefined): string | undefined {
    if (line === undefined) return undefined;
    const [type, key] = line.trim().split(/\s+/);
    if (!type || !key) throw new Error(`host key ${JSON.stringify(line)} is not "<type> <base64>" such as "ssh-ed25519 AAAA…"`);
    return `${type} ${key}`;
}

function checkPort(port: number, what: string): number {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${what}: port ${port} is not 1 to 65535`);
    return port;
}

/**
 * The plain (not yet secret) connection object: fixed keys in a fixed order, optional ones only
 * when set. Exported for tests.
 */
export function connectionObject(spec: ConnectionSpec): command.types.input.remote.ConnectionArgs {
    const dialErrorLimit = spec.dialErrorLimit ?? DEFAULT_DIAL_ERROR_LIMIT;
    const perDialTimeout = spec.perDialTimeout ?? DEFAULT_PER_DIAL_TIMEOUT;
    const out: command.types.input.remote.ConnectionArgs = {
        host: spec.host,
        port: checkPort(spec.port ?? 22, "connection"),
        user: spec.user,
        ...(spec.privateKey !== undefined ? { privateKey: spec.privateKey } : {}),
        ...(spec.agentSocketPath !== undefined ? { agentSocketPath: spec.agentSocketPath } : {}),
        ...(spec.hostKey !== undefined ? { hostKey: hostKeyOf(spec.hostKey) } : {}),
        dialErrorLimit,
        perDialTimeout,
    };
    if (spec.proxy) {
        const p = spec.proxy;
        out.proxy = {
            host: p.host,
            port: checkPort(p.port ?? 22, "proxy"),
            user: p.user,
            ...(p.privateKey !== undefined ? { privateKey: p.privateKey } : {}),
            ...(p.agentSocketPath !== undefined ? { agentSocketPath: p.agentSocketPath } : {}),
            ...(p.hostKey !== undefined ? { hostKey: hostKeyOf(p.hostKey) } : {}),
            dialErrorLimit,
            perDialTimeout,
        };
    }
    return out;
}

/** The `connection` input of a command: always secret, always the same shape. */
export function connectionArgs(spec: ConnectionSpec): pulumi.Output<command.types.input.remote.ConnectionArgs> {
    return pulumi.secret(connectionObject(spec)) as pulumi.Output<command.types.input.remote.ConnectionArgs>;
}

/** `opke:sshPrivateKey` (secret) when set. Read inside the program, never at module load. */
export function privateKeyFromConfig(): pulumi.Output<string> | undefined {
    return new pulumi.Config(CONFIG_NAMESPACE).getSecret(SSH_PRIVATE_KEY_CONFIG);
}

/**
 * The connection to `node` from the cluster config: `host` (default: the node's IP; platforms pass
 * a floating IP or DNS name), `ssh.port`, `ssh.user`, the private key (argument, else
 * `opke:sshPrivateKey`, else ssh-agent), `ssh.agentSocketPath`, `ssh.hostKeys[node]` and
 * `ssh.bastion` as proxy (its user defaults to `ssh.user`).
 */
export function sshConnection(
    cfg: ClusterConfig,
    node: { name: string; ip: string },
    host?: pulumi.Input<string>,
    privateKey: pulumi.Input<string> | undefined = privateKeyFromConfig(),
): ConnectionSpec {
    const ssh = cfg.ssh;
    if (privateKey === undefined && ssh.agentSocketPath === undefined && !process.env.SSH_AUTH_SOCK) {
        pulumi.log.warn(
            `ssh to node ${node.name}: no private key and no agent; set the secret config ${CONFIG_NAMESPACE}:${SSH_PRIVATE_KEY_CONFIG} ` +
                `(pulumi config set --secret ${CONFIG_NAMESPACE}:${SSH_PRIVATE_KEY_CONFIG} < key), ssh.agentSocketPath, or run with SSH_AUTH_SOCK`,
        );
    }
    const spec: ConnectionSpec = {
        host: host ?? node.ip,
        port: ssh.port,
        user: ssh.user,
        ...(privateKey !== undefined ? { privateKey } : {}),
        ...(ssh.agentSocketPath !== undefined ? { agentSocketPath: ssh.agentSocketPath } : {}),
        ...(ssh.hostKeys[node.name] !== undefined ? { hostKey: ssh.hostKeys[node.name] } : {}),
    };
    if (ssh.bastion) {
        const b = ssh.bastion;
        spec.proxy = {
            host: b.host,
            port: b.port,
            user: b.user ?? ssh.user,
            ...(privateKey !== undefined ? { privateKey } : {}),
            ...(ssh.agentSocketPath !== undefined ? { agentSocketPath: ssh.agentSocketPath } : {}),
            ...(b.hostKey !== undefined ? { hostKey: b.hostKey } : {}),
        };
    }
    return spec;
}
