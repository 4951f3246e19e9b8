/**
 * Kubernetes objects opke renders as YAML: the control-plane static pods (kube-apiserver,
 * kube-controller-manager, kube-scheduler on every controller; no self-hosted pivot), the
 * apiserver's EncryptionConfiguration and audit Policy, and the cluster manifests the bootstrap
 * one-shot applies (bootstrap-token Secret, kubelet TLS-bootstrap RBAC).
 *
 * Flags target Kubernetes v1.36: no removed flag (`--insecure-port`, `--address`, `--port`,
 * `--kubelet-https`, `--experimental-cluster-signing-duration`, …) and no deprecated one where a
 * replacement exists. Every object is built with a fixed key order and serialised with `yaml`,
 * so output is deterministic.
 */
import { createHash } from "node:crypto";
import { stringify } from "yaml";
import { apiServerUrl } from "../../lib/config/network";
import { ClusterConfig, ClusterNode } from "../../lib/config/schema";
import { etcdClientUrls } from "../etcd/render";
import { K8sPaths, PkiFiles } from "./units";

/** Secure ports of the controller-manager and scheduler (their defaults; bound to 127.0.0.1). */
export const CONTROLLER_MANAGER_PORT = 10257;
export const SCHEDULER_PORT = 10259;

/**
 * Maximum lifetime of certificates the controller-manager signs (kubelet client certificates).
 * Kubelets rotate at 70–90 % of it (`rotateCertificates: true`), i.e. every 3–4 weeks. Not
 * shorter: every node keeps the non-expiring bootstrap token, which can mint a new client
 * certificate at any time, so a short lifetime buys little, while 30 days lets a cluster that was
 * powered off for weeks come back without re-bootstrapping its kubelets.
 */
export const CLUSTER_SIGNING_DURATION = "720h";

/**
 * The service-account token issuer: `https://kubernetes.default.svc.<clusterDomain>` (as Typhoon
 * and kubeadm-style clusters use). It is the in-cluster name of the API, so it stays valid when
 * `apiDnsName` changes and every workload can resolve it; tokens keep validating across such a
 * change. The JWKS URI, on the other hand, is the externally reachable API URL, so relying parties
 * outside the cluster can fetch the keys from the discovery document.
 */
export function serviceAccountIssuer(cfg: ClusterConfig): string {
    return `https://kubernetes.default.svc.${cfg.network.clusterDomain}`;
}

export function serviceAccountJwksUri(cfg: ClusterConfig): string {
    return `${apiServerUrl(cfg)}/openid/v1/jwks`;
}

/** The kube-apiserver command line of controller `node`. */
export function apiserverCommand(cfg: ClusterConfig, node: ClusterNode): string[] {
    return [
        "kube-apiserver",
        `--advertise-address=${node.ip}`,
        "--allow-privileged=true",
        "--anonymous-auth=false",
        "--audit-log-maxage=30",
        "--audit-log-maxbackup=10",
        "--audit-log-maxsize=100",
        `--audit-log-path=${K8sPaths.auditLog}`,
        `--audit-policy-file=${PkiFiles.auditPolicy}`,
        "--authorization-mode=Node,RBAC",
        `--client-ca-file=${PkiFiles.ca}`,
        "--enable-admission-plugins=NodeRestriction",
        "--enable-bootstrap-token-auth=true",
        `--encryption-provider-config=${PkiFiles.encryptionConfig}`,
        // Picks up a changed key list without a restart (e.g. when a key is added for rotation).
        "--encryption-provider-config-automatic-reload=true",
        `--etcd-cafile=${PkiFiles.etcdCa}`,
        `--etcd-certfile=${PkiFiles.apiserverEtcdClientCert}`,
        `--etcd-keyfile=${PkiFiles.apiserverEtcdClientKey}`,
        `--etcd-servers=${etcdClientUrls(cfg).join(",")}`,
        `--kubelet-client-certificate=${PkiFiles.apiserverKubeletClientCert}`,
        `--kubelet-client-key=${PkiFiles.apiserverKubeletClientKey}`,
        "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
        `--proxy-client-cert-file=${PkiFiles.frontProxyClientCert}`,
        `--proxy-client-key-file=${PkiFiles.frontProxyClientKey}`,
        "--requestheader-allowed-names=front-proxy-client",
        `--requestheader-client-ca-file=${PkiFiles.frontProxyCa}`,
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-username-headers=X-Remote-User",
        `--secure-port=${cfg.apiPort}`,
        `--service-account-issuer=${serviceAccountIssuer(cfg)}`,
        `--service-account-jwks-uri=${serviceAccountJwksUri(cfg)}`,
        `--service-account-key-file=${PkiFiles.serviceAccountPub}`,
        `--service-account-signing-key-file=${PkiFiles.serviceAccountKey}`,
        `--service-cluster-ip-range=${cfg.network.serviceCidr}`,
        `--tls-cert-file=${PkiFiles.apiserverCert}`,
        `--tls-private-key-file=${PkiFiles.apiserverKey}`,
    ];
}

