/**
 * The one path from every entry point (unary, stream, HTTP) to the engine: a bounded number of concurrent engine runs
 * and a bounded FIFO queue in front of them.
 *
 * - Admission is decided on arrival: a full queue refuses at once (RESOURCE_EXHAUSTED), before any decoding is done.
 * - A request is queued while its image is still being decoded (sharp works on libuv's pool), so decoding overlaps
 *   inference; the earliest *ready* request runs next.
 * - A request whose deadline passes, or whose caller cancels, leaves the queue and is never run.
 * - Optional micro-batching takes up to maxBatch ready requests into one engine run (off by default: on CPU it buys
 *   nothing here).
 */
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

export type RunBatch = (input: Float32Array, batch: number) => Promise<Float32Array>;

export interface SubmitOptions {
  readonly signal?: AbortSignal;
  /** Absolute deadline, ms since the epoch (Date.now()); Infinity for none. */
  readonly deadline?: number;
}

export interface ScheduledResult {
  /** One row of probabilities. */
  readonly probabilities: Float32Array;
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
}

interface Entry {
  readonly admittedAt: number;
  readyAt: number;
  input?: Float32Array;
  prepareMs: number;
  readonly deadline: number;
  readonly signal?: AbortSignal;
  resolve(result: ScheduledResult): void;
  reject(error: unknown): void;
  cleanup(): void;
}

export class Scheduler {
  private readonly queue: Entry[] = [];
  private running = 0;
  private batchTimer?: NodeJS.Timeout;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly runBatch: RunBatch,
    private readonly inputSize: number,
    private readonly outputSize: number,
    readonly options: SchedulerOptions,
    private readonly observer: SchedulerObserver = {},
  ) {}

  /** Requests admitted and not yet running. */
  get queueDepth(): number {
    return this.queue.length;
  }

  /** Engine runs in progress. */
  get inFlight(): number {
    return this.running;
  }

  /**
   * Admits a request, or throws RESOURCE_EXHAUSTED at once when the queue is full. `prepare` starts immediately (the
   * decode); the engine runs once it resolves and a slot is free.
   */
  submit(prepare: () => Promise<Float32Array>, options: SubmitOptions = {}): Promise<ScheduledResult> {
    const { signal, deadline = Infinity } = options;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (deadline <= Date.now()) return Promise.reject(deadlineError());
    if (this.queue.length >= this.options.maxQueue) {
      return Promise.reject(new ServiceError(Code.RESOURCE_EXHAUSTED,
        `server overloaded: all ${this.options.maxConcurrency} inference slot(s) busy and the queue of ` +
        `${this.options.maxQueue} is full; retry later with backoff`));
    }

    return new Promise<ScheduledResult>((resolve, reject) => {
      const entry: Entry = {
        admittedAt: performance.now(),
        readyAt: 0,
        prepareMs: 0,
        deadline,
        signal,
        resolve,
        reject,
        cleanup: () => {},
      };
      const leave = (error: unknown) => {
        if (this.remove(entry)) reject(error);
      };
      const onAbort = () => leave(abortError(signal!));
      signal?.addEventListener('abort', onAbort, { once: true });
      const timer = Number.isFinite(deadline)
        ? setTimeout(() => leave(deadlineError()), Math.max(0, deadline - Date.now()))
        : undefined;
      entry.cleanup = () => {
        signal?.removeEventListener('abort', onAbort);
        if (timer) clearTimeout(timer);
      };
      this.queue.push(entry);
      this.observer.onQueueDepth?.(this.queue.length);

      // Through a promise, so a prepare() that throws synchronously still leaves the queue.
      Promise.resolve().then(prepare).then(
        (input) => {
          if (!this.queue.includes(entry)) return; // cancelled or expired while decoding
          if (input.length !== this.inputSize) {
            leave(new Error(`prepared input has ${input.length} values, the engine takes ${this.inputSize}`));
            return;
          }
          entry.input = input;
          entry.readyAt = performance.now();
          entry.prepareMs = entry.readyAt - entry.admittedAt;
          this.dispatch();
        },
        (error) => leave(error),
      );
    });
  }

  /** Resolves once nothing is queued or running (new work may still be admitted: stop admitting first). */
  whenIdle(): Promise<void> {
    if (this.queue.length === 0 && this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private remove(entry: Entry): boolean {
    const index = this.queue.indexOf(entry);
    if (index < 0) return false;
    this.queue.splice(index, 1);
    entry.cleanup();
    this.observer.onQueueDepth?.(this.queue.length);
    this.notifyIfIdle();
    return true;
  }

  private dispatch(): void {
    while (this.running < this.options.maxConcurrency) {
      const ready = this.queue.filter((e) => e.input !== undefined);
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
      this.start(ready.slice(0, maxBatch));
    }
  }

  /** Runs whatever is ready now, however small the batch (the batch wait has passed). */
  private flush(): void {
    while (this.running < this.options.maxConcurrency) {
      const ready = this.queue.filter((e) => e.input !== undefined);
      if (ready.length === 0) return;
      this.start(ready.slice(0, this.options.maxBatch));
    }
  }

  private start(batch: Entry[]): void {
    for (const entry of batch) {
      this.queue.splice(this.queue.indexOf(entry), 1);
      entry.cleanup();
    }
    this.running++;
    this.observer.onQueueDepth?.(this.queue.length);
    this.observer.onInFlight?.(this.running);
    this.observer.onBatch?.(batch.length);

    const startedAt = performance.now();
    const input = batch.length === 1 ? batch[0]!.input! : concat(batch.map((e) => e.input!), this.inputSize);
    this.runBatch(input, batch.length).then(
      (output) => {
        const inferenceMs = performance.now() - startedAt;
        batch.forEach((entry, i) => entry.resolve({
          probabilities: output.subarray(i * this.outputSize, (i + 1) * this.outputSize),
          prepareMs: entry.prepareMs,
          queueMs: startedAt - entry.readyAt,
          inferenceMs,
          batchSize: batch.length,
        }));
      },
      (error) => batch.forEach((entry) => entry.reject(error)),
    ).finally(() => {
      this.running--;
      this.observer.onInFlight?.(this.running);
      this.dispatch();
      this.notifyIfIdle();
    });
  }

  private notifyIfIdle(): void {
    if (this.queue.length > 0 || this.running > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

function concat(parts: Float32Array[], size: number): Float32Array {
  const out = new Float32Array(parts.length * size);
  parts.forEach((part, i) => out.set(part, i * size));
  return out;
}

function abortError(signal: AbortSignal): ServiceError {
  return signal.reason instanceof ServiceError ? signal.reason : new ServiceError(Code.CANCELLED, 'request cancelled by the caller');
}

function deadlineError(): ServiceError {
  return new ServiceError(Code.DEADLINE_EXCEEDED, 'deadline exceeded while waiting for an inference slot');
}
