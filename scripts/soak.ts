/**
 * `npm run soak -- --minutes N`: a server process (dist/server/main.js, loopback only) under a mixed, seeded load for N
 * minutes — unary Predict (sample JPEGs, small raw frames), PredictStream "all" and "latest" cancelled at random points,
 * connections cut mid-call, deadlines short enough to expire, bad inputs — with a weights reload (SIGHUP after a new
 * weights file is swapped in) in the middle. It samples the server's /metrics over time (RSS, event-loop delay, active
 * handles, streams, queue, tensor slabs), then checks its promises: RSS within ±60 MiB after warm-up, handles back to
 * their idle values (not growing), no UNKNOWN/INTERNAL, only the statuses each kind of call may get, every call
 * settled, the reload done, and a clean exit on SIGTERM. Exits 1 if one is broken.
 *
 * Flags: --minutes N (fractions allowed, ≤ 240), --concurrency N, --seed N, --json (the summary as JSON on stdout, the
 * human report on stderr), --no-reload, --sample-seconds S, --server-arg ARG (repeatable: passed to the server).
 */
import { Command, InvalidArgumentError } from 'commander';
import { readFileSync } from 'node:fs';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { type ClientHttp2Stream, connect } from 'node:http2';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type CodeName,
  codeName,
  createModelClient,
  ModelError,
  type ModelClient,
  type RawImage,
} from '../src/client/index.js';
import { PixelFormat, PredictRequest } from '../src/gen/modelhub/v1/model_service.js';
import { SeededRandom } from '../src/server/model/weights/random.js';
import { gif, png, rgbPixels } from '../test/support/images.js';
import { scrape, type Scrape } from '../test/support/metrics.js';
import { startServerProcess, type ServerProcess } from '../test/support/subprocess.js';
import { writeXceptionH5 } from '../test/support/weights-files.js';

// ---------------------------------------------------------------------------------------------------------------
// Options

const MAX_MINUTES = 240;

interface SoakOptions {
  readonly minutes: number;
  readonly concurrency: number;
  readonly seed: number;
  readonly json: boolean;
  readonly reload: boolean;
  readonly sampleSeconds?: number;
  readonly serverArg: string[];
}

/** A commander parser of numbers in (0, max] (or [0, max] with `zero`), whole ones only with `integer`. */
function number(what: string, max: number, { integer = false, zero = false } = {}) {
  return (value: string): number => {
    const n = Number(value);
    if (!(Number.isFinite(n) && (zero ? n >= 0 : n > 0) && n <= max) || (integer && !Number.isInteger(n))) {
      throw new InvalidArgumentError(
        `${what} must be a ${integer ? 'whole ' : ''}number ${zero ? '≥ 0' : '> 0'} and ≤ ${max}`,
      );
    }
    return n;
  };
}

function parseOptions(argv: string[]): SoakOptions {
  return new Command('soak')
    .description('a bounded, loopback-only soak run of the server')
    .option(
      '--minutes <n>',
      `how long the load runs (fractions allowed, ≤ ${MAX_MINUTES})`,
      number('--minutes', MAX_MINUTES),
      10,
    )
    .option('--concurrency <n>', 'callers at once', number('--concurrency', 64, { integer: true }), 4)
    .option(
      '--seed <n>',
      'seed of the load and of the weights',
      number('--seed', 0xfffffffe, { integer: true, zero: true }),
      1,
    )
    .option('--json', 'print the summary as JSON on stdout (the report goes to stderr)', false)
    .option('--no-reload', 'no weights reload (SIGHUP) in the middle')
    .option(
      '--sample-seconds <s>',
      'metrics sampling period (default: the run ÷ 40, 1–10 s)',
      number('--sample-seconds', 60),
    )
    .option(
      '--server-arg <arg>',
      'a server flag or value (repeatable)',
      (value: string, all: string[]) => [...all, value],
      [],
    )
    .parse(argv)
    .opts<SoakOptions>();
}

// ---------------------------------------------------------------------------------------------------------------
// The calls

/** A call's outcome: its gRPC status, or DISCONNECTED when the script cut the connection before any answer. */
type Outcome = CodeName | 'DISCONNECTED';
type Method = 'Predict' | 'PredictStream' | 'GetMetadata';

interface CallContext {
  readonly client: ModelClient;
  readonly address: string;
  readonly random: Random;
  readonly inputs: Inputs;
  /** Counts one stream frame's answer by its code. */
  frame(outcome: string): void;
}

interface Kind {
  readonly name: string;
  readonly method: Method;
  /** Relative frequency in the mix. */
  readonly weight: number;
  /** The outcomes this kind of call may have; anything else breaks a promise. */
  readonly expected: readonly Outcome[];
  run(context: CallContext): Promise<Outcome>;
}

/** Unary calls and streams get a deadline each, so no call can hang the run; these are far beyond any normal answer. */
const UNARY_DEADLINE_MS = 15_000;
const STREAM_DEADLINE_MS = 20_000;