/** The kube-controller-manager command line (the same on every controller). */
export function controllerManagerCommand(cfg: ClusterConfig): string[] {
    const conf = K8sPaths.controllerManagerConf;
    return [
        "kube-controller-manager",
        "--allocate-node-cidrs=true",
        `--authentication-kubeconfig=${conf}`,
        `--authorization-kubeconfig=${conf}`,
        "--bind-address=127.0.0.1",
        `--client-ca-file=${PkiFiles.ca}`,
        `--cluster-cidr=${cfg.network.podCidr}`,
        `--cluster-name=${cfg.clusterName}`,
        `--cluster-signing-cert-file=${PkiFiles.ca}`,
        `--cluster-signing-duration=${CLUSTER_SIGNING_DURATION}`,
        `--cluster-signing-key-file=${PkiFiles.caKey}`,
        // bootstrapsigner signs kube-public/cluster-info for token discovery; tokencleaner deletes expired tokens.
        "--controllers=*,bootstrapsigner,tokencleaner",
        `--kubeconfig=${conf}`,
        "--leader-elect=true",
        `--node-cidr-mask-size=${cfg.network.nodePodPrefix}`,
        `--requestheader-client-ca-file=${PkiFiles.frontProxyCa}`,
        `--root-ca-file=${PkiFiles.ca}`,
        `--service-account-private-key-file=${PkiFiles.serviceAccountKey}`,
        `--service-cluster-ip-range=${cfg.network.serviceCidr}`,
        "--use-service-account-credentials=true",
    ];
}

/** The kube-scheduler command line (the same on every controller). */
export function schedulerCommand(): string[] {
    const conf = K8sPaths.schedulerConf;
    return [
        "kube-scheduler",
        `--authentication-kubeconfig=${conf}`,
        `--authorization-kubeconfig=${conf}`,
        "--bind-address=127.0.0.1",
        `--kubeconfig=${conf}`,
        "--leader-elect=true",
    ];
}

/** Annotation on each static pod: SHA-256 over the files the component reads at start. */
export const INPUTS_ANNOTATION = "opke/inputs-sha256";

/**
 * A digest of the files a static pod reads (path and content, sorted by path). The kubelet only
 * restarts a static pod when its manifest changes, so putting this digest into the manifest makes
 * a renewed certificate, a new kubeconfig or a changed audit policy restart exactly the
 * components that read them. A SHA-256 of key material reveals nothing about it.
 */
export function inputsDigest(files: Map<string, string>, paths: readonly string[]): string {
    const h = createHash("sha256");
    for (const p of [...paths].sort()) {
        const content = files.get(p);
        if (content === undefined) throw new Error(`static pod input ${p} was not rendered (internal error)`);
        h.update(p).update("\0").update(content).update("\0");
    }
    return h.digest("hex");
}

