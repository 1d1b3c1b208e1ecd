/** ONNX Runtime session options, shared by the worker and the benchmark. */
import type * as ort from 'onnxruntime-node';

/**
 * Session options for low-latency single-request CPU inference. `spinning`: the intra-op threads busy-wait for work
 * between operators and after a run (ORT's default) instead of sleeping.
 */
export function onnxSessionOptions(threads: number, spinning = true): ort.InferenceSession.SessionOptions {
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
    // Spinning makes a run on otherwise idle cores ~2 ms faster (54.6 vs 56.3 ms here), but the spinning threads hold
    // both cores while the server decodes, answers and reads the next request: the server turns it off (config.ts).
    ...(spinning ? {} : { extra: { session: { 'intra_op.allow_spinning': '0' } } }),
  };
}
