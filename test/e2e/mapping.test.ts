/**
 * Unit tests of the path mapping used by test/e2e/binaries.e2e.ts (pure; no binaries, no root).
 * Does not prove that the mapped processes start: `npm run test:e2e:binaries` does that.
 */
import { Mount, mapContainerPath, mountFor, parseEnvFile, readStaticPod, rewriteArgs, rewriteEnv, unitVolumes } from "./mapping";

const resolveTo = (root: string) => (hostPath: string): string => `${root}${hostPath}`;

describe("parseEnvFile", () => {
    test("KEY=value lines, values literal (= and spaces kept), comments and blank lines skipped", () => {
        expect(parseEnvFile("# c\nA=1\n\nB=x=y z\n")).toEqual([
            ["A", "1"],
            ["B", "x=y z"],
        ]);
    });
    test("a line without = is an error naming the line", () => {
        expect(() => parseEnvFile("A=1\nBROKEN\n")).toThrow('env file line 2 "BROKEN" is not KEY=value');
    });
});

describe("unitVolumes", () => {
    test("reads docker/podman --volume host:container:opts lines, ro and SELinux options", () => {
        const unit = "ExecStart=/usr/bin/podman run --rm \\\n  --volume /var/lib/etcd:/var/lib/etcd:rw,Z \\\n  --volume /etc/ssl/etcd:/etc/ssl/etcd:ro,Z \\\n  ${ETCD_IMAGE}\n";
        expect(unitVolumes(unit)).toEqual([
            { hostPath: "/var/lib/etcd", containerPath: "/var/lib/etcd", readOnly: false, type: "bind" },
            { hostPath: "/etc/ssl/etcd", containerPath: "/etc/ssl/etcd", readOnly: true, type: "bind" },
        ]);
    });
});

describe("mountFor / mapContainerPath", () => {
    const mounts: Mount[] = [
        { containerPath: "/etc/kubernetes", hostPath: "/etc/kubernetes", readOnly: true, type: "Directory" },
        { containerPath: "/etc/kubernetes/pki", hostPath: "/srv/pki", readOnly: true, type: "Directory" },
    ];
    test("the longest covering mount wins; a sibling with a common prefix is not covered", () => {
        expect(mountFor("/etc/kubernetes/pki/ca.crt", mounts)?.hostPath).toBe("/srv/pki");
        expect(mountFor("/etc/kubernetes/pkix", mounts)?.hostPath).toBe("/etc/kubernetes");
        expect(mountFor("/etc/kube", mounts)).toBeUndefined();
    });
    test("maps through the mount's host path, then the resolver", () => {
        expect(mapContainerPath("/etc/kubernetes/pki/ca.crt", mounts, resolveTo("/tmp/n1"))).toBe("/tmp/n1/srv/pki/ca.crt");
        expect(mapContainerPath("/etc/kubernetes/pki", mounts, resolveTo("/tmp/n1"))).toBe("/tmp/n1/srv/pki");
        expect(mapContainerPath("/var/log/x", mounts, resolveTo("/tmp/n1"))).toBeUndefined();
    });
});

const POD = `apiVersion: v1
kind: Pod
metadata:
  name: kube-apiserver
  namespace: kube-system
spec:
  hostNetwork: true
  containers:
    - name: kube-apiserver
      image: registry.k8s.io/kube-apiserver:v1.36.3
      command:
        - kube-apiserver
        - --client-ca-file=/etc/kubernetes/pki/ca.crt
      args:
        - --audit-log-path=/var/log/kubernetes/audit/audit.log
        - --etcd-servers=https://10.0.0.11:2379,https://10.0.0.12:2379
        - --authorization-always-allow-paths=/healthz,/readyz
        - --tls-cert-file=/etc/other/apiserver.crt
      readinessProbe:
        tcpSocket: { host: 127.0.0.1, port: 6443 }
      volumeMounts:
        - { name: pki, mountPath: /etc/kubernetes/pki, readOnly: true }
        - { name: audit, mountPath: /var/log/kubernetes/audit }
  volumes:
    - { name: pki, hostPath: { path: /etc/kubernetes/pki, type: Directory } }
    - { name: audit, hostPath: { path: /var/log/kubernetes/audit, type: DirectoryOrCreate } }
`;

