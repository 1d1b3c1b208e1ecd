/**
 * The main-thread side of an engine worker, the same for every engine: starts the worker and waits until it is ready,
 * matches run results to runs by id, fails every pending run with one error when the worker dies, and keeps the
 * process alive only while runs are pending. What a worker needs to set up travels as its (engine-specific) workerData.
 * Runs name their tensor slabs; a slab's shared memory goes to the worker once, the first time a run uses it.
 */
import type { Worker, WorkerOptions } from 'node:worker_threads';
import type { EngineName } from './engine.js';
import { spawnWorker } from './spawn-worker.js';
import type { TensorSlab } from './tensor-slab.js';

/** A slab as a run names it: by id, with its memory the first time the worker sees it. */
export interface SlabRef {
  readonly id: number;
  readonly memory?: SharedArrayBuffer;
}

export type WorkerRequest =
  | { readonly type: 'run'; readonly id: number; readonly slabs: readonly SlabRef[] }
  | { readonly type: 'close' };

export type WorkerReply =
  | ReadyReply
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'result'; readonly id: number }
  | { readonly type: 'error'; readonly id: number; readonly message: string };

export interface ReadyReply {
  readonly type: 'ready';
  /** The backend in use, in words: "onnxruntime-node cpu", "tfjs wasm (2 threads)". */
  readonly backend: string;
  readonly threads: number;
}

export interface WorkerClientOptions {
  readonly engine: EngineName;
  /** The engine module's import.meta.url; the worker module sits next to it. */
  readonly moduleUrl: string;
  readonly workerBaseName: string;
  readonly workerData: unknown;
  readonly transferList: WorkerOptions['transferList'];
}

/** How long a worker asked to close may take before it is terminated. */
const CLOSE_GRACE_MS = 2000;

interface Pending {
  resolve(): void;
  reject(error: Error): void;
}

export class WorkerClient {
  private readonly pending = new Map<number, Pending>();
  /** The slabs the worker already maps, by their memory. */
  private readonly slabIds = new WeakMap<SharedArrayBuffer, number>();
  private nextSlabId = 1;
  private nextId = 1;
  private closed = false;
  /** Why the worker died; every later run fails with it. */
  private failure: Error | undefined;

  private constructor(
    private readonly worker: Worker,
    private readonly engine: EngineName,
    readonly ready: ReadyReply,
  ) {
    worker.on('message', (reply: WorkerReply) => this.settle(reply));
    worker.on('error', (error) => this.died(new Error(`${engine} worker failed: ${error.message}`, { cause: error })));
    worker.on('exit', (code) => this.died(new Error(`${engine} worker exited with code ${code}`)));
    // Idle, the worker does not keep the process alive; a pending run does (see run).
    worker.unref();
  }

  /** Starts the worker and resolves once it reports ready; rejects (and ends it) when it fails to start. */
  static async start(options: WorkerClientOptions): Promise<WorkerClient> {
    const { engine, workerData, transferList } = options;
    const worker = spawnWorker(options.moduleUrl, options.workerBaseName, {
      name: `${engine}-engine`,
      workerData,
      transferList,
    });
    try {
      const ready = await new Promise<ReadyReply>((resolve, reject) => {
        const onMessage = (reply: WorkerReply): void => {
          if (reply.type === 'ready') settle(() => resolve(reply));
          else if (reply.type === 'failed') settle(() => reject(new Error(reply.message)));
        };
        const onError = (error: Error): void => settle(() => reject(error));
        const onExit = (code: number): void => settle(() => reject(new Error(`the worker exited with code ${code}`)));
        const settle = (finish: () => void): void => {
          worker.off('message', onMessage).off('error', onError).off('exit', onExit);
          finish();
        };
        worker.on('message', onMessage).on('error', onError).on('exit', onExit);
      });
      return new WorkerClient(worker, engine, ready);
    } catch (error) {
      await worker.terminate();
      throw new Error(`${engine} engine failed to start: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Runs the model on the slabs' inputs as one batch; resolves once their outputs are written. */
  run(slabs: readonly TensorSlab[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`${this.engine} engine is closed`));
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (slabs.length === 0) return Promise.reject(new Error('a run needs at least one image'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({
        type: 'run',
        id,
        slabs: slabs.map((slab) => this.slabRef(slab)),
      } satisfies WorkerRequest);
    });
  }

  private slabRef({ memory }: TensorSlab): SlabRef {
    const known = this.slabIds.get(memory);
    if (known !== undefined) return { id: known };
    const id = this.nextSlabId++;
    this.slabIds.set(memory, id);
    return { id, memory };
  }

  /** Fails pending runs, asks the worker to close, and terminates it if it has not exited after a grace period. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new Error(`${this.engine} engine closed before the run finished`));
    if (this.failure !== undefined) return;
    const exited = new Promise((resolve) => this.worker.once('exit', resolve));
    this.worker.postMessage({ type: 'close' } satisfies WorkerRequest);
    const timer = setTimeout(() => void this.worker.terminate(), CLOSE_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }

  private settle(reply: WorkerReply): void {
    if (reply.type !== 'result' && reply.type !== 'error') return;
    const pending = this.pending.get(reply.id);
    if (pending === undefined) return;
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.worker.unref();
    if (reply.type === 'result') pending.resolve();
    else pending.reject(new Error(`${this.engine} run failed: ${reply.message}`));
  }

  /** The one place a worker that errs or exits unasked is handled. */
  private died(error: Error): void {
    if (this.closed || this.failure !== undefined) return;
    this.failure = error;
    this.failAll(error);
    void this.worker.terminate();
  }

  private failAll(error: Error): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    this.worker.unref();
    for (const p of pending) p.reject(error);
  }
}
