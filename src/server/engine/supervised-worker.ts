/**
 * Keeps an engine's worker serving, the same for every engine. When the worker fails (it dies, or a run throws in it)
 * the runs in progress fail with its EngineFaultError, and a fresh worker is started from the same workerData: the
 * compiled model kept in memory, so a restart reads no weights and compiles nothing. Runs submitted meanwhile wait for
 * it. A fresh worker that fails to start is one more fault; after `maxFaults` faults within `faultWindowMs` the engine
 * gives up: no more restarts, and every waiting and later run fails with an EngineFaultError saying so.
 */
import { imageSize, type Architecture } from '../model/architecture.js';
import type { Engine, EngineHealthEvents } from './engine.js';
import { EngineFaultError } from './engine-fault.js';
import { EngineInstances } from './engine-instances.js';
import type { TensorSlab } from './tensor-slab.js';
import { WorkerClient, type ReadyReply, type WorkerClientOptions } from './worker-client.js';

export interface SupervisedWorkerOptions extends Omit<WorkerClientOptions, 'onFailure' | 'signal'> {
  readonly health?: EngineHealthEvents;
  /** Faults within the window that end the restarts (the one that reaches it is not restarted). */
  readonly maxFaults?: number;
  readonly faultWindowMs?: number;
}

export const DEFAULT_MAX_FAULTS = 3;
export const DEFAULT_FAULT_WINDOW_MS = 60_000;

/**
 * An Engine serving `arch` from `instances` supervised workers (engine-instances.ts; one by default); `backendNote` is
 * appended to the backend's description.
 */
export async function startSupervisedEngine(
  arch: Architecture,
  { instances = 1, health = {}, ...options }: SupervisedWorkerOptions & { readonly instances?: number },
  backendNote?: string,
): Promise<Engine> {
  const workers = await EngineInstances.start(instances, health, (events) =>
    SupervisedWorker.start({ ...options, health: events }),
  );
  const { backend, threads } = workers.ready;
  return {
    info: {
      engine: options.engine,
      backend: backendNote === undefined ? backend : `${backend} (${backendNote})`,
      threads,
      instances: workers.count,
    },
    inputSize: imageSize(arch),
    outputSize: arch.classes,
    run: (slabs) => workers.run(slabs),
    close: () => workers.close(),
  };
}

interface WaitingRun {
  resolve(client: WorkerClient): void;
  reject(error: Error): void;
}

