/**
 * kubeconfig files: one cluster, one user, one context (set current). Pure and deterministic:
 * fixed key order, data fields base64-encoded inline, no timestamps. The result is a secret
 * whenever it carries a client key or a token; callers treat it so.
 */
import { stringify } from "yaml";

/**
 * The names of the cluster and the user. `clusterName`/`userName` and the contract's shorter
 * `cluster`/`user` are both accepted (pick one pair).
 */
export type KubeconfigNames = { clusterName: string; userName: string } | { cluster: string; user: string };

export type KubeconfigOptions = KubeconfigNames & {
    /** API server URL, e.g. `https://api.example.com:6443`. */
    server: string;
    /** PEM of the CA that signed the API server's certificate. */
    caPem: string;
    /** Client certificate and key (PEM): both or neither. */
    certPem?: string;
    keyPem?: string;
    /** Bearer token (e.g. a bootstrap token `<id>.<secret>`), instead of a client certificate. */
    token?: string;
};

export function kubeconfig(o: KubeconfigOptions): string {
    const clusterName = "clusterName" in o ? o.clusterName : o.cluster;
    const userName = "userName" in o ? o.userName : o.user;
    if (!clusterName) throw new Error("kubeconfig: the cluster name is empty; pass clusterName");
    if (!userName) throw new Error("kubeconfig: the user name is empty; pass userName");
    if (!/^https:\/\/[^\s/]+(:\d+)?(\/.*)?$/.test(o.server)) {
        throw new Error(`kubeconfig: server "${o.server}" is not an https URL; pass e.g. https://api.example.com:6443`);
    }
    if (!o.caPem.includes("-----BEGIN CERTIFICATE-----")) throw new Error("kubeconfig: caPem is not a PEM certificate; pass the CA's certPem");
    const hasCert = o.certPem !== undefined || o.keyPem !== undefined;
    if (hasCert && (o.certPem === undefined || o.keyPem === undefined)) {
        throw new Error(`kubeconfig for user "${userName}": pass both certPem and keyPem, or neither`);
    }
    if (hasCert === (o.token !== undefined)) {
        throw new Error(`kubeconfig for user "${userName}": pass either a client certificate (certPem + keyPem) or a token, not ${hasCert ? "both" : "neither"}`);
    }

    const user: Record<string, string> = hasCert
        ? { "client-certificate-data": b64(o.certPem!), "client-key-data": b64(o.keyPem!) }
        : { token: o.token! };
    const context = `${userName}@${clusterName}`;
    const doc = {
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: clusterName, cluster: { server: o.server, "certificate-authority-data": b64(o.caPem) } }],
        users: [{ name: userName, user }],
        contexts: [{ name: context, context: { cluster: clusterName, user: userName } }],
        "current-context": context,
        preferences: {},
    };
    return stringify(doc, { lineWidth: 0 });
}

function b64(s: string): string {
    return Buffer.from(s, "utf8").toString("base64");
}