const KINDS: readonly Kind[] = [
  {
    name: 'predict-jpeg',
    method: 'Predict',
    weight: 18,
    expected: ['OK', 'RESOURCE_EXHAUSTED'],
    run: ({ client, random, inputs }) =>
      outcomeOf(client.predict(random.pick(inputs.photos), { deadline: UNARY_DEADLINE_MS, topK: random.int(0, 10) })),
  },
  {
    name: 'predict-raw',
    method: 'Predict',
    weight: 14,
    expected: ['OK', 'RESOURCE_EXHAUSTED'],
    run: ({ client, random }) => outcomeOf(client.predict(rawFrame(random), { deadline: UNARY_DEADLINE_MS })),
  },
  {
    name: 'predict-short-deadline',
    method: 'Predict',
    weight: 12,
    expected: ['OK', 'DEADLINE_EXCEEDED', 'RESOURCE_EXHAUSTED'],
    run: ({ client, random, inputs }) =>
      outcomeOf(client.predict(random.pick(inputs.photos), { deadline: random.int(5, 250) })),
  },
  {
    name: 'predict-invalid',
    method: 'Predict',
    weight: 6,
    expected: ['INVALID_ARGUMENT'],
    run: ({ client, random, inputs }) =>
      outcomeOf(client.predict(random.pick(inputs.invalid), { deadline: UNARY_DEADLINE_MS })),
  },
  {
    name: 'get-metadata',
    method: 'GetMetadata',
    weight: 3,
    expected: ['OK'],
    run: ({ client }) => outcomeOf(client.getMetadata({ deadline: UNARY_DEADLINE_MS })),
  },
  {
    name: 'stream-all-cancelled',
    method: 'PredictStream',
    weight: 12,
    expected: ['OK', 'CANCELLED', 'RESOURCE_EXHAUSTED'],
    run: (context) => {
      const { random } = context;
      const frames = random.int(1, 10);
      const bad = random.uniform() < 0.2 ? random.int(0, frames - 1) : -1;
      return stream(context, {
        policy: 'all',
        maxInFlight: random.int(1, 4),
        // Cancelled after this many answers (0: after a random delay); more than the frames: the stream completes.
        cancelAfterAnswers: random.int(0, 12),
        cancelAfterMs: random.int(0, 400),
        deadlineMs: STREAM_DEADLINE_MS,
        frames: function* () {
          for (let i = 0; i < frames; i++) yield i === bad ? context.inputs.invalidFrame : rawFrame(random);
        },
      });
    },
  },
  {
    name: 'stream-latest-cancelled',
    method: 'PredictStream',
    weight: 12,
    expected: ['OK', 'CANCELLED', 'RESOURCE_EXHAUSTED'],
    run: (context) => {
      const { random } = context;
      const frames = random.int(5, 60);
      return stream(context, {
        policy: 'latest',
        maxInFlight: 4,
        cancelAfterAnswers: 0,
        // A live camera: the stream is cancelled at a random moment, or (past its frames) completes.
        cancelAfterMs: random.int(100, 2500),
        deadlineMs: STREAM_DEADLINE_MS,
        frames: () => camera(frames, () => rawFrame(random, 160, 120)),
      });
    },
  },
  {
    name: 'stream-short-deadline',
    method: 'PredictStream',
    weight: 5,
    expected: ['OK', 'DEADLINE_EXCEEDED', 'RESOURCE_EXHAUSTED'],
    run: (context) => {
      const { random } = context;
      return stream(context, {
        policy: random.pick(['all', 'latest'] as const),
        maxInFlight: 4,
        cancelAfterAnswers: Infinity,
        cancelAfterMs: Infinity,
        deadlineMs: random.int(100, 800),
        frames: () => camera(40, () => rawFrame(random)),
      });
    },
  },
  {
    name: 'disconnect-predict',
    method: 'Predict',
    weight: 9,
    // The connection is cut before the answer; one that comes first (an answer, or a queue full) is kept.
    expected: ['DISCONNECTED', 'OK', 'RESOURCE_EXHAUSTED'],
    run: ({ address, random, inputs }) => {
      const request = PredictRequest.encode({
        id: `disconnect-${random.int(0, 1e9)}`,
        topK: 5,
        input: { $case: 'image', value: random.pick(inputs.photos) },
      }).finish();
      const message = grpcMessage(request);
      // Half a message (the server waits for the rest), or the whole request and the cut while it is worked on.
      const whole = random.uniform() < 0.6;
      const cut = { afterMs: random.int(0, 300), reset: random.uniform() < 0.5 };
      return cutConnection(address, '/modelhub.v1.ModelService/Predict', {}, cut, async (call) => {
        if (whole) call.end(message);
        else call.write(message.subarray(0, random.int(1, message.length - 1)));
      });
    },
  },
  {
    name: 'disconnect-stream',
    method: 'PredictStream',
    weight: 8,
    expected: ['DISCONNECTED'],
    run: ({ address, random }) => {
      const policy = random.pick(['all', 'latest']);
      return cutConnection(
        address,
        '/modelhub.v1.ModelService/PredictStream',
        { 'x-stream-policy': policy },
        { afterMs: random.int(50, 1500), reset: random.uniform() < 0.5 },
        async (call, stop) => {
          // Frames at 30 per second until the cut.
          for (let i = 0; !stop.aborted; i++) {
            const image = rawFrame(random, 96, 96);
            call.write(
              grpcMessage(
                PredictRequest.encode({
                  id: String(i),
                  topK: 1,
                  input: {
                    $case: 'raw',
                    value: {
                      width: image.width,
                      height: image.height,
                      format: PixelFormat.PIXEL_FORMAT_RGB8,
                      data: Buffer.from(image.data),
                    },
                  },
                }).finish(),
              ),
            );
            await sleep(33, undefined, { signal: stop }).catch(() => {});
          }
        },
      );
    },
  },
];

/** The status of a finished call, from the client's ModelError. */
async function outcomeOf(call: Promise<unknown>): Promise<Outcome> {
  try {
    await call;
    return 'OK';
  } catch (error) {
    if (error instanceof ModelError) return error.codeName;
    throw error;
  }
}

interface StreamPlan {
  readonly policy: 'all' | 'latest';
  readonly maxInFlight: number;
  readonly cancelAfterAnswers: number;
  readonly cancelAfterMs: number;
  readonly deadlineMs: number;
  readonly frames: () => Iterable<RawImage> | AsyncIterable<RawImage>;
}

