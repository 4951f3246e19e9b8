/**
 * The `gitops` and `cloudflare` blocks of the cluster description (modules/argocd/config.ts): the
 * stage-graph rule of seed 002 ("a stage may depend only on earlier stages") and the other
 * cross-field rules, as exact issue lines; defaults; {} meaning "not set"; secret keys kept out of
 * the cluster description by both loaders; Pulumi.yaml and Pulumi.dev.yaml.
 *
 * What this does not prove: that Argo CD accepts the repository URL or the credentials, that the
 * stage folders exist at the configured revision (test/gitops-folders.test.ts checks the folders of
 * this repository), or that the real Pulumi CLI hands the program exactly these strings (the
 * engine replay fixture of test/config.test.ts covers the loader path for the other keys).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import YAML from "yaml";
import { checkClusterConfig, loadPulumiConfig, loadStackFile, parseClusterConfig, rawConfigFromPulumi } from "../lib/config";
import { DEFAULT_STAGES, GITOPS_SECRET_KEYS, gitopsPlan, stageDependencies } from "../modules/argocd";
import versions from "../lib/versions.json";
import { TEST_SSH_KEY as KEY } from "./helpers/fixtures";

const ROOT = path.resolve(__dirname, "..");
const SEED = "a stage may depend only on earlier stages (seed 002)";
const ACCOUNT = "0123456789abcdef0123456789abcdef";
const ZONE = "fedcba9876543210fedcba9876543210";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Raw = Record<string, any>;

function base(): Raw {
    return {
        clusterName: "test",
        apiDnsName: "api.test.example",
        controllers: [{ name: "c1", ip: "10.0.0.11", mac: "52:54:00:00:00:11" }],
        workers: [{ name: "w1", ip: "10.0.0.21", mac: "52:54:00:00:00:21" }],
        ssh: { authorizedKeys: [KEY] },
        gitops: { repoUrl: "git@github.com:example/opke.git" },
    };
}

/** The three default stages written out (so a test can change one of them). */
function stages(): Raw[] {
    return DEFAULT_STAGES.map((s) => ({ ...s }));
}

function issuesOf(raw: unknown): string[] {
    const r = checkClusterConfig(raw);
    if (r.ok) throw new Error("expected the config to be rejected, but it was accepted");
    return r.issues;
}

