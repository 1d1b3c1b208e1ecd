/**
 * A failed call in one line. grpc-js words an unreachable server for its own logs ("round_robin: No connection
 * established. Last error: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:50199.
 * Resolution note: "); the CLI says what happened: "UNAVAILABLE: connection refused at 127.0.0.1:50199".
 */
import type { ModelError } from '../client/index.js';

const SOCKET_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connection refused at',
  ETIMEDOUT: 'connection timed out at',
  EHOSTUNREACH: 'host unreachable:',
  ENETUNREACH: 'network unreachable:',
  ECONNRESET: 'connection reset by',
};

export function describeCallError(error: ModelError): string {
  return `${error.codeName}: ${describeDetails(error.details)}`;
}

export function describeDetails(details: string): string {
  const text = details
    .replace(/^(round_robin|pick_first): /, '')
    .replace(/(No connection established\. Last error: )+/g, '')
    .replace(/\.?\s*Resolution note:\s*$/, '')
    .replace(/^Error: /, '');
  const socket = /\b(?:connect|read|write) (E[A-Z]+) (\S+?)\.?$/.exec(text);
  if (socket && SOCKET_ERRORS[socket[1]!]) return `${SOCKET_ERRORS[socket[1]!]} ${socket[2]}`;
  const unresolved = /^Name resolution failed for target dns:(.+)$/.exec(text);
  if (unresolved) return `cannot resolve ${unresolved[1]}`;
  return text;
}
