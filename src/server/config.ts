/**
 * Server configuration from flags and environment (XCEPTION_*): flags win over the environment, the environment over
 * defaults. Every option is declared once here; `--help`, the README and the deployment manifests follow this table.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { availableParallelism, hostname } from 'node:os';
import { fileURLToPath } from 'node:url';

export type EngineChoice = 'onnx' | 'tfjs';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface ServerConfig {
  host: string;
  port: number;
  contribDir: string;
  logLevel: LogLevel;
  engine: EngineChoice;
  threads: number;
  weights?: string;
  requirePretrained: boolean;
  seed: number;
  maxConcurrency: number;
  maxQueue: number;
  maxBatch: number;
  batchWaitMs: number;
  maxMessageBytes: number;
  maxInputPixels: number;
  streamMaxInFlight: number;
  maxStreams: number;
  gracePeriodSeconds: number;
  /** Undefined: no metrics endpoint; 0 picks a free port. */
  metricsPort?: number;
  metricsHost: string;
  instanceId: string;
  /** 0 = connections live as long as clients keep them. */
  maxConnectionAgeSeconds: number;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
  authTokenFile?: string;
  authTokens: string[];
  publicReflection: boolean;
  /** Undefined: no HTTP server; 0 picks a free port. */
  httpPort?: number;
  fetchAllowHosts: string[];
}

/** The default contrib_src/ is the one shipped beside src/ (and dist/) in this package. */
export const DEFAULT_CONTRIB_DIR = fileURLToPath(new URL('../../contrib_src', import.meta.url));

