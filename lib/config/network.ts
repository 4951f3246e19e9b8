/**
 * IPv4 address and CIDR helpers (ipaddr.js), shared by config validation and the renderers.
 *
 * Parsing is strict: four decimal octets without leading zeros, and a prefix length 0–32. The
 * short and octal/hex forms ipaddr.js would otherwise accept ("10.1", "010.0.0.1") are rejected,
 * so a string that parses is also the canonical spelling of its address.
 */
import ipaddr from "ipaddr.js";
import type { ClusterConfig } from "./schema";

/** A parsed IPv4 CIDR. `network` is the address with the host bits cleared. */
export interface Ipv4Cidr {
    /** The address as written (host bits may be set). */
    address: ipaddr.IPv4;
    prefix: number;
    /** First address of the range, as an unsigned 32-bit integer. */
    first: number;
    /** Last address of the range (the broadcast address), as an unsigned 32-bit integer. */
    last: number;
}

/** Parses a strict dotted-quad IPv4 address; undefined when `s` is not one. */
export function parseIpv4(s: string): ipaddr.IPv4 | undefined {
    if (!ipaddr.IPv4.isValidFourPartDecimal(s)) return undefined;
    return ipaddr.IPv4.parse(s);
}

/** Parses `a.b.c.d/p` strictly; undefined when `s` is not an IPv4 CIDR. Host bits may be set. */
export function parseIpv4Cidr(s: string): Ipv4Cidr | undefined {
    const m = /^([0-9.]+)\/(0|[1-9][0-9]?)$/.exec(s);
    if (!m) return undefined;
    const address = parseIpv4(m[1]);
    const prefix = Number(m[2]);
    if (!address || prefix > 32) return undefined;
    const size = 2 ** (32 - prefix);
    const first = Math.floor(ipToInt(address) / size) * size;
    return { address, prefix, first, last: first + size - 1 };
}

/** The address as an unsigned 32-bit integer. */
export function ipToInt(ip: ipaddr.IPv4): number {
    return ip.toByteArray().reduce((acc, b) => acc * 256 + b, 0);
}

/** The dotted-quad form of an unsigned 32-bit integer. */
export function intToIp(n: number): string {
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`${n} is not an IPv4 address`);
    return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
}

/** The canonical spelling of a CIDR: host bits cleared, e.g. 10.0.0.1/24 → 10.0.0.0/24. */
export function canonicalCidr(c: Ipv4Cidr): string {
    return `${intToIp(c.first)}/${c.prefix}`;
}

/** True when the CIDR was written with its host bits zero. */
export function isCanonicalCidr(c: Ipv4Cidr): boolean {
    return ipToInt(c.address) === c.first;
}

/** Number of addresses in the range (including network and broadcast addresses). */
export function cidrSize(c: Ipv4Cidr): number {
    return c.last - c.first + 1;
}

/** True when `ip` lies inside `c` (network and broadcast addresses included). */
export function cidrContains(c: Ipv4Cidr, ip: ipaddr.IPv4): boolean {
    return ip.match(ipaddr.IPv4.parse(intToIp(c.first)), c.prefix);
}

/** True when the two ranges share at least one address. */
export function cidrsOverlap(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
    return a.first <= b.last && b.first <= a.last;
}

/**
 * Number of addresses usable by hosts: the size minus network and broadcast address
 * (0 for /31 and /32, which opke does not use for node networks).
 */
export function usableHosts(c: Ipv4Cidr): number {
    return Math.max(0, cidrSize(c) - 2);
}

/** The longest prefix whose range holds `hosts` host addresses (plus network and broadcast). */
export function prefixForHosts(hosts: number): number {
    let prefix = 30;
    while (prefix > 0 && 2 ** (32 - prefix) - 2 < hosts) prefix--;
    return prefix;
}

/** Parses a CIDR that validation already accepted; throws with the field name otherwise. */
function mustParseCidr(field: string, s: string): Ipv4Cidr {
    const c = parseIpv4Cidr(s);
    if (!c) throw new Error(`${field}: ${JSON.stringify(s)} is not an IPv4 CIDR (was the config validated with parseClusterConfig?)`);
    return c;
}

/**
 * The n-th address of the service network: 1 is the `kubernetes` Service (and an apiserver
 * certificate SAN), 10 is cluster DNS. Throws a RangeError when n is outside the usable range.
 */
export function serviceIp(cfg: Pick<ClusterConfig, "network">, n: number): string {
    const c = mustParseCidr("network.serviceCidr", cfg.network.serviceCidr);
    if (!Number.isInteger(n) || n < 1 || n > usableHosts(c)) {
        throw new RangeError(`service IP #${n} is outside network.serviceCidr ${cfg.network.serviceCidr} (1 to ${usableHosts(c)})`);
    }
    return intToIp(c.first + n);
}

/** The ClusterIP of the `kubernetes` Service: `serviceIp(cfg, 1)`. */
export function kubernetesServiceIp(cfg: Pick<ClusterConfig, "network">): string {
    return serviceIp(cfg, 1);
}

/** The ClusterIP of cluster DNS: `serviceIp(cfg, 10)`. */
export function dnsServiceIp(cfg: Pick<ClusterConfig, "network">): string {
    return serviceIp(cfg, 10);
}

/** `https://<apiDnsName>:<apiPort>`, the URL every kubeconfig and kubelet uses. */
export function apiServerUrl(cfg: Pick<ClusterConfig, "apiDnsName" | "apiPort">): string {
    return `https://${cfg.apiDnsName}:${cfg.apiPort}`;
}
