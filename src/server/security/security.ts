/** Everything the transports need to secure themselves, loaded once at start-up from the config. */
import type { ServerConfig } from '../config.js';
import { loadTlsMaterial, tlsMode, type TlsMaterial } from './tls.js';
import { createAdminTokenVerifier, createTokenVerifier, type TokenVerifier } from './tokens.js';

export interface SecuritySettings {
  /** Undefined: plaintext. */
  readonly tls?: TlsMaterial;
  /** Undefined: no authentication. */
  readonly tokens?: TokenVerifier;
  /** With tokens on: reflection answers without one. */
  readonly publicReflection: boolean;
  /** The operators' tokens (AdminService); undefined: admin calls are refused. */
  readonly adminTokens?: TokenVerifier;
}

export type SecurityConfig = Pick<
  ServerConfig,
  | 'tlsCert'
  | 'tlsKey'
  | 'tlsClientCa'
  | 'authTokenFile'
  | 'authTokens'
  | 'publicReflection'
  | 'adminTokenFile'
  | 'adminTokens'
>;

/** Reads and checks certificates and tokens; throws SecurityConfigError before anything listens. */
export function loadSecurity(config: SecurityConfig): SecuritySettings {
  return {
    tls: loadTlsMaterial(config),
    tokens: createTokenVerifier(config),
    publicReflection: config.publicReflection,
    adminTokens: createAdminTokenVerifier(config),
  };
}

/** Log fields: the modes, never a secret. */
export function describeSecurity(settings: SecuritySettings): Record<string, unknown> {
  return {
    tls: tlsMode(settings.tls),
    auth: settings.tokens ? 'bearer' : 'off',
    ...(settings.tokens ? { tokens: settings.tokens.size, publicReflection: settings.publicReflection } : {}),
    admin: settings.adminTokens ? 'bearer' : 'off',
  };
}

/** Settings that work but are risky, to log at start-up. */
export function securityWarnings(settings: SecuritySettings, host: string): string[] {
  const warnings: string[] = [];
  const loopback = host === 'localhost' || host === '::1' || host.startsWith('127.');
  if (settings.tokens && !settings.tls && !loopback) {
    warnings.push(
      `bearer tokens travel in cleartext: serving on ${host} without TLS (set --tls-cert and --tls-key, or terminate TLS in front)`,
    );
  }
  return warnings;
}