/** Files each component reads; their digest goes into its static pod. */
export const STATIC_POD_INPUTS = {
    "kube-apiserver": [
        PkiFiles.ca,
        PkiFiles.apiserverCert,
        PkiFiles.apiserverKey,
        PkiFiles.apiserverKubeletClientCert,
        PkiFiles.apiserverKubeletClientKey,
        PkiFiles.apiserverEtcdClientCert,
        PkiFiles.apiserverEtcdClientKey,
        PkiFiles.etcdCa,
        PkiFiles.frontProxyCa,
        PkiFiles.frontProxyClientCert,
        PkiFiles.frontProxyClientKey,
        PkiFiles.serviceAccountKey,
        PkiFiles.serviceAccountPub,
        PkiFiles.encryptionConfig,
        PkiFiles.auditPolicy,
    ],
    "kube-controller-manager": [K8sPaths.controllerManagerConf, PkiFiles.ca, PkiFiles.caKey, PkiFiles.frontProxyCa, PkiFiles.serviceAccountKey],
    "kube-scheduler": [K8sPaths.schedulerConf],
} as const;

export type ControlPlaneComponent = keyof typeof STATIC_POD_INPUTS;

type Volume = { name: string; hostPath: string; type: "Directory" | "DirectoryOrCreate" | "File"; readOnly: boolean };

const PKI_VOLUME: Volume = { name: "pki", hostPath: K8sPaths.pkiDir, type: "Directory", readOnly: true };

function probe(path: string, port: number, failureThreshold: number): object {
    return {
        httpGet: { host: "127.0.0.1", path, port, scheme: "HTTPS" },
        initialDelaySeconds: 10,
        periodSeconds: 10,
        timeoutSeconds: 15,
        failureThreshold,
    };
}

function staticPod(o: {
    name: ControlPlaneComponent;
    image: string;
    command: string[];
    digest: string;
    cpu: string;
    probes: Record<string, object>;
    volumes: Volume[];
}): string {
    const doc = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
            name: o.name,
            namespace: "kube-system",
            labels: { component: o.name, tier: "control-plane" },
            annotations: { [INPUTS_ANNOTATION]: o.digest },
        },
        spec: {
            hostNetwork: true,
            priorityClassName: "system-node-critical",
            // Runs as root (the image default): the keys it reads are root-owned 0600.
            securityContext: { seccompProfile: { type: "RuntimeDefault" } },
            containers: [
                {
                    name: o.name,
                    image: o.image,
                    imagePullPolicy: "IfNotPresent",
                    command: o.command,
                    resources: { requests: { cpu: o.cpu } },
                    ...o.probes,
                    volumeMounts: o.volumes.map((v) => ({ name: v.name, mountPath: v.hostPath, readOnly: v.readOnly })),
                },
            ],
            volumes: o.volumes.map((v) => ({ name: v.name, hostPath: { path: v.hostPath, type: v.type } })),
        },
    };
    return stringify(doc, { lineWidth: 0 });
}

function image(cfg: ClusterConfig, component: string): string {
    return `${cfg.images.kubernetesRegistry}/${component}:${cfg.kubernetesVersion}`;
}

/**
 * kube-apiserver static pod. No HTTP liveness/readiness probe on /livez or /readyz: with
 * `--anonymous-auth=false` the kubelet's unauthenticated probe gets 401, which counts as a
 * failure and would restart a healthy apiserver in a loop. The readiness probe is a TCP check on
 * the secure port instead; the apiserver exits by itself when it cannot reach etcd at start.
 */
export function apiserverPod(cfg: ClusterConfig, node: ClusterNode, digest: string): string {
    return staticPod({
        name: "kube-apiserver",
        image: image(cfg, "kube-apiserver"),
        command: apiserverCommand(cfg, node),
        digest,
        cpu: "250m",
        probes: {
            readinessProbe: { tcpSocket: { host: "127.0.0.1", port: cfg.apiPort }, periodSeconds: 5, timeoutSeconds: 5, failureThreshold: 3 },
        },
        volumes: [
            { name: "audit-log", hostPath: K8sPaths.auditLogDir, type: "DirectoryOrCreate", readOnly: false },
            PKI_VOLUME,
        ],
    });
}

