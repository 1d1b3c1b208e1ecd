/**
 * Benchmarks every available inference engine on the full Xception with seeded random weights (speed does not
 * depend on the weights' values): the time to generate those weights against their budget, build time (compile +
 * session create) and per-image latency at batch 1 for 1 and 2 intra-op threads, in each precision the engine has
 * (onnx: fp32 and int8, its ranges from the calibration cache the server uses). The precisions of one engine and
 * thread count are timed interleaved — one run of each in turn — so load from other processes hits them alike.
 * Prints a Markdown table.
 *
 *   npm run bench:engine [-- --runs 20 --warmup 3 --threads 1,2 --engines onnx,tfjs --precisions fp32,int8]
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { DEFAULT_CONTRIB_DIR, DEFAULT_MAX_INPUT_PIXELS } from '../src/server/config.js';
import { parseModelHubConfig } from '../src/server/contrib.js';
import type { Precision } from '../src/server/engine/create-engine.js';
import { int8Calibration } from '../src/server/engine/onnx/calibration.js';
import type { ActivationRanges } from '../src/server/engine/onnx/quantize.js';
import { inputLimitsFromConfig } from '../src/server/input/limits.js';
import { xception, type Architecture } from '../src/server/model/architecture.js';
import type { WeightMap } from '../src/server/model/weights/weight-map.js';
import { seededWeights } from '../src/server/model/weights/seeded.js';
import type { Engine, EngineName, EngineOptions } from '../src/server/engine/engine.js';
import { runTensors } from '../src/server/engine/tensor-slab.js';

type EngineFactory = (
  arch: Architecture,
  weights: WeightMap,
  options?: EngineOptions & { int8?: { ranges: ActivationRanges } },
) => Promise<Engine>;

const SEED = 1;
/** The server generates its default weights at every start without a weights file: this long at most. */
const SEEDED_WEIGHTS_BUDGET_MS = 1500;

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
    threads: { type: 'string', default: '1,2' },
    engines: { type: 'string', default: 'onnx,tfjs' },
    precisions: { type: 'string', default: 'fp32,int8' },
  },
});
const runs = Math.max(10, Number(args.runs));
const warmup = Math.max(0, Number(args.warmup));
const threadCounts = args.threads.split(',').map(Number);
const engineNames = args.engines.split(',') as EngineName[];
const precisions = args.precisions.split(',') as Precision[];
/** Engines with an int8 path. */
const INT8_ENGINES: readonly EngineName[] = ['onnx'];

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
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

interface Row {
  engine: string;
  backend: string;
  precision: Precision;
  threads: number;
  buildMs: number;
  medianMs: number;
  p90Ms: number;
}

/** Builds one engine per precision, then times them interleaved: run i of each precision back to back. */
async function benchInterleaved(
  factory: EngineFactory,
  arch: Architecture,
  weights: WeightMap,
  threads: number,
  variants: readonly { precision: Precision; ranges?: ActivationRanges }[],
): Promise<Row[]> {
  const [h, w, c] = arch.inputShape;
  const input = new Float32Array(h * w * c);
  for (let i = 0; i < input.length; i++) input[i] = Math.sin(i * 0.37); // a fixed image in [−1, 1]

  const built: { precision: Precision; engine: Engine; buildMs: number; times: number[] }[] = [];
  try {
    for (const { precision, ranges } of variants) {
      const buildStart = performance.now();
      const engine = await factory(arch, weights, { threads, int8: ranges && { ranges } });
      built.push({ precision, engine, buildMs: performance.now() - buildStart, times: [] });
    }
    for (let i = 0; i < warmup; i++) for (const { engine } of built) await runTensors(engine, input, 1);
    for (let i = 0; i < runs; i++) {
      for (const { engine, times } of built) {
        const start = performance.now();
        await runTensors(engine, input, 1);
        times.push(performance.now() - start);
      }
    }
    return built.map(({ precision, engine, buildMs, times }) => {
      times.sort((a, b) => a - b);
      return {
        engine: engine.info.engine,
        backend: engine.info.backend,
        precision,
        threads: engine.info.threads,
        buildMs,
        medianMs: percentile(times, 0.5),
        p90Ms: percentile(times, 0.9),
      };
    });
  } finally {
    for (const { engine } of built) await engine.close();
  }
}

