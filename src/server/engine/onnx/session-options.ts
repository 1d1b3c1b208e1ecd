/** ONNX Runtime session options, shared by the worker and the benchmark. */
import type * as ort from 'onnxruntime-node';

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
    // Spinning intra-op threads stay on (ORT's default): on an idle 2-core machine it cut the best 2-thread latency
    // from ~129 to ~104 ms; 'allow_spinning: 0' only won when other processes competed for the cores.
  };
}
