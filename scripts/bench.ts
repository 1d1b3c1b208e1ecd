/**
 * `npm run bench`: the service under load, measured with our own typed client against a server process
 * (dist/server/main.js), beside the bare engine forward measured in the same run on the same machine.
 *
 * - prepare (decode → resize → float) on its own, in this process, into a reused tensor as the server does: a 299×299
 *   and a 224×224 JPEG, a 320×213 JPEG (ModelHub's sample photos), a 640×480 and a 1920×1080 JPEG, and a 299×299 raw
 *   frame;
 * - unary Predict: p50/p95/p99 latency and throughput at 1, 4 and 16 concurrent callers (a 320×213 JPEG each), and at
 *   1 caller with a 299×299 raw frame (the serving path without decoding) and a 299×299 JPEG (no resize), with the
 *   server's CPU time per request beside the bare engine's CPU time per forward, and the server's own time per call
 *   (from its log lines: decoded request to answer, and the engine run in it), so what the transport costs is the
 *   difference; then 1 and 16 callers of a server with two engine instances of half the threads each (a replica set
 *   for throughput); more than one caller is divided by bare forwards just before them;
 * - PredictStream at 30 fps (a paced camera) of 640×480 raw frames, policy "all" and "latest", and of 640×480 JPEGs,
 *   "latest": answered frames/s, dropped frames, per-frame latency (send → answer);
 * - the server's RSS (from /proc) before and after each phase;
 * - where a Python can import them (BENCH_PYTHON, python3, Debian's /usr/bin/python3): PyTorch's frozen-JIT bare
 *   forward of the same architecture (scripts/bench-pytorch.py) and an outside client, Python's grpcio
 *   (scripts/bench-python-client.py), calling the same server with the same requests our client sends.
 *
 * Flags: --threads N (engine threads, default 2), --seconds S (stream phase length, default 10), --quick,
 * --server-env K=V (the server's environment only: allocator experiments),
 * --precision fp32|int8 (server and bare engine; int8 ranges from the calibration cache the server uses).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { createModelClient, type Frame, type ImageInput } from '../src/client/index.js';
import { toPredictRequest } from '../src/client/convert.js';
import { encodePredictRequest } from '../src/client/request-encoding.js';
import { int8Calibration } from '../src/server/engine/onnx/calibration.js';
import { createOnnxEngine } from '../src/server/engine/onnx/onnx-engine.js';
import { runTensors } from '../src/server/engine/tensor-slab.js';
import { xception } from '../src/server/model/architecture.js';
import { seededWeights } from '../src/server/model/weights/seeded.js';
import { DEFAULT_CONTRIB_DIR, DEFAULT_MAX_INPUT_PIXELS } from '../src/server/config.js';
import { parseModelHubConfig } from '../src/server/contrib.js';
import { decodeImage } from '../src/server/input/decode.js';
import { inputLimitsFromConfig } from '../src/server/input/limits.js';
import { prepareRawImage } from '../src/server/input/raw.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const quick = args.includes('--quick');
/** --server-env K=V (repeatable): the server process's environment only, e.g. LD_PRELOAD or MALLOC_ARENA_MAX. */
const serverEnv = Object.fromEntries(
  args
    .flatMap((arg, i) => (arg === '--server-env' ? [args[i + 1]!.split('=')] : []))
    .map(([key, ...value]) => [key!, value.join('=')]),
);
const threads = option('threads', 2);
const streamSeconds = option('seconds', quick ? 4 : 10);
const precisionFlag = args.indexOf('--precision');
const precision = precisionFlag >= 0 ? args[precisionFlag + 1] : 'fp32';
if (precision !== 'fp32' && precision !== 'int8') throw new Error(`--precision must be fp32 or int8, got ${precision}`);

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};
const ms = (v: number) => v.toFixed(1);

/**
 * The bare forward, kept open for the whole run: the machine's speed drifts by several ms over minutes here, so every
 * one-caller figure is divided by bare forwards measured in between its own calls, not by one figure from the start.
 * ONNX Runtime's spinning threads stay on here (its default): the fastest lone forward is the yardstick.
 */
