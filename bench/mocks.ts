/**
 * Minimal, fast Pulumi mocks for the benchmark (not test/helpers/mocks.ts: that one generates real
 * keys and certificates in the tls mock and unwraps/records every input, which would measure the
 * mock rather than opke).
 *
 * - every registration is counted (custom resources, providers among them, and components);
 * - outputs = inputs, plus for @pulumi/tls the fake PEMs of bench/fake-tls.ts (deterministic), for
 *   floating IPs a deterministic address, for the load balancer a VIP address and port;
 *   invokes return their inputs (getNetwork also a `name`);
 * - the provider SDKs' `additionalSecretOutputs` of @pulumi/tls (private keys) are emulated, as in
 *   test/helpers/mocks.ts, so secretness propagates as in a deployment;
 * - optionally (`record`) a canonical hash of every custom resource's inputs, as the engine
 *   received them (secret markers kept: a change of secretness is a change), per top-level key,
 *   plus the SSH target of every command — for the no-op / upgrade diffs. Off in timed runs.
 */
import * as crypto from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import type { KeySpec } from "../lib/pki/spec";
import { fakeCert, fakeCsr, fakeKey, keySpecOfPem } from "./fake-tls";

export const TYPES = {
    privateKey: "tls:index/privateKey:PrivateKey",
    selfSignedCert: "tls:index/selfSignedCert:SelfSignedCert",
    certRequest: "tls:index/certRequest:CertRequest",
    locallySignedCert: "tls:index/locallySignedCert:LocallySignedCert",
    remoteCommand: "command:remote:Command",
    localCommand: "command:local:Command",
    floatingIp: "openstack:networking/floatingIp:FloatingIp",
    loadBalancer: "openstack:loadbalancer/loadBalancer:LoadBalancer",
} as const;

const SECRET_OUTPUTS: Record<string, string[]> = {
    [TYPES.privateKey]: ["privateKeyPem", "privateKeyPemPkcs8", "privateKeyOpenssh"],
    [TYPES.selfSignedCert]: ["privateKeyPem"],
    [TYPES.certRequest]: ["privateKeyPem"],
    [TYPES.locallySignedCert]: ["caPrivateKeyPem"],
};

export interface RecordedResource {
    type: string;
    name: string;
    /** sha256 of the canonical JSON of all inputs. */
    inputs: string;
    /** sha256 per top-level input key. */
    keys: Record<string, string>;
    /** Commands: where the SSH session goes (connection host, and the proxy host if any). */
    target?: { host?: string; proxy?: string };
}

export interface BenchRecorder {
    custom: number;
    components: number;
    byType: Record<string, number>;
    recorded?: RecordedResource[];
}

export interface BenchMockOptions {
    record: boolean;
    preview: boolean;
    /** Floating IP resource name → address (deterministic attribution of SSH targets). */
    floatingIpAddress: (name: string) => string;
}

/** JSON with sorted object keys. */
export function canonicalJson(v: unknown): string {
    if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
    if (v && typeof v === "object") {
        const o = v as Record<string, unknown>;
        return `{${Object.keys(o)
            .sort()
            .filter((k) => o[k] !== undefined)
            .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
            .join(",")}}`;
    }
    return JSON.stringify(v) ?? "null";
}

function sha(text: string): string {
    return crypto.createHash("sha256").update(text).digest("hex");
}