/** kube-controller-manager static pod; /healthz is always allowed on its secure port. */
export function controllerManagerPod(cfg: ClusterConfig, digest: string): string {
    return staticPod({
        name: "kube-controller-manager",
        image: image(cfg, "kube-controller-manager"),
        command: controllerManagerCommand(cfg),
        digest,
        cpu: "200m",
        probes: {
            livenessProbe: probe("/healthz", CONTROLLER_MANAGER_PORT, 8),
            startupProbe: probe("/healthz", CONTROLLER_MANAGER_PORT, 24),
        },
        volumes: [
            { name: "kubeconfig", hostPath: K8sPaths.controllerManagerConf, type: "File", readOnly: true },
            PKI_VOLUME,
        ],
    });
}

/** kube-scheduler static pod; /livez and /readyz are always allowed on its secure port. */
export function schedulerPod(cfg: ClusterConfig, digest: string): string {
    return staticPod({
        name: "kube-scheduler",
        image: image(cfg, "kube-scheduler"),
        command: schedulerCommand(),
        digest,
        cpu: "100m",
        probes: {
            livenessProbe: probe("/livez", SCHEDULER_PORT, 8),
            readinessProbe: { ...probe("/readyz", SCHEDULER_PORT, 3), initialDelaySeconds: 0, periodSeconds: 5 },
            startupProbe: probe("/livez", SCHEDULER_PORT, 24),
        },
        volumes: [{ name: "kubeconfig", hostPath: K8sPaths.schedulerConf, type: "File", readOnly: true }],
    });
}

/**
 * EncryptionConfiguration: Secrets are written with `secretbox` (XSalsa20-Poly1305; the
 * recommended local provider — `aescbc` is discouraged for its padding-oracle weakness, `aesgcm`
 * needs rotation every 200k writes) under the 32-byte key derived from the secrets seed;
 * `identity` last, so Secrets stored before encryption was on can still be read. The key name
 * carries a digest of the key, so a new key (a rotated seed) never reuses a name.
 */
export function encryptionConfig(encryptionKey: string): string {
    const name = "opke-" + createHash("sha256").update(encryptionKey).digest("hex").slice(0, 12);
    const doc = {
        apiVersion: "apiserver.config.k8s.io/v1",
        kind: "EncryptionConfiguration",
        resources: [
            {
                resources: ["secrets"],
                providers: [{ secretbox: { keys: [{ name, secret: encryptionKey }] } }, { identity: {} }],
            },
        ],
    };
    return stringify(doc, { lineWidth: 0 });
}

/**
 * The audit Policy: Metadata for everything by default; never RequestResponse (too heavy).
 *   - None: health/version/discovery endpoints, events, and the steady stream of lease renewals,
 *     node status reads and endpoint updates from system components;
 *   - Metadata: Secrets, ConfigMaps, service-account tokens and TokenReviews (their bodies hold
 *     secrets, so only who/what/when is logged);
 *   - Request: other writes (request body, which is what changed);
 *   - Metadata: everything else (reads).
 */
