/**
 * Addresses → a grpc-js target. One address passes through unchanged (host:port, which grpc-js resolves by DNS —
 * every A/AAAA record of the name becomes a replica — or an explicit dns:, ipv4:, ipv6:, unix: target). Several
 * addresses (an array or a comma list) become one ipv4:/ipv6: multi-address target, since grpc-js has no target
 * naming several host names; the channel then balances over them.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { invalidArgument } from './errors.js';

const SCHEMES = /^(dns|ipv4|ipv6|unix|unix-abstract|vsock):/i;

export function resolveTarget(address: string | readonly string[]): string {
  const addresses = (typeof address === 'string' ? address.split(',') : address.flatMap((a) => a.split(',')))
    .map((a) => a.trim())
    .filter(Boolean);
  if (addresses.length === 0) throw invalidArgument('no server address given');
  if (addresses.length === 1) return addresses[0]!;
  if (addresses.some((a) => SCHEMES.test(a))) {
    throw invalidArgument(`several addresses must be plain host:port pairs, got ${addresses.join(',')}`);
  }
  const hosts = addresses.map(splitHostPort);
  if (hosts.every((h) => isIPv4(h.host))) return `ipv4:${hosts.map((h) => `${h.host}:${h.port}`).join(',')}`;
  if (hosts.every((h) => isIPv6(h.host))) return `ipv6:${hosts.map((h) => `[${h.host}]:${h.port}`).join(',')}`;
  throw invalidArgument(
    `several addresses must all be IPv4 or all IPv6 literals (got ${addresses.join(',')}); ` +
      'for host names, give one DNS name that resolves to every replica (e.g. a headless Kubernetes service)',
  );
}

function splitHostPort(address: string): { host: string; port: number } {
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
  const port = match ? Number(match[2]) : NaN;
  if (!match || !(port > 0 && port < 65536)) throw invalidArgument(`"${address}" is not host:port`);
  return { host: match[1]!, port };
}
