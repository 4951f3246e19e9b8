/**
 * modules/argocd: the GitOps bootstrap and Cloudflare under Pulumi mocks, its pure renderers, its
 * secrets (checked with the Debian `age` CLI and the age-encryption package), and
 * `npm run render`'s cluster/gitops/ output.
 *
 * What these tests prove:
 *   - the exact resources (types, counts, names, explicit providers) for the dev stack and for a
 *     config with SSO, a token, a tunnel and DNS records;
 *   - the order as options: every stage Application depends on the previous one (or the ones it
 *     names), on the Helm release, the CRD gates, the AppProject, the settings patches and the
 *     self-management Application; the release waits for its namespace and secrets, and ignores
 *     chart/values changes once Argo CD manages itself (options are captured with the legacy
 *     `transformations` hook, which the Node SDK runs in-process — mocks do not see options);
 *   - every stage carries `pulumi.com/waitFor` for Synced AND Healthy and `pulumi.com/timeoutSeconds`;
 *   - the exact chart (name, version from lib/versions.json, repository) and values (the bytes of
 *     gitops/argocd/values.yaml, nothing added);
 *   - secretness of the deploy key, the age identity, the webhook secret and every token, and that
 *     the deploy key's public key and the age recipient are plain outputs;
 *   - every AppProject/Application validates against the Argo CD CRD schemas
 *     (@kubernetes-models/argo-cd, run in a child node process because the package is ESM-only);
 *   - the age recipient equals age-encryption's `identityToRecipient`, and the `age` CLI decrypts
 *     what age-encryption encrypted to it (and the other way round);
 *   - the render writes the same objects the component creates, with no secret value in them.
 *
 * What mocks cannot prove: that a live Argo CD syncs these Applications, that `pulumi.com/waitFor`
 * really holds `pulumi up` until a stage is Synced and Healthy (the provider's await logic), that
 * the CRD gates block until the CRDs are Established, that Helm accepts the chart values, that the
 * settings patches coexist with Argo CD's self-managed apply of the same objects without a diff, or
 * that Cloudflare accepts the tunnel configuration. Those need a cluster and a Cloudflare account.
 */
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse as parseYaml } from "yaml";
import { outputValue, PulumiMocks, setupPulumiMocks, TLS_TYPES } from "./helpers/mocks";
import versions from "../lib/versions.json";

const ROOT = path.resolve(__dirname, "..");
const VALUES_TEXT = fs.readFileSync(path.join(ROOT, "gitops", "argocd", "values.yaml"), "utf8");
const CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUopke\n-----END CERTIFICATE-----\n";
const TUNNEL_TOKEN = "eyJhIjoiMDEyMyIsInQiOiJ0dW5uZWwiLCJzIjoic2VjcmV0In0=";
const ACCOUNT = "0123456789abcdef0123456789abcdef";
const ZONE = "fedcba9876543210fedcba9876543210";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

const T = {
    k8sProvider: "pulumi:providers:kubernetes",
    namespace: "kubernetes:core/v1:Namespace",
    secret: "kubernetes:core/v1:Secret",
    secretPatch: "kubernetes:core/v1:SecretPatch",
    configMapPatch: "kubernetes:core/v1:ConfigMapPatch",
    crdPatch: "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinitionPatch",
    release: "kubernetes:helm.sh/v3:Release",
    appProject: "kubernetes:argoproj.io/v1alpha1:AppProject",
    application: "kubernetes:argoproj.io/v1alpha1:Application",
} as const;

/** OpenSSH encodings for the mocked ED25519 keys (the shared mocks do not provide them); the private one is a marker per key. */
function opensshOutputs(name: string): Obj {
    const pub = crypto.createHash("sha256").update(name).digest();
    const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
    const blob = Buffer.concat([str(Buffer.from("ssh-ed25519")), str(pub)]);
    return {
        publicKeyOpenssh: `ssh-ed25519 ${blob.toString("base64")}\n`,
        privateKeyOpenssh: `-----BEGIN OPENSSH PRIVATE KEY-----\nmock-private-key-of-${name}\n-----END OPENSSH PRIVATE KEY-----\n`,
    };
}

/** Validation messages of Argo CD objects by @kubernetes-models/argo-cd (null when valid), in a child process (ESM-only package). */
function validateArgo(objects: Obj[]): (string | null)[] {
    const script = `
        import { Application, AppProject } from "@kubernetes-models/argo-cd/argoproj.io/v1alpha1";
        let input = "";
        for await (const chunk of process.stdin) input += chunk;
        const out = JSON.parse(input).map((o) => {
            const Model = o.kind === "AppProject" ? AppProject : o.kind === "Application" ? Application : null;
            if (!Model) return "not an Argo CD kind: " + o.kind;
            try { new Model(o).validate(); return null; } catch (e) { return String(e && e.message); }
        });
        process.stdout.write(JSON.stringify(out));`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: ROOT, input: JSON.stringify(objects), encoding: "utf8" });
    if (r.status !== 0) throw new Error(`Argo CD validator failed (${r.status}): ${r.stderr}`);
    return JSON.parse(r.stdout) as (string | null)[];
}

/** Runs an ES module snippet with age-encryption in a child node process; `input` on stdin, stdout back. */
function ageJs(script: string, input: string): string {
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: ROOT, input, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`age-encryption script failed (${r.status}): ${r.stderr}`);
    return r.stdout;
}

/** The Debian `age` CLI; the test fails (never skips) without it. */
function ageCli(): string {
    const r = spawnSync("age", ["--version"], { encoding: "utf8" });
    if (r.error || r.status !== 0) throw new Error("the age CLI is missing: run `apt-get update && apt-get install -y age` (CI installs it)");
    return "age";
}

/** Records each child's name and options (the SDK applies `transformations` in-process, so mocks runs see them). */
function optionCapture() {
    const names = new Map<pulumi.Resource, string>();
    const options = new Map<string, { type: string; opts: pulumi.ResourceOptions; props: pulumi.Inputs }>();
    const transformation: pulumi.ResourceTransformation = (a) => {
        names.set(a.resource, a.name);
        options.set(a.name, { type: a.type, opts: a.opts, props: a.props });
        return undefined;
    };
    const dependsOn = (name: string): string[] => {
        const d = options.get(name)?.opts.dependsOn;
        const list = (Array.isArray(d) ? d : d ? [d] : []) as pulumi.Resource[];
        return list.map((r) => names.get(r) ?? "<unknown>");
    };
    return { names, options, transformation, dependsOn };
}