const BAD: [name: string, mutate: (c: Raw) => void, issues: string[]][] = [
    [
        "forward reference",
        (c) => {
            c.gitops.stages = stages();
            c.gitops.stages[1].dependsOn = ["appstage-02-example"];
            c.gitops.stages[2].dependsOn = ["appstage-00-bootstrap"];
        },
        [`gitops.stages[1].dependsOn: "appstage-02-example" is a later stage; ${SEED}`],
    ],
    [
        "cycle through the implicit previous-stage dependency",
        (c) => {
            c.gitops.stages = stages();
            c.gitops.stages[0].dependsOn = ["appstage-02-example"];
        },
        [
            `gitops.stages[0].dependsOn: "appstage-02-example" is a later stage that depends on this one ` +
                `(cycle appstage-00-bootstrap → appstage-02-example → appstage-01-online → appstage-00-bootstrap); ${SEED}`,
        ],
    ],
    [
        "two-stage cycle",
        (c) => {
            c.gitops.stages = [
                { name: "base", path: "gitops/base", dependsOn: ["apps"] },
                { name: "apps", path: "gitops/apps", dependsOn: ["base"] },
            ];
        },
        [`gitops.stages[0].dependsOn: "apps" is a later stage that depends on this one (cycle base → apps → base); ${SEED}`],
    ],
    [
        "a stage depending on itself",
        (c) => {
            c.gitops.stages = stages();
            c.gitops.stages[1].dependsOn = ["appstage-01-online"];
        },
        [`gitops.stages[1].dependsOn: "appstage-01-online" is the stage itself; ${SEED}`],
    ],
    [
        "an unknown stage",
        (c) => {
            c.gitops.stages = stages();
            c.gitops.stages[2].dependsOn = ["appstage-01-onlin"];
        },
        [`gitops.stages[2].dependsOn: "appstage-01-onlin" is not a stage; ${SEED}: use one of "appstage-00-bootstrap", "appstage-01-online"`],
    ],
    [
        "the first stage depending on an unknown stage",
        (c) => {
            c.gitops.stages = stages();
            c.gitops.stages[0].dependsOn = ["cluster"];
        },
        [`gitops.stages[0].dependsOn: "cluster" is not a stage; ${SEED}: the first stage can depend on none (dependsOn: [])`],
    ],
    [
        "a dependency listed twice",
        (c) => {
            c.gitops.stages = stages();
            c.gitops.stages[2].dependsOn = ["appstage-00-bootstrap", "appstage-01-online", "appstage-00-bootstrap"];
        },
        ['gitops.stages[2].dependsOn: "appstage-00-bootstrap" is listed twice; list each stage once'],
    ],
    [
        "duplicate stage names",
        (c) => {
            c.gitops.stages = [...stages(), { name: "appstage-01-online", path: "gitops/appstage-03-more" }];
        },
        ['gitops.stages[3].name: "appstage-01-online" is already used by gitops.stages[1]; give every stage its own name (it is the Application\'s name)'],
    ],
    [
        "two stages syncing one folder",
        (c) => {
            c.gitops.stages = [...stages(), { name: "appstage-03-more", path: "gitops/appstage-02-example" }];
        },
        [
            'gitops.stages[3].path: "gitops/appstage-02-example" is already synced by gitops.stages[2] (appstage-02-example); give every stage its own folder (one Application per folder)',
        ],
    ],
    [
        "a stage without a path",
        (c) => {
            c.gitops.stages = [...stages(), { name: "appstage-03-more" }];
        },
        ['gitops.stages[3].path: missing; set the folder the stage syncs, relative to the repository root, such as "gitops/appstage-03-monitoring"'],
    ],
    [
        "a stage without a name",
        (c) => {
            c.gitops.stages = [...stages(), { path: "gitops/appstage-03-more" }];
        },
        ['gitops.stages[3].name: missing; set the stage name, a DNS-1123 label such as "appstage-03-monitoring"'],
    ],
    [
        "empty, absolute and escaping paths",
        (c) => {
            c.gitops.stages = [
                { name: "a", path: "" },
                { name: "b", path: "/gitops/b" },
                { name: "c", path: "gitops/../../etc" },
                { name: "d", path: "gitops/d/" },
            ];
        },
        [
            'gitops.stages[0].path: "" is empty; use a folder relative to the repository root such as "gitops/appstage-00-bootstrap"',
            'gitops.stages[1].path: "/gitops/b" is absolute; use a folder relative to the repository root such as "gitops/appstage-00-bootstrap"',
            'gitops.stages[2].path: "gitops/../../etc" contains a "." or ".." segment; use a plain folder relative to the repository root such as "gitops/appstage-00-bootstrap"',
            'gitops.stages[3].path: "gitops/d/" is not a folder path; use \'/\'-separated names without spaces or a trailing \'/\', such as "gitops/appstage-00-bootstrap"',
        ],
    ],
    [
        "a stage name that is not a DNS-1123 label",
        (c) => {
            c.gitops.stages = [{ name: "Stage_00", path: "gitops/x" }];
        },
        [`gitops.stages[0].name: "Stage_00" is not a DNS-1123 label; use a-z, 0-9 and '-' (at most 63 characters, a letter or digit at both ends) such as "appstage-00-bootstrap"`],
    ],
    [
        "no stages",
        (c) => {
            c.gitops.stages = [];
        },
        ["gitops.stages: [] is empty; list at least one stage such as {name: appstage-00-bootstrap, path: gitops/appstage-00-bootstrap}"],
    ],
    [
        "a typo in a stage key, a bad sync option and timeout",
        (c) => {
            c.gitops.stages = stages();
            c.gitops.stages[1].dependOn = ["appstage-00-bootstrap"];
            c.gitops.stages[2].syncOptions = ["ServerSideApply"];
            c.gitops.stages[2].timeoutSeconds = 30;
        },
        [
            "gitops.stages[1].dependOn: unknown key; did you mean dependsOn? allowed keys are name, path, dependsOn, syncOptions, timeoutSeconds",
            'gitops.stages[2].syncOptions[0]: "ServerSideApply" is not a sync option; use Name=value such as "ServerSideApply=true"',
            "gitops.stages[2].timeoutSeconds: 30 is out of range; use seconds from 60 to 86400 such as 1800",
        ],
    ],
    [
        "several stage problems at once, each naming its stage",
        (c) => {
            c.gitops.stages = [
                { name: "one", path: "gitops/one", dependsOn: ["two"] },
                { name: "two", path: "gitops/two", dependsOn: [] },
                { name: "one", path: "gitops/three", dependsOn: ["two", "four"] },
            ];
        },
        [
            'gitops.stages[2].name: "one" is already used by gitops.stages[0]; give every stage its own name (it is the Application\'s name)',
            `gitops.stages[0].dependsOn: "two" is a later stage; ${SEED}`,
            `gitops.stages[2].dependsOn: "four" is not a stage; ${SEED}: use one of "one", "two"`,
        ],
    ],
    [
        "missing repository URL",
        (c) => {
            c.gitops = { targetRevision: "v1.0.0" };
        },
        ['gitops.repoUrl: missing; set the GitOps repository such as "git@github.com:org/repo.git" (or {} to turn GitOps off)'],
    ],
    [
        "a repository URL that is not Git",
        (c) => {
            c.gitops.repoUrl = "github.com/example/opke";
        },
        ['gitops.repoUrl: "github.com/example/opke" is not a Git repository URL; use "git@github.com:org/repo.git" (deploy key) or "https://github.com/org/repo.git" (token)'],
    ],
    [
        "an HTTPS URL with the default deploy key",
        (c) => {
            c.gitops.repoUrl = "https://github.com/example/opke.git";
        },
        [
            'gitops.repoUrl: "https://github.com/example/opke.git" is an HTTPS URL but gitops.credentials is "deploy-key" (default); ' +
                'a deploy key needs the SSH form such as "git@github.com:example/opke.git", or set gitops.credentials: https-token',
        ],
    ],
    [
        "an SSH URL with a token",
        (c) => {
            c.gitops.credentials = "https-token";
        },
        [
            'gitops.repoUrl: "git@github.com:example/opke.git" is an SSH URL but gitops.credentials is "https-token"; ' +
                'a token needs the https form such as "https://github.com/org/repo.git", or use gitops.credentials: deploy-key',
        ],
    ],
    [
        "two chart sources and a bad version",
        (c) => {
            c.gitops.chart = { version: "latest", repository: "https://charts.example.com/argo", oci: "oci://ghcr.io/argoproj/argo-helm/argo-cd" };
        },
        [
            `gitops.chart.version: "latest" is not a chart version; use MAJOR.MINOR.PATCH such as "${versions.argocd.chart}"`,
            "gitops.chart: sets repository and oci; choose one chart source (repository, oci or path)",
        ],
    ],
    [
        "GitHub SSO without an organisation",
        (c) => {
            c.gitops.sso = { provider: "github", clientId: "Iv1.abc" };
        },
        ['gitops.sso.orgs: missing; without an organisation any GitHub account can log in, so list at least one such as ["example"]'],
    ],
    [
        "GitLab SSO without a group, with an http base URL",
        (c) => {
            c.gitops.sso = { provider: "gitlab", clientId: "abc", baseUrl: "http://gitlab.example.com" };
        },
        [
            'gitops.sso.baseUrl: "http://gitlab.example.com" is not an https URL; use https://host such as "https://gitlab.example.com"',
            'gitops.sso.groups: missing; without a group any GitLab account can log in, so list at least one such as ["example/platform"]',
        ],
    ],
    [
        "unknown webhook provider and a typo in the block",
        (c) => {
            c.gitops.webhook = { provider: "bitbucket" };
            c.gitops.stage = [];
        },
        [
            'gitops.webhook.provider: "bitbucket" is not allowed; use one of "github", "gitlab", "gitea"',
            "gitops.stage: unknown key; did you mean stages? allowed keys are repoUrl, targetRevision, chart, namespace, url, sso, credentials, tokenUsername, webhook, selfManagement, commonSecrets, stages",
        ],
    ],
    [
        "a tunnel without gitops, without hostnames",
        (c) => {
            delete c.gitops;
            c.cloudflare = { accountId: ACCOUNT, zoneId: ZONE, tunnel: {} };
        },
        [
            "cloudflare.tunnel: needs gitops; cloudflared runs in the cluster as an Argo CD app, so set gitops.repoUrl, or use cloudflare.dns instead",
            'cloudflare.tunnel.hostnames: {} is empty; route at least one hostname such as {argocd: "argocd.example.com"}',
        ],
    ],
    [
        "the API's own name through the tunnel, and a record for a tunnel hostname",
        (c) => {
            c.cloudflare = {
                accountId: ACCOUNT,
                zoneId: ZONE,
                tunnel: { hostnames: { api: "api.test.example", argocd: "argocd.test.example" } },
                dns: { records: [{ name: "argocd.test.example", type: "A", content: "203.0.113.10" }, { name: "argocd.test.example", type: "A", content: "203.0.113.11" }] },
            };
        },
        [
            'cloudflare.tunnel.hostnames.api: "api.test.example" is apiDnsName; the nodes reach the API by that name, so it must not point at the tunnel; use another name such as "k8s.example.com"',
            'cloudflare.dns.records[0].name: "argocd.test.example" is also cloudflare.tunnel.hostnames.argocd; the tunnel creates that CNAME, so remove the record',
            'cloudflare.dns.records[1].name: "argocd.test.example" is already a A record in cloudflare.dns.records[0]; list each record once',
            'cloudflare.dns.records[1].name: "argocd.test.example" is also cloudflare.tunnel.hostnames.argocd; the tunnel creates that CNAME, so remove the record',
        ],
    ],
    [
        "malformed Cloudflare IDs and records",
        (c) => {
            c.cloudflare = { accountId: "acct", dns: { records: [{ name: "API.example.com", type: "MX", content: "" }] } };
        },
        [
            "cloudflare.accountId: \"acct\" is not a Cloudflare account ID; copy the 32 hex characters from the dashboard",
            "cloudflare.zoneId: missing; set the ID of the DNS zone the hostnames live in (32 hex characters)",
            'cloudflare.dns.records[0].name: "API.example.com" is not a DNS name; use lowercase labels separated by dots such as "argocd.example.com"',
            'cloudflare.dns.records[0].type: "MX" is not allowed; use one of "A", "AAAA", "CNAME"',
            'cloudflare.dns.records[0].content: "" is empty; give the address or target name',
        ],
    ],
];

