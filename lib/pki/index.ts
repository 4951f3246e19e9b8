/**
 * lib/pki: one PKI description, two backends.
 *
 *   describePki(cfg)          the whole cluster PKI (etcd + Kubernetes), in issuing order
 *   generateLocalPki(desc)    real, throwaway material made in-process (render, tests)
 *   deriveSecrets(seedPem)    bootstrap token and encryption key from the `secrets-seed` key
 *   kubeconfig({...})         a kubeconfig from PEMs or a token
 *
 * The Pulumi backend (`createPki`, lib/pki/pulumi.ts) is deliberately NOT re-exported here, so
 * pure renderers can import lib/pki without loading @pulumi/pulumi; import it from "./pulumi".
 */
import type { ClusterConfig } from "../config/schema";
import { describeKubernetesPki } from "../../modules/bootkube/pki";
import { describeEtcdPki } from "../../modules/etcd/pki";
import { checkPkiDescription } from "./local";
import type { PkiDescription } from "./spec";

export type { CertSpec, KeyPairSpec, KeySpec, KeyUsage, PkiDescription, PkiMaterial } from "./spec";
export { describeEtcdPki, EtcdPkiIds } from "../../modules/etcd/pki";
export { describeKubernetesPki, KubernetesPkiIds } from "../../modules/bootkube/pki";
export { checkPkiDescription, generateLocalPki } from "./local";
export { deriveSecrets, type DerivedSecrets } from "./derive";
export { kubeconfig, type KubeconfigOptions } from "./kubeconfig";

/** The etcd description followed by the Kubernetes one (each CA precedes what it signs). */
export function describePki(cfg: ClusterConfig): PkiDescription {
    const etcd = describeEtcdPki(cfg);
    const kubernetes = describeKubernetesPki(cfg);
    const desc: PkiDescription = {
        certificates: [...etcd.certificates, ...kubernetes.certificates],
        keyPairs: [...etcd.keyPairs, ...kubernetes.keyPairs],
    };
    checkPkiDescription(desc);
    return desc;
}
