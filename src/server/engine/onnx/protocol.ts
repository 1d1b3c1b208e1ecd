/** Messages between the ONNX engine (main thread) and its worker. */

export interface OnnxWorkerData {
  /** The serialized ONNX model, transferred. */
  readonly model: Uint8Array;
  readonly threads: number;
  /** [height, width, channels]. */
  readonly inputShape: readonly number[];
}

export type OnnxWorkerRequest =
  | { readonly type: 'run'; readonly id: number; readonly input: Float32Array; readonly batch: number }
  | { readonly type: 'close' };

export type OnnxWorkerReply =
  | { readonly type: 'ready' }
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'result'; readonly id: number; readonly output: Float32Array }
  | { readonly type: 'error'; readonly id: number; readonly message: string };
