/**
 * The default engine: the architecture compiled to ONNX in memory, run by onnxruntime-node on the CPU in a worker
 * thread (see onnx-worker.ts for why), supervised: a worker that fails is replaced from the compiled model kept here.
 * Inputs and outputs stay in the shared tensor slabs. With `int8` it compiles the statically quantised graph instead
 * (graph.ts), from activation ranges calibrated beforehand (calibration.ts).
 */
import type { Architecture } from '../../model/architecture.js';
import type { WeightMap } from '../../model/weights/weight-map.js';
import { requestedThreads, type Engine, type EngineOptions } from '../engine.js';
import { arrayBuffersIn, offThread, siblingModule } from '../off-thread.js';
import { startSupervisedEngine } from '../supervised-worker.js';
import type { CompileOptions } from './graph.js';
import type { OnnxWorkerData } from './onnx-session.js';
import type { ActivationRanges } from './quantize.js';

export interface Int8GraphOptions {
  readonly ranges: ActivationRanges;
  /** Recorded in the model's metadata_props: the calibration set and method. */
  readonly metadata?: Readonly<Record<string, string>>;
}

export interface OnnxEngineOptions extends EngineOptions {
  /** Run the int8 graph quantised with these ranges; fp32 without. Only the onnx engine has an int8 path. */
  readonly int8?: Int8GraphOptions;
  /** ONNX Runtime's intra-op threads busy-wait between operators and runs (its default, true): see session-options.ts. */
  readonly spinning?: boolean;
}

export { onnxSessionOptions } from './session-options.js';

export async function createOnnxEngine(
  arch: Architecture,
  weights: WeightMap,
  options: OnnxEngineOptions = {},
): Promise<Engine> {
  return startSupervisedEngine(arch, {
    engine: 'onnx',
    moduleUrl: import.meta.url,
    workerBaseName: 'onnx-worker',
    workerData: await onnxWorkerData(arch, weights, options),
    health: options.health,
    instances: options.instances,
  });
}

/**
 * What an onnx worker starts from: the compiled model. The engine keeps it for its whole life (the fp32 Xception
 * serializes to about 91 MB, int8 to about a quarter of that), so that a fresh worker after a fault compiles nothing
 * and reads no weights. It is compiled in a thread of its own (about 2 s for fp32) into shared memory that every worker
 * reads (shared-model.ts), so building an engine while serving — a weights reload — does not stall the event loop.
 * With `handOverWeights` the weights' memory moves to that thread instead of being copied.
 */
export async function onnxWorkerData(
  arch: Architecture,
  weights: WeightMap,
  options: OnnxEngineOptions,
): Promise<OnnxWorkerData> {
  const threads = requestedThreads(options);
  const { int8 } = options;
  const compileOptions: CompileOptions | undefined = int8 && {
    precision: { kind: 'int8', ranges: int8.ranges },
    metadata: int8.metadata,
  };
  const model = await offThread<Uint8Array>(
    siblingModule(import.meta.url, 'shared-model'),
    'compileSharedModel',
    [arch, weights, compileOptions],
    { transfer: options.handOverWeights ? arrayBuffersIn(weights) : [] },
  );
  // ONNX Runtime ≥ 1.29 collects usage telemetry on Linux unless told not to; a server has no business phoning home.
  // Workers copy this environment when they start.
  process.env.ORT_DISABLE_TELEMETRY ??= '1';
  return {
    model,
    threads,
    spinning: options.spinning,
    inputShape: [...arch.inputShape],
    classes: arch.classes,
  };
}