function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}, got "${value}"`);
    }
    return n;
  };
}

/** One option: its flag, environment variable, default and parser. */
export interface OptionSpec {
  readonly flags: string;
  readonly env: string;
  readonly description: string;
  readonly defaultValue?: unknown;
  readonly defaultDescription?: string;
  readonly parse?: (value: string) => unknown;
  readonly choices?: readonly string[];
}

export const SERVER_OPTIONS: readonly OptionSpec[] = [
  { flags: '--host <address>', env: 'XCEPTION_HOST', description: 'address to listen on', defaultValue: '0.0.0.0' },
  { flags: '--port <port>', env: 'XCEPTION_PORT', description: 'gRPC port (0 picks a free one)', defaultValue: 50051, parse: integer(0, 65535) },
  { flags: '--contrib-dir <dir>', env: 'XCEPTION_CONTRIB_DIR', description: "ModelHub contributor folder (config.json, labels, licenses, samples)", defaultValue: DEFAULT_CONTRIB_DIR, defaultDescription: 'the bundled contrib_src/' },
  { flags: '--log-level <level>', env: 'XCEPTION_LOG_LEVEL', description: 'log level', defaultValue: 'info', choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
  { flags: '--engine <engine>', env: 'XCEPTION_ENGINE', description: 'inference engine', defaultValue: 'onnx', choices: ['onnx', 'tfjs'] },
  { flags: '--threads <n>', env: 'XCEPTION_THREADS', description: 'threads one inference uses', defaultValue: availableParallelism(), defaultDescription: 'the number of cores', parse: integer(1, 256) },
  { flags: '--weights <path>', env: 'XCEPTION_WEIGHTS', description: 'weights file: Keras HDF5 (.h5) or TensorFlow.js model.json', defaultDescription: 'contrib_src/model/model.h5 if present, else seeded random (NOT pretrained)' },
  { flags: '--require-pretrained', env: 'XCEPTION_REQUIRE_PRETRAINED', description: 'refuse to start without real (pretrained) weights', defaultValue: false },
  { flags: '--seed <n>', env: 'XCEPTION_SEED', description: 'seed of the random default weights', defaultValue: 0, parse: integer(0, 2 ** 32 - 1) },
  { flags: '--max-concurrency <n>', env: 'XCEPTION_MAX_CONCURRENCY', description: 'engine runs at once (on 2 cores one run with 2 threads is fastest)', defaultValue: 1, parse: integer(1, 64) },
  { flags: '--max-queue <n>', env: 'XCEPTION_MAX_QUEUE', description: 'requests waiting for the engine before new ones are refused (RESOURCE_EXHAUSTED)', defaultValue: 64, parse: integer(0, 100_000) },
  { flags: '--max-batch <n>', env: 'XCEPTION_MAX_BATCH', description: 'dynamic micro-batching: requests per engine run (1 = off)', defaultValue: 1, parse: integer(1, 64) },
  { flags: '--batch-wait-ms <ms>', env: 'XCEPTION_BATCH_WAIT_MS', description: 'how long a partial batch waits for more requests', defaultValue: 2, parse: integer(0, 1000) },
  { flags: '--max-message-bytes <n>', env: 'XCEPTION_MAX_MESSAGE_BYTES', description: 'largest request message accepted', defaultValue: 16 * 1024 * 1024, defaultDescription: '16 MiB', parse: integer(1024, 2 ** 31 - 1) },
  { flags: '--max-input-pixels <n>', env: 'XCEPTION_MAX_INPUT_PIXELS', description: 'largest decoded image (width × height), against decompression bombs', defaultValue: 40_000_000, parse: integer(1024, 2 ** 32 - 1) },
  { flags: '--stream-max-in-flight <n>', env: 'XCEPTION_STREAM_MAX_IN_FLIGHT', description: 'frames of one stream in flight before the server stops reading it (a call may ask for fewer)', defaultValue: 4, parse: integer(1, 256) },
  { flags: '--max-streams <n>', env: 'XCEPTION_MAX_STREAMS', description: 'concurrent PredictStream calls; more are refused (RESOURCE_EXHAUSTED)', defaultValue: 64, parse: integer(1, 100_000) },
  { flags: '--grace-period <seconds>', env: 'XCEPTION_GRACE_PERIOD', description: 'on SIGTERM/SIGINT, how long in-flight and queued work may take to finish', defaultValue: 10, parse: integer(0, 3600) },
  { flags: '--metrics-port <port>', env: 'XCEPTION_METRICS_PORT', description: 'serve Prometheus metrics at http://HOST:PORT/metrics (0 picks a free port)', defaultDescription: 'off', parse: integer(0, 65535) },
  { flags: '--metrics-host <address>', env: 'XCEPTION_METRICS_HOST', description: 'address the metrics endpoint listens on', defaultValue: '0.0.0.0' },
  { flags: '--tls-cert <path>', env: 'XCEPTION_TLS_CERT', description: 'PEM certificate chain: serve gRPC (and HTTP) over TLS', defaultDescription: 'plaintext' },
  { flags: '--tls-key <path>', env: 'XCEPTION_TLS_KEY', description: 'PEM private key of --tls-cert' },
  { flags: '--tls-client-ca <path>', env: 'XCEPTION_TLS_CLIENT_CA', description: 'PEM CA bundle: require client certificates signed by it (mutual TLS)' },
  { flags: '--auth-token-file <path>', env: 'XCEPTION_AUTH_TOKEN_FILE', description: 'file of bearer tokens, one per line: calls must send "authorization: Bearer <token>"' },
  { flags: '--auth-tokens <list>', env: 'XCEPTION_AUTH_TOKENS', description: 'comma-separated bearer tokens (prefer the env var or a file: flags show in ps)', defaultDescription: 'none' },
  { flags: '--public-reflection', env: 'XCEPTION_PUBLIC_REFLECTION', description: 'let reflection answer without a token when auth is on (health never needs one)', defaultValue: false },
  { flags: '--http-port <port>', env: 'XCEPTION_HTTP_PORT', description: "serve ModelHub's REST API and the web page on this port (0 picks a free one)", defaultDescription: 'off', parse: integer(0, 65535) },
  { flags: '--fetch-allow-hosts <list>', env: 'XCEPTION_FETCH_ALLOW_HOSTS', description: 'comma-separated hosts GET /api/predict?fileurl= may fetch from', defaultDescription: 'none: fileurl is refused' },
  { flags: '--max-connection-age <seconds>', env: 'XCEPTION_MAX_CONNECTION_AGE', description: 'close each client connection after this long (GOAWAY; calls get 30 s to finish) so clients re-resolve DNS and spread onto new replicas (0 = never)', defaultValue: 0, parse: integer(0, 86_400) },
  { flags: '--instance-id <id>', env: 'XCEPTION_INSTANCE_ID', description: 'replica identity in metadata and the x-instance response header', defaultDescription: 'host:pid' },
];

/** Adds every server option to a commander command; `serve` in the CLI and the server's main share them. */
export function addServerOptions(command: Command): Command {
  for (const spec of SERVER_OPTIONS) {
    const option = new Option(spec.flags, `${spec.description} (env ${spec.env})`);
    if (spec.defaultValue !== undefined) option.default(spec.defaultValue, spec.defaultDescription);
    else if (spec.defaultDescription) option.defaultValueDescription = spec.defaultDescription;
    if (spec.parse) option.argParser(spec.parse);
    if (spec.choices) option.choices(spec.choices);
    command.addOption(option);
  }
  return command;
}

/**
 * Reads the options of a parsed command: a flag given on the command line wins, then the XCEPTION_* variable, then
 * the default. The environment is applied here rather than by commander so that it can be passed in (tests) and so
 * that boolean variables read "false"/"0" as off.
 */
export function resolveServerOptions(command: Command, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const values: Record<string, unknown> = { ...command.opts() };
  for (const spec of SERVER_OPTIONS) {
    const key = optionKey(spec);
    const raw = env[spec.env];
    if (raw === undefined || raw === '' || command.getOptionValueSource(key) === 'cli') continue;
    values[key] = parseEnvValue(spec, raw);
  }
  return values;
}

function parseEnvValue(spec: OptionSpec, raw: string): unknown {
  try {
    if (!spec.flags.includes('<')) return !/^(0|false|no|off)$/i.test(raw);
    if (spec.choices && !spec.choices.includes(raw)) {
      throw new InvalidArgumentError(`allowed choices are ${spec.choices.join(', ')}, got "${raw}"`);
    }
    return spec.parse ? spec.parse(raw) : raw;
  } catch (error) {
    throw new InvalidArgumentError(`${spec.env}: ${(error as Error).message}`);
  }
}

/** commander's attribute name for a flag: --max-queue → maxQueue. */
function optionKey(spec: OptionSpec): string {
  return new Option(spec.flags).attributeName();
}

/** Parses argv (without node and script) and env into a ServerConfig; throws on bad input. */
export function parseServerConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const command = addServerOptions(new Command('xception-server'))
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} });
  command.parse([...argv], { from: 'user' });
  return toServerConfig(resolveServerOptions(command, env));
}

/** The typed config from resolved option values. */
export function toServerConfig(opts: Record<string, unknown>): ServerConfig {
  return {
    host: opts.host as string,
    port: opts.port as number,
    contribDir: opts.contribDir as string,
    logLevel: opts.logLevel as LogLevel,
    engine: opts.engine as EngineChoice,
    threads: opts.threads as number,
    weights: (opts.weights as string | undefined) || undefined,
    requirePretrained: opts.requirePretrained === true,
    seed: opts.seed as number,
    maxConcurrency: opts.maxConcurrency as number,
    maxQueue: opts.maxQueue as number,
    maxBatch: opts.maxBatch as number,
    batchWaitMs: opts.batchWaitMs as number,
    maxMessageBytes: opts.maxMessageBytes as number,
    maxInputPixels: opts.maxInputPixels as number,
    streamMaxInFlight: opts.streamMaxInFlight as number,
    maxStreams: opts.maxStreams as number,
    gracePeriodSeconds: opts.gracePeriod as number,
    metricsPort: opts.metricsPort as number | undefined,
    metricsHost: opts.metricsHost as string,
    maxConnectionAgeSeconds: opts.maxConnectionAge as number,
    instanceId: (opts.instanceId as string | undefined) || `${hostname()}:${process.pid}`,
    tlsCert: (opts.tlsCert as string | undefined) || undefined,
    tlsKey: (opts.tlsKey as string | undefined) || undefined,
    tlsClientCa: (opts.tlsClientCa as string | undefined) || undefined,
    authTokenFile: (opts.authTokenFile as string | undefined) || undefined,
    authTokens: list(opts.authTokens),
    publicReflection: opts.publicReflection === true,
    httpPort: opts.httpPort as number | undefined,
    fetchAllowHosts: list(opts.fetchAllowHosts),
  };
}

function list(value: unknown): string[] {
  return typeof value === 'string' ? value.split(',').map((v) => v.trim()).filter(Boolean) : [];
}