/** The int8 activation ranges of these weights, as the server gets them: from the cache, or calibrated now. */
async function int8Ranges(arch: Architecture, loaded: ReturnType<typeof seededWeights>): Promise<ActivationRanges> {
  const config = JSON.parse(readFileSync(new URL('../contrib_src/model/config.json', import.meta.url), 'utf8'));
  const limits = inputLimitsFromConfig(parseModelHubConfig(config), { maxInputPixels: DEFAULT_MAX_INPUT_PIXELS });
  const started = performance.now();
  const calibration = await int8Calibration({ arch, weights: loaded, contribDir: DEFAULT_CONTRIB_DIR, limits });
  const how = calibration.cache.hit
    ? 'read from the calibration cache'
    : `calibrated in ${(performance.now() - started).toFixed(0)} ms`;
  console.log(`int8: ${calibration.method} ranges of ${calibration.images} images in ${calibration.source}, ${how}`);
  return calibration.ranges;
}

async function main(): Promise<void> {
  const arch = xception();
  const weightsStart = performance.now();
  const loaded = seededWeights(arch, SEED);
  const { weights } = loaded;
  const weightsMs = performance.now() - weightsStart;
  const verdict = weightsMs <= SEEDED_WEIGHTS_BUDGET_MS ? 'within' : 'OVER';
  console.log(
    `weights: seededWeights(seed ${SEED}), ${weightsMs.toFixed(0)} ms to generate (${verdict} the ${SEEDED_WEIGHTS_BUDGET_MS} ms budget)`,
  );
  console.log(`batch 1, ${warmup} warm-up runs, ${runs} timed runs per row`);
  // Latency is only comparable on an otherwise idle machine; the load average says whether it was.
  console.log(`${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores, load ${loadAverage()}`);
  const ranges = precisions.includes('int8') ? await int8Ranges(arch, loaded) : undefined;
  console.log();

  const rows: Row[] = [];
  for (const name of engineNames) {
    let factory: EngineFactory;
    try {
      factory = await loadFactory(name);
    } catch (error) {
      console.log(`note: skipping engine '${name}': ${(error as Error).message}`);
      continue;
    }
    const variants = precisions.flatMap((precision): { precision: Precision; ranges?: ActivationRanges }[] => {
      if (precision === 'fp32') return [{ precision }];
      if (INT8_ENGINES.includes(name)) return [{ precision, ranges }];
      console.log(`note: engine '${name}' has no ${precision} path`);
      return [];
    });
    for (const threads of threadCounts) {
      try {
        rows.push(...(await benchInterleaved(factory, arch, weights, threads, variants)));
      } catch (error) {
        console.log(`note: engine '${name}' with ${threads} thread(s) failed: ${(error as Error).message}`);
      }
    }
  }

  console.log(`\nload average at the end: ${loadAverage()}`);
  console.log(
    '\n| engine | backend | precision | threads | build (ms) | median (ms/image) | p90 (ms/image) | fp32 median ÷ this |',
  );
  console.log('|---|---|---|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const fp32 = rows.find((o) => o.engine === r.engine && o.threads === r.threads && o.precision === 'fp32');
    const speedup = fp32 ? `${(fp32.medianMs / r.medianMs).toFixed(2)}×` : '';
    console.log(
      `| ${r.engine} | ${r.backend} | ${r.precision} | ${r.threads} | ${r.buildMs.toFixed(0)} | ${r.medianMs.toFixed(1)} | ` +
        `${r.p90Ms.toFixed(1)} | ${speedup} |`,
    );
  }
}

await main();
