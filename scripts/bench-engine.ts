/**
 * Benchmarks every available inference engine on the full Xception with seeded random weights (speed does not
 * depend on the weights' values): the time to generate those weights against their budget, build time (compile +
 * session create) and per-image latency at batch 1 for 1 and 2 intra-op threads. Prints a Markdown table.
 *
 *   npm run bench:engine [-- --runs 20 --warmup 3 --threads 1,2 --engines onnx,tfjs]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { xception, type Architecture } from '../src/server/model/architecture.js';
import type { WeightMap } from '../src/server/model/weights/weight-map.js';
import { seededWeights } from '../src/server/model/weights/seeded.js';
import type { Engine, EngineName, EngineOptions } from '../src/server/engine/engine.js';
import { runTensors } from '../src/server/engine/tensor-slab.js';

type EngineFactory = (arch: Architecture, weights: WeightMap, options?: EngineOptions) => Promise<Engine>;

const SEED = 1;
/** The server generates its default weights at every start without a weights file: this long at most. */
const SEEDED_WEIGHTS_BUDGET_MS = 1500;

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
    threads: { type: 'string', default: '1,2' },
    engines: { type: 'string', default: 'onnx,tfjs' },
  },
});
const runs = Math.max(10, Number(args.runs));
const warmup = Math.max(0, Number(args.warmup));
const threadCounts = args.threads.split(',').map(Number);
const engineNames = args.engines.split(',') as EngineName[];

/** Engines are imported lazily so one that cannot load here (e.g. a missing backend) is skipped, not fatal. */
async function loadFactory(name: EngineName): Promise<EngineFactory> {
  switch (name) {
    case 'onnx':
      return (await import('../src/server/engine/onnx/onnx-engine.js')).createOnnxEngine;
    case 'tfjs':
      return (await import('../src/server/engine/tfjs/tfjs-engine.js')).createTfjsEngine;
    default:
      throw new Error(`unknown engine ${String(name)}`);
  }
}

function loadAverage(): string {
  return os.loadavg().map((l) => l.toFixed(2)).join(' ');
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

interface Row {
  engine: string;
  backend: string;
  threads: number;
  buildMs: number;
  medianMs: number;
  p90Ms: number;
}

async function benchOne(factory: EngineFactory, arch: Architecture, weights: WeightMap, threads: number): Promise<Row> {
  const [h, w, c] = arch.inputShape;
  const input = new Float32Array(h * w * c);
  for (let i = 0; i < input.length; i++) input[i] = Math.sin(i * 0.37); // a fixed image in [−1, 1]

  const buildStart = performance.now();
  const engine = await factory(arch, weights, { threads });
  const buildMs = performance.now() - buildStart;
  try {
    for (let i = 0; i < warmup; i++) await runTensors(engine, input, 1);
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const start = performance.now();
      await runTensors(engine, input, 1);
      times.push(performance.now() - start);
    }
    times.sort((a, b) => a - b);
    return {
      engine: engine.info.engine,
      backend: engine.info.backend,
      threads: engine.info.threads,
      buildMs,
      medianMs: percentile(times, 0.5),
      p90Ms: percentile(times, 0.9),
    };
  } finally {
    await engine.close();
  }
}

async function main(): Promise<void> {
  const arch = xception();
  const weightsStart = performance.now();
  const { weights } = seededWeights(arch, SEED);
  const weightsMs = performance.now() - weightsStart;
  const verdict = weightsMs <= SEEDED_WEIGHTS_BUDGET_MS ? 'within' : 'OVER';
  console.log(`weights: seededWeights(seed ${SEED}), ${weightsMs.toFixed(0)} ms to generate (${verdict} the ${SEEDED_WEIGHTS_BUDGET_MS} ms budget)`);
  console.log(`batch 1, ${warmup} warm-up runs, ${runs} timed runs per row`);
  // Latency is only comparable on an otherwise idle machine; the load average says whether it was.
  console.log(`${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores, load ${loadAverage()}\n`);

  const rows: Row[] = [];
  for (const name of engineNames) {
    let factory: EngineFactory;
    try {
      factory = await loadFactory(name);
    } catch (error) {
      console.log(`note: skipping engine '${name}': ${(error as Error).message}`);
      continue;
    }
    for (const threads of threadCounts) {
      try {
        rows.push(await benchOne(factory, arch, weights, threads));
      } catch (error) {
        console.log(`note: engine '${name}' with ${threads} thread(s) failed: ${(error as Error).message}`);
      }
    }
  }

  console.log(`\nload average at the end: ${loadAverage()}`);
  console.log('\n| engine | backend | threads | build (ms) | median (ms/image) | p90 (ms/image) |');
  console.log('|---|---|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(
      `| ${r.engine} | ${r.backend} | ${r.threads} | ${r.buildMs.toFixed(0)} | ${r.medianMs.toFixed(1)} | ${r.p90Ms.toFixed(1)} |`,
    );
  }
}

await main();
