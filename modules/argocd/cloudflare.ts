/**
 * `opke:argocd:Cloudflare`: online presence through Cloudflare, with an explicit
 * `cloudflare.Provider` built from the secret config `opke:cloudflareApiToken`.
 *
 * - Tunnel (cloudflare.tunnel): a remotely managed Cloudflare Tunnel, its ingress routes for the
 *   API and Argo CD hostnames, a proxied CNAME `<hostname> → <tunnel id>.cfargotunnel.com` per route,
 *   and the tunnel token (an invoke, secret) that the GitOps component stores as Secret
 *   `cloudflared/tunnel-token` for the cloudflared Deployment of stage 01. Routes point at in-cluster
 *   Services: Argo CD at `https://argocd-server.<ns>.svc.<clusterDomain>` (its own certificate, so
 *   `noTLSVerify`), the API at `tcp://kubernetes.default.svc.<clusterDomain>:443` (clients connect with
 *   `cloudflared access tcp --hostname <api> --url 127.0.0.1:6443`: client certificates cannot pass
 *   through an HTTP proxy).
 * - Plain DNS records (cloudflare.dns.records): for an API load balancer and ingress that are public.
 *
 * The API token needs Zone → DNS → Edit, plus Account → Cloudflare Tunnel → Edit for a tunnel.
 * Nothing here touches Kubernetes; the Secrets are the GitOps component's.
 */
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import type { ClusterConfig } from "../../lib/config/schema";

/** One ingress rule of the tunnel configuration (the last one is the catch-all 404). */
export interface TunnelIngress {
    hostname?: string;
    service: string;
    originRequest?: { noTlsVerify?: boolean };
}

/** The tunnel's ingress rules for the configured hostnames, then the required catch-all. */
export function tunnelIngresses(cfg: ClusterConfig): TunnelIngress[] {
    const tunnel = cfg.cloudflare?.tunnel;
    if (!tunnel || !tunnel.enabled) return [];
    const domain = cfg.network.clusterDomain;
    const ns = cfg.gitops?.namespace ?? "argocd";
    const rules: TunnelIngress[] = [];
    if (tunnel.hostnames.argocd) {
        rules.push({ hostname: tunnel.hostnames.argocd, service: `https://argocd-server.${ns}.svc.${domain}:443`, originRequest: { noTlsVerify: true } });
    }
    if (tunnel.hostnames.api) {
        rules.push({ hostname: tunnel.hostnames.api, service: `tcp://kubernetes.default.svc.${domain}:443` });
    }
    rules.push({ service: "http_status:404" });
    return rules;
}

/** The tunnel's name in the Cloudflare account. */
export function tunnelName(cfg: ClusterConfig): string {
    return `opke-${cfg.clusterName}`;
}

/** A DNS record as the component creates it (logical id suffix + arguments without the zone). */
export interface PlannedRecord {
    id: string;
    name: string;
    type: "A" | "AAAA" | "CNAME";
    /** `undefined` content means "the tunnel's CNAME target" (known after the tunnel exists). */
    content?: string;
    proxied: boolean;
    ttl: number;
    comment: string;
}

/** The DNS records: one proxied CNAME per tunnel route, then the plain records in config order. */
export function plannedRecords(cfg: ClusterConfig): PlannedRecord[] {
    const c = cfg.cloudflare;
    if (!c) return [];
    const out: PlannedRecord[] = [];
    if (c.tunnel?.enabled) {
        for (const route of ["argocd", "api"] as const) {
            const host = c.tunnel.hostnames[route];
            if (host) out.push({ id: `tunnel-${route}`, name: host, type: "CNAME", proxied: true, ttl: 1, comment: `opke ${cfg.clusterName}: ${route} through the Cloudflare tunnel` });
        }
    }
    for (const r of c.dns?.records ?? []) {
        out.push({ id: `${r.type.toLowerCase()}-${r.name}`, name: r.name, type: r.type, content: r.content, proxied: r.proxied, ttl: r.ttl, comment: `opke ${cfg.clusterName}` });
    }
    return out;
}

export interface CloudflareArgs {
    config: ClusterConfig;
    /** The API token (secret); defaults to the secret config `opke:cloudflareApiToken`. */
    apiToken?: pulumi.Input<string>;
}

export class CloudflareEdge extends pulumi.ComponentResource {
    public readonly provider: cloudflare.Provider;
    public readonly tunnel?: cloudflare.ZeroTrustTunnelCloudflared;
    public readonly tunnelConfig?: cloudflare.ZeroTrustTunnelCloudflaredConfig;
    public readonly records: cloudflare.DnsRecord[];
    /** Token of the tunnel's connector (secret): Secret cloudflared/tunnel-token. */
    public readonly tunnelToken?: pulumi.Output<string>;
    /** The tunnel's ID (its CNAME target is `<id>.cfargotunnel.com`, settings.env `dnsTarget`). */
    public readonly tunnelId?: pulumi.Output<string>;

    constructor(name: string, args: CloudflareArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opke:argocd:Cloudflare", name, {}, opts);
        const cfg = args.config;
        const c = cfg.cloudflare;
        if (!c) throw new Error("Cloudflare: config.cloudflare is not set; create the component only when the cloudflare block is configured");
        const apiToken = args.apiToken ?? new pulumi.Config("opke").getSecret("cloudflareApiToken");
        if (apiToken === undefined) {
            throw new Error("cloudflare is set but opke:cloudflareApiToken is not; run `pulumi config set --secret opke:cloudflareApiToken <token>` (Zone DNS edit, plus Cloudflare Tunnel edit for a tunnel)");
        }
        this.provider = new cloudflare.Provider(`${name}-cloudflare`, { apiToken: pulumi.secret(apiToken) }, { parent: this });
        const o = { parent: this, provider: this.provider };

        let target: pulumi.Output<string> | undefined;
        if (c.tunnel?.enabled) {
            this.tunnel = new cloudflare.ZeroTrustTunnelCloudflared(`${name}-tunnel`, { accountId: c.accountId, name: tunnelName(cfg), configSrc: "cloudflare" }, o);
            this.tunnelId = this.tunnel.id;
            this.tunnelConfig = new cloudflare.ZeroTrustTunnelCloudflaredConfig(
                `${name}-tunnel-config`,
                { accountId: c.accountId, tunnelId: this.tunnel.id, source: "cloudflare", config: { ingresses: tunnelIngresses(cfg) } },
                o,
            );
            this.tunnelToken = pulumi.secret(
                cloudflare.getZeroTrustTunnelCloudflaredTokenOutput({ accountId: c.accountId, tunnelId: this.tunnel.id }, { parent: this, provider: this.provider }).token,
            );
            target = pulumi.interpolate`${this.tunnel.id}.cfargotunnel.com`;
        }
        this.records = plannedRecords(cfg).map(
            (r) =>
                new cloudflare.DnsRecord(
                    `${name}-dns-${r.id}`,
                    { zoneId: c.zoneId, name: r.name, type: r.type, content: r.content ?? target!, proxied: r.proxied, ttl: r.ttl, comment: r.comment },
                    { ...o, ...(this.tunnelConfig && r.content === undefined ? { dependsOn: [this.tunnelConfig] } : {}) },
                ),
        );
        this.registerOutputs({ tunnelId: this.tunnelId, records: this.records.map((r) => r.name) });
    }
}