async function settle(names: Map<pulumi.Resource, string>): Promise<void> {
    await Promise.all([...names.keys()].map((r) => outputValue(r.urn)));
}

let mocks: PulumiMocks;

beforeAll(async () => {
    mocks = await setupPulumiMocks({
        outputs: (args) => (args.type === TLS_TYPES.privateKey ? opensshOutputs(args.name) : undefined),
        call: (args) => (args.token === "cloudflare:index/getZeroTrustTunnelCloudflaredToken:getZeroTrustTunnelCloudflaredToken" ? { ...args.inputs, token: TUNNEL_TOKEN } : args.inputs),
    });
});

describe("GitOps component, dev stack", () => {
    const capture = optionCapture();
    let gitops: import("../modules/argocd").GitOps;
    let cfg: import("../lib/config").ClusterConfig;
    let recorded: typeof mocks.resources;

    beforeAll(async () => {
        mocks.reset();
        const tls = require("@pulumi/tls") as typeof import("@pulumi/tls");
        const { loadStackFile } = require("../lib/config") as typeof import("../lib/config");
        const { GitOps } = require("../modules/argocd") as typeof import("../modules/argocd");
        cfg = loadStackFile(ROOT, "dev");
        const tlsProvider = new tls.Provider("dev-tls", {});
        gitops = new GitOps(
            "dev",
            { config: cfg, kubeconfig: pulumi.secret("apiVersion: v1\nkind: Config\n"), clusterCaPem: CA_PEM, tlsProvider, secrets: {} },
            { transformations: [capture.transformation] },
        );
        await settle(capture.names);
        await outputValue(gitops.ageRecipient);
        recorded = [...mocks.resources];
    });

    test("registers exactly these resources", () => {
        expect(mocks.countsByType()).toEqual({
            "pulumi:providers:tls": 1,
            [TLS_TYPES.privateKey]: 2,
            [T.k8sProvider]: 1,
            [T.namespace]: 2,
            [T.secret]: 5,
            [T.release]: 1,
            [T.crdPatch]: 2,
            [T.secretPatch]: 1,
            [T.appProject]: 1,
            [T.application]: 4,
        });
        // Registration order under mocks is asynchronous; the creation order is what the options below fix.
        const custom = recorded.filter((r) => r.custom && r.type !== "pulumi:providers:tls").map((r) => `${r.type.split(":").pop()} ${r.name}`);
        expect(custom.sort()).toEqual([
            "PrivateKey dev-gitops-seed",
            "PrivateKey dev-deploy-key",
            "kubernetes dev-k8s",
            "Namespace dev-ns-argocd",
            "Namespace dev-ns-cluster-secrets",
            "Secret dev-repository",
            "Secret dev-sops-age",
            "Secret dev-argocd-secrets",
            "Secret dev-cluster-ca",
            "Secret dev-registry-credentials",
            "Release dev-argocd",
            "CustomResourceDefinitionPatch dev-crd-appprojects",
            "CustomResourceDefinitionPatch dev-crd-applications",
            "SecretPatch dev-patch-argocd-secret",
            "AppProject dev-project",
            "Application dev-app-argocd",
            "Application dev-stage-appstage-00-bootstrap",
            "Application dev-stage-appstage-01-online",
            "Application dev-stage-appstage-02-example",
        ].sort());
        expect(recorded.filter((r) => !r.custom).map((r) => `${r.type} ${r.name}`)).toEqual(["opke:argocd:GitOps dev"]);
    });

    test("every Kubernetes object uses the explicit provider built from the admin kubeconfig", () => {
        const k8s = recorded.filter((r) => r.custom && r.type.startsWith("kubernetes:"));
        expect(k8s.length).toBe(16);
        for (const r of k8s) expect(r.provider).toMatch(/\$pulumi:providers:kubernetes::dev-k8s::dev-k8s-id$/);
        const provider = mocks.get(T.k8sProvider, "dev-k8s");
        expect(provider.inputs).toEqual({
            kubeconfig: "apiVersion: v1\nkind: Config\n",
            enableServerSideApply: "true",
            deleteUnreachable: "true",
            clusterIdentifier: "opke-dev",
        });
        expect(provider.secretInputs).toEqual(["kubeconfig"]);
        for (const key of ["dev-gitops-seed", "dev-deploy-key"]) {
            expect(mocks.get(TLS_TYPES.privateKey, key).inputs).toEqual({ algorithm: "ED25519" });
            expect(mocks.get(TLS_TYPES.privateKey, key).provider).toMatch(/::pulumi:providers:tls::dev-tls::dev-tls-id$/);
        }
    });

    test("the seed release: exact chart, version and values (gitops/argocd/values.yaml, nothing added)", async () => {
        const release = mocks.get(T.release, "dev-argocd").inputs;
        // The mocks record assets without their text; the props the SDK registered still hold it.
        const files = capture.options.get("dev-argocd")!.props.valueYamlFiles as pulumi.asset.StringAsset[];
        expect(files.length).toBe(1);
        expect(await files[0].text).toBe(VALUES_TEXT);
        expect(release).not.toHaveProperty("values");
        const { valueYamlFiles: _files, ...rest } = release;
        expect(rest).toEqual({
            name: "argocd",
            namespace: "argocd",
            chart: "argo-cd",
            version: "9.5.11",
            repositoryOpts: { repo: "https://argoproj.github.io/argo-helm" },
            createNamespace: false,
            timeout: 900,
            maxHistory: 5,
            compat: "true", // set by the @pulumi/kubernetes SDK
        });
        expect(release.version).toBe(versions.argocd.chart);
        expect(capture.dependsOn("dev-argocd")).toEqual(["dev-ns-argocd", "dev-repository", "dev-sops-age", "dev-argocd-secrets"]);
        // Seed only: after the first install Argo CD owns the chart (gitops/argocd), so Pulumi never upgrades it.
        expect(capture.options.get("dev-argocd")!.opts.ignoreChanges).toEqual(["chart", "version", "repositoryOpts", "values", "valueYamlFiles"]);
    });

    test("CRD gates wait for Established after the release; patches set only fields the chart never renders", () => {
        expect(mocks.ofType(T.crdPatch).map((r) => r.inputs.metadata)).toEqual([
            { name: "appprojects.argoproj.io", annotations: { "pulumi.com/waitFor": "condition=Established", "pulumi.com/timeoutSeconds": "300" } },
            { name: "applications.argoproj.io", annotations: { "pulumi.com/waitFor": "condition=Established", "pulumi.com/timeoutSeconds": "300" } },
        ]);
        expect(capture.dependsOn("dev-crd-appprojects")).toEqual(["dev-argocd"]);
        const patch = mocks.get(T.secretPatch, "dev-patch-argocd-secret").inputs;
        expect(patch.metadata).toEqual({ name: "argocd-secret", namespace: "argocd" });
        expect(Object.keys(patch.data)).toEqual(["webhook.github.secret"]);
        expect(Buffer.from(patch.data["webhook.github.secret"], "base64").toString()).toBe("$opke-argocd-secrets:webhook.github.secret");
        expect(capture.dependsOn("dev-patch-argocd-secret")).toEqual(["dev-argocd", "dev-argocd-secrets"]);
    });

    test("root Applications depend on the chart; stage N on stage N−1, with waitFor Synced AND Healthy and a timeout", () => {
        const argo = ["dev-argocd", "dev-crd-appprojects", "dev-crd-applications", "dev-project", "dev-patch-argocd-secret", "dev-repository"];
        expect(capture.dependsOn("dev-project")).toEqual(["dev-argocd", "dev-crd-appprojects", "dev-crd-applications"]);
        expect(capture.dependsOn("dev-app-argocd")).toEqual(argo);
        const base = [...argo, "dev-sops-age", "dev-cluster-ca", "dev-registry-credentials", "dev-app-argocd"];
        expect(capture.dependsOn("dev-stage-appstage-00-bootstrap")).toEqual(base);
        expect(capture.dependsOn("dev-stage-appstage-01-online")).toEqual([...base, "dev-stage-appstage-00-bootstrap"]);
        expect(capture.dependsOn("dev-stage-appstage-02-example")).toEqual([...base, "dev-stage-appstage-01-online"]);
        for (const stage of ["appstage-00-bootstrap", "appstage-01-online", "appstage-02-example"]) {
            expect(mocks.get(T.application, `dev-stage-${stage}`).inputs.metadata.annotations).toEqual({
                "pulumi.com/waitFor": '["jsonpath={.status.sync.status}=Synced","jsonpath={.status.health.status}=Healthy"]',
                "pulumi.com/timeoutSeconds": "1800",
            });
        }
        expect(mocks.get(T.application, "dev-app-argocd").inputs.metadata.annotations).toBeUndefined();
    });

    test("stage and self-management Applications: paths, project, policy, no finalizer", () => {
        const apps = mocks.ofType(T.application).map((r) => r.inputs);
        expect(apps.map((a) => [a.metadata.name, a.spec.source.path, a.spec.source.repoURL, a.spec.source.targetRevision, a.spec.project])).toEqual([
            ["argocd", "gitops/argocd", "git@github.com:example/opke.git", "main", "opke"],
            ["appstage-00-bootstrap", "gitops/appstage-00-bootstrap/bare-metal", "git@github.com:example/opke.git", "main", "opke"],
            ["appstage-01-online", "gitops/appstage-01-online", "git@github.com:example/opke.git", "main", "opke"],
            ["appstage-02-example", "gitops/appstage-02-example", "git@github.com:example/opke.git", "main", "opke"],
        ]);
        for (const a of apps) {
            expect(a.metadata.namespace).toBe("argocd");
            expect(a.metadata.finalizers).toBeUndefined();
            expect(a.spec.destination).toEqual({ server: "https://kubernetes.default.svc", namespace: "argocd" });
            expect(a.spec.syncPolicy.automated).toEqual({ prune: true, selfHeal: true });
        }
        // Every stage folder named here exists in this repository (the Git copy the dev stack points at).
        for (const a of apps) expect(fs.existsSync(path.join(ROOT, a.spec.source.path, "kustomization.yaml"))).toBe(true);
    });

    test("every AppProject and Application validates against the Argo CD CRD schemas", () => {
        const objects = [...mocks.ofType(T.appProject), ...mocks.ofType(T.application)].map((r) => r.inputs);
        expect(objects.length).toBe(5);
        expect(validateArgo(objects)).toEqual(objects.map(() => null));
        // The validator does reject a broken object (so the nulls above mean something).
        expect(validateArgo([{ apiVersion: "argoproj.io/v1alpha1", kind: "Application", metadata: { name: "x" }, spec: { source: {} } }])[0]).toMatch(/must have required property/);
    });

    test("secrets are secret; the deploy key's public key and the age recipient are not", async () => {
        // The Kubernetes SDK marks every Secret's data secret itself; opke's own secretness is in `sensitive`.
        for (const name of ["dev-repository", "dev-sops-age", "dev-argocd-secrets", "dev-cluster-ca", "dev-registry-credentials"]) {
            expect([name, mocks.get(T.secret, name).secretInputs]).toEqual([name, ["stringData"]]);
        }
        const s = gitops.sensitive;
        expect(Object.keys(s).sort()).toEqual(["ageIdentity", "ageKeysFile", "repositoryCredential", "webhookSecret"]);
        for (const [key, value] of Object.entries(s)) expect([key, await pulumi.isSecret(value!)]).toEqual([key, true]);
        const repo = mocks.get(T.secret, "dev-repository").inputs;
        expect(repo.metadata.labels["argocd.argoproj.io/secret-type"]).toBe("repository");
        expect(repo.stringData).toEqual({ type: "git", url: "git@github.com:example/opke.git", sshPrivateKey: opensshOutputs("dev-deploy-key").privateKeyOpenssh });
        expect(await pulumi.isSecret(gitops.webhookSecret!)).toBe(true);
        expect(await pulumi.isSecret(gitops.ageRecipient)).toBe(false);
        expect(await pulumi.isSecret(gitops.deployKeyPublicKey!)).toBe(false);
        expect(await outputValue(gitops.deployKeyPublicKey!)).toBe(opensshOutputs("dev-deploy-key").publicKeyOpenssh.trim());
        const webhook = await outputValue(gitops.webhookSecret!);
        expect(webhook).toMatch(/^[0-9a-f]{64}$/);
        expect(mocks.get(T.secret, "dev-argocd-secrets").inputs.stringData).toEqual({ "webhook.github.secret": webhook });
        expect(gitops.webhookUrl).toBeUndefined();
    });

    test("the age identity in sops-age is derived from the seed and matches the recipient output", async () => {
        const { ageRecipient, deriveGitOpsSecrets } = require("../modules/argocd") as typeof import("../modules/argocd");
        const keys = mocks.get(T.secret, "dev-sops-age").inputs.stringData["keys.txt"] as string;
        const identity = keys.split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-1"))!;
        const seed = mocks.get(TLS_TYPES.privateKey, "dev-gitops-seed").outputs.privateKeyPem as string;
        expect(identity).toBe(deriveGitOpsSecrets(seed).ageIdentity);
        const recipient = await outputValue(gitops.ageRecipient);
        expect(ageRecipient(identity)).toBe(recipient);
        expect(keys).toBe(`# age identity for SOPS, derived by opke from the gitops seed key (Pulumi state)\n# public key: ${recipient}\n${identity}\n`);
    });

    test("common source Secrets carry the replicator's push annotation", () => {
        const ca = mocks.get(T.secret, "dev-cluster-ca").inputs;
        expect(ca.metadata).toEqual({
            name: "cluster-ca",
            namespace: "cluster-secrets",
            labels: { "app.kubernetes.io/managed-by": "pulumi" },
            annotations: { "replicator.v1.mittwald.de/replicate-to": ".*" },
        });
        expect(ca.stringData).toEqual({ "ca.crt": CA_PEM });
        const reg = mocks.get(T.secret, "dev-registry-credentials").inputs;
        expect([reg.type, reg.stringData, reg.metadata.annotations]).toEqual([
            "kubernetes.io/dockerconfigjson",
            { ".dockerconfigjson": '{"auths":{}}' },
            { "replicator.v1.mittwald.de/replicate-to": ".*" },
        ]);
    });

    test("the render's objects are the component's objects, secret values aside", () => {
        const { gitopsRenderFiles, gitopsObjects, gitopsPlan } = require("../modules/argocd") as typeof import("../modules/argocd");
        const files = gitopsRenderFiles(cfg, CA_PEM).filter((f) => !f.name.startsWith("chart/"));
        const plan = gitopsPlan(cfg)!;
        const ids = gitopsObjects<string>(plan, {
            credential: { kind: "deploy-key", sshPrivateKey: "x" },
            ageKeysFile: "x",
            webhookSecret: "x",
            clusterCaPem: CA_PEM,
            dockerConfigJson: "x",
        }).map((o) => o.id);
        expect(files.length).toBe(ids.length);
        const redact = (o: Obj): Obj => {
            if (o.kind !== "Secret" || !o.stringData || o.metadata.name === "cluster-ca") return o;
            return { ...o, stringData: Object.fromEntries(Object.keys(o.stringData).map((k) => [k, k === "type" || k === "url" ? o.stringData[k] : "<secret>"])) };
        };
        files.forEach((f, i) => {
            const rendered = parseYaml(f.content) as Obj;
            const r = recorded.find((x) => x.name === `dev-${ids[i]}`)!;
            expect({ id: ids[i], object: redact(rendered) }).toEqual({ id: ids[i], object: redact(r.inputs) });
        });
    });
});

