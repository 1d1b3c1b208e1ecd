/**
 * Bearer tokens: loaded from --auth-token-file and --auth-tokens (XCEPTION_AUTH_TOKENS), checked against the
 * `authorization: Bearer <token>` header. Shared by every transport (gRPC interceptor, HTTP hook).
 *
 * Comparison is constant-time over SHA-256 digests: every stored digest is compared, whatever matches, and digests
 * all have the same length, so neither a token's content nor its length leaks through timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ServerConfig } from '../config.js';
import { Code, ServiceError } from '../errors.js';
import { SecurityConfigError } from './config-error.js';

export const MISSING_TOKEN_MESSAGE = 'missing bearer token';
export const INVALID_TOKEN_MESSAGE = 'invalid bearer token';

export type TokenCheck = 'ok' | 'missing' | 'invalid';

export interface TokenVerifier {
  /** How many distinct tokens are accepted. */
  readonly size: number;
  /** The outcome for an `authorization` header value (undefined when the header is absent). */
  check(authorization: string | undefined): TokenCheck;
  /** True when the header carries one of the tokens. */
  verify(authorization: string | undefined): boolean;
}

/** Visible ASCII without spaces: what fits in `Bearer <token>` unambiguously. */
const TOKEN_PATTERN = /^[\x21-\x7e]+$/;
const BEARER = /^bearer(?:\s+(.*))?$/is;

/** Tokens of a token file: one a line; blank lines and lines starting with # are ignored; surrounding space trimmed. */
export function parseTokenFile(text: string, source = 'token file'): string[] {
  const tokens: string[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    // The line number, never the line: the message ends up in logs.
    if (!TOKEN_PATTERN.test(line))
      throw new SecurityConfigError(`${source} line ${index + 1}: a token must be visible ASCII without spaces`);
    tokens.push(line);
  });
  return tokens;
}

export function createVerifier(tokens: readonly string[]): TokenVerifier {
  const digests = [...new Set(tokens)].map(sha256);
  if (digests.length === 0) throw new SecurityConfigError('no bearer tokens given');
  const check = (authorization: string | undefined): TokenCheck => {
    const token = bearerToken(authorization);
    if (!token) return 'missing';
    const candidate = sha256(token);
    let matched = 0;
    for (const digest of digests) matched |= Number(timingSafeEqual(digest, candidate));
    return matched ? 'ok' : 'invalid';
  };
  return { size: digests.length, check, verify: (authorization) => check(authorization) === 'ok' };
}

/**
 * The verifier for the configured tokens, or undefined when authentication is off (no file, no list). A file that
 * cannot be read or holds no token is a configuration error: starting without the auth the operator asked for is worse
 * than not starting.
 */
export function createTokenVerifier(
  config: Pick<ServerConfig, 'authTokenFile' | 'authTokens'>,
): TokenVerifier | undefined {
  return verifierFrom(config.authTokenFile, config.authTokens, { file: '--auth-token-file', list: '--auth-tokens' });
}

/** The verifier of the operators' tokens (--admin-token-file, --admin-tokens), checked the same way. */
export function createAdminTokenVerifier(
  config: Pick<ServerConfig, 'adminTokenFile' | 'adminTokens'>,
): TokenVerifier | undefined {
  return verifierFrom(config.adminTokenFile, config.adminTokens, {
    file: '--admin-token-file',
    list: '--admin-tokens',
  });
}

function verifierFrom(
  file: string | undefined,
  list: readonly string[],
  flags: { readonly file: string; readonly list: string },
): TokenVerifier | undefined {
  const tokens = [...list];
  for (const token of list) {
    if (!TOKEN_PATTERN.test(token))
      throw new SecurityConfigError(`${flags.list}: a token must be visible ASCII without spaces`);
  }
  if (file !== undefined) {
    const source = `${flags.file} ${file}`;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new SecurityConfigError(`cannot read ${source}: ${(error as Error).message}`);
    }
    const fromFile = parseTokenFile(text, source);
    if (fromFile.length === 0)
      throw new SecurityConfigError(`${source} holds no token (blank lines and # comments are ignored)`);
    tokens.push(...fromFile);
  }
  return tokens.length === 0 ? undefined : createVerifier(tokens);
}

/** The refusal for a failed check, as the core's error (gRPC UNAUTHENTICATED, HTTP 401); undefined when it passed. */
export function tokenRefusal(check: TokenCheck): ServiceError | undefined {
  if (check === 'ok') return undefined;
  return new ServiceError(Code.UNAUTHENTICATED, check === 'missing' ? MISSING_TOKEN_MESSAGE : INVALID_TOKEN_MESSAGE);
}

/** The token of a `Bearer <token>` value (scheme case-insensitive, RFC 7235); undefined for no header, another scheme or no token. */
function bearerToken(authorization: string | undefined): string | undefined {
  const match = authorization === undefined ? null : BEARER.exec(authorization.trim());
  return match?.[1]?.trim() || undefined;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
