/**
 * The TensorFlow.js engine. TensorFlow.js runs in a worker thread (tfjs-worker.ts) so inference never blocks the
 * service's event loop; this side posts run requests and matches the answers to them.
 */
import os from 'node:os';
import type { Worker } from 'node:worker_threads';
import type { Architecture } from '../../model/architecture.js';
import { WeightsError, type WeightMap } from '../../model/weights.js';
import type { Engine, EngineInfo, EngineOptions } from '../engine.js';
import type { ErrorInfo, RunRequest, WorkerResponse, WorkerSetup } from './protocol.js';
import { spawnWorker } from '../spawn-worker.js';
import { packWeights } from './weight-pack.js';

export async function createTfjsEngine(
  arch: Architecture,
  weights: WeightMap,
  options: EngineOptions = {},
): Promise<Engine> {
  const threads = options.threads ?? os.availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`threads must be a positive integer, got ${threads}`);
  try {
    return await TfjsEngine.start(arch, weights, threads);
  } catch (error) {
    if (threads === 1 || error instanceof WeightsError) throw error;
    // The threaded wasm build runs on work-arounds (wasm-threads.ts); one thread is better than no engine.
    const reason = error instanceof Error ? error.message : String(error);
    return await TfjsEngine.start(arch, weights, 1, `${threads} threads failed to start: ${reason}`);
  }
}

interface Pending {
  resolve(output: Float32Array): void;
  reject(error: Error): void;
}

class TfjsEngine implements Engine {
  private readonly pending = new Map<number, Pending>();
  private readonly imageSize: number;
  private nextId = 1;
  private closed = false;
  /** Set when the worker died; every later run fails with it. */
  private failure: Error | undefined;

  private constructor(
    private readonly worker: Worker,
    arch: Architecture,
    readonly info: EngineInfo,
  ) {
    const [height, width, channels] = arch.inputShape;
    this.imageSize = height * width * channels;
    worker.on('message', (message: WorkerResponse) => this.onMessage(message));
    worker.on('error', (error) => this.fail(new Error(`tfjs worker failed: ${error.message}`, { cause: error })));
    worker.on('exit', (code) => this.fail(new Error(`tfjs worker exited with code ${code}`)));
    // Idle, the worker does not keep the process alive; a pending run does (see track).
    worker.unref();
  }

  /**
   * Starts a worker, sends it the weights once, and resolves when its backend and model are ready. `note` is appended
   * to the backend's description.
   */
  static async start(arch: Architecture, weights: WeightMap, threads: number, note?: string): Promise<TfjsEngine> {
    const packed = packWeights(arch, weights);
    const setup: WorkerSetup = { arch, weights: packed, threads };
    const worker = spawnWorker(import.meta.url, 'tfjs-worker', {
      name: 'tfjs-engine',
      workerData: setup,
      transferList: [packed.data.buffer as ArrayBuffer],
    });
    const ready = await new Promise<{ backend: string; threads: number }>((resolve, reject) => {
      const onMessage = (message: WorkerResponse): void => {
        if (message.type === 'ready') settle(() => resolve(message));
        else if (message.type === 'init-failed') settle(() => reject(toError(message.error)));
      };
      const onError = (error: Error): void => settle(() => reject(error));
      const onExit = (code: number): void => settle(() => reject(new Error(`tfjs worker exited with code ${code}`)));
      const settle = (finish: () => void): void => {
        worker.off('message', onMessage).off('error', onError).off('exit', onExit);
        finish();
      };
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
    }).catch(async (error: unknown) => {
      await worker.terminate();
      throw new Error(`tfjs engine failed to start: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    });
    const backend = note === undefined ? ready.backend : `${ready.backend} (${note})`;
    return new TfjsEngine(worker, arch, { engine: 'tfjs', backend, threads: ready.threads });
  }

  run(input: Float32Array, batch: number): Promise<Float32Array> {
    if (this.closed) return Promise.reject(new Error('tfjs engine is closed'));
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (!Number.isInteger(batch) || batch < 1) {
      return Promise.reject(new Error(`batch must be a positive integer, got ${batch}`));
    }
    if (input.length !== batch * this.imageSize) {
      const needed = batch * this.imageSize;
      return Promise.reject(new Error(`input has ${input.length} floats; batch ${batch} needs ${needed}`));
    }
    const id = this.nextId++;
    // A private copy is transferred, not the caller's buffer: transferring would detach it under the caller's feet.
    const copy = input.slice();
    const request: RunRequest = { type: 'run', id, input: copy, batch };
    return new Promise<Float32Array>((resolve, reject) => {
      this.track(id, { resolve, reject });
      this.worker.postMessage(request, [copy.buffer]);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.rejectAll(new Error('tfjs engine closed before the run finished'));
    await this.worker.terminate();
  }

  private onMessage(message: WorkerResponse): void {
    if (message.type !== 'result' && message.type !== 'run-failed') return;
    const pending = this.pending.get(message.id);
    if (pending === undefined) return;
    this.untrack(message.id);
    if (message.type === 'result') pending.resolve(message.output);
    else pending.reject(toError(message.error));
  }

  private track(id: number, pending: Pending): void {
    if (this.pending.size === 0) this.worker.ref();
    this.pending.set(id, pending);
  }

  private untrack(id: number): void {
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker.unref();
  }

  private fail(error: Error): void {
    if (this.closed || this.failure !== undefined) return;
    this.failure = error;
    this.rejectAll(error);
    void this.worker.terminate();
  }

  private rejectAll(error: Error): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    this.worker.unref();
    for (const p of pending) p.reject(error);
  }
}

function toError(info: ErrorInfo): Error {
  const error = info.name === 'WeightsError' ? new WeightsError(info.message) : new Error(info.message);
  if (info.stack !== undefined) error.stack = info.stack;
  return error;
}
