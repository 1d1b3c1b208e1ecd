/**
 * The channel a client opens: credentials (plaintext or TLS, with the bearer token as call credentials on TLS) and
 * the channel options (round_robin balancing, retries, message limits, keepalive, reconnect pacing).
 */
import { credentials, Metadata, type ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { HealthService } from '../gen/health/v1/health.js';
import { ModelServiceService } from '../gen/modelhub/v1/model_service.js';
import { invalidArgument } from './errors.js';
import { DEFAULT_MAX_MESSAGE_BYTES, type ModelClientOptions, type RetryPolicy, type TlsOptions } from './options.js';

export function channelCredentials(options: ModelClientOptions): ChannelCredentials {
  if (!options.tls) return credentials.createInsecure();
  const tls: TlsOptions = options.tls === true ? {} : options.tls;
  if (Boolean(tls.cert) !== Boolean(tls.key)) throw invalidArgument('tls.cert and tls.key go together (mutual TLS)');
  const channel = credentials.createSsl(pem(tls.ca, 'tls.ca'), pem(tls.key, 'tls.key'), pem(tls.cert, 'tls.cert'));
  if (!options.token) return channel;
  const header = bearer(options.token);
  const callCredentials = credentials.createFromMetadataGenerator((_params, callback) => {
    const metadata = new Metadata();
    metadata.set('authorization', header);
    callback(null, metadata);
  });
  return credentials.combineChannelCredentials(channel, callCredentials);
}

/**
 * Headers every call sends. grpc-js refuses call credentials on an insecure channel, so on plaintext the token
 * travels as a plain header (meant for a trusted network or a TLS-terminating proxy in front of the server).
 */
export function baseHeaders(options: ModelClientOptions): Metadata {
  const metadata = new Metadata();
  if (options.token && !options.tls) metadata.set('authorization', bearer(options.token));
  return metadata;
}

/** The idempotent calls, retried on UNAVAILABLE; never the streams. */
const RETRIED_METHODS = [ModelServiceService.getMetadata, ModelServiceService.predict, HealthService.check].map(
  ({ path }) => ({ service: path.split('/')[1], method: path.split('/')[2] }),
);

/** A service config duration, e.g. "0.100s". */
const duration = (ms: number) => `${(ms / 1000).toFixed(3)}s`;

export function channelOptions(options: ModelClientOptions, retry: RetryPolicy): ChannelOptions {
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  // round_robin spreads calls over every address of the target (several addresses, or a DNS name with several
  // records); with one address it behaves as pick_first. grpc-js retries a call only while no response headers have
  // come, so the server sends its headers with the answer, never before it has admitted the work.
  const retryPolicy = {
    maxAttempts: retry.maxAttempts,
    initialBackoff: duration(retry.initialBackoffMs),
    maxBackoff: duration(retry.maxBackoffMs),
    backoffMultiplier: 2,
    retryableStatusCodes: ['UNAVAILABLE'],
  };
  const channel: ChannelOptions = {
    'grpc.service_config': JSON.stringify({
      loadBalancingConfig: [{ round_robin: {} }],
      methodConfig: retry.maxAttempts > 1 ? [{ name: RETRIED_METHODS, retryPolicy }] : [],
    }),
    'grpc.max_send_message_length': maxMessageBytes,
    'grpc.max_receive_message_length': maxMessageBytes,
  };
  if (retry.maxAttempts > 1) {
    // grpc-js caps attempts at 5 unless told otherwise. Every request stays retryable until answered, whatever its
    // size and however many are in flight (its default caps would quietly stop retrying large or many calls).
    channel['grpc-node.retry_max_attempts_limit'] = retry.maxAttempts;
    channel['grpc.per_rpc_retry_buffer_size'] = maxMessageBytes;
    channel['grpc.retry_buffer_size'] = Number.MAX_SAFE_INTEGER;
    // A replica that was down is tried again at the retry pace, not after grpc-js's default (1 s growing to 120 s),
    // so a retried call can land on a server that has just started.
    channel['grpc.initial_reconnect_backoff_ms'] = Math.max(retry.initialBackoffMs, 50);
    channel['grpc.max_reconnect_backoff_ms'] = Math.max(retry.maxBackoffMs, 50);
  }
  if (options.keepalive) {
    channel['grpc.keepalive_time_ms'] = options.keepalive.timeMs;
    channel['grpc.keepalive_timeout_ms'] = options.keepalive.timeoutMs;
  }
  const tls = options.tls === true ? undefined : options.tls;
  if (tls?.serverName) {
    channel['grpc.ssl_target_name_override'] = tls.serverName;
    channel['grpc.default_authority'] = tls.serverName;
  }
  return channel;
}

function bearer(token: string): string {
  return `Bearer ${token}`;
}

/** PEM contents as given, or read from a path. */
function pem(value: Buffer | string | undefined, what: string): Buffer | null {
  if (value === undefined) return null;
  if (Buffer.isBuffer(value)) return value;
  if (value.includes('-----BEGIN')) return Buffer.from(value);
  try {
    return readFileSync(value);
  } catch (error) {
    throw invalidArgument(
      `${what}: cannot read ${value}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
}
