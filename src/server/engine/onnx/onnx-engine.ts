/**
 * The default engine: the architecture compiled to ONNX in memory, run by onnxruntime-node on the CPU in a worker
 * thread (see onnx-worker.ts for why). Inputs and outputs stay in the shared tensor slabs. With `int8` it compiles the
 * statically quantised graph instead (graph.ts), from activation ranges calibrated beforehand (calibration.ts).
 */
import { imageSize, type Architecture } from '../../model/architecture.js';
import type { WeightMap } from '../../model/weights/weight-map.js';
import { requestedThreads, type Engine, type EngineOptions } from '../engine.js';
import { WorkerClient } from '../worker-client.js';
import { compileOnnxModel } from './graph.js';
import type { OnnxWorkerData } from './onnx-worker.js';
import type { ActivationRanges } from './quantize.js';

export interface Int8GraphOptions {
  readonly ranges: ActivationRanges;
  /** Recorded in the model's metadata_props: the calibration set and method. */
  readonly metadata?: Readonly<Record<string, string>>;
}

export interface OnnxEngineOptions extends EngineOptions {
  /** Run the int8 graph quantised with these ranges; fp32 without. */
  readonly int8?: Int8GraphOptions;
}

export { onnxSessionOptions } from './session-options.js';

export async function createOnnxEngine(
  arch: Architecture,
  weights: WeightMap,
  options: OnnxEngineOptions = {},
): Promise<Engine> {
  const threads = requestedThreads(options);
  const { int8 } = options;
  const model = compileOnnxModel(
    arch,
    weights,
    int8 && { precision: { kind: 'int8', ranges: int8.ranges }, metadata: int8.metadata },
  );
  // ONNX Runtime ≥ 1.29 collects usage telemetry on Linux unless told not to; a server has no business phoning home.
  // The worker copies this environment when it starts.
  process.env.ORT_DISABLE_TELEMETRY ??= '1';
  const workerData: OnnxWorkerData = { model, threads, inputShape: [...arch.inputShape], classes: arch.classes };
  const client = await WorkerClient.start({
    engine: 'onnx',
    moduleUrl: import.meta.url,
    workerBaseName: 'onnx-worker',
    workerData,
    transferList: [model.buffer as ArrayBuffer],
  });
  return {
    info: { engine: 'onnx', backend: client.ready.backend, threads: client.ready.threads },
    inputSize: imageSize(arch),
    outputSize: arch.classes,
    run: (slabs) => client.run(slabs),
    close: () => client.close(),
  };
}
