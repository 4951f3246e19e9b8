/**
 * Reusable Pulumi mocks for unit tests.
 *
 * Usage (mocks must be installed BEFORE the modules under test are loaded — load them inside
 * `beforeAll` with `require`; ts-jest with module node16 leaves `import()` native, which jest
 * refuses without --experimental-vm-modules):
 *
 *     import { PulumiMocks, setupPulumiMocks, outputValue } from "./helpers/mocks";
 *     let mocks: PulumiMocks;
 *     beforeAll(async () => {
 *         mocks = await setupPulumiMocks();
 *         const { EtcdCluster } = require("../modules/etcd/component") as typeof import("../modules/etcd/component");
 *         const etcd = new EtcdCluster("dev", { config: cfg });
 *         await outputValue(etcd.material);            // everything it depends on is registered
 *         expect(mocks.countsByType()).toEqual({ ... });
 *     });
 *
 * What it does:
 *   - records every resource registration (custom resources AND components; filter on `custom`)
 *     with its type, name, inputs (secret markers unwrapped recursively) and `secretInputs`: the
 *     top-level input keys whose value arrived secret (wholly, or containing a secret);
 *   - returns outputs = inputs, plus for the @pulumi/tls types REAL material generated in-process
 *     with node:crypto + @peculiar/x509 (lib/pki/local.ts), so renderers downstream get valid PEMs
 *     that pass `openssl verify`:
 *       tls:index/privateKey:PrivateKey             privateKeyPem (PKCS#1 / SEC1 / PKCS#8 as the
 *                                                   provider), privateKeyPemPkcs8, publicKeyPem
 *       tls:index/selfSignedCert:SelfSignedCert     certPem (self-signed with privateKeyPem)
 *       tls:index/certRequest:CertRequest           certRequestPem (a real, signed PKCS#10)
 *       tls:index/locallySignedCert:LocallySignedCert  certPem (subject + SANs from the CSR, signed
 *                                                   with caPrivateKeyPem, issuer = caCertPem)
 *     plus validityStartTime/validityEndTime/readyForRenewal(false)/keyAlgorithm. Not provided:
 *     OpenSSH encodings and fingerprints of PrivateKey (add them here if a test needs them);
 *   - emulates (unless `secretOutputs: false`) the provider SDK's `additionalSecretOutputs`
 *     (which the mock monitor ignores):
 *     PrivateKey.{privateKeyPem, privateKeyPemPkcs8, privateKeyOpenssh}, SelfSignedCert and
 *     CertRequest `privateKeyPem`, LocallySignedCert `caPrivateKeyPem` come back as secrets, as
 *     they do from the real engine, so secretness propagates to dependents as in a deployment;
 *   - `call` (invokes) returns its inputs unless `options.call` says otherwise.
 *
 * Cost: real keys are real work — an RSA-2048 key takes ~0.3–0.5 s of CPU (a full RSA cluster PKI
 * under mocks ~5 s on 2 cores); ECDSA keys take milliseconds. Tests that don't care about the key
 * algorithm can set `pki: { algorithm: "ECDSA" }` in their config.
 *
 * What it does not do: run providers, resource options (protect, ignoreChanges, …) are not
 * visible to mocks (see anchors-pulumi.md §B.7), no transforms, no diff/replace semantics.
 */
import * as pulumi from "@pulumi/pulumi";
import * as crypto from "node:crypto";
import { createCertRequest, generateKey, issueCertificate, keyMaterial, readCertRequest } from "../../lib/pki/local";
import type { KeySpec } from "../../lib/pki/spec";

export const TLS_TYPES = {
    privateKey: "tls:index/privateKey:PrivateKey",
    selfSignedCert: "tls:index/selfSignedCert:SelfSignedCert",
    certRequest: "tls:index/certRequest:CertRequest",
    locallySignedCert: "tls:index/locallySignedCert:LocallySignedCert",
} as const;

/** Outputs the provider SDK marks secret through `additionalSecretOutputs`. */
const SECRET_OUTPUTS: Record<string, string[]> = {
    [TLS_TYPES.privateKey]: ["privateKeyPem", "privateKeyPemPkcs8", "privateKeyOpenssh"],
    [TLS_TYPES.selfSignedCert]: ["privateKeyPem"],
    [TLS_TYPES.certRequest]: ["privateKeyPem"],
    [TLS_TYPES.locallySignedCert]: ["caPrivateKeyPem"],
};

