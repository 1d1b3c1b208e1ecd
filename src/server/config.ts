/**
 * Server configuration from flags and environment (XCEPTION_*): flags win over the environment, the environment over
 * defaults. One zod schema declares every option (type, default, flag, help); `--help`, the README flags table and
 * the deployment manifests follow it.
 */
import { Command, Option } from 'commander';
import { availableParallelism, hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/** The default contrib_src/ is the one shipped beside src/ (and dist/) in this package. */
export const DEFAULT_CONTRIB_DIR = fileURLToPath(new URL('../../contrib_src', import.meta.url));
/** Cap on decoded width × height, against decompression bombs; also the input stage's default. */
export const DEFAULT_MAX_INPUT_PIXELS = 40_000_000;

interface FlagMeta {
  /** commander's flags: `--port <port>`, or `--name` alone for a switch. */
  readonly flags: string;
  readonly description: string;
  /** Shown instead of the default value, or where there is none. */
  readonly defaultDescription?: string;
}

const flagMeta = z.registry<FlagMeta>();

function flag<T extends z.ZodType>(schema: T, flags: string, description: string, defaultDescription?: string): T {
  flagMeta.add(schema, { flags, description, defaultDescription });
  return schema;
}

function wholeNumber(min: number, max: number) {
  const error = `expected a whole number from ${min} to ${max}`;
  return z.coerce.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

function choice<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `allowed choices are ${values.join(', ')}` });
}

/** On when given as a flag; its variable reads 0/false/no/off as off. */
const onOff = () => z.union([z.boolean(), z.string().transform((v) => !/^(0|false|no|off)$/i.test(v))]).default(false);
/** Empty is the same as not given. */
const optionalText = () =>
  z
    .string()
    .optional()
    .transform((v) => v || undefined);
