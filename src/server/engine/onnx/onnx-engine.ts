/**
 * The default engine: the architecture compiled to ONNX in memory, run by onnxruntime-node on the CPU in a worker
 * thread (see onnx-worker.ts for why). Input and output buffers are transferred, not copied.
 */
import os from 'node:os';
import type { Worker } from 'node:worker_threads';
import type { Architecture } from '../../model/architecture.js';
import type { WeightMap } from '../../model/weights.js';
import type { Engine, EngineInfo, EngineOptions } from '../engine.js';
import { spawnWorker } from '../spawn-worker.js';
import { compileOnnxModel } from './graph.js';
import type { OnnxWorkerData, OnnxWorkerReply, OnnxWorkerRequest } from './protocol.js';

export { onnxSessionOptions } from './session-options.js';

export async function createOnnxEngine(
  arch: Architecture,
  weights: WeightMap,
  options: EngineOptions = {},
): Promise<Engine> {
  const threads = options.threads ?? os.availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`threads must be a positive integer, got ${threads}`);
  const model = compileOnnxModel(arch, weights);
  // ONNX Runtime ≥ 1.29 collects usage telemetry on Linux unless told not to; a server has no business phoning home.
  // The worker copies this environment when it starts.
  process.env.ORT_DISABLE_TELEMETRY ??= '1';
  const workerData: OnnxWorkerData = { model, threads, inputShape: [...arch.inputShape] };
  const worker = spawnWorker(import.meta.url, 'onnx-worker', { workerData, transferList: [model.buffer as ArrayBuffer] });
  await new Promise<void>((resolve, reject) => {
    const onMessage = (reply: OnnxWorkerReply) => {
      worker.off('error', reject);
      if (reply.type === 'ready') resolve();
      else reject(new Error(`onnx engine failed to start: ${reply.type === 'failed' ? reply.message : reply.type}`));
    };
    worker.once('message', onMessage);
    worker.once('error', reject);
  });
  return new OnnxEngine(worker, arch, { engine: 'onnx', backend: 'onnxruntime-node cpu', threads });
}

class OnnxEngine implements Engine {
  private readonly imageSize: number;
  private readonly pending = new Map<number, { resolve(output: Float32Array): void; reject(error: Error): void }>();
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly worker: Worker,
    arch: Architecture,
    readonly info: EngineInfo,
  ) {
    const [height, width, channels] = arch.inputShape;
    this.imageSize = height * width * channels;
    worker.on('message', (reply: OnnxWorkerReply) => {
      if (reply.type !== 'result' && reply.type !== 'error') return;
      const waiter = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (reply.type === 'result') waiter?.resolve(reply.output);
      else waiter?.reject(new Error(`onnx run failed: ${reply.message}`));
    });
    const failAll = (error: Error) => {
      for (const waiter of this.pending.values()) waiter.reject(error);
      this.pending.clear();
    };
    worker.on('error', failAll);
    worker.on('exit', (code) => {
      this.closed = true;
      failAll(new Error(`onnx worker exited (code ${code})`));
    });
  }

  run(input: Float32Array, batch: number): Promise<Float32Array> {
    if (this.closed) return Promise.reject(new Error('onnx engine is closed'));
    if (!Number.isInteger(batch) || batch < 1) return Promise.reject(new Error(`batch must be a positive integer, got ${batch}`));
    if (input.length !== batch * this.imageSize) {
      return Promise.reject(new Error(`input has ${input.length} floats; batch ${batch} needs ${batch * this.imageSize}`));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Transfer a copy (≈1 MB a image, ~0.1 ms): the caller keeps its buffer intact.
      const own = input.slice();
      const request: OnnxWorkerRequest = { type: 'run', id, input: own, batch };
      this.worker.postMessage(request, [own.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const exited = new Promise((resolve) => this.worker.once('exit', resolve));
    this.worker.postMessage({ type: 'close' } satisfies OnnxWorkerRequest);
    const timer = setTimeout(() => void this.worker.terminate(), 2000);
    await exited;
    clearTimeout(timer);
  }
}
