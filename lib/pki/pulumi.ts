/**
 * The Pulumi PKI backend: @pulumi/tls resources from a `PkiDescription`.
 *
 * The PKI is shared, so it has no component of its own: the OPKE module components
 * (`opke:etcd:EtcdCluster`, `opke:bootkube:ControlPlane`) call `createPki` with their own
 * description and themselves as `parent`, and the keys and certificates show up under them.
 *
 * Per certificate `<id>`: `tls.PrivateKey` `<name>-<id>-key`, then either `tls.SelfSignedCert`
 * `<name>-<id>` (a CA) or `tls.CertRequest` `<name>-<id>-csr` + `tls.LocallySignedCert`
 * `<name>-<id>`. Per key pair `<id>`: `tls.PrivateKey` `<name>-<id>-key`. No other options than
 * `parent`: rotation follows `earlyRenewalHours` (see anchors: it is noticed on refresh).
 */
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { checkPkiDescription } from "./local";
import type { CertSpec, KeySpec, PkiDescription, PkiMaterial } from "./spec";

/** What `createPki` made: the material (one secret Output) and the resources by spec id. */
export interface ClusterPki {
    /** Every certificate and key by spec id. Secret. */
    material: pulumi.Output<PkiMaterial>;
    resources: {
        /** One per certificate and per key pair. */
        keys: Record<string, tls.PrivateKey>;
        /** One per certificate that has an issuer. */
        certRequests: Record<string, tls.CertRequest>;
        /** `SelfSignedCert` for CAs, `LocallySignedCert` for everything an issuer signs. */
        certificates: Record<string, tls.SelfSignedCert | tls.LocallySignedCert>;
    };
}

export function createPki(name: string, desc: PkiDescription, parent: pulumi.Resource): ClusterPki {
    checkPkiDescription(desc);
    const opts: pulumi.CustomResourceOptions = { parent };
    const keys: ClusterPki["resources"]["keys"] = {};
    const certRequests: ClusterPki["resources"]["certRequests"] = {};
    const certificates: ClusterPki["resources"]["certificates"] = {};

    for (const c of desc.certificates) {
        const key = new tls.PrivateKey(`${name}-${c.id}-key`, privateKeyArgs(c.key), opts);
        keys[c.id] = key;
        const common = {
            allowedUses: [...c.usages],
            validityPeriodHours: c.validityHours,
            earlyRenewalHours: c.earlyRenewalHours,
            isCaCertificate: c.isCa,
            setSubjectKeyId: true,
        };
        if (c.issuer === undefined) {
            certificates[c.id] = new tls.SelfSignedCert(
                `${name}-${c.id}`,
                { privateKeyPem: key.privateKeyPem, ...subjectAndSans(c), ...common, setAuthorityKeyId: true },
                opts,
            );
        } else {
            const csr = new tls.CertRequest(`${name}-${c.id}-csr`, { privateKeyPem: key.privateKeyPem, ...subjectAndSans(c) }, opts);
            certRequests[c.id] = csr;
            certificates[c.id] = new tls.LocallySignedCert(
                `${name}-${c.id}`,
                {
                    certRequestPem: csr.certRequestPem,
                    caCertPem: certificates[c.issuer].certPem,
                    caPrivateKeyPem: keys[c.issuer].privateKeyPem,
                    ...common,
                },
                opts,
            );
        }
    }
    for (const k of desc.keyPairs) {
        keys[k.id] = new tls.PrivateKey(`${name}-${k.id}-key`, privateKeyArgs(k.key), opts);
    }

    const certOutputs: Record<string, pulumi.Output<{ certPem: string; keyPem: string }>> = {};
    for (const c of desc.certificates) {
        certOutputs[c.id] = pulumi.all([certificates[c.id].certPem, keys[c.id].privateKeyPem]).apply(([certPem, keyPem]) => ({ certPem, keyPem }));
    }
    const pairOutputs: Record<string, pulumi.Output<{ publicKeyPem: string; privateKeyPem: string }>> = {};
    for (const k of desc.keyPairs) {
        pairOutputs[k.id] = pulumi
            .all([keys[k.id].publicKeyPem, keys[k.id].privateKeyPem])
            .apply(([publicKeyPem, privateKeyPem]) => ({ publicKeyPem, privateKeyPem }));
    }
    const material: pulumi.Output<PkiMaterial> = pulumi.secret(
        pulumi.all([pulumi.all(certOutputs), pulumi.all(pairOutputs)]).apply(([certs, pairs]) => ({ certificates: certs, keyPairs: pairs })),
    );
    return { material, resources: { keys, certRequests, certificates } };
}

function privateKeyArgs(k: KeySpec): tls.PrivateKeyArgs {
    switch (k.algorithm) {
        case "RSA":
            return { algorithm: "RSA", rsaBits: k.rsaBits ?? 2048 };
        case "ECDSA":
            return { algorithm: "ECDSA", ecdsaCurve: k.ecdsaCurve ?? "P256" };
        case "ED25519":
            return { algorithm: "ED25519" };
    }
}

function subjectAndSans(c: CertSpec): { subject: tls.types.input.SelfSignedCertSubject; dnsNames: string[]; ipAddresses: string[] } {
    return {
        subject: c.subject.organization !== undefined
            ? { commonName: c.subject.commonName, organization: c.subject.organization }
            : { commonName: c.subject.commonName },
        dnsNames: [...c.dnsNames],
        ipAddresses: [...c.ipAddresses],
    };
}
