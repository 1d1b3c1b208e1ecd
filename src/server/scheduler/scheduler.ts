/**
 * The one path from every entry point (unary, stream, HTTP) to the engine: a bounded number of concurrent engine runs
 * and a bounded FIFO queue in front of them.
 *
 * - Admission is decided on arrival: a full queue refuses at once (RESOURCE_EXHAUSTED), before any decoding is done.
 * - A request is queued while its image is still being decoded (sharp works on libuv's pool), so decoding overlaps
 *   inference; the earliest *ready* request runs next.
 * - A request whose call ends (its signal: cancelled, deadline passed) leaves the queue and is never run.
 * - Optional micro-batching takes up to maxBatch ready requests into one engine run (off by default: on CPU it buys
 *   nothing here).
 * - Each admitted request holds a tensor slab from admission until its answer is read: the input stage writes into
 *   it, the engine reads and answers in it. Admission bounds the slabs, so once warm none is allocated.
 * - A request runs on the engine that was current when it was admitted: after `useEngine` (a weights reload) new
 *   requests go to the new engine while those admitted before finish on the old one.
 */
import type { Engine } from '../engine/engine.js';
import { TensorSlabPool, type TensorSlab } from '../engine/tensor-slab.js';
import { Code, ServiceError } from '../errors.js';

export interface SchedulerOptions {
  /** Engine runs at once. */
  readonly maxConcurrency: number;
  /** Requests waiting (decoding or ready) beyond the running ones. */
  readonly maxQueue: number;
  /** Requests per engine run; 1 disables batching. */
  readonly maxBatch: number;
  /** How long a partial batch waits for more requests, ms. */
  readonly batchWaitMs: number;
}

/** The part of an engine the scheduler uses. */
export type SchedulerEngine = Pick<Engine, 'run' | 'inputSize' | 'outputSize'>;

/** Writes one prepared image into `tensor` (the model's input size). */
export type Prepare = (tensor: Float32Array) => Promise<unknown>;

/** Reads what the caller needs from one image's probabilities; they are valid only during the call. */
export type ReadOutput<T> = (probabilities: Float32Array) => T;

export interface SubmitOptions {
  /** The call's signal (core/call-signal.ts); its ServiceError reason is the request's answer. */
  readonly signal?: AbortSignal;
  /** Prepared at once, but not run before this settles (a stream's next frame waits for the one before it). */
  readonly after?: Promise<unknown>;
}

export interface ScheduledResult<T> {
  /** What `read` made of the probabilities. */
  readonly value: T;
  /** Preparing the input (decode, resize), ms. */
  readonly prepareMs: number;
  /** Ready and waiting for an engine slot, ms. */
  readonly queueMs: number;
  /** The engine run, ms (shared by the whole batch). */
  readonly inferenceMs: number;
  /** Requests in the engine run that served this one. */
  readonly batchSize: number;
}

/** What the metrics need to see; all optional. */
export interface SchedulerObserver {
  onQueueDepth?(depth: number): void;
  onInFlight?(runs: number): void;
  onBatch?(size: number): void;
  /** Slabs allocated so far and held now. */
  onSlabs?(allocated: number, inUse: number): void;
}

interface Entry {
  readonly admittedAt: number;
  /** The engine current at admission; the request runs on it. */
  readonly engine: SchedulerEngine;
  readonly slab: TensorSlab;
  readyAt: number;
  ready: boolean;
  prepareMs: number;
  /** Reads the answer out of the slab and resolves the caller. */
  answer(inferenceMs: number, startedAt: number, batchSize: number): void;
  reject(error: unknown): void;
  /** Leaves the queue with `error` (cancelled, expired, failed to prepare, abandoned). */
  leave(error: unknown): void;
  /** Returns its slab to the pool, once. */
  giveBack(): void;
  cleanup(): void;
}

export class Scheduler {
  private readonly queue: Entry[] = [];
  /** Requests in the engine runs now in progress. */
  private readonly runningEntries = new Set<Entry>();
  private running = 0;
  private batchTimer?: NodeJS.Timeout;
  private idleWaiters: (() => void)[] = [];
  private readonly slabs: TensorSlabPool;
  /** Requests admitted (queued or running) per engine, and who waits for an engine's last one. */
  private readonly bound = new Map<SchedulerEngine, { requests: number; retired: (() => void)[] }>();