describe("GitOps + Cloudflare with SSO, a token, a supplied age key, registry credentials and a tunnel", () => {
    const capture = optionCapture();
    let finish: import("../modules/argocd").GitOpsFinish;
    let AGE_KEY: string;
    let projectDir: string;
    const DOCKER = JSON.stringify({ auths: { "registry.example.com": { auth: Buffer.from("u:p").toString("base64") } } });

    beforeAll(async () => {
        mocks.reset();
        const { ageIdentityFromBytes } = require("../modules/argocd") as typeof import("../modules/argocd");
        AGE_KEY = ageIdentityFromBytes(Uint8Array.from({ length: 32 }, (_, i) => i + 1));
        const secrets: Record<string, string> = {
            "opke:gitopsToken": "glpat-token",
            "opke:dexClientSecret": "dex-client-secret",
            "opke:sopsAgeKey": AGE_KEY,
            "opke:registryCredentials": DOCKER,
            "opke:cloudflareApiToken": "cf-api-token",
            "opke:cloudflareDnsApiToken": "cf-dns-token",
        };
        pulumi.runtime.setAllConfig(secrets, Object.keys(secrets));
        const tls = require("@pulumi/tls") as typeof import("@pulumi/tls");
        const { parseClusterConfig } = require("../lib/config") as typeof import("../lib/config");
        const { createGitOps } = require("../modules/argocd") as typeof import("../modules/argocd");
        const parsed = parseClusterConfig({
            clusterName: "edge",
            apiDnsName: "api.edge.example.com",
            controllers: [{ name: "c1", ip: "10.0.0.11" }],
            ssh: { authorizedKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINlKIAfhwgD3osglJv0BO8m48FG+cBCSTQBl3O56poLQ x"] },
            gitops: {
                repoUrl: "https://gitlab.example.com/platform/opke.git",
                targetRevision: "v1.0.0",
                credentials: "https-token",
                tokenUsername: "oauth2",
                sso: { provider: "github", clientId: "Iv1.0123", orgs: ["example"], adminGroups: ["example:platform"] },
                webhook: { provider: "gitea" },
                stages: [
                    { name: "base", path: "gitops/appstage-00-bootstrap/{platform}" },
                    { name: "online", path: "gitops/appstage-01-online", syncOptions: ["ServerSideApply=true"], timeoutSeconds: 600 },
                    { name: "apps", path: "gitops/appstage-02-example", dependsOn: ["base"] },
                ],
            },
            cloudflare: {
                accountId: ACCOUNT,
                zoneId: ZONE,
                tunnel: { hostnames: { argocd: "argocd.edge.example.com", api: "k8s.edge.example.com" } },
                dns: { records: [{ name: "ingress.edge.example.com", type: "A", content: "203.0.113.20" }] },
            },
        });
        // The platform only selects the stage-00 folder here; the OpenStack block itself is not under test.
        const cfg = { ...parsed, platform: "openstack" as const };
        const material = pulumi.secret({ certificates: { "kubernetes-ca": { certPem: CA_PEM, keyPem: "k" } }, keyPairs: {} }) as unknown as pulumi.Output<
            import("../lib/pki/spec").PkiMaterial
        >;
        // A Git copy whose chart values enable Dex (SSO needs it); everything else as in this repository.
        projectDir = fs.mkdtempSync(path.join(os.tmpdir(), "opke-edge-project-"));
        fs.mkdirSync(path.join(projectDir, "gitops", "argocd"), { recursive: true });
        expect(VALUES_TEXT).toMatch(/^dex:\n {2}enabled: false$/m);
        fs.writeFileSync(path.join(projectDir, "gitops", "argocd", "values.yaml"), VALUES_TEXT.replace(/^dex:\n {2}enabled: false$/m, "dex:\n  enabled: true"));
        fs.copyFileSync(path.join(ROOT, "gitops", "argocd", "application.yaml"), path.join(projectDir, "gitops", "argocd", "application.yaml"));
        finish = createGitOps(
            cfg,
            { kubeconfig: "apiVersion: v1\nkind: Config\n", material, tlsProvider: new tls.Provider("edge-tls", {}), projectDir },
            { transformations: [capture.transformation] },
        );
        await settle(capture.names);
    });

    afterAll(() => {
        pulumi.runtime.setAllConfig({});
        fs.rmSync(projectDir, { recursive: true, force: true });
    });

    test("registers exactly these resources", () => {
        expect(mocks.countsByType()).toEqual({
            "pulumi:providers:tls": 1,
            "pulumi:providers:cloudflare": 1,
            "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared": 1,
            "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig": 1,
            "cloudflare:index/dnsRecord:DnsRecord": 3,
            [TLS_TYPES.privateKey]: 1,
            [T.k8sProvider]: 1,
            [T.namespace]: 3,
            [T.secret]: 7,
            [T.release]: 1,
            [T.crdPatch]: 2,
            [T.secretPatch]: 1,
            [T.configMapPatch]: 2,
            [T.appProject]: 1,
            [T.application]: 4,
        });
        expect(mocks.resources.filter((r) => !r.custom).map((r) => `${r.type} ${r.name}`)).toEqual(["opke:argocd:Cloudflare edge", "opke:argocd:GitOps edge"]);
    });

    test("explicit dependencies follow dependsOn; options like timeouts and sync options are per stage", () => {
        expect(capture.dependsOn("edge-stage-apps").slice(-1)).toEqual(["edge-stage-base"]);
        expect(capture.dependsOn("edge-stage-online").slice(-1)).toEqual(["edge-stage-base"]);
        expect(capture.dependsOn("edge-stage-base")).not.toContain("edge-stage-online");
        const online = mocks.get(T.application, "edge-stage-online").inputs;
        expect([online.metadata.annotations["pulumi.com/timeoutSeconds"], online.spec.syncPolicy.syncOptions]).toEqual(["600", ["ServerSideApply=true"]]);
        expect(mocks.get(T.application, "edge-stage-base").inputs.spec.source.path).toBe("gitops/appstage-00-bootstrap/openstack");
        for (const s of ["base", "online", "apps"]) expect(capture.dependsOn(`edge-stage-${s}`)).toEqual(expect.arrayContaining(["edge-tunnel-token", "edge-cloudflare-api-token"]));
    });

    test("every token and secret is a secret input", async () => {
        const s = finish.gitops!.sensitive;
        expect(Object.keys(s).sort()).toEqual([
            "ageIdentity",
            "ageKeysFile",
            "cloudflareToken",
            "dexClientSecret",
            "registryCredentials",
            "repositoryCredential",
            "tunnelToken",
            "webhookSecret",
        ]);
        for (const [key, value] of Object.entries(s)) expect([key, await pulumi.isSecret(value!)]).toEqual([key, true]);
        expect(await pulumi.isSecret(finish.cloudflare!.tunnelToken!)).toBe(true);
        for (const name of ["edge-repository", "edge-sops-age", "edge-argocd-secrets", "edge-registry-credentials", "edge-cloudflare-api-token", "edge-tunnel-token"]) {
            expect([name, mocks.get(T.secret, name).secretInputs]).toEqual([name, ["stringData"]]);
        }
        expect(mocks.get("pulumi:providers:cloudflare", "edge-cloudflare").secretInputs).toEqual(["apiToken"]);
        expect(mocks.get(T.secret, "edge-repository").inputs.stringData).toEqual({
            type: "git",
            url: "https://gitlab.example.com/platform/opke.git",
            username: "oauth2",
            password: "glpat-token",
        });
        expect(mocks.get(T.secret, "edge-argocd-secrets").inputs.stringData).toEqual({
            "webhook.gogs.secret": expect.stringMatching(/^[0-9a-f]{64}$/),
            "dex.github.clientSecret": "dex-client-secret",
        });
        expect(mocks.get(T.secret, "edge-registry-credentials").inputs.stringData).toEqual({ ".dockerconfigjson": DOCKER });
        expect(mocks.get(T.secret, "edge-tunnel-token").inputs).toEqual({
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: "tunnel-token", namespace: "cloudflared", labels: { "app.kubernetes.io/managed-by": "pulumi" } },
            type: "Opaque",
            stringData: { token: TUNNEL_TOKEN },
        });
        expect(mocks.get(T.secret, "edge-cloudflare-api-token").inputs.metadata.annotations).toEqual({
            "replicator.v1.mittwald.de/replication-allowed": "true",
            "replicator.v1.mittwald.de/replication-allowed-namespaces": "cert-manager,external-dns",
        });
        expect(mocks.get(T.secret, "edge-cloudflare-api-token").inputs.stringData).toEqual({ "api-token": "cf-dns-token" });
        // No deploy key with a token; only the seed.
        expect(mocks.ofType(TLS_TYPES.privateKey).map((r) => r.name)).toEqual(["edge-gitops-seed"]);
        expect(finish.outputs.deployKeyPublicKey).toBeUndefined();
    });

    test("a supplied age identity is used as is", async () => {
        const keys = mocks.get(T.secret, "edge-sops-age").inputs.stringData["keys.txt"] as string;
        expect(keys.split("\n")[2]).toBe(AGE_KEY);
        expect(keys.split("\n")[0]).toBe("# age identity for SOPS, supplied as opke:sopsAgeKey");
        expect(await outputValue(finish.outputs.ageRecipient as pulumi.Output<string>)).toBe(
            ageJs(`import { identityToRecipient } from "age-encryption"; process.stdout.write(await identityToRecipient(${JSON.stringify(AGE_KEY)}));`, ""),
        );
    });

    test("Dex and RBAC settings are patches of keys the chart never renders", () => {
        const cm = mocks.get(T.configMapPatch, "edge-patch-argocd-cm").inputs;
        expect(cm.metadata).toEqual({ name: "argocd-cm", namespace: "argocd" });
        expect(parseYaml(cm.data["dex.config"])).toEqual({
            connectors: [
                { type: "github", id: "github", name: "GitHub", config: { clientID: "Iv1.0123", clientSecret: "$opke-argocd-secrets:dex.github.clientSecret", orgs: [{ name: "example" }] } },
            ],
        });
        expect(mocks.get(T.configMapPatch, "edge-patch-argocd-rbac-cm").inputs.data).toEqual({ "policy.opke.csv": "g, example:platform, role:admin\n" });
        expect(Buffer.from(mocks.get(T.secretPatch, "edge-patch-argocd-secret").inputs.data["webhook.gogs.secret"], "base64").toString()).toBe(
            "$opke-argocd-secrets:webhook.gogs.secret",
        );
    });

    test("the tunnel: routes for Argo CD and the API, proxied CNAMEs, plain records as configured", () => {
        const tunnel = mocks.get("cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared", "edge-tunnel").inputs;
        expect(tunnel).toEqual({ accountId: ACCOUNT, name: "opke-edge", configSrc: "cloudflare" });
        const config = mocks.get("cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig", "edge-tunnel-config").inputs;
        expect(config).toEqual({
            accountId: ACCOUNT,
            tunnelId: "edge-tunnel-id",
            source: "cloudflare",
            config: {
                ingresses: [
                    { hostname: "argocd.edge.example.com", service: "https://argocd-server.argocd.svc.cluster.local:443", originRequest: { noTlsVerify: true } },
                    { hostname: "k8s.edge.example.com", service: "tcp://kubernetes.default.svc.cluster.local:443" },
                    { service: "http_status:404" },
                ],
            },
        });
        const records = mocks.ofType("cloudflare:index/dnsRecord:DnsRecord").map((r) => [r.name, r.inputs.name, r.inputs.type, r.inputs.content, r.inputs.proxied, r.inputs.ttl]);
        expect(records.sort()).toEqual([
            ["edge-dns-a-ingress.edge.example.com", "ingress.edge.example.com", "A", "203.0.113.20", false, 300],
            ["edge-dns-tunnel-api", "k8s.edge.example.com", "CNAME", "edge-tunnel-id.cfargotunnel.com", true, 1],
            ["edge-dns-tunnel-argocd", "argocd.edge.example.com", "CNAME", "edge-tunnel-id.cfargotunnel.com", true, 1],
        ]);
        expect(capture.dependsOn("edge-dns-tunnel-api")).toEqual(["edge-tunnel-config"]);
        for (const r of mocks.ofType("cloudflare:index/dnsRecord:DnsRecord")) expect(r.inputs.zoneId).toBe(ZONE);
        expect(finish.outputs.webhookUrl).toBe("https://argocd.edge.example.com/api/webhook");
    });

    test("every AppProject and Application validates against the Argo CD CRD schemas", () => {
        const objects = [...mocks.ofType(T.appProject), ...mocks.ofType(T.application)].map((r) => r.inputs);
        expect(validateArgo(objects)).toEqual(objects.map(() => null));
    });
});