describe("gitops and cloudflare blocks: bad configs give exactly these lines", () => {
    test.each(BAD)("%s", (_name, mutate, expected) => {
        const c = base();
        mutate(c);
        expect(issuesOf(c)).toEqual(expected);
    });

    test("the table covers at least ten stage-graph cases", () => {
        expect(BAD.filter(([, , lines]) => lines.some((l) => l.startsWith("gitops.stages"))).length).toBeGreaterThanOrEqual(10);
    });
});

describe("good configs", () => {
    test("a repository URL alone gets every default", () => {
        const cfg = parseClusterConfig(base());
        expect(cfg.gitops).toEqual({
            repoUrl: "git@github.com:example/opke.git",
            targetRevision: "main",
            chart: { version: versions.argocd.chart },
            namespace: "argocd",
            credentials: "deploy-key",
            tokenUsername: "git",
            selfManagement: { enabled: true, path: "gitops/argocd" },
            commonSecrets: { namespace: "cluster-secrets", replicateTo: ".*" },
            stages: [
                { name: "appstage-00-bootstrap", path: "gitops/appstage-00-bootstrap/{platform}", syncOptions: [], timeoutSeconds: 1800 },
                { name: "appstage-01-online", path: "gitops/appstage-01-online", syncOptions: [], timeoutSeconds: 1800 },
                { name: "appstage-02-example", path: "gitops/appstage-02-example", syncOptions: [], timeoutSeconds: 1800 },
            ],
        });
        expect(cfg.cloudflare).toBeUndefined();
    });

    test("{} (the Pulumi.yaml default the engine fills in) means no GitOps and no Cloudflare", () => {
        const c = base();
        c.gitops = {};
        c.cloudflare = {};
        const cfg = parseClusterConfig(c);
        expect(cfg.gitops).toBeUndefined();
        expect(cfg.cloudflare).toBeUndefined();
        expect(gitopsPlan(cfg)).toBeUndefined();
    });

    test("dependencies default to the previous stage; [] and earlier stages are allowed", () => {
        const c = base();
        c.gitops.stages = [
            { name: "a", path: "gitops/a" },
            { name: "b", path: "gitops/b" },
            { name: "c", path: "gitops/c", dependsOn: ["a"] },
            { name: "d", path: "gitops/d", dependsOn: [] },
            { name: "e", path: "gitops/e", dependsOn: ["b", "c", "d"] },
        ];
        const cfg = parseClusterConfig(c);
        expect(stageDependencies(cfg.gitops!.stages)).toEqual([[], ["a"], ["a"], [], ["b", "c", "d"]]);
    });

    test("{platform} in a stage path is the cluster's platform", () => {
        const bm = gitopsPlan(parseClusterConfig(base()))!;
        expect(bm.stages.map((s) => s.path)).toEqual(["gitops/appstage-00-bootstrap/bare-metal", "gitops/appstage-01-online", "gitops/appstage-02-example"]);
    });

    test("a full config with SSO, token, webhook, OCI chart and a tunnel is accepted as written", () => {
        const c = base();
        c.gitops = {
            repoUrl: "https://gitlab.example.com/platform/opke.git",
            targetRevision: "v1.4.0",
            chart: { oci: "oci://registry.example.com/mirror/argo-cd" },
            url: "https://argocd.example.com",
            credentials: "https-token",
            tokenUsername: "oauth2",
            sso: { provider: "gitlab", clientId: "abc", groups: ["platform"], baseUrl: "https://gitlab.example.com", adminGroups: ["platform/admins"] },
            webhook: { provider: "gitlab" },
            selfManagement: { path: "gitops/argocd" },
            commonSecrets: { replicateTo: "app-.*,monitoring" },
        };
        c.cloudflare = { accountId: ACCOUNT, zoneId: ZONE, tunnel: { hostnames: { argocd: "argocd.example.com", api: "k8s.example.com" } } };
        const cfg = parseClusterConfig(c);
        expect(cfg.gitops!.chart).toEqual({ version: versions.argocd.chart, oci: "oci://registry.example.com/mirror/argo-cd" });
        expect(cfg.gitops!.sso).toEqual({ provider: "gitlab", clientId: "abc", orgs: [], groups: ["platform"], baseUrl: "https://gitlab.example.com", adminGroups: ["platform/admins"] });
        expect(cfg.cloudflare!.tunnel).toEqual({ enabled: true, hostnames: { argocd: "argocd.example.com", api: "k8s.example.com" }, namespace: "cloudflared" });
        const plan = gitopsPlan(cfg)!;
        expect([plan.url, plan.cloudflareToken, plan.tunnel]).toEqual(["https://argocd.example.com", true, { namespace: "cloudflared", hostnames: { argocd: "argocd.example.com", api: "k8s.example.com" } }]);
    });

    test("plain DNS records without gitops are fine", () => {
        const c = base();
        delete c.gitops;
        c.cloudflare = { accountId: ACCOUNT, zoneId: ZONE, dns: { records: [{ name: "api.test.example", type: "A", content: "203.0.113.10" }] } };
        expect(parseClusterConfig(c).cloudflare!.dns!.records).toEqual([{ name: "api.test.example", type: "A", content: "203.0.113.10", proxied: false, ttl: 300 }]);
    });
});

