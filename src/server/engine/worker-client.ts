/**
 * The main-thread side of one engine worker, the same for every engine: starts the worker and waits until it is ready,
 * matches run results to runs by id, and keeps the process alive only while runs are pending. What a worker needs to
 * set up travels as its (engine-specific) workerData. Runs name their tensor slabs; a slab's shared memory goes to the
 * worker once, the first time a run uses it (per client: a fresh worker is sent every slab again).
 *
 * A worker that fails — it dies (an uncaught error, an exit nobody asked for) or a run throws in it (a runtime that threw
 * mid-run is not trusted with the next one) — is ended, every pending run fails with one EngineFaultError, and
 * `onFailure` is told; replacing it is the supervisor's business (supervised-worker.ts).
 */
import type { Worker } from 'node:worker_threads';
import type { EngineName } from './engine.js';
import { EngineFaultError } from './engine-fault.js';
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
  /** Copied into the worker (structured clone, never transferred), so the caller keeps it for the next worker. */
  readonly workerData: unknown;
  /** Told once, when the worker fails after it was ready; its pending runs fail with the same error. */
  readonly onFailure?: (error: EngineFaultError) => void;
  /** Aborted while the worker starts: the worker is ended and start() rejects. */
  readonly signal?: AbortSignal;
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
  /** Why the worker failed; every later run fails with it. */
  private failure: EngineFaultError | undefined;

  private constructor(
    private readonly worker: Worker,
    private readonly engine: EngineName,
    readonly ready: ReadyReply,
    private readonly onFailure: ((error: EngineFaultError) => void) | undefined,
  ) {
    worker.on('message', (reply: WorkerReply) => this.settle(reply));
    worker.on('error', (error) => this.failed('died during this run', `uncaught error: ${error.message}`, error));
    worker.on('exit', (code) => this.failed('died during this run', `exited with code ${code}`));
    // Idle, the worker does not keep the process alive; a pending run does (see run).
    worker.unref();
  }

  /** Starts the worker and resolves once it reports ready; rejects (and ends it) when it fails to start. */
  static async start(options: WorkerClientOptions): Promise<WorkerClient> {
    const { engine, workerData, signal } = options;
    signal?.throwIfAborted();
    const worker = spawnWorker(options.moduleUrl, options.workerBaseName, { name: `${engine}-engine`, workerData });
    try {
      const ready = await new Promise<ReadyReply>((resolve, reject) => {
        const onMessage = (reply: WorkerReply): void => {
          if (reply.type === 'ready') settle(() => resolve(reply));
          else if (reply.type === 'failed') settle(() => reject(new Error(reply.message)));
        };
        const onError = (error: Error): void => settle(() => reject(error));
        const onExit = (code: number): void => settle(() => reject(new Error(`the worker exited with code ${code}`)));
        const onAbort = (): void => settle(() => reject(signal!.reason));
        const settle = (finish: () => void): void => {
          worker.off('message', onMessage).off('error', onError).off('exit', onExit);
          signal?.removeEventListener('abort', onAbort);
          finish();
        };
        worker.on('message', onMessage).on('error', onError).on('exit', onExit);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
      return new WorkerClient(worker, engine, ready, options.onFailure);
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
    if (reply.type === 'error') {
      this.failed('failed this run and was stopped', `its runtime threw: ${reply.message}`);
      return;
    }
    if (reply.type !== 'result') return;
    const pending = this.pending.get(reply.id);
    if (pending === undefined) return;
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.worker.unref();
    pending.resolve();
  }

  /** The one place a worker that fails is handled: it is ended, and so is every run pending in it. */
  private failed(what: string, reason: string, cause?: Error): void {
    if (this.closed || this.failure !== undefined) return;
    const message = `the ${this.engine} engine worker ${what} (${reason}); retry`;
    const error = new EngineFaultError(message, reason, { cause });
    this.failure = error;
    this.onFailure?.(error);
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