  constructor(
    private engine: SchedulerEngine,
    readonly options: SchedulerOptions,
    private readonly observer: SchedulerObserver = {},
  ) {
    this.slabs = new TensorSlabPool(engine.inputSize, engine.outputSize);
  }

  /** Tensor slabs allocated so far; flat once the server is warm. */
  get slabsCreated(): number {
    return this.slabs.created;
  }

  /** Tensor slabs held by admitted requests now. */
  get slabsInUse(): number {
    return this.slabs.inUse;
  }

  /** Requests admitted and not yet running. */
  get queueDepth(): number {
    return this.queue.length;
  }

  /** Engine runs in progress. */
  get inFlight(): number {
    return this.running;
  }

  /**
   * Sends every request admitted from now on to `next`; resolves once the requests admitted before have all finished
   * on the engine they were admitted to (which the caller may then close).
   */
  useEngine(next: SchedulerEngine): Promise<void> {
    if (next.inputSize !== this.engine.inputSize || next.outputSize !== this.engine.outputSize) {
      throw new Error(
        `the new engine's tensors (${next.inputSize} in, ${next.outputSize} out) differ from the running one's ` +
          `(${this.engine.inputSize} in, ${this.engine.outputSize} out)`,
      );
    }
    const previous = this.engine;
    this.engine = next;
    const bound = this.bound.get(previous);
    if (previous === next || bound === undefined) return Promise.resolve();
    return new Promise((resolve) => bound.retired.push(resolve));
  }

  /**
   * Admits a request, or throws RESOURCE_EXHAUSTED at once when the queue is full. `prepare` starts immediately (the
   * decode, into the request's slab); the engine runs once it resolves and a slot is free; `read` turns the answer
   * into what the caller keeps.
   */
  submit<T>(prepare: Prepare, read: ReadOutput<T>, options: SubmitOptions = {}): Promise<ScheduledResult<T>> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    // A free engine slot takes one request beyond the queue: it waits only while it is prepared (so --max-queue 0
    // still serves an idle server).
    const freeSlots = Math.max(0, this.options.maxConcurrency - this.running);
    if (this.queue.length >= this.options.maxQueue + freeSlots) {
      return Promise.reject(
        new ServiceError(
          Code.RESOURCE_EXHAUSTED,
          `server overloaded: all ${this.options.maxConcurrency} inference slot(s) busy and the queue of ` +
            `${this.options.maxQueue} is full; retry later with backoff`,
        ),
      );
    }

