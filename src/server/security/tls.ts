/**
 * TLS material from --tls-cert, --tls-key and --tls-client-ca, read and checked once at start-up so that a wrong
 * combination or a key that does not fit its certificate stops the server with a clear message before it binds,
 * instead of failing each client's handshake later. gRPC and HTTPS use the same buffers.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ServerConfig } from '../config.js';
import { SecurityConfigError } from './config-error.js';

export interface TlsMaterial {
  /** PEM certificate chain, the server's own certificate first. */
  readonly cert: Buffer;
  /** PEM private key of `cert`. */
  readonly key: Buffer;
  /** PEM CA bundle; present means mutual TLS: clients must show a certificate it signed. */
  readonly clientCa?: Buffer;
}

export type TlsConfig = Pick<ServerConfig, 'tlsCert' | 'tlsKey' | 'tlsClientCa'>;

/** Throws SecurityConfigError for a combination that cannot work; reads nothing. */
export function checkTlsCombination(config: TlsConfig): void {
  if (config.tlsKey !== undefined && config.tlsCert === undefined) {
    throw new SecurityConfigError(
      '--tls-key (XCEPTION_TLS_KEY) is set without --tls-cert (XCEPTION_TLS_CERT): give both to serve TLS',
    );
  }
  if (config.tlsCert !== undefined && config.tlsKey === undefined) {
    throw new SecurityConfigError(
      '--tls-cert (XCEPTION_TLS_CERT) is set without --tls-key (XCEPTION_TLS_KEY): give both to serve TLS',
    );
  }
  if (config.tlsClientCa !== undefined && config.tlsCert === undefined) {
    throw new SecurityConfigError(
      '--tls-client-ca (XCEPTION_TLS_CLIENT_CA) needs TLS: give --tls-cert and --tls-key too',
    );
  }
}

/** The PEM buffers, or undefined for plaintext (no TLS flag set). Throws SecurityConfigError on any problem. */
export function loadTlsMaterial(config: TlsConfig): TlsMaterial | undefined {
  checkTlsCombination(config);
  if (config.tlsCert === undefined || config.tlsKey === undefined) return undefined;
  const cert = readPem('--tls-cert', config.tlsCert);
  const key = readPem('--tls-key', config.tlsKey);
  const certificate = parse('--tls-cert', config.tlsCert, () => new X509Certificate(cert));
  const privateKey = parse('--tls-key', config.tlsKey, () => createPrivateKey(key));
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new SecurityConfigError(
      `--tls-key ${config.tlsKey} is not the private key of the certificate in --tls-cert ${config.tlsCert}`,
    );
  }
  if (config.tlsClientCa === undefined) return { cert, key };
  const clientCa = readPem('--tls-client-ca', config.tlsClientCa);
  const ca = parse('--tls-client-ca', config.tlsClientCa, () => new X509Certificate(clientCa));
  if (!ca.ca)
    throw new SecurityConfigError(
      `--tls-client-ca ${config.tlsClientCa}: the first certificate is not a CA certificate`,
    );
  return { cert, key, clientCa };
}

/** What the server logs about its transport security. */
export function tlsMode(material: TlsMaterial | undefined): 'off' | 'tls' | 'mutual-tls' {
  if (!material) return 'off';
  return material.clientCa ? 'mutual-tls' : 'tls';
}

function readPem(flag: string, path: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new SecurityConfigError(`cannot read ${flag} ${path}: ${(error as Error).message}`);
  }
  if (!bytes.includes('-----BEGIN '))
    throw new SecurityConfigError(`${flag} ${path} is not a PEM file (no "-----BEGIN" line)`);
  return bytes;
}

function parse<T>(flag: string, path: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    // OpenSSL's reason (e.g. an encrypted key with no passphrase), never the file's content.
    throw new SecurityConfigError(`${flag} ${path} cannot be used: ${(error as Error).message}`);
  }
}
