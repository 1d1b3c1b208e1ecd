/**
 * `npm run bench`: the service under load, measured with our own typed client against a server process
 * (dist/server/main.js), beside the bare engine forward measured in the same run on the same machine.
 *
 * - unary Predict: p50/p95/p99 latency and throughput at 1, 4 and 16 concurrent callers (a 640×480 JPEG each), and at
 *   1 caller with a 299×299 raw frame (the serving path without decoding);
 * - PredictStream at 30 fps (a paced camera), policy "all" and "latest": answered frames/s, dropped frames, per-frame
 *   latency (send → answer);
 * - the server's RSS (from /proc) before and after each phase.
 *
 * Flags: --threads N (engine threads, default 2), --seconds S (stream phase length, default 10), --quick.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { createModelClient, type Frame } from '../src/client/index.js';
import { createOnnxEngine } from '../src/server/engine/onnx/onnx-engine.js';
import { runTensors } from '../src/server/engine/tensor-slab.js';
import { xception } from '../src/server/model/architecture.js';
import { seededWeights } from '../src/server/model/weights/seeded.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const quick = args.includes('--quick');
const threads = option('threads', 2);
const streamSeconds = option('seconds', quick ? 4 : 10);

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};
const ms = (v: number) => v.toFixed(1);

async function bareEngine(): Promise<number> {
  const arch = xception();
  const engine = await createOnnxEngine(arch, seededWeights(arch, 0).weights, { threads });
  const input = new Float32Array(299 * 299 * 3).map((_, i) => Math.sin(i) * 0.5);
  const times: number[] = [];
  for (let i = 0; i < 3; i++) await runTensors(engine, input, 1);
  for (let i = 0; i < (quick ? 8 : 20); i++) {
    const t = performance.now();
    await runTensors(engine, input, 1);
    times.push(performance.now() - t);
  }
  await engine.close();
  return percentile(times, 50);
}

async function startServer(): Promise<{ address: string; pid: number; rss(): number; stop(): Promise<void> }> {
  const main = fileURLToPath(new URL('../dist/server/main.js', import.meta.url));
  const child = spawn(process.execPath, [main, '--host', '127.0.0.1', '--port', '0', '--threads', String(threads),
    '--max-queue', '256', '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const entry = JSON.parse(line);
        if (entry.msg === 'serving') resolve(entry.port);
      } catch { /* not JSON */ }
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  child.stdout!.resume();
  return {
    address: `127.0.0.1:${port}`,
    pid: child.pid!,
    rss: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024,
    stop: () => new Promise((resolve) => { child.once('exit', () => resolve()); child.kill('SIGTERM'); }),
  };
}

async function main(): Promise<void> {
  console.log(`# xception serving benchmark — ${new Date().toISOString()}, node ${process.version}, threads ${threads}`);
  const bare = await bareEngine();
  console.log(`bare engine forward (onnx, batch 1, ${threads} threads): median ${ms(bare)} ms → ${(1000 / bare).toFixed(1)} images/s\n`);

  const server = await startServer();
  const client = createModelClient(server.address, { retry: false });
  const photo = readFileSync(new URL('../contrib_src/sample_data/orange.jpg', import.meta.url));
  const image = await sharp(photo).resize(640, 480, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer();
  for (let i = 0; i < 3; i++) await client.predict(image);

  console.log('| unary concurrency | calls | p50 ms | p95 ms | p99 ms | throughput /s | p50 ÷ bare | throughput ÷ engine | server RSS MiB |');
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const raw = { width: 299, height: 299, format: 'RGB8' as const,
    data: await sharp(photo).resize(299, 299, { fit: 'fill' }).removeAlpha().raw().toBuffer() };
  const rows: [string, number, Uint8Array | typeof raw][] = [
    ['1 (299×299 raw frame: no decode)', 1, raw], ['1', 1, image], ['4', 4, image], ['16', 16, image],
  ];
  for (const [label, concurrency, input] of rows) {
    const calls = quick ? concurrency * 4 : Math.max(40, concurrency * 8);
    const latencies: number[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next++ < calls) {
        const t = performance.now();
        await client.predict(input, { topK: 5 });
        latencies.push(performance.now() - t);
      }
    }));
    const seconds = (performance.now() - started) / 1000;
    const throughput = latencies.length / seconds;
    console.log(`| ${label} | ${latencies.length} | ${ms(percentile(latencies, 50))} | ${ms(percentile(latencies, 95))} | ` +
      `${ms(percentile(latencies, 99))} | ${throughput.toFixed(1)} | ${(percentile(latencies, 50) / bare).toFixed(2)} | ` +
      `${(throughput / (1000 / bare)).toFixed(2)} | ${server.rss().toFixed(0)} |`);
  }

  console.log('\n| stream at 30 fps | frames sent | answered ok | dropped | ok frames/s | p50 ms | p99 ms | p99 ÷ bare | RSS start → end MiB |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const pixels = await sharp(photo).resize(640, 480, { fit: 'fill' }).removeAlpha().raw().toBuffer();
  for (const policy of ['all', 'latest'] as const) {
    const total = Math.round(streamSeconds * 30);
    const sentAt = new Map<string, number>();
    async function* camera(): AsyncGenerator<Frame> {
      const start = performance.now();
      for (let i = 0; i < total; i++) {
        const due = start + (i * 1000) / 30;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        sentAt.set(String(i), performance.now());
        yield { id: String(i), image: { width: 640, height: 480, format: 'RGB8', data: pixels } };
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
    console.log(`| ${policy} | ${total} | ${ok} | ${dropped} | ${(ok / seconds).toFixed(1)} | ${ms(percentile(latencies, 50))} | ` +
      `${ms(percentile(latencies, 99))} | ${(percentile(latencies, 99) / bare).toFixed(2)} | ${rssStart.toFixed(0)} → ${server.rss().toFixed(0)} |`);
  }

  client.close();
  await server.stop();
}

await main();