export interface RecordedResource {
    type: string;
    name: string;
    /** False for component resources. */
    custom: boolean;
    /** Inputs with secret markers unwrapped. */
    inputs: Record<string, any>;
    /** Top-level input keys whose value was (or contained) a secret. Sorted. */
    secretInputs: string[];
    /** What the mock returned as state (unwrapped). */
    outputs: Record<string, any>;
    provider?: string;
}

export interface PulumiMocks {
    /** Every registration, in registration order. */
    readonly resources: RecordedResource[];
    /** Every invoke. */
    readonly calls: pulumi.runtime.MockCallArgs[];
    /** Custom resources of one type. */
    ofType(type: string): RecordedResource[];
    /** The one resource with this type and name; throws when missing. */
    get(type: string, name: string): RecordedResource;
    /** Number of custom resources per type. */
    countsByType(): Record<string, number>;
    /** Forget what was recorded (the mocks stay installed). */
    reset(): void;
}

export interface MockOptions {
    project?: string;
    stack?: string;
    /** Run as a preview (`isDryRun()` true; applies on unknowns don't run). Default false. */
    preview?: boolean;
    /** Extra or overriding outputs for a registration; return undefined to keep the defaults. */
    outputs?: (args: pulumi.runtime.MockResourceArgs, inputs: Record<string, any>) => Record<string, any> | undefined | Promise<Record<string, any> | undefined>;
    /**
     * Emulate the tls SDK's `additionalSecretOutputs` (default true). Turn it off to check that
     * code marks something secret by itself rather than by inheriting a provider's secret.
     */
    secretOutputs?: boolean;
    /** Result of an invoke; default: its inputs. */
    call?: (args: pulumi.runtime.MockCallArgs) => Record<string, any>;
}

/** Installs the mocks (awaits `setMocks`) and returns the recorder. */
export async function setupPulumiMocks(options: MockOptions = {}): Promise<PulumiMocks> {
    const resources: RecordedResource[] = [];
    const calls: pulumi.runtime.MockCallArgs[] = [];
    const mocks: pulumi.runtime.Mocks = {
        async newResource(args) {
            const raw = (args.inputs ?? {}) as Record<string, unknown>;
            const inputs = unwrapSecrets(raw) as Record<string, any>;
            const secretInputs = Object.keys(raw).filter((k) => containsSecret(raw[k])).sort();
            let outputs: Record<string, any> = { ...inputs, ...(await tlsOutputs(args.type, inputs)) };
            const extra = options.outputs ? await options.outputs(args, inputs) : undefined;
            if (extra) outputs = { ...outputs, ...extra };
            resources.push({ type: args.type, name: args.name, custom: args.custom !== false, inputs, secretInputs, outputs, provider: args.provider });
            const state: Record<string, any> = { ...outputs };
            for (const key of options.secretOutputs === false ? [] : SECRET_OUTPUTS[args.type] ?? []) {
                if (state[key] !== undefined) state[key] = { [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig, value: state[key] };
            }
            return { id: args.custom === false ? undefined : `${args.name}-id`, state };
        },
        call(args) {
            calls.push(args);
            return options.call ? options.call(args) : (unwrapSecrets(args.inputs) as Record<string, any>);
        },
    };
    await pulumi.runtime.setMocks(mocks, options.project ?? "opke", options.stack ?? "test", options.preview ?? false);
    return {
        resources,
        calls,
        ofType: (type) => resources.filter((r) => r.custom && r.type === type),
        get(type, name) {
            const found = resources.filter((r) => r.type === type && r.name === name);
            if (found.length !== 1) throw new Error(`expected one ${type} named ${name}, found ${found.length}`);
            return found[0];
        },
        countsByType() {
            const counts: Record<string, number> = {};
            for (const r of resources) if (r.custom) counts[r.type] = (counts[r.type] ?? 0) + 1;
            return counts;
        },
        reset() {
            resources.length = 0;
            calls.length = 0;
        },
    };
}

/** The value of an Output (resolves after the mocks answered). Unknowns resolve to undefined. */
export function outputValue<T>(o: pulumi.Output<T>): Promise<T> {
    return new Promise((resolve) => o.apply((v) => { resolve(v); return v; }));
}

/** Removes the SDK's secret wrappers recursively. */
export function unwrapSecrets(v: unknown): unknown {
    if (Array.isArray(v)) return v.map(unwrapSecrets);
    if (v && typeof v === "object") {
        const o = v as Record<string, unknown>;
        if (o[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig) return unwrapSecrets(o.value);
        return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, unwrapSecrets(x)]));
    }
    return v;
}