async function openBareEngine(): Promise<{ sample(runs: number): Promise<number[]>; close(): Promise<void> }> {
  const arch = xception();
  const weights = seededWeights(arch, 0);
  // The server's own int8 ranges: the same weights, samples and cache it starts from.
  const int8 =
    precision === 'int8'
      ? await int8Calibration({ arch, weights, contribDir: DEFAULT_CONTRIB_DIR, limits: inputLimits(), threads })
      : undefined;
  const engine = await createOnnxEngine(arch, weights.weights, { threads, int8 });
  const input = new Float32Array(299 * 299 * 3).map((_, i) => Math.sin(i) * 0.5);
  return {
    async sample(runs) {
      // One untimed run first: after the server's turn, caches and the thread pool are cold again.
      await runTensors(engine, input, 1);
      const times: number[] = [];
      for (let i = 0; i < runs; i++) {
        const t = performance.now();
        await runTensors(engine, input, 1);
        times.push(performance.now() - t);
      }
      return times;
    },
    close: () => engine.close(),
  };
}

/** Alternates `rounds` times: a few bare forwards, then `calls` of the served work; returns both sets of times. */
async function interleaved(
  bare: { sample(runs: number): Promise<number[]> },
  rounds: number,
  served: () => Promise<number[]>,
): Promise<{ bareTimes: number[]; servedTimes: number[] }> {
  const bareTimes: number[] = [];
  const servedTimes: number[] = [];
  for (let round = 0; round < rounds; round++) {
    bareTimes.push(...(await bare.sample(5)));
    servedTimes.push(...(await served()));
  }
  return { bareTimes, servedTimes };
}

function inputLimits() {
  const config = JSON.parse(readFileSync(new URL('../contrib_src/model/config.json', import.meta.url), 'utf8'));
  return inputLimitsFromConfig(parseModelHubConfig(config), { maxInputPixels: DEFAULT_MAX_INPUT_PIXELS });
}

