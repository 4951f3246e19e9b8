/**
 * modules/etcd: one etcd member per controller.
 *   - `etcdIgnition(cfg)`: the version-free `etcd-member.service` for every controller's Ignition;
 *   - `etcdMemberFiles(cfg, node, m)`: etcd.env, image.env and the member's certificates, pushed over SSH;
 *   - `describeEtcdPki(cfg)`: the etcd CA and certificates (modules/etcd/pki.ts).
 */
export {
    ETCD_CLIENT_PORT,
    ETCD_CONTAINER,
    ETCD_METRICS_URL,
    ETCD_PEER_PORT,
    ETCD_UNIT,
    EtcdPaths,
    etcdClientUrls,
    etcdEnv,
    etcdIgnition,
    etcdImageEnv,
    etcdMemberFiles,
} from "./render";
export { describeEtcdPki, EtcdPkiIds } from "./pki";