describe("secret config keys and loaders", () => {
    const secretKeys = Object.values(GITOPS_SECRET_KEYS);

    test("the secret keys are exactly these", () => {
        expect(secretKeys).toEqual(["sopsAgeKey", "dexClientSecret", "gitopsToken", "registryCredentials", "cloudflareApiToken", "cloudflareDnsApiToken"]);
    });

    test("the engine's config map: secret keys are skipped, {} blocks are unset", () => {
        const all: Record<string, string> = {
            "opke:clusterName": "t",
            "opke:apiDnsName": "api.t.example",
            "opke:controllers": JSON.stringify([{ name: "c1", ip: "10.0.0.11" }]),
            "opke:ssh": JSON.stringify({ authorizedKeys: [KEY] }),
            "opke:gitops": "{}",
            "opke:cloudflare": "{}",
        };
        for (const k of secretKeys) all[`opke:${k}`] = "s3cr3t";
        const raw = rawConfigFromPulumi(all);
        for (const k of secretKeys) expect(raw).not.toHaveProperty(k);
        const cfg = loadPulumiConfig(all);
        expect([cfg.gitops, cfg.cloudflare]).toEqual([undefined, undefined]);
        expect(JSON.stringify(cfg)).not.toContain("s3cr3t");
    });

    describe("in a scratch project", () => {
        let dir: string;
        beforeEach(() => {
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "opke-gitops-config-"));
        });
        afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

        test("secure values of the secret keys are accepted by the stack file loader and never read", () => {
            const lines = [
                "config:",
                "  opke:clusterName: s",
                "  opke:apiDnsName: api.s.example",
                "  opke:controllers: [{ name: c1, ip: 10.0.0.11, mac: '52:54:00:00:00:11' }]",
                "  opke:ssh: { authorizedKeys: ['" + KEY + "'] }",
                "  opke:gitops: { repoUrl: 'git@github.com:example/opke.git' }",
                ...secretKeys.map((k) => `  opke:${k}:\n    secure: v1:AAAABBBB`),
                "",
            ];
            fs.writeFileSync(path.join(dir, "Pulumi.s.yaml"), lines.join("\n"));
            const cfg = loadStackFile(dir, "s");
            expect(cfg.gitops!.repoUrl).toBe("git@github.com:example/opke.git");
            for (const k of secretKeys) expect(cfg).not.toHaveProperty(k);
        });
    });
});