/** decode → resize → float for each image, into one reused tensor (as a warm server writes into its slabs). */
async function prepareTable(photo: Buffer): Promise<void> {
  const limits = inputLimits();
  sharp.concurrency(1);
  sharp.cache(false);
  const tensor = new Float32Array(299 * 299 * 3);
  const jpegOf = (width: number, height: number) =>
    sharp(photo).resize(width, height, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer();
  const rawFrame = {
    width: 299,
    height: 299,
    format: 'RGB8' as const,
    data: await sharp(photo).resize(299, 299, { fit: 'fill' }).removeAlpha().raw().toBuffer(),
  };
  const cases: [string, () => Promise<unknown>][] = [
    // The model's size: what a latency-minded caller sends (decoded on the calling thread, no resize).
    ['299×299 JPEG', await jpegOf(299, 299).then((bytes) => () => decodeImage(bytes, limits, tensor))],
    // ImageNet's usual crop: smaller than the model on both axes, so both grow (Pillow's lanczos, no libvips).
    ['224×224 JPEG', await jpegOf(224, 224).then((bytes) => () => decodeImage(bytes, limits, tensor))],
    ['320×213 JPEG', await jpegOf(320, 213).then((bytes) => () => decodeImage(bytes, limits, tensor))],
    ['640×480 JPEG', await jpegOf(640, 480).then((bytes) => () => decodeImage(bytes, limits, tensor))],
    ['1920×1080 JPEG', await jpegOf(1920, 1080).then((bytes) => () => decodeImage(bytes, limits, tensor))],
    ['299×299 raw RGB8 frame', () => prepareRawImage(rawFrame, limits, tensor)],
  ];
  console.log('| prepare (decode → resize → float) | p50 ms | p95 ms |');
  console.log('| --- | ---: | ---: |');
  for (const [label, prepare] of cases) {
    for (let i = 0; i < 5; i++) await prepare();
    const times: number[] = [];
    for (let i = 0; i < (quick ? 20 : 60); i++) {
      const t = performance.now();
      await prepare();
      times.push(performance.now() - t);
    }
    console.log(`| ${label} | ${ms(percentile(times, 50))} | ${ms(percentile(times, 95))} |`);
  }
  console.log();
}

/** A Predict as the server logged it: its own time from the decoded request to the answer, and the engine run's. */
interface ServerCall {
  readonly latencyMs: number;
  readonly inferenceMs: number;
}

type BenchServer = Awaited<ReturnType<typeof startServer>>;

/** The server process; `flags` come after the bench's own (--threads …), so they win. */
async function startServer(flags: readonly string[] = []): Promise<{
  address: string;
  pid: number;
  /** Every Predict the server has logged so far. */
  calls: ServerCall[];
  rss(): number;
  cpuMs(): number;
  stop(): Promise<void>;
}> {
  const main = fileURLToPath(new URL('../dist/server/main.js', import.meta.url));
  const child = spawn(
    process.execPath,
    [
      main,
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--threads',
      String(threads),
      '--precision',
      precision,
      '--max-queue',
      '256',
      '--log-level',
      'info',
      ...flags,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...serverEnv } },
  );
  const calls: ServerCall[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const entry = JSON.parse(line);
        if (entry.msg === 'serving') resolve(entry.port);
        if (entry.msg === 'call' && entry.method === 'Predict' && entry.code === 'OK') calls.push(entry);
      } catch {
        /* not JSON */
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return {
    address: `127.0.0.1:${port}`,
    pid: child.pid!,
    calls,
    rss: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024,
    cpuMs: () => {
      // utime and stime, fields 14 and 15 of /proc/PID/stat (after the parenthesised name), in clock ticks (100/s).
      const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return (Number(fields[11]) + Number(fields[12])) * 10;
    },
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** The first Python that can import `module`: $BENCH_PYTHON, python3 on PATH, Debian's /usr/bin/python3. */
function pythonWith(module: string): string | undefined {
  const candidates = [process.env.BENCH_PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => !!p);
  return candidates.find((python) => spawnSync(python, ['-c', `import ${module}`], { stdio: 'ignore' }).status === 0);
}

const scriptPath = (name: string) => fileURLToPath(new URL(name, import.meta.url));

/** PyTorch's frozen TorchScript forward of the same architecture (the Python stack's yardstick). */
function pytorchBare(python: string): { medianMs: number; torch: string } {
  const args = [scriptPath('bench-pytorch.py'), '--threads', String(threads), '--runs', quick ? '8' : '20'];
  const result = JSON.parse(execFileSync(python, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  return { medianMs: result.median_ms, torch: result.torch };
}

/** Python's grpcio (scripts/bench-python-client.py): `calls` calls, one at a time, of this request. */
function pythonCalls(
  python: string,
  address: string,
  requestFile: string,
  calls: number,
): { grpcio: string; latencies_ms: number[] } {
  const script = scriptPath('bench-python-client.py');
  return JSON.parse(execFileSync(python, [script, address, requestFile, String(calls)], { encoding: 'utf8' }));
}

/** The server's own p50 for the calls it logged since `from`: decoded request to answer (engine run in it). */
function serverOwnP50(server: { calls: ServerCall[] }, from: number): string {
  const own = server.calls.slice(from);
  const p50 = (pick: (call: ServerCall) => number) => ms(percentile(own.map(pick), 50));
  return `${p50((c) => c.latencyMs)} (${p50((c) => c.inferenceMs)})`;
}

async function main(): Promise<void> {
  console.log(
    `# xception serving benchmark — ${new Date().toISOString()}, node ${process.version}, threads ${threads}, precision ${precision}` +
      (Object.keys(serverEnv).length ? `, server env ${JSON.stringify(serverEnv)}` : ''),
  );
  const bareEngine = await openBareEngine();
  const cpu = process.cpuUsage();
  const bareTimes = await bareEngine.sample(quick ? 8 : 20);
  const used = process.cpuUsage(cpu);
  const bare = percentile(bareTimes, 50);
  // CPU of this process per forward: the engine's threads (the first untimed run is counted too, hence + 1).
  const bareCpu = (used.user + used.system) / 1000 / (bareTimes.length + 1);
  console.log(
    `bare engine forward (onnx ${precision}, batch 1, ${threads} threads): median ${ms(bare)} ms → ` +
      `${(1000 / bare).toFixed(1)} images/s, ${ms(bareCpu)} CPU ms per forward`,
  );
  console.log();

  const photo = readFileSync(new URL('../contrib_src/sample_data/orange.jpg', import.meta.url));
  await prepareTable(photo);

  const server = await startServer();
  const client = createModelClient(server.address, { retry: false });
  const image = await sharp(photo).resize(320, 213, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer();
  for (let i = 0; i < 3; i++) await client.predict(image);

  console.log(
    '| unary concurrency (320×213 JPEG) | calls | p50 ms | p95 ms | p99 ms | throughput /s | bare p50 beside | p50 ÷ bare | ' +
      "throughput ÷ engine | server's own p50 ms (inference) | server CPU ms/call (engine's) | server RSS MiB |",
  );
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const raw = {
    width: 299,
    height: 299,
    format: 'RGB8' as const,
    data: await sharp(photo).resize(299, 299, { fit: 'fill' }).removeAlpha().raw().toBuffer(),
  };
  const modelSized = await sharp(photo).resize(299, 299, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer();
  const rows: [string, number, ImageInput][] = [
    ['1 (299×299 raw frame: no decode)', 1, raw],
    ['1 (299×299 JPEG: no resize)', 1, modelSized],
    ['1', 1, image],
    ['4', 4, image],
    ['16', 16, image],
  ];
  const rounds = quick ? 2 : 4;
  /** Calls of `input` from `concurrency` callers at once; one row of the table. */
  const unaryRow = async (
    label: string,
    concurrency: number,
    input: ImageInput,
    target: { server: BenchServer; client: typeof client },
  ) => {
    const calls = quick ? concurrency * 4 : Math.max(40, concurrency * 8);
    let cpuMs = 0;
    let seconds = 0;
    const logged = target.server.calls.length;
    const run = async (count: number) => {
      const latencies: number[] = [];
      let next = 0;
      const cpuBefore = target.server.cpuMs();
      const started = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next++ < count) {
            const t = performance.now();
            await target.client.predict(input, { topK: 5 });
            latencies.push(performance.now() - t);
          }
        }),
      );
      seconds += (performance.now() - started) / 1000;
      cpuMs += target.server.cpuMs() - cpuBefore;
      return latencies;
    };
    // One caller: rounds of bare forwards and calls. More callers keep the engine busy: bare forwards just before them.
    const { bareTimes: besides, servedTimes: latencies } =
      concurrency === 1
        ? await interleaved(bareEngine, rounds, () => run(Math.ceil(calls / rounds)))
        : { bareTimes: await bareEngine.sample(quick ? 5 : 10), servedTimes: await run(calls) };
    const bareHere = percentile(besides, 50);
    const throughput = latencies.length / seconds;
    console.log(
      `| ${label} | ${latencies.length} | ${ms(percentile(latencies, 50))} | ${ms(percentile(latencies, 95))} | ` +
        `${ms(percentile(latencies, 99))} | ${throughput.toFixed(1)} | ${ms(bareHere)} | ` +
        `${(percentile(latencies, 50) / bareHere).toFixed(2)} | ${(throughput / (1000 / bareHere)).toFixed(2)} | ` +
        `${serverOwnP50(target.server, logged)} | ${ms(cpuMs / latencies.length)} (${ms(bareCpu)}) | ${target.server.rss().toFixed(0)} |`,
    );
  };
  for (const [label, concurrency, input] of rows) await unaryRow(label, concurrency, input, { server, client });
  // A replica set for throughput (see "Capacity per replica"): two engine instances of half the threads each, in a
  // server of its own (the one above idles meanwhile).
  if (threads >= 2 && threads % 2 === 0) {
    const instances = await startServer(['--engine-instances', '2', '--threads', String(threads / 2)]);
    const instancesClient = createModelClient(instances.address, { retry: false });
    for (let i = 0; i < 4; i++) await instancesClient.predict(image);
    const target = { server: instances, client: instancesClient };
    const label = (callers: number) =>
      `${callers}, 2 engine instances × ${threads / 2} thread${threads === 2 ? '' : 's'}`;
    await unaryRow(label(1), 1, image, target);
    await unaryRow(label(16), 16, image, target);
    instancesClient.close();
    await instances.stop();
  }

  // An outside client: Python's grpcio (gRPC's C core) sends the very request our client sends. PyTorch's bare
  // forward is measured just before and just after it (the server idle), and the faster of the two is the yardstick.
  const python = pythonWith('grpc');
  if (!python) {
    console.log('\noutside client: not measured (no Python here imports grpc; Debian: apt-get install python3-grpcio)');
  } else {
    const torchPython = pythonWith('torch');
    const torchBefore = torchPython && pytorchBare(torchPython);
    const measured: { label: string; latencies: number[]; bareHere: number; own: string }[] = [];
    let grpcio = '';
    const dir = mkdtempSync(join(tmpdir(), 'xception-bench-'));
    try {
      for (const [label, input] of [
        ['299×299 raw frame', raw],
        ['299×299 JPEG', modelSized],
        ['320×213 JPEG', image],
      ] as const) {
        const file = join(dir, 'request.bin');
        writeFileSync(file, encodePredictRequest(toPredictRequest(input, 'bench', 5)));
        const logged = server.calls.length;
        const { bareTimes: besides, servedTimes: latencies } = await interleaved(bareEngine, rounds, async () => {
          const calls = pythonCalls(python, server.address, file, quick ? 5 : 10);
          grpcio = calls.grpcio;
          return calls.latencies_ms;
        });
        measured.push({ label, latencies, bareHere: percentile(besides, 50), own: serverOwnP50(server, logged) });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const torchAfter = torchPython && pytorchBare(torchPython);
    const torchMs = torchBefore && torchAfter && Math.min(torchBefore.medianMs, torchAfter.medianMs);
    console.log(
      torchBefore && torchAfter
        ? `\nbare PyTorch forward (torch ${torchBefore.torch}, frozen TorchScript, batch 1, ${threads} threads), ` +
            `median just before and just after the outside client: ${ms(torchBefore.medianMs)}, ${ms(torchAfter.medianMs)} ms`
        : '\nbare PyTorch forward: not measured (no Python here imports torch; Debian: apt-get install python3-torch)',
    );
    console.log(
      `\n| outside client: Python grpcio ${grpcio}, 1 caller | calls | p50 ms | p90 ms | p99 ms | ` +
        "bare p50 beside | p50 ÷ bare | p50 ÷ PyTorch bare | server's own p50 ms (inference) |",
    );
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const { label, latencies, bareHere, own } of measured) {
      const p50 = percentile(latencies, 50);
      console.log(
        `| ${label} | ${latencies.length} | ${ms(p50)} | ${ms(percentile(latencies, 90))} | ` +
          `${ms(percentile(latencies, 99))} | ${ms(bareHere)} | ${(p50 / bareHere).toFixed(2)} | ` +
          `${torchMs ? (p50 / torchMs).toFixed(2) : '—'} | ${own} |`,
      );
    }
  }
  await bareEngine.close();

  console.log(
    '\n| stream at 30 fps (640×480 raw RGB8 frames unless said) | frames sent | answered ok | dropped | ok frames/s | ok ÷ engine rate | p50 ms | p99 ms | ' +
      'p99 ÷ bare | RSS start → end MiB |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const pixels = await sharp(photo).resize(640, 480, { fit: 'fill' }).removeAlpha().raw().toBuffer();
  const rawFrame: ImageInput = { width: 640, height: 480, format: 'RGB8', data: pixels };
  // A camera that sends JPEGs (MJPEG, a browser's canvas): little to receive, a decode per prepared frame.
  const jpegFrame = await sharp(photo).resize(640, 480, { fit: 'fill' }).jpeg({ quality: 80 }).toBuffer();
  const streams = [
    ['all', 'all', rawFrame],
    ['latest', 'latest', rawFrame],
    [`latest, JPEG frames (${(jpegFrame.length / 1024).toFixed(0)} KB)`, 'latest', jpegFrame],
  ] as const;
  for (const [label, policy, image] of streams) {
    const total = Math.round(streamSeconds * 30);
    const sentAt = new Map<string, number>();
    async function* camera(): AsyncGenerator<Frame> {
      const start = performance.now();
      for (let i = 0; i < total; i++) {
        const due = start + (i * 1000) / 30;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        sentAt.set(String(i), performance.now());
        yield { id: String(i), image };
      }
    }
    const rssStart = server.rss();
    const latencies: number[] = [];
    let ok = 0;
    let dropped = 0;
    const started = performance.now();
    // "all" keeps a few frames in flight; "latest" lets the camera run (a second of frames) and the server drop stale ones.
    const maxInFlight = policy === 'all' ? 4 : 30;
    for await (const result of client.predictStream(camera(), { policy, maxInFlight, topK: 5 })) {
      if (result.error) {
        dropped += result.error.code === 10 ? 1 : 0;
        continue;
      }
      ok++;
      latencies.push(performance.now() - sentAt.get(result.id)!);
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `| ${label} | ${total} | ${ok} | ${dropped} | ${(ok / seconds).toFixed(1)} | ${(ok / seconds / (1000 / bare)).toFixed(2)} | ` +
        `${ms(percentile(latencies, 50))} | ` +
        `${ms(percentile(latencies, 99))} | ${(percentile(latencies, 99) / bare).toFixed(2)} | ${rssStart.toFixed(0)} → ${server.rss().toFixed(0)} |`,
    );
  }

  client.close();
  await server.stop();
}

await main();