const commaList = () =>
  z
    .string()
    .optional()
    .transform((v) =>
      (v ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    );

export const serverConfigSchema = z.object({
  host: flag(z.string().default('0.0.0.0'), '--host <address>', 'address to listen on'),
  port: flag(wholeNumber(0, 65535).default(50051), '--port <port>', 'gRPC port (0 picks a free one)'),
  contribDir: flag(
    z.string().default(DEFAULT_CONTRIB_DIR),
    '--contrib-dir <dir>',
    'ModelHub contributor folder (config.json, labels, licenses, samples)',
    'the bundled contrib_src/',
  ),
  logLevel: flag(
    choice(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    '--log-level <level>',
    'log level',
  ),
  engine: flag(choice(['onnx', 'tfjs']).default('onnx'), '--engine <engine>', 'inference engine'),
  precision: flag(
    choice(['fp32', 'int8']).default('fp32'),
    '--precision <precision>',
    'arithmetic of inference: int8 is the onnx engine statically quantised (about 2× faster on CPUs with VNNI; see "Precision")',
  ),
  calibrationDir: flag(
    optionalText(),
    '--calibration-dir <dir>',
    'PNG/JPEG images that set the int8 activation ranges (calibrated once, then cached beside the weights)',
    'the samples in contrib_src/sample_data',
  ),
  threads: flag(
    wholeNumber(1, 256).default(availableParallelism()),
    '--threads <n>',
    'threads one inference uses',
    'the number of cores',
  ),
  onnxSpinning: flag(
    onOff(),
    '--onnx-spinning',
    "let ONNX Runtime's threads busy-wait between operators and runs: a lone forward ~2 ms faster, but they keep the cores the server needs to decode, answer and read the next request (off: less CPU per call, equal or better latency measured)",
  ),
  weights: flag(
    optionalText(),
    '--weights <path>',
    'weights file: Keras HDF5 (.h5) or TensorFlow.js model.json',
    'contrib_src/model/model.h5 if present, else seeded random (NOT pretrained)',
  ),
  requirePretrained: flag(onOff(), '--require-pretrained', 'refuse to start without real (pretrained) weights'),
  watchWeights: flag(
    onOff(),
    '--watch-weights',
    'reload the weights without downtime when the weights file changes (its modification time or size); SIGHUP and AdminService.ReloadWeights reload too',
  ),
  watchWeightsIntervalMs: flag(
    wholeNumber(50, 3_600_000).default(2000),
    '--watch-weights-interval <ms>',
    'how often --watch-weights looks at the file',
  ),
  seed: flag(wholeNumber(0, 2 ** 32 - 1).default(0), '--seed <n>', 'seed of the random default weights'),
  engineInstances: flag(
    wholeNumber(1, 16).default(1),
    '--engine-instances <n>',
    'engine workers, each with its own copy of the model (~300 MiB) and --threads threads, running at once: throughput for many callers at the cost of a lone call\'s latency (see "Capacity per replica")',
  ),
  maxConcurrency: flag(
    wholeNumber(1, 64).optional(),
    '--max-concurrency <n>',
    'engine runs at once',
    'the number of --engine-instances',
  ),
  maxQueue: flag(
    wholeNumber(0, 100_000).default(64),
    '--max-queue <n>',
    'requests waiting for the engine before new ones are refused (RESOURCE_EXHAUSTED)',
  ),
  maxBatch: flag(
    wholeNumber(1, 64).default(1),
    '--max-batch <n>',
    'dynamic micro-batching: requests per engine run (1 = off)',
  ),
  batchWaitMs: flag(
    wholeNumber(0, 1000).default(2),
    '--batch-wait-ms <ms>',
    'how long a partial batch waits for more requests',
  ),
  maxMessageBytes: flag(
    wholeNumber(1024, 2 ** 31 - 1).default(16 * 1024 * 1024),
    '--max-message-bytes <n>',
    'largest request message accepted',
    '16 MiB',
  ),
  http2WindowBytes: flag(
    wholeNumber(65_535, 2 ** 31 - 1).default(1024 * 1024),
    '--http2-window-bytes <n>',
    "gRPC's HTTP/2 receive window, per connection and per stream: what a client may send before waiting for the server (Node's own is 64 KiB, four waits for one 299×299 frame)",
    '1 MiB',
  ),
  maxInputPixels: flag(
    wholeNumber(1024, 2 ** 32 - 1).default(DEFAULT_MAX_INPUT_PIXELS),
    '--max-input-pixels <n>',
    'largest decoded image (width × height), against decompression bombs',
  ),
  streamMaxInFlight: flag(
    wholeNumber(1, 256).default(4),
    '--stream-max-in-flight <n>',
    'frames of one stream in flight before the server stops reading it (a call may ask for fewer)',
  ),
  maxStreams: flag(
    wholeNumber(1, 100_000).default(64),
    '--max-streams <n>',
    'concurrent PredictStream calls; more are refused (RESOURCE_EXHAUSTED)',
  ),
  gracePeriodSeconds: flag(
    wholeNumber(0, 3600).default(10),
    '--grace-period <seconds>',
    'on SIGTERM/SIGINT, how long in-flight and queued work may take to finish',
  ),
  /** Undefined: no metrics endpoint; 0 picks a free port. */
  metricsPort: flag(
    wholeNumber(0, 65535).optional(),
    '--metrics-port <port>',
    'serve Prometheus metrics at http://HOST:PORT/metrics (0 picks a free port)',
    'off',
  ),
  metricsHost: flag(
    z.string().default('0.0.0.0'),
    '--metrics-host <address>',
    'address the metrics endpoint listens on',
  ),
  /** Where spans are posted (OTLP/HTTP); unset: OpenTelemetry's variables (withOtelEndpoint), else tracing is off. */
  otlpTracesUrl: flag(
    optionalText()
      .pipe(z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).optional())
      .transform((base) => base && otlpTracesUrl(base)),
    '--otlp-endpoint <url>',
    'export traces (OpenTelemetry) over OTLP/HTTP to this collector, e.g. http://collector:4318 (spans go to <url>/v1/traces); unset, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT is used',
    'off',
  ),
  tlsCert: flag(
    optionalText(),
    '--tls-cert <path>',
    'PEM certificate chain: serve gRPC (and HTTP) over TLS',
    'plaintext',
  ),
  tlsKey: flag(optionalText(), '--tls-key <path>', 'PEM private key of --tls-cert'),
  tlsClientCa: flag(
    optionalText(),
    '--tls-client-ca <path>',
    'PEM CA bundle: require client certificates signed by it (mutual TLS)',
  ),
  authTokenFile: flag(
    optionalText(),
    '--auth-token-file <path>',
    'file of bearer tokens, one per line: calls must send "authorization: Bearer <token>"',
  ),
  authTokens: flag(
    commaList(),
    '--auth-tokens <list>',
    'comma-separated bearer tokens (prefer the env var or a file: flags show in ps)',
    'none',
  ),
  adminTokenFile: flag(
    optionalText(),
    '--admin-token-file <path>',
    "file of bearer tokens, one per line, for operator calls (modelhub.v1.AdminService, e.g. ReloadWeights); callers' tokens do not work there",
    'none: AdminService calls are refused',
  ),
  adminTokens: flag(
    commaList(),
    '--admin-tokens <list>',
    'comma-separated admin bearer tokens (prefer the env var or a file: flags show in ps)',
    'none',
  ),
  publicReflection: flag(
    onOff(),
    '--public-reflection',
    'let reflection answer without a token when auth is on (health never needs one)',
  ),
  /** Undefined: no HTTP server; 0 picks a free port. */
  httpPort: flag(
    wholeNumber(0, 65535).optional(),
    '--http-port <port>',
    "serve ModelHub's REST API and the web page on this port (0 picks a free one)",
    'off',
  ),
  fetchAllowHosts: flag(
    commaList(),
    '--fetch-allow-hosts <list>',
    'comma-separated hosts GET /api/predict?fileurl= may fetch from',
    'none: fileurl is refused',
  ),
  httpRequestTimeoutMs: flag(
    wholeNumber(0, 3_600_000).default(60_000),
    '--http-request-timeout <ms>',
    'deadline of a REST inference request (504 after it); a request may ask for less with the x-request-timeout header, in ms (0 = none)',
  ),
  /** 0 = connections live as long as clients keep them. */
  maxConnectionAgeSeconds: flag(
    wholeNumber(0, 86_400).default(0),
    '--max-connection-age <seconds>',
    'close each client connection after this long (GOAWAY; calls get 30 s to finish) so clients re-resolve DNS and spread onto new replicas (0 = never)',
  ),
  instanceId: flag(
    z
      .string()
      .optional()
      .transform((id) => id || `${hostname()}:${process.pid}`),
    '--instance-id <id>',
    'replica identity in metadata and the x-instance response header',
    'host:pid',
  ),
});

export type ServerConfig = Omit<z.output<typeof serverConfigSchema>, 'maxConcurrency'> & {
  /** Engine runs at once: one per engine instance unless given. */
  readonly maxConcurrency: number;
};
export type EngineChoice = ServerConfig['engine'];
export type LogLevel = ServerConfig['logLevel'];

/** One option as the command line, `--help` and the README show it. */
export interface ServerOption extends FlagMeta {
  readonly key: string;
  /** commander's name for the flag's value: --grace-period → gracePeriod. */
  readonly attribute: string;
  readonly env: string;
  readonly defaultValue?: unknown;
  readonly choices?: readonly string[];
}

export const SERVER_OPTIONS: readonly ServerOption[] = Object.entries(serverConfigSchema.shape).map(([key, schema]) => {
  const meta = flagMeta.get(schema)!;
  const inner = schema instanceof z.ZodDefault ? schema.unwrap() : schema;
  return {
    ...meta,
    key,
    attribute: new Option(meta.flags).attributeName(),
    env: `XCEPTION_${meta.flags.split(' ')[0]!.slice(2).toUpperCase().replaceAll('-', '_')}`,
    defaultValue: schema instanceof z.ZodDefault ? schema.def.defaultValue : undefined,
    choices: inner instanceof z.ZodEnum ? inner.options : undefined,
  };
});

/**
 * Adds every server option (or the `only` ones) to a commander command; `serve` in the CLI and the server's main share
 * them, and commands that build the model (quantize) take the model's part.
 */
export function addServerOptions(command: Command, only?: readonly (keyof ServerConfig)[]): Command {
  for (const spec of SERVER_OPTIONS) {
    if (only !== undefined && !only.includes(spec.key as keyof ServerConfig)) continue;
    const option = new Option(spec.flags, `${spec.description} (env ${spec.env})`);
    if (spec.defaultValue !== undefined) option.default(spec.defaultValue, spec.defaultDescription);
    // Listed by --help; the schema checks the value, so that flags and variables fail alike.
    if (spec.choices) option.argChoices = [...spec.choices];
    command.addOption(option);
  }
  return command;
}

/**
 * The config of a parsed command: a flag given on the command line wins, then the XCEPTION_* variable, then the
 * default. The environment is passed in (tests) and read here rather than by commander, so that switches read
 * "false"/"0" as off. A bad value ends the command like any usage error: a flag's in commander's words (exit 1, or
 * the CLI's 2), a variable's with exit 2.
 */
export function resolveServerConfig(command: Command, env: NodeJS.ProcessEnv): ServerConfig {
  const fromFlag = (spec: ServerOption) => command.getOptionValueSource(spec.attribute) === 'cli';
  const given: Record<string, unknown> = {};
  for (const spec of SERVER_OPTIONS) {
    if (fromFlag(spec)) given[spec.key] = command.getOptionValue(spec.attribute);
    else if (env[spec.env]) given[spec.key] = env[spec.env];
  }
  const parsed = serverConfigSchema.safeParse(given);
  if (parsed.success) {
    const config = { ...parsed.data, maxConcurrency: parsed.data.maxConcurrency ?? parsed.data.engineInstances };
    return withOtelEndpoint(command, config, env);
  }
  const issue = parsed.error.issues[0]!;
  const spec = SERVER_OPTIONS.find((s) => s.key === issue.path[0])!;
  const value = String(given[spec.key]);
  if (fromFlag(spec)) {
    command.error(`error: option '${spec.flags}' argument '${value}' is invalid. ${issue.message}, got "${value}"`, {
      code: 'commander.invalidArgument',
    });
  }
  command.error(`error: ${spec.env}: ${issue.message}, got "${value}"`, {
    exitCode: 2,
    code: 'xception.invalidEnvironment',
  });
}

/** OTLP/HTTP's traces URL under a collector's base URL. */
function otlpTracesUrl(base: string): string {
  return `${base.replace(/\/+$/, '')}/v1/traces`;
}

/**
 * Without --otlp-endpoint (or XCEPTION_OTLP_ENDPOINT), traces go where OpenTelemetry's standard variables say, as with
 * any OpenTelemetry SDK: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is the traces URL itself, OTEL_EXPORTER_OTLP_ENDPOINT the
 * collector's base URL.
 */
function withOtelEndpoint(command: Command, config: ServerConfig, env: NodeJS.ProcessEnv): ServerConfig {
  if (config.otlpTracesUrl) return config;
  const variable = ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_ENDPOINT'].find((name) => env[name]);
  if (!variable) return config;
  const value = env[variable]!;
  if (!URL.canParse(value) || !/^https?:$/.test(new URL(value).protocol)) {
    command.error(`error: ${variable}: expected an http:// or https:// URL, got "${value}"`, {
      exitCode: 2,
      code: 'xception.invalidEnvironment',
    });
  }
  return { ...config, otlpTracesUrl: variable === 'OTEL_EXPORTER_OTLP_ENDPOINT' ? otlpTracesUrl(value) : value };
}

/** Parses argv (without node and script) and env into a ServerConfig; throws on bad input. */
export function parseServerConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const command = addServerOptions(new Command('xception-server'))
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} });
  return resolveServerConfig(command.parse([...argv], { from: 'user' }), env);
}
