/** The default engine: the architecture compiled to ONNX in memory and run by onnxruntime-node on the CPU. */
import os from 'node:os';
import * as ort from 'onnxruntime-node';
import type { Architecture } from '../../model/architecture.js';
import type { WeightMap } from '../../model/weights.js';
import type { Engine, EngineInfo, EngineOptions } from '../engine.js';
import { compileOnnxModel, INPUT_NAME, OUTPUT_NAME } from './graph.js';

/** Session options for low-latency single-request CPU inference. */
export function onnxSessionOptions(threads: number): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    // One model, one stream of batches: nodes run in order, parallelism comes from inside each operator.
    interOpNumThreads: 1,
    executionMode: 'sequential',
    // 'all' adds ORT's NCHWc layout transform, which fuses Conv+Add+Relu and runs the depthwise convs blocked.
    graphOptimizationLevel: 'all',
    enableCpuMemArena: true,
    enableMemPattern: true,
  };
}

export async function createOnnxEngine(
  arch: Architecture,
  weights: WeightMap,
  options: EngineOptions = {},
): Promise<Engine> {
  const threads = options.threads ?? os.availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`threads must be a positive integer, got ${threads}`);
  const model = compileOnnxModel(arch, weights);
  const session = await ort.InferenceSession.create(model, onnxSessionOptions(threads));
  return new OnnxEngine(session, arch, { engine: 'onnx', backend: 'onnxruntime-node cpu', threads });
}

class OnnxEngine implements Engine {
  private readonly imageSize: number;
  private closed = false;

  constructor(
    private readonly session: ort.InferenceSession,
    private readonly arch: Architecture,
    readonly info: EngineInfo,
  ) {
    const [height, width, channels] = arch.inputShape;
    this.imageSize = height * width * channels;
  }

  async run(input: Float32Array, batch: number): Promise<Float32Array> {
    if (this.closed) throw new Error('onnx engine is closed');
    if (!Number.isInteger(batch) || batch < 1) throw new Error(`batch must be a positive integer, got ${batch}`);
    if (input.length !== batch * this.imageSize) {
      throw new Error(`input has ${input.length} floats; batch ${batch} needs ${batch * this.imageSize}`);
    }
    // The tensor is a view over the caller's buffer: no copy on the way in.
    const tensor = new ort.Tensor('float32', input, [batch, ...this.arch.inputShape]);
    const results = await this.session.run({ [INPUT_NAME]: tensor });
    const output = results[OUTPUT_NAME];
    if (output === undefined || !(output.data instanceof Float32Array)) {
      throw new Error(`onnx model produced no float32 '${OUTPUT_NAME}' output`);
    }
    return output.data;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.session.release();
  }
}