function containsSecret(v: unknown): boolean {
    if (Array.isArray(v)) return v.some(containsSecret);
    if (v && typeof v === "object") {
        const o = v as Record<string, unknown>;
        if (o[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig) return true;
        return Object.values(o).some(containsSecret);
    }
    return false;
}

/** Real key and certificate material for the @pulumi/tls resource types; {} for anything else. */
async function tlsOutputs(type: string, inputs: Record<string, any>): Promise<Record<string, any>> {
    switch (type) {
        case TLS_TYPES.privateKey: {
            const algorithm = inputs.algorithm as KeySpec["algorithm"];
            const spec: KeySpec = algorithm === "RSA"
                ? { algorithm, rsaBits: inputs.rsaBits ?? 2048 }
                : algorithm === "ECDSA"
                  ? { algorithm, ecdsaCurve: inputs.ecdsaCurve ?? "P224" }
                  : { algorithm };
            const key = await generateKey(spec);
            return {
                ...(spec.rsaBits !== undefined ? { rsaBits: spec.rsaBits } : {}),
                ...(spec.ecdsaCurve !== undefined ? { ecdsaCurve: spec.ecdsaCurve } : {}),
                ...key,
            };
        }
        case TLS_TYPES.selfSignedCert: {
            const keyPem = inputs.privateKeyPem as string;
            const certPem = await issueCertificate({
                subject: subjectOf(inputs.subject),
                dnsNames: inputs.dnsNames ?? [],
                ipAddresses: inputs.ipAddresses ?? [],
                usages: inputs.allowedUses ?? [],
                isCa: inputs.isCaCertificate ?? false,
                validityHours: inputs.validityPeriodHours,
                publicKeyPem: keyMaterial(keyPem).publicKeyPem,
                signer: { keyPem },
            });
            return { certPem, keyAlgorithm: keyAlgorithm(keyPem), ...certTimes(certPem) };
        }
        case TLS_TYPES.certRequest: {
            const certRequestPem = await createCertRequest({
                privateKeyPem: inputs.privateKeyPem,
                subject: subjectOf(inputs.subject),
                dnsNames: inputs.dnsNames ?? [],
                ipAddresses: inputs.ipAddresses ?? [],
            });
            return { certRequestPem, keyAlgorithm: keyAlgorithm(inputs.privateKeyPem) };
        }
        case TLS_TYPES.locallySignedCert: {
            const csr = await readCertRequest(inputs.certRequestPem);
            const certPem = await issueCertificate({
                ...csr,
                usages: inputs.allowedUses ?? [],
                isCa: inputs.isCaCertificate ?? false,
                validityHours: inputs.validityPeriodHours,
                signer: { keyPem: inputs.caPrivateKeyPem, certPem: inputs.caCertPem },
            });
            return { certPem, caKeyAlgorithm: keyAlgorithm(inputs.caPrivateKeyPem), ...certTimes(certPem) };
        }
        default:
            return {};
    }
}

function subjectOf(s: { commonName?: string; organization?: string } | undefined): { commonName: string; organization?: string } {
    return s?.organization !== undefined ? { commonName: s.commonName ?? "", organization: s.organization } : { commonName: s?.commonName ?? "" };
}

function keyAlgorithm(pem: string): string {
    const t = crypto.createPrivateKey(pem).asymmetricKeyType;
    return t === "rsa" ? "RSA" : t === "ec" ? "ECDSA" : t === "ed25519" ? "ED25519" : String(t);
}

function certTimes(certPem: string): { validityStartTime: string; validityEndTime: string; readyForRenewal: boolean } {
    const cert = new crypto.X509Certificate(certPem);
    const iso = (d: string) => new Date(d).toISOString().replace(/\.000Z$/, "Z");
    return { validityStartTime: iso(cert.validFrom), validityEndTime: iso(cert.validTo), readyForRenewal: false };
}