/** A PredictStream through the typed client, cancelled (AbortSignal) after some answers or some time. */
async function stream(context: CallContext, plan: StreamPlan): Promise<Outcome> {
  const controller = new AbortController();
  const timer =
    plan.cancelAfterAnswers === 0 && Number.isFinite(plan.cancelAfterMs)
      ? setTimeout(() => controller.abort(), plan.cancelAfterMs)
      : undefined;
  let answers = 0;
  try {
    for await (const result of context.client.predictStream(plan.frames(), {
      policy: plan.policy,
      maxInFlight: plan.maxInFlight,
      topK: 1,
      signal: controller.signal,
      deadline: plan.deadlineMs,
    })) {
      context.frame(result.error ? result.error.codeName : 'OK');
      if (++answers === plan.cancelAfterAnswers) controller.abort();
    }
    return 'OK';
  } catch (error) {
    if (error instanceof ModelError) return error.codeName;
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** Frames paced like a 30 fps camera. */
async function* camera(count: number, frame: () => RawImage): AsyncGenerator<RawImage> {
  for (let i = 0; i < count; i++) {
    yield frame();
    await sleep(33);
  }
}

/** A gRPC length-prefixed message (uncompressed). */
function grpcMessage(bytes: Uint8Array): Buffer {
  const message = Buffer.alloc(5 + bytes.length);
  message.writeUInt32BE(bytes.length, 1);
  message.set(bytes, 5);
  return message;
}

/**
 * A client that vanishes: its own HTTP/2 connection, one call on it, and after `cutAfterMs` its TCP socket closed (as
 * when the client process dies) or reset (a connection reset), with no RST_STREAM or GOAWAY first. grpc-js's
 * Client.close() does not do this: calls already started run to their end on a closed channel.
 */
function cutConnection(
  address: string,
  path: string,
  headers: Record<string, string>,
  cut: { afterMs: number; reset: boolean },
  send: (call: ClientHttp2Stream, stop: AbortSignal) => Promise<void>,
): Promise<Outcome> {
  return new Promise((resolve) => {
    const [host, port] = [
      address.slice(0, address.lastIndexOf(':')),
      Number(address.slice(address.lastIndexOf(':') + 1)),
    ];
    const socket = createConnection(port, host);
    const session = connect(`http://${address}`, { createConnection: () => socket });
    session.on('error', () => {});
    const call = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-timeout': `${UNARY_DEADLINE_MS}m`,
      ...headers,
    });
    call.on('error', () => {});
    call.resume();
    let status: number | undefined;
    const onStatus = (fields: Record<string, unknown>) => {
      if (fields['grpc-status'] !== undefined) status = Number(fields['grpc-status']);
    };
    call.on('response', onStatus);
    call.on('trailers', onStatus);
    const stop = new AbortController();
    const writing = send(call, stop.signal);
    setTimeout(() => {
      stop.abort();
      if (cut.reset) socket.resetAndDestroy();
      else socket.destroy();
    }, cut.afterMs);
    session.once('close', () => {
      void writing.finally(() => resolve(status === undefined ? 'DISCONNECTED' : codeName(status)));
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Inputs, randomness

interface Inputs {
  readonly photos: Buffer[];
  readonly invalid: (Uint8Array | RawImage)[];
  readonly invalidFrame: RawImage;
}

async function loadInputs(): Promise<Inputs> {
  const sample = (name: string) => readFileSync(new URL(`../contrib_src/sample_data/${name}`, import.meta.url));
  const photos = ['orange.jpg', 'sunset.jpg', 'checkerboard.png', 'traffic-light.png'].map(sample);
  const invalidFrame: RawImage = { width: 64, height: 64, format: 'RGB8', data: rgbPixels(64, 60) };
  return {
    photos,
    invalid: [
      photos[0]!.subarray(0, 300), // a truncated JPEG
      await gif(64, 64), // a format the model does not take
      await png(16, 16), // below the model's smallest input
      invalidFrame, // raw data shorter than width × height × 3
      Buffer.from('not an image at all'),
    ],
    invalidFrame,
  };
}

class Random extends SeededRandom {
  /** A whole number in [low, high]. */
  int(low: number, high: number): number {
    return low + Math.floor(this.uniform() * (high - low + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }

  /** A copy of `items` in random order (Fisher–Yates). */
  shuffled<T>(items: readonly T[]): T[] {
    const copy = [...items];
    for (let i = copy.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [copy[i], copy[j]] = [copy[j]!, copy[i]!];
    }
    return copy;
  }

  weighted<T extends { weight: number }>(items: readonly T[]): T {
    let left = this.uniform() * items.reduce((sum, item) => sum + item.weight, 0);
    for (const item of items) if ((left -= item.weight) < 0) return item;
    return items.at(-1)!;
  }
}

/** A small raw RGB8 frame of random size (the server resizes every input to 299×299). */
function rawFrame(random: Random, width = random.int(32, 320), height = random.int(32, 240)): RawImage {
  return { width, height, format: 'RGB8', data: rgbPixels(width, height, random.int(1, 1e6)) };
}

// ---------------------------------------------------------------------------------------------------------------
// Metrics over time

interface Sample {
  /** Seconds since the load started. */
  readonly t: number;
  readonly phase: 'idle' | 'warm-up' | 'steady' | 'reload' | 'drain';
  readonly calls: number;
  readonly rssMiB: number;
  readonly loopP99Ms: number;
  readonly handles: number;
  readonly requests: number;
  readonly handlesByType: Record<string, number>;
  readonly streams: number;
  readonly framesInFlight: number;
  readonly queue: number;
  readonly runs: number;
  readonly slabsAllocated: number;
  readonly slabsInUse: number;
}

function readSample(read: Scrape, t: number, phase: Sample['phase'], calls: number): Sample {
  return {
    t,
    phase,
    calls,
    rssMiB: read('xception_process_resident_memory_bytes') / 2 ** 20,
    loopP99Ms: read('xception_nodejs_eventloop_lag_p99_seconds') * 1000,
    handles: read('xception_nodejs_active_handles_total'),
    requests: read('xception_nodejs_active_requests_total'),
    handlesByType: Object.fromEntries(
      read
        .all('xception_nodejs_active_handles')
        .map(({ labels, value }) => [labels.type ?? '?', value])
        .sort(([a], [b]) => String(a).localeCompare(String(b))),
    ),
    streams: read('xception_active_streams'),
    framesInFlight: read('xception_stream_frames_in_flight'),
    queue: read('xception_queue_depth'),
    runs: read('xception_inflight_runs'),
    slabsAllocated: read('xception_tensor_slabs', { state: 'allocated' }),
    slabsInUse: read('xception_tensor_slabs', { state: 'in_use' }),
  };
}

/** How reading /metrics went: reads that needed another try, and samples lost after three. */
interface MetricsReads {
  retried: number;
  failed: string[];
}

/**
 * One read of /metrics, tried up to three times: a kept-alive connection the server closes just as a request goes out
 * on it (its keep-alive timer and the request meet, e.g. after its event loop was held up) fails with ECONNRESET.
 */
async function scrapeRetrying(url: string, reads: MetricsReads): Promise<Scrape> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await scrape(url);
    } catch (error) {
      if (attempt === 3) throw error;
      reads.retried++;
      await sleep(100);
    }
  }
}

/** No call in progress anywhere in the server. */
const quiet = (s: Sample) =>
  s.streams === 0 && s.framesInFlight === 0 && s.queue === 0 && s.runs === 0 && s.slabsInUse === 0;

/** Handle types whose count is above `start`'s (a type `start` did not have counts from 0). */
function grownHandles(start: Sample, end: Sample): string[] {
  return Object.entries(end.handlesByType)
    .filter(([type, count]) => count > (start.handlesByType[type] ?? 0))
    .map(([type, count]) => `${type} ${start.handlesByType[type] ?? 0} → ${count}`);
}

const SAMPLE_HEADER =
  '|     t s | phase   |  calls | RSS MiB | loop p99 ms | handles | requests | streams | frames in flight | queue | runs | slabs alloc/in use | handles by type |';
const SAMPLE_RULE =
  '| ------: | ------- | -----: | ------: | ----------: | ------: | -------: | ------: | ---------------: | ----: | ---: | -----------------: | --------------- |';

function sampleRow(s: Sample): string {
  const byType = Object.entries(s.handlesByType)
    .map(([type, count]) => `${type} ${count}`)
    .join(', ');
  return (
    `| ${s.t.toFixed(1).padStart(7)} | ${s.phase.padEnd(7)} | ${String(s.calls).padStart(6)} | ` +
    `${s.rssMiB.toFixed(0).padStart(7)} | ${s.loopP99Ms.toFixed(1).padStart(11)} | ${String(s.handles).padStart(7)} | ` +
    `${String(s.requests).padStart(8)} | ${String(s.streams).padStart(7)} | ${String(s.framesInFlight).padStart(16)} | ` +
    `${String(s.queue).padStart(5)} | ${String(s.runs).padStart(4)} | ${`${s.slabsAllocated}/${s.slabsInUse}`.padStart(18)} | ` +
    `${byType} |`
  );
}

// ---------------------------------------------------------------------------------------------------------------
// The run

interface Verdict {
  readonly promise: string;
  readonly ok: boolean;
  /** Not judged: the run was too short to tell (ok stays true). */
  readonly skipped?: boolean;
  readonly detail: string;
}

/** Tallies of outcomes: key → outcome → count. */
type Tally = Record<string, Record<string, number>>;

function count(tally: Tally, key: string, outcome: string, n = 1): void {
  const row = (tally[key] ??= {});
  row[outcome] = (row[outcome] ?? 0) + n;
}

const RSS_BAND_MIB = 60;
/**
 * How far above its level before a reload RSS may settle once the old engine is closed. glibc keeps part of the pages
 * a freed engine (its worker thread's arena, its ~90 MB model buffers until V8's next full GC) held: measured here
 * +80–270 MiB after one reload, not growing over 4–6 reloads in a row. More than one fp32 engine's worth is a leak.
 */
const RELOAD_SETTLE_MIB = 300;
/** Seconds after the previous engine closed that count for no RSS window: its memory is still being given back. */
const RELOAD_SETTLE_SECONDS = 10;
/** A level needs a few samples: the one right after a reload catches memory the runtime has yet to give back. */
const MIN_WINDOW_SAMPLES = 3;
/** The server's --grace-period default; SIGTERM to exit may take it plus EXIT_MARGIN_MS. */
const DEFAULT_GRACE_SECONDS = 10;
const EXIT_MARGIN_MS = 5_000;

async function main(): Promise<number> {
  const options = parseOptions(process.argv);
  // With --json the summary alone goes to stdout.
  const say = (line = '') => (options.json ? process.stderr : process.stdout).write(`${line}\n`);
  const durationMs = options.minutes * 60_000;
  const warmupMs = Math.min(Math.max(0.2 * durationMs, 30_000), 0.5 * durationMs);
  const sampleMs = (options.sampleSeconds ?? Math.min(Math.max(durationMs / 40_000, 1), 10)) * 1000;
  const reloadAtMs = durationMs / 2;
  const random = new Random(options.seed);

  const dir = await mkdtemp(join(tmpdir(), 'xception-soak-'));
  let server: ServerProcess | undefined;
  const stopOnSignal = () => {
    server?.child.kill('SIGTERM');
    void rm(dir, { recursive: true, force: true }).finally(() => process.exit(130));
  };
  process.once('SIGINT', stopOnSignal);
  // Whatever ends this process, the server goes with it.
  const killServer = () => {
    if (server && server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
  };
  process.once('exit', killServer);
  try {
    // Seeded random weights as a Keras HDF5 file; the reload writes other ones over it (a new file renamed over it).
    const weightsPath = join(dir, 'xception.h5');
    await writeXceptionH5(weightsPath, options.seed);
    // The weights the reload swaps in, written now: writing them under load would stall this process's event loop.
    const nextWeightsPath = join(dir, 'xception-next.h5');
    if (options.reload) await writeXceptionH5(nextWeightsPath, options.seed + 1);
    server = await startServerProcess([
      '--weights',
      weightsPath,
      '--metrics-port',
      '0',
      '--metrics-host',
      '127.0.0.1',
      '--log-level',
      'info',
      ...options.serverArg,
    ]);
    const running = server;
    let serverExit: number | null | undefined;
    void running.exited.then((code) => {
      serverExit = code;
    });
    const metricsPort = running.logs.find((entry) => String(entry.msg).startsWith('metrics on'))?.port;
    if (!metricsPort) throw new Error('the server did not say where its metrics are (its --metrics-port log line)');
    const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    const metricsReads: MetricsReads = { retried: 0, failed: [] };
    const readMetrics = () => scrapeRetrying(metricsUrl, metricsReads);
    const client = createModelClient(running.address, { retry: false });
    const inputs = await loadInputs();

    say(
      `# xception soak — ${new Date().toISOString()}, node ${process.version}, ${options.minutes} min, ` +
        `concurrency ${options.concurrency}, seed ${options.seed}, ` +
        (options.reload ? `reload at ${(reloadAtMs / 1000).toFixed(0)} s` : 'no reload'),
    );
    const sha256Before = (await client.getMetadata({ deadline: UNARY_DEADLINE_MS })).runtime?.weightsSha256 ?? '';
    const setupCalls: Tally = { GetMetadata: { OK: 1 } };
    say(
      `server pid ${running.child.pid}, gRPC ${running.address}, metrics ${metricsUrl}, ` +
        `weights ${weightsPath} (sha256 ${sha256Before.slice(0, 12)}…), warm-up ${(warmupMs / 1000).toFixed(0)} s`,
    );

    // Idle before the load: the one client connection open, nothing in progress.
    const idleStart = await pollSample(readMetrics, 'idle', 0, quiet, 30_000);
    if (!idleStart.ok) throw new Error('the server was not idle before the load');
    say();
    say(SAMPLE_HEADER);
    say(SAMPLE_RULE);
    say(sampleRow(idleStart.sample));

    // The load.
    const byKind: Tally = {};
    const frames: Record<string, number> = {};
    const unexpectedErrors: string[] = [];
    const pending = new Set<string>();
    let started = 0;
    let settled = 0;
    const loadStart = performance.now();
    const elapsed = () => performance.now() - loadStart;
    const loadEnd = loadStart + durationMs;
    /** Aborts when the load is over (or the server gone): the reload and the sampler stop waiting. */
    const loadOver = new AbortController();
    const pause = (ms: number) => sleep(ms, undefined, { signal: loadOver.signal }).catch(() => {});
    // Every kind once first (in a seeded order), so a short run has each; then the weighted mix.
    const firstRound = random.shuffled(KINDS);
    const context: CallContext = {
      client,
      address: running.address,
      random,
      inputs,
      frame: (outcome) => {
        frames[outcome] = (frames[outcome] ?? 0) + 1;
      },
    };
    const worker = async () => {
      while (performance.now() < loadEnd && serverExit === undefined) {
        const kind = firstRound.shift() ?? random.weighted(KINDS);
        const id = `${kind.name}#${started++}`;
        pending.add(id);
        let outcome: string;
        try {
          outcome = await kind.run(context);
        } catch (error) {
          outcome = 'SCRIPT_ERROR';
          if (unexpectedErrors.length < 10) unexpectedErrors.push(`${kind.name}: ${(error as Error).stack ?? error}`);
        }
        pending.delete(id);
        settled++;
        count(byKind, kind.name, outcome);
      }
    };

    // The reload, in the middle.
    const reload: ReloadReport = {
      requested: options.reload,
      happened: false,
      sha256Before,
      previousEngineClosed: false,
    };
    let reloading = false;
    let reloadLogsFrom = Infinity;
    const reloadUnderLoad = async (): Promise<void> => {
      await pause(reloadAtMs);
      if (loadOver.signal.aborted) return;
      reloading = true;
      reload.atSeconds = elapsed() / 1000;
      await rename(nextWeightsPath, weightsPath);
      reloadLogsFrom = running.logs.length;
      const signalledAt = performance.now();
      running.child.kill('SIGHUP');
      // The reload's outcome: "weights reloaded", "weights unchanged", or an error about the reload.
      const reloadLog = () =>
        logSince(
          running,
          reloadLogsFrom,
          (msg, entry) =>
            msg.includes('weights reloaded') ||
            msg.includes('weights unchanged') ||
            (entry.level >= 50 && /reload/i.test(msg)),
        );
      const entry = await waitForLog(running, reloadLog);
      reload.tookSeconds = (performance.now() - signalledAt) / 1000;
      if (entry && String(entry.msg).includes('weights reloaded')) {
        reload.happened = true;
        reload.sha256After = (await client.getMetadata({ deadline: UNARY_DEADLINE_MS })).runtime?.weightsSha256;
        count(setupCalls, 'GetMetadata', 'OK');
        // The old engine goes once the requests admitted before the switch are done.
        reload.previousEngineClosed =
          (await waitForLog(running, () =>
            logSince(running, reloadLogsFrom, (msg) => msg === 'previous engine closed'),
          )) !== undefined;
        reload.doneAtSeconds = elapsed() / 1000;
      } else {
        reload.failure =
          serverExit !== undefined
            ? `the server exited (code ${serverExit}) on SIGHUP: no reload there`
            : entry
              ? `the server logged: ${entry.msg}${entry.error ? ` (${entry.error})` : ''}`
              : 'no "weights reloaded" log line within 120 s';
      }
    };
    const reloadDone = (async () => {
      if (!options.reload) return;
      try {
        await reloadUnderLoad();
      } catch (error) {
        reload.failure = `the soak could not reload: ${(error as Error).message}`;
      } finally {
        reloading = false;
      }
    })();

    // Samples over time.
    const samples: Sample[] = [idleStart.sample];
    const sampler = (async () => {
      for (let next = sampleMs; ; next += sampleMs) {
        // A slot missed (this process was busy) is skipped, not made up for with a burst of samples.
        while (next < elapsed()) next += sampleMs;
        await pause(next - elapsed());
        if (loadOver.signal.aborted || serverExit !== undefined) break;
        const t = elapsed();
        const phase = reloading ? 'reload' : t < warmupMs ? 'warm-up' : 'steady';
        try {
          const sample = readSample(await readMetrics(), t / 1000, phase, settled);
          samples.push(sample);
          say(sampleRow(sample));
        } catch (error) {
          metricsReads.failed.push(`${(t / 1000).toFixed(1)} s: ${(error as Error).message}`);
        }
      }
    })();

    // Workers start no call after the end of the load; a call that never settles must not hold the run, so the
    // workers are not awaited: every call has a deadline or is cancelled by the script, and those still open once the
    // longest deadline has passed never settled.
    for (let i = 0; i < options.concurrency; i++) void worker();
    await Promise.race([sleep(durationMs), running.exited]);
    loadOver.abort();
    const settleBy = performance.now() + Math.max(UNARY_DEADLINE_MS, STREAM_DEADLINE_MS) + 5_000;
    while (pending.size > 0 && performance.now() < settleBy) await sleep(20);
    const unsettled = [...pending];
    await reloadDone;
    await sampler;
    const loadSeconds = elapsed() / 1000;

    // Back to idle: nothing in progress, no more handles of any type than before the load.
    let idleEnd: { ok: boolean; sample: Sample } | undefined;
    if (serverExit === undefined) {
      idleEnd = await pollSample(
        readMetrics,
        'drain',
        loadSeconds,
        (s) => quiet(s) && s.handles <= idleStart.sample.handles && grownHandles(idleStart.sample, s).length === 0,
        30_000,
      );
      samples.push(idleEnd.sample);
      say(sampleRow(idleEnd.sample));
    }

    // Calls by method, ours and the server's.
    const serverCalls: Tally = {};
    if (serverExit === undefined) {
      for (const { labels, value } of (await readMetrics()).all('xception_calls_total')) {
        count(serverCalls, labels.method ?? '?', labels.code ?? '?', value);
      }
    }
    const clientCalls: Tally = structuredClone(setupCalls);
    for (const kind of KINDS) {
      for (const [outcome, n] of Object.entries(byKind[kind.name] ?? {})) count(clientCalls, kind.method, outcome, n);
    }

    client.close();
    const stopStarted = performance.now();
    let exitCode: number | null | undefined = serverExit;
    let exitSeconds: number | undefined;
    if (serverExit === undefined) {
      running.child.kill('SIGTERM');
      const graceFlag = options.serverArg.indexOf('--grace-period');
      const graceSeconds = graceFlag >= 0 ? Number(options.serverArg[graceFlag + 1]) : DEFAULT_GRACE_SECONDS;
      exitCode = await Promise.race([
        running.exited,
        sleep(graceSeconds * 1000 + EXIT_MARGIN_MS).then(() => undefined),
      ]);
      exitSeconds = (performance.now() - stopStarted) / 1000;
      if (exitCode === undefined) running.child.kill('SIGKILL');
    }

    // The promises.
    // RSS after warm-up, under load and once idle again, in two windows: before the reload, and after it (once the
    // previous engine is closed). Within each, every sample lies within ±RSS_BAND_MIB of one level (the window's
    // midpoint): growth, a leak, shows as a range wider than the band. While a reload runs the server holds two engines
    // for a moment: those samples count for neither window; the level the reload leaves behind is a promise of its own.
    const reloadFrom = reload.atSeconds ?? Infinity;
    // The old engine's memory goes back over a few seconds after it closes (V8 frees its buffers on a later GC).
    const settledFrom = (reload.doneAtSeconds ?? Infinity) + RELOAD_SETTLE_SECONDS;
    const underLoad = samples.filter((s) => s.phase === 'steady' && s.t * 1000 >= warmupMs);
    const afterWarmup = samples.filter((s) => (s.phase === 'steady' && s.t * 1000 >= warmupMs) || s.phase === 'drain');
    const rssWindows = [
      afterWarmup.filter((s) => s.t < reloadFrom),
      afterWarmup.filter((s) => s.t >= settledFrom && reload.happened),
    ].filter((window) => window.length >= MIN_WINDOW_SAMPLES);
    const reloadRss = samples.filter((s) => s.phase === 'reload').map((s) => s.rssMiB);
    const windows = rssWindows.map((window) => ({
      fromSeconds: window[0]!.t,
      toSeconds: window.at(-1)!.t,
      minMiB: Math.min(...window.map((s) => s.rssMiB)),
      maxMiB: Math.max(...window.map((s) => s.rssMiB)),
      medianMiB: median(window.map((s) => s.rssMiB)),
      samples: window.length,
    }));
    // The level before the reload: its window's, or (a short run, all warm-up) the last sample before SIGHUP.
    const lastBeforeReload = samples.filter((s) => s.phase !== 'idle' && s.t < reloadFrom).at(-1);
    const rss = {
      warmupSeconds: warmupMs / 1000,
      windows,
      beforeReloadMiB: reload.happened
        ? (windows.find((w) => w.toSeconds < reloadFrom)?.medianMiB ?? lastBeforeReload?.rssMiB)
        : undefined,
      reloadPeakMiB: reloadRss.length ? Math.max(...reloadRss) : undefined,
      afterReloadMiB: reload.happened ? windows.find((w) => w.fromSeconds >= settledFrom)?.medianMiB : undefined,
    };
    const withinBand = (window: (typeof windows)[number]) => window.maxMiB - window.minMiB <= 2 * RSS_BAND_MIB;
    const unexpected = KINDS.flatMap((kind) =>
      Object.entries(byKind[kind.name] ?? {})
        .filter(([outcome]) => !(kind.expected as readonly string[]).includes(outcome))
        .map(([outcome, n]) => `${kind.name} ${outcome} ×${n}`),
    );
    const faults = (tally: Tally) =>
      Object.entries(tally).flatMap(([method, row]) =>
        Object.entries(row)
          .filter(([code]) => code === 'UNKNOWN' || code === 'INTERNAL')
          .map(([code, n]) => `${method} ${code} ×${n}`),
      );
    const verdicts: Verdict[] = [
      rss.windows.length === 0
        ? {
            promise: `RSS within ±${RSS_BAND_MIB} MiB after warm-up`,
            ok: true,
            skipped: true,
            detail: `fewer than ${MIN_WINDOW_SAMPLES} samples after warm-up outside the reload: the run is too short to tell`,
          }
        : {
            promise: `RSS within ±${RSS_BAND_MIB} MiB after warm-up (under load and idle after it)`,
            ok: rss.windows.every(withinBand),
            detail: rss.windows
              .map(
                (w) =>
                  `${w.fromSeconds.toFixed(0)}–${w.toSeconds.toFixed(0)} s: ${w.minMiB.toFixed(0)}–` +
                  `${w.maxMiB.toFixed(0)} MiB, median ${w.medianMiB.toFixed(0)} (${w.samples} samples)`,
              )
              .join('; '),
          },
      {
        promise: 'handles not growing (back to the idle counts of before the load, by type)',
        ok:
          idleEnd !== undefined &&
          idleEnd.sample.handles <= idleStart.sample.handles &&
          grownHandles(idleStart.sample, idleEnd.sample).length === 0,
        detail: idleEnd
          ? `idle before ${idleStart.sample.handles} (${describeHandles(idleStart.sample)}), ` +
            `after ${idleEnd.sample.handles} (${describeHandles(idleEnd.sample)})` +
            (grownHandles(idleStart.sample, idleEnd.sample).length
              ? `; grown: ${grownHandles(idleStart.sample, idleEnd.sample).join(', ')}`
              : '')
          : 'the server was gone',
      },
      {
        promise: 'back to idle after the load (no stream, frame, queued request, run or slab in use)',
        ok: idleEnd !== undefined && quiet(idleEnd.sample),
        detail: idleEnd
          ? `streams ${idleEnd.sample.streams}, frames in flight ${idleEnd.sample.framesInFlight}, queue ` +
            `${idleEnd.sample.queue}, runs ${idleEnd.sample.runs}, slabs in use ${idleEnd.sample.slabsInUse}`
          : 'the server was gone',
      },
      {
        promise: 'no UNKNOWN or INTERNAL status (ours or the server’s count)',
        ok: faults(clientCalls).length === 0 && faults(serverCalls).length === 0,
        detail: [...faults(clientCalls), ...faults(serverCalls)].join(', ') || 'none',
      },
      {
        promise: 'only the statuses each kind of call may get',
        ok: unexpected.length === 0 && unexpectedErrors.length === 0,
        detail: [...unexpected, ...unexpectedErrors].join('; ') || 'none other',
      },
      {
        promise: 'every call settled (answered, failed, cancelled or cut)',
        ok: unsettled.length === 0 && started === settled,
        detail: `${settled} of ${started} calls; ${unsettled.length} never settled${unsettled.length ? `: ${unsettled.slice(0, 5).join(', ')}` : ''}`,
      },
    ];
    if (reload.happened) {
      verdicts.push(
        rss.beforeReloadMiB === undefined || rss.afterReloadMiB === undefined
          ? {
              promise: 'the reload gives its memory back',
              ok: true,
              skipped: true,
              detail: `fewer than ${MIN_WINDOW_SAMPLES} samples after the previous engine closed: the run is too short to tell`,
            }
          : {
              promise: `the reload gives the old engine back (RSS settles below its peak, within ${RELOAD_SETTLE_MIB} MiB of before)`,
              ok:
                rss.afterReloadMiB - rss.beforeReloadMiB <= RELOAD_SETTLE_MIB &&
                rss.afterReloadMiB < (rss.reloadPeakMiB ?? Number.POSITIVE_INFINITY),
              detail:
                `median ${rss.beforeReloadMiB.toFixed(0)} MiB before, up to ${rss.reloadPeakMiB?.toFixed(0) ?? '-'} ` +
                `during, median ${rss.afterReloadMiB.toFixed(0)} after the previous engine closed`,
            },
      );
    }
    if (options.reload) {
      verdicts.push({
        promise: 'weights reloaded on SIGHUP under load (new sha256, the previous engine closed)',
        ok:
          reload.happened &&
          reload.sha256After !== undefined &&
          reload.sha256After !== sha256Before &&
          reload.previousEngineClosed,
        detail: reload.happened
          ? `in ${reload.tookSeconds!.toFixed(1)} s; sha256 ${sha256Before.slice(0, 12)}… → ` +
            `${reload.sha256After?.slice(0, 12)}…; previous engine ${reload.previousEngineClosed ? '' : 'NOT '}closed`
          : (reload.failure ?? 'not attempted'),
      });
    }
    verdicts.push({
      promise: 'SIGTERM: the server exits 0 within its grace period',
      ok: exitCode === 0 && exitSeconds !== undefined,
      detail:
        exitSeconds === undefined
          ? `the server had already exited (code ${exitCode})`
          : exitCode === undefined
            ? `still running after ${exitSeconds.toFixed(1)} s: killed`
            : `exit code ${exitCode} after ${exitSeconds.toFixed(1)} s`,
    });

    const summary: Summary = {
      options: { ...options, warmupSeconds: warmupMs / 1000, sampleSeconds: sampleMs / 1000 },
      loadSeconds,
      calls: {
        byKind,
        expected: Object.fromEntries(KINDS.map((k) => [k.name, k.expected])),
        started,
        settled,
        unsettled: unsettled.length,
      },
      byMethod: { client: clientCalls, server: serverCalls },
      metricsReads,
      streamFrames: frames,
      rss,
      handles: {
        idleStart: idleStart.sample,
        idleEnd: idleEnd?.sample,
        steadyStart: underLoad[0],
        steadyEnd: underLoad.at(-1),
      },
      reload,
      serverExit: { code: exitCode, seconds: exitSeconds },
      samples,
      verdicts,
      ok: verdicts.every((v) => v.ok),
    };

    report(say, summary);
    if (options.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    return summary.ok ? 0 : 1;
  } finally {
    process.off('SIGINT', stopOnSignal);
    if (server && server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** The first log line from index `from` on that `match`es. */
function logSince(
  server: ServerProcess,
  from: number,
  match: (msg: string, entry: Record<string, any>) => boolean,
): Record<string, any> | undefined {
  for (let i = from; i < server.logs.length; i++) {
    const entry = server.logs[i]!;
    if (match(String(entry.msg), entry)) return entry;
  }
  return undefined;
}

/** Polls `find` every 20 ms until it finds a log line, the server exits, or 120 s pass. */
async function waitForLog(
  server: ServerProcess,
  find: () => Record<string, any> | undefined,
): Promise<Record<string, any> | undefined> {
  const deadline = performance.now() + 120_000;
  while (!find() && server.child.exitCode === null && performance.now() < deadline) await sleep(20);
  return find();
}

/** Polls /metrics every 200 ms until `done(sample)`, or `timeoutMs`; the last sample either way. */
async function pollSample(
  read: () => Promise<Scrape>,
  phase: Sample['phase'],
  t: number,
  done: (sample: Sample) => boolean,
  timeoutMs: number,
): Promise<{ ok: boolean; sample: Sample }> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const sample = readSample(await read(), t, phase, 0);
    if (done(sample)) return { ok: true, sample };
    if (performance.now() > deadline) return { ok: false, sample };
    await sleep(200);
  }
}

function describeHandles(sample: Sample): string {
  return Object.entries(sample.handlesByType)
    .map(([type, count]) => `${type} ${count}`)
    .join(', ');
}

interface ReloadReport {
  requested: boolean;
  happened: boolean;
  /** When SIGHUP was sent, seconds into the load. */
  atSeconds?: number;
  /** From SIGHUP to "weights reloaded". */
  tookSeconds?: number;
  sha256Before: string;
  sha256After?: string;
  failure?: string;
  /** The engine of the weights replaced was closed once its last request was done. */
  previousEngineClosed: boolean;
  /** When the previous engine was closed: the reload's extra memory should be gone after this. */
  doneAtSeconds?: number;
}

/** What a run found; printed as a report, and as JSON with --json. */
interface Summary {
  readonly options: SoakOptions & { warmupSeconds: number; sampleSeconds: number };
  readonly loadSeconds: number;
  readonly calls: {
    /** Kind → outcome → count. */
    readonly byKind: Tally;
    readonly expected: Record<string, readonly Outcome[]>;
    readonly started: number;
    readonly settled: number;
    readonly unsettled: number;
  };
  /** Method → status → count: ours (with the setup GetMetadata calls) and the server's xception_calls_total. */
  readonly byMethod: { readonly client: Tally; readonly server: Tally };
  readonly metricsReads: MetricsReads;
  /** Stream frames answered, by code (OK, INVALID_ARGUMENT, ABORTED for frames dropped by "latest"). */
  readonly streamFrames: Record<string, number>;
  readonly rss: {
    readonly warmupSeconds: number;
    /** After warm-up: before the reload, and after it (or the whole run without one). */
    readonly windows: {
      fromSeconds: number;
      toSeconds: number;
      minMiB: number;
      maxMiB: number;
      medianMiB: number;
      samples: number;
    }[];
    readonly beforeReloadMiB?: number;
    readonly reloadPeakMiB?: number;
    readonly afterReloadMiB?: number;
  };
  readonly handles: { idleStart: Sample; idleEnd?: Sample; steadyStart?: Sample; steadyEnd?: Sample };
  readonly reload: ReloadReport;
  readonly serverExit: { readonly code: number | null | undefined; readonly seconds?: number };
  readonly samples: Sample[];
  readonly verdicts: Verdict[];
  readonly ok: boolean;
}

function report(say: (line?: string) => void, summary: Summary): void {
  const tallyTable = (title: string, tally: Tally, columns: string[]) => {
    say(`| ${title} | ${columns.join(' | ')} | total |`);
    say(`| --- | ${columns.map(() => '---:').join(' | ')} | ---: |`);
    for (const [key, row] of Object.entries(tally)) {
      const total = Object.values(row).reduce((a, b) => a + b, 0);
      say(`| ${key} | ${columns.map((c) => row[c] ?? '').join(' | ')} | ${total} |`);
    }
  };
  const outcomesOf = (...tallies: Tally[]) => [
    ...new Set(tallies.flatMap((tally) => Object.values(tally).flatMap((row) => Object.keys(row)))),
  ];

  say();
  say(
    `## Calls by kind (${summary.calls.settled} settled of ${summary.calls.started}; ${summary.calls.unsettled} never settled)`,
  );
  say();
  tallyTable('kind', summary.calls.byKind, outcomesOf(summary.calls.byKind));
  say();
  say('## Calls by method: ours (incl. the setup GetMetadata calls) / the server’s xception_calls_total');
  say(
    '(a connection cut before the server read the call is DISCONNECTED here and absent there; cut later, CANCELLED there)',
  );
  say();
  const methods = [...new Set([...Object.keys(summary.byMethod.client), ...Object.keys(summary.byMethod.server)])];
  const codes = outcomesOf(summary.byMethod.client, summary.byMethod.server);
  say(`| method | ${codes.join(' | ')} |`);
  say(`| --- | ${codes.map(() => '---:').join(' | ')} |`);
  for (const method of methods) {
    const cell = (code: string) =>
      `${summary.byMethod.client[method]?.[code] ?? 0} / ${summary.byMethod.server[method]?.[code] ?? 0}`;
    say(`| ${method} | ${codes.map(cell).join(' | ')} |`);
  }
  say();
  say(
    `Stream frames answered: ${Object.entries(summary.streamFrames)
      .map(([code, n]) => `${code} ${n}`)
      .join(', ')}`,
  );
  const { reload } = summary;
  say(
    reload.requested
      ? `Reload: ${reload.happened ? 'done' : 'NOT done'} (SIGHUP at ${reload.atSeconds?.toFixed(1)} s, ` +
          `${reload.tookSeconds?.toFixed(1)} s to "weights reloaded"); weights sha256 ${reload.sha256Before} → ` +
          `${reload.sha256After ?? '(unchanged)'}${reload.failure ? `; ${reload.failure}` : ''}`
      : 'Reload: not requested (--no-reload)',
  );
  const { idleStart, idleEnd, steadyStart, steadyEnd } = summary.handles;
  say(
    `Handles: idle before the load ${idleStart.handles}, at the start of steady state ${steadyStart?.handles ?? '-'}, ` +
      `at its end ${steadyEnd?.handles ?? '-'}, idle after ${idleEnd?.handles ?? '-'}. ` +
      '(No metric counts event listeners; handles by type stand for them.)',
  );
  if (summary.metricsReads.retried > 0 || summary.metricsReads.failed.length > 0) {
    say(
      `/metrics reads: ${summary.metricsReads.retried} needed another try; ${summary.metricsReads.failed.length} ` +
        `samples lost${summary.metricsReads.failed.length ? ` (${summary.metricsReads.failed.join('; ')})` : ''}`,
    );
  }
  const lag = summary.samples.map((s) => s.loopP99Ms);
  say(`Event-loop delay p99 per sample: max ${Math.max(...lag).toFixed(1)} ms`);
  say();
  say('## Verdicts');
  for (const verdict of summary.verdicts) {
    say(`${verdict.skipped ? 'SKIP' : verdict.ok ? 'PASS' : 'FAIL'}  ${verdict.promise}: ${verdict.detail}`);
  }
  say(summary.ok ? 'soak: all promises kept' : 'soak: PROMISES BROKEN');
}

// Exit now rather than wait for idle keep-alive connections to time out.
process.exit(await main());