describe("Pulumi.yaml and Pulumi.dev.yaml", () => {
    const project = YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as { config: Record<string, Raw> };

    test("gitops and cloudflare are declared as optional mappings (default {}) and no secret key is declared", () => {
        expect(project.config.gitops.default).toEqual({});
        expect(project.config.cloudflare.default).toEqual({});
        expect(project.config.gitops.type).toBeUndefined();
        for (const k of Object.values(GITOPS_SECRET_KEYS)) {
            // A declared key needs a default (else every stack must set it), and a default cannot be secret.
            expect(project.config[k]).toBeUndefined();
            expect(project.config[`opke:${k}`]).toBeUndefined();
        }
    });

    test("the dev stack bootstraps GitOps with the default stages, written out", () => {
        const cfg = loadStackFile(ROOT, "dev");
        const plain = parseClusterConfig({ ...base(), gitops: { repoUrl: cfg.gitops!.repoUrl } });
        expect(cfg.gitops!.stages).toEqual(plain.gitops!.stages);
        expect(cfg.gitops!.webhook).toEqual({ provider: "github" });
        expect(cfg.gitops!.credentials).toBe("deploy-key");
        expect(gitopsPlan(cfg)!.stages.map((s) => [s.name, s.path, s.dependsOn])).toEqual([
            ["appstage-00-bootstrap", "gitops/appstage-00-bootstrap/bare-metal", []],
            ["appstage-01-online", "gitops/appstage-01-online", ["appstage-00-bootstrap"]],
            ["appstage-02-example", "gitops/appstage-02-example", ["appstage-01-online"]],
        ]);
    });
});
