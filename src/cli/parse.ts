/** Option value parsers: a bad value is a usage error (exit 2) with commander's message. */
import { InvalidArgumentError } from 'commander';
import { ModelError, resolveTarget } from '../client/index.js';

export function wholeNumber(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(
        `expected a whole number from ${min}${max === Number.MAX_SAFE_INTEGER ? ' up' : ` to ${max}`}, got "${value}"`,
      );
    }
    return n;
  };
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!(Number.isFinite(n) && n > 0)) throw new InvalidArgumentError(`expected a number above 0, got "${value}"`);
  return n;
}

/** grpc-js target schemes, passed through as they are (dns:///name:port, unix:/path, ipv4:a:p,b:p…). */
const TARGET_SCHEME = /^(dns|ipv4|ipv6|unix|unix-abstract|vsock):/i;

/**
 * `host:port`, `[ipv6]:port`, a comma list of them, or a grpc-js target with its scheme. Anything else is refused
 * here rather than dialled: grpc-js would take `host` alone as `host:443`, and `http://host:port` as a host name.
 */
export function serverAddress(value: string): string {
  const address = value.trim();
  if (TARGET_SCHEME.test(address)) return address;
  for (const part of address.split(',').map((a) => a.trim())) {
    const match = /^\[[^\]]+\]:(\d+)$/.exec(part) ?? /^[^:/\s[\]]+:(\d+)$/.exec(part);
    const port = Number(match?.[1]);
    if (!match || !(port >= 1 && port <= 65535)) {
      const scheme = /^([a-z][a-z0-9+.-]*:\/\/)/i.exec(part)?.[1];
      const hint = scheme
        ? `, without "${scheme}" (for TLS, add --tls)`
        : /^[^:]+$|^\[[^\]]+\]$/.test(part)
          ? `, e.g. ${part}:50051`
          : '';
      throw new InvalidArgumentError(`address must be host:port${hint}${part === address ? '' : `, got "${part}"`}`);
    }
  }
  try {
    resolveTarget(address); // the client's own rules for several addresses
  } catch (error) {
    if (error instanceof ModelError) throw new InvalidArgumentError(error.details);
    throw error;
  }
  return address;
}