export function auditPolicy(): string {
    const doc = {
        apiVersion: "audit.k8s.io/v1",
        kind: "Policy",
        omitStages: ["RequestReceived"],
        rules: [
            {
                level: "None",
                nonResourceURLs: ["/healthz*", "/livez*", "/readyz*", "/version", "/version/*", "/metrics", "/openapi/*", "/api", "/apis", "/openid/v1/jwks", "/.well-known/openid-configuration"],
            },
            { level: "None", resources: [{ group: "", resources: ["events"] }, { group: "events.k8s.io", resources: ["events"] }] },
            { level: "None", verbs: ["get", "update"], resources: [{ group: "coordination.k8s.io", resources: ["leases"] }] },
            { level: "None", userGroups: ["system:nodes"], verbs: ["get"], resources: [{ group: "", resources: ["nodes", "nodes/status"] }] },
            {
                level: "None",
                users: ["system:kube-controller-manager", "system:kube-scheduler", "system:apiserver"],
                verbs: ["get", "list", "watch"],
            },
            // Status heartbeats from kubelets: who and when is enough.
            { level: "Metadata", userGroups: ["system:nodes"], resources: [{ group: "", resources: ["nodes/status", "pods/status"] }] },
            {
                level: "Metadata",
                resources: [
                    { group: "", resources: ["secrets", "configmaps", "serviceaccounts/token"] },
                    { group: "authentication.k8s.io", resources: ["tokenreviews"] },
                ],
            },
            { level: "Request", verbs: ["create", "update", "patch", "delete", "deletecollection"] },
            { level: "Metadata" },
        ],
    };
    return stringify(doc, { lineWidth: 0 });
}

/** Bootstrap token parts (from lib/pki/derive.ts). */
export interface BootstrapToken {
    id: string;
    secret: string;
}

function b64(s: string): string {
    return Buffer.from(s, "utf8").toString("base64");
}

function clusterRoleBinding(name: string, clusterRole: string, subject: { kind: "Group" | "User"; name: string }): string {
    return stringify(
        {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "ClusterRoleBinding",
            metadata: { name },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: clusterRole },
            subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: subject.kind, name: subject.name }],
        },
        { lineWidth: 0 },
    );
}

/**
 * The cluster manifests the bootstrap one-shot applies (and kube-upgrade re-applies), one object
 * per file, each valid for `kubectl apply --server-side`:
 *   - the bootstrap-token Secret (authentication + signing usages, no expiry: new nodes join with
 *     it at any time; `data` rather than `stringData`, which server-side apply handles poorly).
 *     No `auth-extra-groups`: every bootstrap token of an opke cluster is a node-join token, so
 *     the RBAC binds the built-in group system:bootstrappers;
 *   - system:bootstrappers may create CSRs (system:node-bootstrapper) and get new node client
 *     CSRs auto-approved (…:nodeclient); nodes get their renewals auto-approved
 *     (…:selfnodeclient, group system:nodes);
 *   - the apiserver's kubelet client (CN kube-apiserver-kubelet-client) may use the kubelet API
 *     (logs, exec, port-forward): system:kubelet-api-admin.
 */
export function renderClusterManifests(token: BootstrapToken): { name: string; content: string }[] {
    const secret = stringify(
        {
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: `bootstrap-token-${token.id}`, namespace: "kube-system" },
            type: "bootstrap.kubernetes.io/token",
            data: {
                description: b64("kubelet TLS bootstrap token (opke)"),
                "token-id": b64(token.id),
                "token-secret": b64(token.secret),
                "usage-bootstrap-authentication": b64("true"),
                "usage-bootstrap-signing": b64("true"),
            },
        },
        { lineWidth: 0 },
    );
    const csr = "system:certificates.k8s.io:certificatesigningrequests";
    return [
        { name: "bootstrap-token-secret.yaml", content: secret },
        {
            name: "crb-kube-apiserver-kubelet-client.yaml",
            content: clusterRoleBinding("opke:kube-apiserver-kubelet-client", "system:kubelet-api-admin", { kind: "User", name: "kube-apiserver-kubelet-client" }),
        },
        {
            name: "crb-kubelet-bootstrap.yaml",
            content: clusterRoleBinding("opke:kubelet-bootstrap", "system:node-bootstrapper", { kind: "Group", name: "system:bootstrappers" }),
        },
        {
            name: "crb-node-client-csr-approve.yaml",
            content: clusterRoleBinding("opke:node-client-csr-approve", `${csr}:nodeclient`, { kind: "Group", name: "system:bootstrappers" }),
        },
        {
            name: "crb-node-client-csr-renew.yaml",
            content: clusterRoleBinding("opke:node-client-csr-renew", `${csr}:selfnodeclient`, { kind: "Group", name: "system:nodes" }),
        },
    ];
}