function unwrap(v: unknown): unknown {
    if (v && typeof v === "object" && !Array.isArray(v)) {
        const o = v as Record<string, unknown>;
        if (o[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig) return unwrap(o.value);
    }
    return v;
}

function keySpecOf(inputs: Record<string, any>): KeySpec {
    switch (inputs.algorithm) {
        case "RSA":
            return { algorithm: "RSA", rsaBits: inputs.rsaBits ?? 2048 };
        case "ECDSA":
            return { algorithm: "ECDSA", ecdsaCurve: inputs.ecdsaCurve ?? "P256" };
        default:
            return { algorithm: "ED25519" };
    }
}

/** Outputs beyond the inputs, by type. `inputs` are unwrapped at the top level only where needed. */
function extraOutputs(type: string, name: string, raw: Record<string, unknown>, o: BenchMockOptions): Record<string, unknown> {
    const get = (k: string): any => unwrap(raw[k]);
    const certInput = () => {
        const subject = (get("subject") ?? {}) as { commonName?: string; organization?: string };
        return { commonName: subject.commonName ?? "", organization: subject.organization, dnsNames: (get("dnsNames") ?? []) as string[], ipAddresses: (get("ipAddresses") ?? []) as string[] };
    };
    // Material depends on the resource name and its inputs, so equal configs give equal PEMs.
    const seed = () => `${type}/${name}/${sha(canonicalJson(raw))}`;
    switch (type) {
        case TYPES.privateKey: {
            const spec = keySpecOf(raw);
            return { ...fakeKey(`${type}/${name}/${canonicalJson(spec)}`, spec), ...(spec.rsaBits ? { rsaBits: spec.rsaBits } : {}), ...(spec.ecdsaCurve ? { ecdsaCurve: spec.ecdsaCurve } : {}) };
        }
        case TYPES.selfSignedCert:
            return { certPem: fakeCert(seed(), certInput(), keySpecOfPem(String(get("privateKeyPem") ?? ""), { algorithm: "RSA" })), readyForRenewal: false };
        case TYPES.certRequest:
            return { certRequestPem: fakeCsr(seed(), certInput(), keySpecOfPem(String(get("privateKeyPem") ?? ""), { algorithm: "RSA" })) };
        case TYPES.locallySignedCert:
            // The request's subject/SANs are inside the (fake) CSR; size it like a typical leaf.
            return { certPem: fakeCert(seed(), { commonName: name, dnsNames: ["a".repeat(60)], ipAddresses: ["", "", ""] }, keySpecOfPem(String(get("caPrivateKeyPem") ?? ""), { algorithm: "RSA" })), readyForRenewal: false };
        case TYPES.floatingIp:
            return { address: o.floatingIpAddress(name) };
        case TYPES.loadBalancer:
            return { vipAddress: "10.0.15.250", vipPortId: `${name}-vip-port` };
        default:
            return {};
    }
}

/** Installs the mocks (awaits `setMocks`) and returns the live counters. */
export async function installBenchMocks(o: BenchMockOptions): Promise<BenchRecorder> {
    const rec: BenchRecorder = { custom: 0, components: 0, byType: {}, ...(o.record ? { recorded: [] } : {}) };
    const mocks: pulumi.runtime.Mocks = {
        newResource(args) {
            const raw = (args.inputs ?? {}) as Record<string, unknown>;
            if (args.custom === false) {
                rec.components++;
                return { id: undefined, state: raw };
            }
            rec.custom++;
            rec.byType[args.type] = (rec.byType[args.type] ?? 0) + 1;
            if (rec.recorded) {
                const keys: Record<string, string> = {};
                for (const k of Object.keys(raw).sort()) if (raw[k] !== undefined) keys[k] = sha(canonicalJson(raw[k]));
                const r: RecordedResource = { type: args.type, name: args.name, inputs: sha(canonicalJson(raw)), keys };
                if (args.type === TYPES.remoteCommand) {
                    const conn = unwrap(raw.connection) as { host?: unknown; proxy?: unknown } | undefined;
                    const proxy = unwrap(conn?.proxy) as { host?: unknown } | undefined;
                    r.target = { host: conn ? String(unwrap(conn.host)) : undefined, ...(proxy ? { proxy: String(unwrap(proxy.host)) } : {}) };
                }
                rec.recorded.push(r);
            }
            const state: Record<string, unknown> = { ...raw, ...extraOutputs(args.type, args.name, raw, o) };
            for (const key of SECRET_OUTPUTS[args.type] ?? []) {
                if (state[key] !== undefined && typeof state[key] === "string") {
                    state[key] = { [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig, value: state[key] };
                }
            }
            return { id: `${args.name}-id`, state };
        },
        call(args) {
            const inputs = (args.inputs ?? {}) as Record<string, unknown>;
            if (args.token === "openstack:networking/getNetwork:getNetwork") return { ...inputs, id: inputs.networkId, name: "public" };
            return inputs;
        },
    };
    await pulumi.runtime.setMocks(mocks, "opke", "bench", o.preview);
    return rec;
}

/**
 * Resolves once every RPC the runtime started (registrations, their outputs, invokes) has
 * finished, also those started by applies that ran meanwhile. Uses the SDK's own drain
 * (`waitForRPCs`, what `pulumi.runtime.disconnect` awaits before the language host exits).
 */
export async function settle(): Promise<void> {
    const runtime = pulumi.runtime as unknown as { waitForRPCs?: () => Promise<void> };
    if (typeof runtime.waitForRPCs !== "function") throw new Error("@pulumi/pulumi has no runtime.waitForRPCs; update bench/mocks.ts settle()");
    await runtime.waitForRPCs();
}