    return new Promise<ScheduledResult<T>>((resolve, reject) => {
      const slab = this.acquireSlab();
      const engine = this.engine;
      this.bind(engine);
      const entry: Entry = {
        admittedAt: performance.now(),
        engine,
        slab,
        readyAt: 0,
        ready: false,
        prepareMs: 0,
        answer: (inferenceMs, startedAt, batchSize) => {
          try {
            resolve({
              value: read(slab.output),
              prepareMs: entry.prepareMs,
              queueMs: startedAt - entry.readyAt,
              inferenceMs,
              batchSize,
            });
          } catch (error) {
            reject(error);
          }
        },
        reject,
        leave: (error) => leave(error),
        giveBack: () => giveBack(),
        cleanup: () => {},
      };
      let preparing = true;
      let holdsSlab = true;
      const giveBack = () => {
        if (!holdsSlab) return;
        holdsSlab = false;
        this.releaseSlab(slab);
      };
      const leave = (error: unknown) => {
        if (!this.remove(entry)) return;
        reject(error);
        // A decode still writing into the slab keeps it until it is done.
        if (!preparing) giveBack();
      };
      const onAbort = () => leave(abortError(signal!));
      signal?.addEventListener('abort', onAbort, { once: true });
      entry.cleanup = () => signal?.removeEventListener('abort', onAbort);
      this.queue.push(entry);
      this.observer.onQueueDepth?.(this.queue.length);

      // Through a promise, so a prepare() that throws synchronously still leaves the queue.
      Promise.resolve()
        .then(() => prepare(slab.input))
        .then(
          async () => {
            preparing = false;
            entry.prepareMs = performance.now() - entry.admittedAt;
            await options.after?.catch(() => {});
            if (!this.queue.includes(entry)) {
              giveBack(); // its call ended while decoding or waiting its turn
              return;
            }
            entry.ready = true;
            entry.readyAt = performance.now();
            this.dispatch();
          },
          (error) => {
            preparing = false;
            if (this.queue.includes(entry)) leave(error);
            else giveBack();
          },
        );
    });
  }

  /** Resolves once nothing is queued or running (new work may still be admitted: stop admitting first). */
  whenIdle(): Promise<void> {
    if (this.queue.length === 0 && this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Answers every admitted request now with `error`, queued or running (a run in progress finishes unobserved): for the
   * end of a shutdown's grace period, so each caller gets an answer instead of a cut connection.
   */
  abandon(error: ServiceError): void {
    for (const entry of [...this.queue]) entry.leave(error);
    for (const entry of this.runningEntries) entry.reject(error);
    this.runningEntries.clear();
  }

  private remove(entry: Entry): boolean {
    const index = this.queue.indexOf(entry);
    if (index < 0) return false;
    this.queue.splice(index, 1);
    entry.cleanup();
    this.unbind(entry.engine);
    this.observer.onQueueDepth?.(this.queue.length);
    this.notifyIfIdle();
    return true;
  }

  private bind(engine: SchedulerEngine): void {
    const bound = this.bound.get(engine);
    if (bound) bound.requests++;
    else this.bound.set(engine, { requests: 1, retired: [] });
  }

  /** One request of `engine` is done; the last one of a replaced engine lets it go. */
  private unbind(engine: SchedulerEngine): void {
    const bound = this.bound.get(engine)!;
    if (--bound.requests > 0) return;
    this.bound.delete(engine);
    if (engine !== this.engine) for (const resolve of bound.retired) resolve();
  }

  /** The next batch: the oldest ready request and up to maxBatch − 1 more ready ones admitted to the same engine. */
  private nextBatch(): Entry[] {
    const first = this.queue.find((e) => e.ready);
    if (first === undefined) return [];
    return this.queue.filter((e) => e.ready && e.engine === first.engine).slice(0, this.options.maxBatch);
  }

  private dispatch(): void {
    while (this.running < this.options.maxConcurrency) {
      const ready = this.nextBatch();
      if (ready.length === 0) return;
      const { maxBatch, batchWaitMs } = this.options;
      if (maxBatch > 1 && ready.length < maxBatch && batchWaitMs > 0) {
        // Wait a moment for a fuller batch, counted from the oldest ready request.
        const waited = performance.now() - ready[0]!.readyAt;
        if (waited < batchWaitMs) {
          this.batchTimer ??= setTimeout(() => {
            this.batchTimer = undefined;
            this.flush();
          }, batchWaitMs - waited);
          return;
        }
      }
      this.start(ready);
    }
  }

  /** Runs whatever is ready now, however small the batch (the batch wait has passed). */
  private flush(): void {
    while (this.running < this.options.maxConcurrency) {
      const batch = this.nextBatch();
      if (batch.length === 0) return;
      this.start(batch);
    }
  }

  private start(batch: Entry[]): void {
    for (const entry of batch) {
      this.queue.splice(this.queue.indexOf(entry), 1);
      entry.cleanup();
      this.runningEntries.add(entry);
    }
    this.running++;
    this.observer.onQueueDepth?.(this.queue.length);
    this.observer.onInFlight?.(this.running);
    this.observer.onBatch?.(batch.length);

    const startedAt = performance.now();
    batch[0]!.engine
      .run(batch.map((entry) => entry.slab))
      .then(
        () => {
          const inferenceMs = performance.now() - startedAt;
          for (const entry of batch) entry.answer(inferenceMs, startedAt, batch.length);
        },
        (error) => batch.forEach((entry) => entry.reject(error)),
      )
      .finally(() => {
        for (const entry of batch) {
          this.runningEntries.delete(entry);
          entry.giveBack();
          this.unbind(entry.engine);
        }
        this.running--;
        this.observer.onInFlight?.(this.running);
        this.dispatch();
        this.notifyIfIdle();
      });
  }

  private acquireSlab(): TensorSlab {
    const slab = this.slabs.acquire();
    this.observer.onSlabs?.(this.slabs.created, this.slabs.inUse);
    return slab;
  }

  private releaseSlab(slab: TensorSlab): void {
    this.slabs.release(slab);
    this.observer.onSlabs?.(this.slabs.created, this.slabs.inUse);
  }

  private notifyIfIdle(): void {
    if (this.queue.length > 0 || this.running > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

function abortError(signal: AbortSignal): ServiceError {
  return signal.reason instanceof ServiceError
    ? signal.reason
    : new ServiceError(Code.CANCELLED, 'request cancelled by the caller');
}