describe("readStaticPod + rewriteArgs", () => {
    test("command + args, hostPath mounts with their types, probes, image", () => {
        const p = readStaticPod(POD);
        expect(p.name).toBe("kube-apiserver");
        expect(p.argv).toHaveLength(6);
        expect(p.mounts).toEqual([
            { containerPath: "/etc/kubernetes/pki", hostPath: "/etc/kubernetes/pki", readOnly: true, type: "Directory" },
            { containerPath: "/var/log/kubernetes/audit", hostPath: "/var/log/kubernetes/audit", readOnly: false, type: "DirectoryOrCreate" },
        ]);
        expect(p.probes).toEqual([{ kind: "readiness", probe: { tcpSocket: { host: "127.0.0.1", port: 6443 } } }]);
        expect(p.image).toBe("registry.k8s.io/kube-apiserver:v1.36.3");
    });

    test("paths under a volume are mapped; URLs and non-path lists are kept; a file outside every volume is a problem", () => {
        const p = readStaticPod(POD);
        const r = rewriteArgs(p.argv, p.mounts, resolveTo("/tmp/c1"));
        expect(r.values).toEqual([
            "kube-apiserver",
            "--client-ca-file=/tmp/c1/etc/kubernetes/pki/ca.crt",
            "--audit-log-path=/tmp/c1/var/log/kubernetes/audit/audit.log",
            "--etcd-servers=https://10.0.0.11:2379,https://10.0.0.12:2379",
            "--authorization-always-allow-paths=/healthz,/readyz",
            "--tls-cert-file=/etc/other/apiserver.crt",
        ]);
        expect(r.problems).toEqual([
            "--tls-cert-file=/etc/other/apiserver.crt: no volume of the container covers /etc/other/apiserver.crt, so the process could not read it on a node",
        ]);
    });

    test("a pod with a non-hostPath volume or several containers is refused", () => {
        expect(() => readStaticPod(POD.replace("hostPath: { path: /etc/kubernetes/pki, type: Directory }", "emptyDir: {}"))).toThrow(
            "static pod kube-apiserver: volume pki is not a hostPath volume",
        );
        expect(() => readStaticPod(POD.replace("  volumes:", "    - { name: b, image: x, command: [x] }\n  volumes:"))).toThrow("2 containers");
    });
});

describe("rewriteEnv", () => {
    test("ETCD_* paths mapped through the unit's volumes; URLs kept; an uncovered _FILE is a problem", () => {
        const mounts: Mount[] = [
            { containerPath: "/var/lib/etcd", hostPath: "/var/lib/etcd", readOnly: false, type: "bind" },
            { containerPath: "/etc/ssl/etcd", hostPath: "/etc/ssl/etcd", readOnly: true, type: "bind" },
        ];
        const r = rewriteEnv(
            [
                ["ETCD_DATA_DIR", "/var/lib/etcd"],
                ["ETCD_LISTEN_CLIENT_URLS", "https://10.0.0.11:2379,https://127.0.0.1:2379"],
                ["ETCD_CERT_FILE", "/etc/ssl/etcd/server.crt"],
                ["ETCD_KEY_FILE", "/etc/etcd/server.key"],
            ],
            mounts,
            resolveTo("/tmp/c1"),
        );
        expect(r.env).toEqual({
            ETCD_DATA_DIR: "/tmp/c1/var/lib/etcd",
            ETCD_LISTEN_CLIENT_URLS: "https://10.0.0.11:2379,https://127.0.0.1:2379",
            ETCD_CERT_FILE: "/tmp/c1/etc/ssl/etcd/server.crt",
            ETCD_KEY_FILE: "/etc/etcd/server.key",
        });
        expect(r.problems).toEqual(["ETCD_KEY_FILE=/etc/etcd/server.key: no volume of the container covers /etc/etcd/server.key, so the process could not read it on a node"]);
    });
});