describe("age: derived identities work with age-encryption and the Debian age CLI", () => {
    let dir: string;
    let identity: string;
    let recipient: string;

    beforeAll(() => {
        const { ageRecipient, deriveGitOpsSecrets } = require("../modules/argocd") as typeof import("../modules/argocd");
        const seed = crypto.generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }).toString();
        identity = deriveGitOpsSecrets(seed).ageIdentity;
        recipient = ageRecipient(identity);
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "opke-age-"));
        fs.writeFileSync(path.join(dir, "keys.txt"), `${identity}\n`, { mode: 0o600 });
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    test("derivation is deterministic per seed and distinct per seed", () => {
        const { deriveGitOpsSecrets } = require("../modules/argocd") as typeof import("../modules/argocd");
        const seed = crypto.generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }).toString();
        const other = crypto.generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }).toString();
        expect(deriveGitOpsSecrets(seed)).toEqual(deriveGitOpsSecrets(seed));
        expect(deriveGitOpsSecrets(seed).ageIdentity).not.toBe(deriveGitOpsSecrets(other).ageIdentity);
        expect(deriveGitOpsSecrets(seed).ageIdentity).toMatch(/^AGE-SECRET-KEY-1[0-9AC-HJ-NP-Z]{58}$/);
        expect(() => deriveGitOpsSecrets(crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }).toString())).toThrow(
            "gitops seed: expected an ED25519 private key, got ec; create the seed with algorithm ED25519",
        );
    });

    test("the recipient equals age-encryption's and age-keygen's", () => {
        expect(ageJs(`import { identityToRecipient } from "age-encryption"; process.stdout.write(await identityToRecipient(${JSON.stringify(identity)}));`, "")).toBe(recipient);
        ageCli();
        const r = spawnSync("age-keygen", ["-y", path.join(dir, "keys.txt")], { encoding: "utf8" });
        expect([r.status, r.stdout.trim()]).toEqual([0, recipient]);
    });

    test("the age CLI decrypts what age-encryption encrypted to the recipient with the identity", () => {
        const age = ageCli();
        const secret = `apiVersion: v1\nkind: Secret\nstringData:\n  token: ${crypto.randomBytes(16).toString("hex")}\n`;
        const ciphertext = ageJs(
            `import { Encrypter } from "age-encryption";
             let input = ""; for await (const c of process.stdin) input += c;
             const e = new Encrypter(); e.addRecipient(${JSON.stringify(recipient)});
             process.stdout.write(Buffer.from(await e.encrypt(input)).toString("base64"));`,
            secret,
        );
        fs.writeFileSync(path.join(dir, "secret.age"), Buffer.from(ciphertext, "base64"));
        const r = spawnSync(age, ["--decrypt", "--identity", path.join(dir, "keys.txt"), path.join(dir, "secret.age")], { encoding: "utf8" });
        expect({ status: r.status, stderr: r.stderr, out: r.stdout }).toEqual({ status: 0, stderr: "", out: secret });
    });

    test("age-encryption decrypts what the age CLI encrypted to the recipient, and the keys.txt opke writes is a valid identity file", () => {
        const age = ageCli();
        const { ageKeysFile } = require("../modules/argocd") as typeof import("../modules/argocd");
        fs.writeFileSync(path.join(dir, "opke-keys.txt"), ageKeysFile(identity, recipient, "derived"), { mode: 0o600 });
        const enc = spawnSync(age, ["--encrypt", "--recipient", recipient, "--armor"], { input: "hello from the cli\n", encoding: "utf8" });
        expect(enc.status).toBe(0);
        const cliDecrypt = spawnSync(age, ["--decrypt", "--identity", path.join(dir, "opke-keys.txt")], { input: enc.stdout, encoding: "utf8" });
        expect([cliDecrypt.status, cliDecrypt.stdout]).toEqual([0, "hello from the cli\n"]);
        const plain = ageJs(
            `import { Decrypter, armor } from "age-encryption";
             let input = ""; for await (const c of process.stdin) input += c;
             const d = new Decrypter(); d.addIdentity(${JSON.stringify(identity)});
             process.stdout.write(await d.decrypt(armor.decode(input), "text"));`,
            enc.stdout,
        );
        expect(plain).toBe("hello from the cli\n");
    });

    test("a supplied identity is validated without echoing it", () => {
        const { parseAgeIdentity } = require("../modules/argocd") as typeof import("../modules/argocd");
        expect(parseAgeIdentity(`# created: 2026-01-01\n# public key: ${recipient}\n${identity}\n`)).toBe(identity);
        const cases: [string, string][] = [
            ["", "opke:sopsAgeKey: holds no age identity; set it to an AGE-SECRET-KEY-1… line (age-keygen output) or remove it to let opke derive one"],
            [`${identity}\n${identity}`, "opke:sopsAgeKey: holds 2 lines; give exactly one AGE-SECRET-KEY-1… identity (SOPS decrypts with the first one only)"],
            [identity.slice(0, -1) + (identity.endsWith("Q") ? "P" : "Q"), "opke:sopsAgeKey: is not an age X25519 identity; paste the AGE-SECRET-KEY-1… line of age-keygen's output"],
            [identity.toLowerCase(), "opke:sopsAgeKey: is not an age X25519 identity; paste the AGE-SECRET-KEY-1… line of age-keygen's output"],
            ["AGE-PLUGIN-YUBIKEY-1QQQ", "opke:sopsAgeKey: is a plugin identity; the repo server has no age plugins, use an X25519 identity (age-keygen)"],
        ];
        for (const [text, message] of cases) {
            expect(() => parseAgeIdentity(text)).toThrow(message);
        }
    });

    test("registry credentials must be a .dockerconfigjson", () => {
        const { parseDockerConfigJson } = require("../modules/argocd") as typeof import("../modules/argocd");
        expect(parseDockerConfigJson('{"auths":{"r.example.com":{"username":"u","password":"p"}}}')).toBe('{"auths":{"r.example.com":{"username":"u","password":"p"}}}');
        expect(() => parseDockerConfigJson("user:pass")).toThrow('opke:registryCredentials: is not JSON; set it to a .dockerconfigjson such as {"auths":{"registry.example.com":{"auth":"<base64 of user:password>"}}}');
        expect(() => parseDockerConfigJson('{"r.example.com":{}}')).toThrow('opke:registryCredentials: has no "auths" mapping');
        expect(() => parseDockerConfigJson('{"auths":{"r.example.com":{"email":"x"}}}')).toThrow('opke:registryCredentials: auths["r.example.com"] has neither "auth" nor "username" and "password"; give one of them');
    });
});

