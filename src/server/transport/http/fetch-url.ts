/**
 * GET /api/predict?fileurl=: fetches an image for the caller, which makes this server a client of whatever URL it is
 * given. To keep that from reaching internal services (SSRF), only hosts the operator allow-listed are fetched, only
 * over http/https, redirects are followed only within the same host, and the body is size- and time-limited.
 */
import { callSignal } from '../../core/call-signal.js';
import { ServiceError, invalidArgument } from '../../errors.js';

export interface FetchLimits {
  /** Host names (any port) or host:port pairs the server may fetch from; empty: fetching is off. */
  readonly allowHosts: readonly string[];
  readonly maxBytes: number;
  readonly timeoutMs: number;
  readonly maxRedirects: number;
}

/** "::1" and "[::1]" name the same host; URL.hostname brackets IPv6 and lower-cases names. */
function normaliseHost(entry: string): string {
  const host = entry.trim().toLowerCase();
  return host.split(':').length > 2 && !host.startsWith('[') ? `[${host}]` : host;
}

export function isAllowedHost(url: URL, allowHosts: readonly string[]): boolean {
  return allowHosts.some((entry) => {
    const host = normaliseHost(entry);
    return host === url.hostname || host === url.host;
  });
}

export function parseFileUrl(raw: string, allowHosts: readonly string[]): URL {
  if (allowHosts.length === 0) {
    throw invalidArgument(
      'fetching by URL is disabled on this server (no --fetch-allow-hosts); upload the image with POST /api/predict instead',
    );
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalidArgument(`fileurl is not an absolute URL: ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalidArgument(`fileurl must be http or https, not ${url.protocol.replace(/:$/, '')}`);
  }
  if (url.username || url.password) throw invalidArgument('fileurl must not carry credentials');
  if (!isAllowedHost(url, allowHosts)) {
    throw invalidArgument(`fileurl host ${url.host} is not allowed on this server (--fetch-allow-hosts)`);
  }
  return url;
}

/** The bytes at `raw`, within the limits; every refusal is INVALID_ARGUMENT (the caller chose the URL). */
export async function fetchAllowed(raw: string, limits: FetchLimits, signal?: AbortSignal): Promise<Uint8Array> {
  let url = parseFileUrl(raw, limits.allowHosts);
  // The call's signal, and the fetch's own time limit as its deadline.
  const fetching = callSignal({ cancelled: signal, deadline: Date.now() + limits.timeoutMs });
  try {
    for (let redirects = 0; ; redirects++) {
      const response = await fetch(url, {
        redirect: 'manual',
        signal: fetching.signal,
        headers: { accept: 'image/png, image/jpeg' },
      });
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location !== null) {
        await response.body?.cancel();
        url = nextHop(url, location, redirects, limits.maxRedirects);
        continue;
      }
      if (!response.ok) {
        await response.body?.cancel();
        throw invalidArgument(`fetching fileurl failed: the server at ${url.host} answered HTTP ${response.status}`);
      }
      return await readLimited(response, limits.maxBytes);
    }
  } catch (error) {
    // The call ended (its reason says how), or else the fetch ran out of time: the URL's server is too slow.
    if (signal?.aborted) throw signal.reason;
    if (fetching.signal.aborted) throw invalidArgument(`fetching fileurl timed out after ${limits.timeoutMs / 1000} s`);
    if (error instanceof ServiceError) throw error;
    const cause = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
    throw invalidArgument(`could not fetch fileurl: ${cause}`);
  } finally {
    fetching.end();
  }
}

function nextHop(from: URL, location: string, redirects: number, maxRedirects: number): URL {
  if (redirects >= maxRedirects) throw invalidArgument(`fileurl redirected more than ${maxRedirects} times`);
  let to: URL;
  try {
    to = new URL(location, from);
  } catch {
    throw invalidArgument('fileurl redirected to an invalid URL');
  }
  if ((to.protocol !== 'http:' && to.protocol !== 'https:') || to.host !== from.host || to.username || to.password) {
    throw invalidArgument(`fileurl redirected to another host or scheme (${to.protocol}//${to.host}); not followed`);
  }
  return to;
}

async function readLimited(response: Response, maxBytes: number): Promise<Uint8Array> {
  const tooLarge = () => invalidArgument(`the file at fileurl is larger than the limit of ${maxBytes} bytes`);
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel();
    throw tooLarge();
  }
  if (!response.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total);
}