export class SupervisedWorker {
  /** The worker that takes runs now; undefined while a fresh one starts, after giving up, and once closed. */
  private current: WorkerClient | undefined;
  /** Runs waiting for the fresh worker. */
  private waiting: WaitingRun[] = [];
  /** The start of a fresh worker in progress, for close() to abort and wait for. */
  private restart: { readonly abort: AbortController; readonly done: Promise<void> } | undefined;
  /** When the recent faults happened (performance.now()), oldest first. */
  private readonly faultTimes: number[] = [];
  private gaveUp: EngineFaultError | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    /** How each worker is started: the same for the first and every fresh one. */
    private readonly worker: Omit<WorkerClientOptions, 'onFailure' | 'signal'>,
    private readonly health: EngineHealthEvents,
    private readonly maxFaults: number,
    private readonly faultWindowMs: number,
    /** What the first worker reported; fresh workers run the same model on the same backend. */
    readonly ready: ReadyReply,
  ) {}

  /** Starts the first worker; rejects (starting no other) when it fails to start. */
  static async start(options: SupervisedWorkerOptions): Promise<SupervisedWorker> {
    const { health = {}, maxFaults = DEFAULT_MAX_FAULTS, faultWindowMs = DEFAULT_FAULT_WINDOW_MS, ...worker } = options;
    if (!Number.isInteger(maxFaults) || maxFaults < 1) throw new Error(`maxFaults must be a positive integer`);
    if (!(faultWindowMs > 0)) throw new Error(`faultWindowMs must be positive`);
    let supervisor: SupervisedWorker | undefined;
    const first = await WorkerClient.start({ ...worker, onFailure: (error) => supervisor?.failed(first, error) });
    supervisor = new SupervisedWorker(worker, health, maxFaults, faultWindowMs, first.ready);
    supervisor.current = first;
    return supervisor;
  }

  /** Whether a worker takes runs now (false while a fresh one starts, after giving up, and once closed). */
  get up(): boolean {
    return this.current !== undefined;
  }

  /** Runs on the current worker, or on the fresh one once it is up. */
  async run(slabs: readonly TensorSlab[]): Promise<void> {
    const client = this.current ?? (await this.nextWorker());
    return client.run(slabs);
  }

  /** Ends the worker (and one starting); runs waiting for a fresh worker fail. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const error = new Error(`${this.worker.engine} engine closed while the run waited for a fresh worker`);
      for (const run of this.waiting.splice(0)) run.reject(error);
      const { current, restart } = this;
      this.current = undefined;
      restart?.abort.abort(error);
      await Promise.all([current?.close(), restart?.done]);
    })();
    return this.closing;
  }

  private nextWorker(): Promise<WorkerClient> {
    if (this.closing) return Promise.reject(new Error(`${this.worker.engine} engine is closed`));
    if (this.gaveUp) return Promise.reject(this.gaveUp);
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  /** `client` failed (its runs have failed with `error`): replace it, unless this is one fault too many. */
  private failed(client: WorkerClient, error: EngineFaultError): void {
    if (client !== this.current) return;
    this.current = undefined;
    if (this.recordFault(error)) this.startFresh();
  }

  /**
   * Counts a fault and says whether a fresh worker may follow; tells health which: onFault (a fresh worker follows) or
   * onGaveUp (this fault reached the limit: no more restarts).
   */
  private recordFault(error: EngineFaultError): boolean {
    const now = performance.now();
    this.faultTimes.push(now);
    while (this.faultTimes[0]! <= now - this.faultWindowMs) this.faultTimes.shift();
    if (this.faultTimes.length < this.maxFaults) {
      this.health.onFault?.(error);
      return true;
    }
    const { engine } = this.worker;
    this.gaveUp = new EngineFaultError(
      `the ${engine} engine was given up on: its worker failed ${this.faultTimes.length} times within ` +
        `${this.faultWindowMs / 1000} s (last: ${error.reason}); this server answers no more predictions: retry on another replica`,
      error.reason,
      { cause: error },
    );
    this.health.onGaveUp?.(this.gaveUp);
    for (const run of this.waiting.splice(0)) run.reject(this.gaveUp);
    return false;
  }

  /** Starts fresh workers until one is up, the engine gives up, or it is closed. */
  private startFresh(): void {
    const abort = new AbortController();
    const done = (async () => {
      try {
        await this.startUntilUp(abort.signal);
      } finally {
        if (this.restart?.abort === abort) this.restart = undefined;
      }
    })();
    this.restart = { abort, done };
  }

  private async startUntilUp(signal: AbortSignal): Promise<void> {
    for (;;) {
      let client: WorkerClient;
      try {
        client = await WorkerClient.start({
          ...this.worker,
          signal,
          onFailure: (error) => this.failed(client, error),
        });
      } catch (error) {
        if (this.closing) return;
        // WorkerClient.start says which engine failed to start; its cause says why.
        const why = error instanceof Error && error.cause instanceof Error ? error.cause : (error as Error);
        const reason = `a fresh worker failed to start: ${why.message}`;
        const fault = new EngineFaultError(`the ${this.worker.engine} engine: ${reason}; retry`, reason, {
          cause: error,
        });
        if (this.recordFault(fault)) continue;
        return;
      }
      if (this.closing) {
        // Closed just as it became ready (after the start could still be aborted).
        await client.close();
        return;
      }
      this.current = client;
      this.health.onRestarted?.();
      for (const run of this.waiting.splice(0)) run.resolve(client);
      return;
    }
  }
}