describe("the Git copy of Argo CD's configuration", () => {
    const { gitCopyProblems, gitopsPlan, readGitCopy } = require("../modules/argocd") as typeof import("../modules/argocd");
    const { loadStackFile, parseClusterConfig } = require("../lib/config") as typeof import("../lib/config");

    test("this repository's gitops/argocd agrees with the dev stack (same chart version, values present)", () => {
        const plan = gitopsPlan(loadStackFile(ROOT, "dev"))!;
        expect(gitCopyProblems(plan, readGitCopy(plan, ROOT))).toEqual([]);
        const app = parseYaml(fs.readFileSync(path.join(ROOT, "gitops", "argocd", "application.yaml"), "utf8")) as Obj;
        expect([app.spec.source.chart, app.spec.source.targetRevision, app.spec.source.helm.releaseName]).toEqual(["argo-cd", versions.argocd.chart, "argocd"]);
    });

    test("disagreements are reported with the file and the fix", () => {
        const cfg = parseClusterConfig({
            clusterName: "t",
            apiDnsName: "api.t.example",
            controllers: [{ name: "c1", ip: "10.0.0.11" }],
            ssh: { authorizedKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINlKIAfhwgD3osglJv0BO8m48FG+cBCSTQBl3O56poLQ x"] },
            gitops: {
                repoUrl: "git@github.com:example/opke.git",
                url: "https://argocd.t.example",
                chart: { version: "9.4.0" },
                sso: { provider: "gitlab", clientId: "c", groups: ["g"] },
            },
        });
        const plan = gitopsPlan(cfg)!;
        expect(gitCopyProblems(plan, readGitCopy(plan, ROOT))).toEqual([
            'gitops/argocd/values.yaml: dex.enabled is false but gitops.sso needs Dex; set dex.enabled: true there (Git owns the chart values; opke only adds argocd-cm dex.config)',
            'gitops/argocd/values.yaml: renders argocd-cm url "https://argocd.example.com" but gitops.url is "https://argocd.t.example"; set global.domain: argocd.t.example there (the chart owns argocd-cm url)',
            `gitops/argocd/application.yaml: renders argo-cd ${versions.argocd.chart} but the seed installs 9.4.0 (gitops.chart.version); both installs must be the same version or they fight over Argo CD's objects (phalanx#476): change them together`,
        ]);
        expect(gitCopyProblems(plan, {})).toEqual([
            'gitops/argocd/values.yaml: missing; the seed install and the self-managed Application both use this file as the chart values (gitops.selfManagement.path "gitops/argocd")',
        ]);
        expect(gitCopyProblems(plan, { "gitops/argocd/values.yaml": "global:\n  domain: argocd.t.example\ndex:\n  enabled: true\n" })).toEqual([]);
    });

    test("branches are flagged as moving revisions; tags and commits are not", () => {
        const { isMovingRevision } = require("../modules/argocd") as typeof import("../modules/argocd");
        expect(["main", "HEAD", "release/1.x", "v1.2"].map(isMovingRevision)).toEqual([true, true, true, true]);
        expect(["v1.2.3", "1.2.3", "0123456789abcdef0123456789abcdef01234567"].map(isMovingRevision)).toEqual([false, false, false]);
    });
});

describe("npm run render writes cluster/gitops/", () => {
    let out: string;
    beforeAll(async () => {
        out = fs.mkdtempSync(path.join(os.tmpdir(), "opke-render-gitops-"));
        const { main } = require("../scripts/render") as typeof import("../scripts/render");
        expect(await main(["--stack", "dev", "--out", out, "--project", ROOT, "--quiet", "--set", "pki.algorithm=ECDSA"])).toBe(0);
    });
    afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

    test("one file per object, in creation order, plus the release description", () => {
        const dir = path.join(out, "cluster", "gitops");
        expect(fs.readdirSync(dir).sort()).toEqual([
            "00-namespace-argocd.yaml",
            "01-namespace-cluster-secrets.yaml",
            "02-secret-argocd-opke-repository.yaml",
            "03-secret-argocd-sops-age.yaml",
            "04-secret-argocd-opke-argocd-secrets.yaml",
            "05-secret-cluster-secrets-cluster-ca.yaml",
            "06-secret-cluster-secrets-registry-credentials.yaml",
            "07-customresourcedefinition-appprojects.argoproj.io.patch.yaml",
            "08-customresourcedefinition-applications.argoproj.io.patch.yaml",
            "09-secret-argocd-argocd-secret.patch.yaml",
            "10-appproject-argocd-opke.yaml",
            "11-application-argocd-argocd.yaml",
            "12-application-argocd-appstage-00-bootstrap.yaml",
            "13-application-argocd-appstage-01-online.yaml",
            "14-application-argocd-appstage-02-example.yaml",
            "chart",
        ]);
        expect(parseYaml(fs.readFileSync(path.join(dir, "chart", "release.yaml"), "utf8"))).toMatchObject({
            name: "argocd",
            namespace: "argocd",
            chart: "argo-cd",
            version: versions.argocd.chart,
            repositoryOpts: { repo: "https://argoproj.github.io/argo-helm" },
            valuesFile: "gitops/argocd/values.yaml",
        });
    });

    test("no secret value is written: every secret field is redacted; the CA is the render's own certificate", () => {
        const dir = path.join(out, "cluster", "gitops");
        const texts = fs.readdirSync(dir).filter((f) => f.endsWith(".yaml")).map((f) => fs.readFileSync(path.join(dir, f), "utf8"));
        const all = texts.join("\n");
        expect(all).not.toMatch(/PRIVATE KEY|AGE-SECRET-KEY-1|"auths"\s*:\s*\{\s*"/);
        expect(all).not.toMatch(/\b[0-9a-f]{64}\b/);
        const objects = texts.map((t) => parseYaml(t) as Obj);
        const secrets = objects.filter((o) => o.kind === "Secret" && o.stringData);
        expect(secrets.map((s) => s.metadata.name)).toEqual(["opke-repository", "sops-age", "opke-argocd-secrets", "cluster-ca", "registry-credentials"]);
        for (const s of secrets) {
            for (const [k, v] of Object.entries(s.stringData as Record<string, string>)) {
                if (s.metadata.name === "cluster-ca") expect(v).toBe(fs.readFileSync(path.join(out, "nodes", "c1", "ssh", "etc", "kubernetes", "pki", "ca.crt"), "utf8"));
                else if (k === "type" || k === "url") expect(typeof v).toBe("string");
                // kubernetes.io/dockerconfigjson must stay JSON (the apiserver rejects anything else).
                else if (k === ".dockerconfigjson") expect(JSON.parse(v)).toEqual({ auths: {}, redacted: expect.stringMatching(/^<redacted: /) });
                else expect([s.metadata.name, k, v.startsWith("<redacted: ")]).toEqual([s.metadata.name, k, true]);
            }
        }
        expect(validateArgo(objects.filter((o) => o.apiVersion === "argoproj.io/v1alpha1"))).toEqual([null, null, null, null, null]);
    });
});

describe("the program", () => {
    test("exports the deploy key's public key, the age recipient and the webhook secret", async () => {
        mocks.reset();
        const all: Record<string, string> = {};
        const doc = parseYaml(fs.readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8")) as { config: Record<string, unknown> };
        for (const [k, v] of Object.entries(doc.config)) all[k] = typeof v === "string" ? v : JSON.stringify(v);
        all["opke:pki"] = JSON.stringify({ algorithm: "ECDSA" });
        pulumi.runtime.setAllConfig(all);
        try {
            const { program } = require("../stacks/program") as typeof import("../stacks/program");
            const outputs = (await program()) as Record<string, pulumi.Output<string>>;
            expect(Object.keys(outputs)).toEqual(expect.arrayContaining(["deployKeyPublicKey", "ageRecipient", "webhookSecret"]));
            expect(outputs).not.toHaveProperty("webhookUrl");
            expect(await outputValue(outputs.ageRecipient)).toMatch(/^age1[0-9a-z]{58}$/);
            expect(await outputValue(outputs.deployKeyPublicKey)).toMatch(/^ssh-ed25519 AAAA/);
            expect([await pulumi.isSecret(outputs.webhookSecret), await pulumi.isSecret(outputs.ageRecipient), await pulumi.isSecret(outputs.deployKeyPublicKey)]).toEqual([true, false, false]);
            const gitops = mocks.resources.find((r) => r.type === "opke:argocd:GitOps");
            expect(gitops?.name).toBe("dev");
        } finally {
            pulumi.runtime.setAllConfig({});
        }
    });
});
