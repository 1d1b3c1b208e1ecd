/**
 * Several supervised workers serving one engine (`--engine-instances`, Triton's instance count): each holds its own
 * copy of the model and runs it with the engine's threads, so as many runs go at once as there are workers. On 2 cores,
 * two workers of 1 thread served 13–19% more calls a second to 16 callers than one of 2 threads (a run's threads wait
 * for each other at every operator), but a lone request takes almost twice as long, and each worker holds ~300 MiB
 * more: an option for a replica kept busy by many callers, not for the lowest latency.
 *
 * A run goes to the worker with the fewest runs in progress, a worker that is up before one being replaced. Health is
 * the engine's as a whole: down from any worker's fault until every worker is up again, and given up on (every run
 * refused) as soon as any worker is.
 */
import type { EngineHealthEvents } from './engine.js';
import type { SupervisedWorker } from './supervised-worker.js';
import type { TensorSlab } from './tensor-slab.js';
import type { ReadyReply } from './worker-client.js';

export class EngineInstances {
  /** Runs in progress on each worker. */
  private readonly running: number[];

  private constructor(
    private readonly workers: readonly SupervisedWorker[],
    /** Set when a worker was given up on: the engine refuses every run from then on. */
    private readonly state: { gaveUp?: Error },
  ) {
    this.running = workers.map(() => 0);
  }

  /**
   * Starts `count` workers at once with `startOne`, each told its own events, which become the engine's `health`; if
   * one fails to start, those that did are closed and its error is thrown.
   */
  static async start(
    count: number,
    health: EngineHealthEvents,
    startOne: (health: EngineHealthEvents) => Promise<SupervisedWorker>,
  ): Promise<EngineInstances> {
    if (!Number.isInteger(count) || count < 1) throw new Error(`instances must be a positive integer, got ${count}`);
    const state: { gaveUp?: Error } = {};
    const down = new Set<number>();
    const events = (instance: number): EngineHealthEvents => ({
      onFault: (error) => {
        down.add(instance);
        health.onFault?.(error);
      },
      onRestarted: () => {
        down.delete(instance);
        if (down.size === 0) health.onRestarted?.();
      },
      onGaveUp: (error) => {
        state.gaveUp ??= error;
        health.onGaveUp?.(error);
      },
    });
    const started = await Promise.allSettled(Array.from({ length: count }, (_, i) => startOne(events(i))));
    const workers = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) {
      await Promise.all(workers.map((worker) => worker.close()));
      throw failed.reason;
    }
    return new EngineInstances(workers, state);
  }

  /** What the first worker reported (every worker runs the same model on the same backend). */
  get ready(): ReadyReply {
    return this.workers[0]!.ready;
  }

  get count(): number {
    return this.workers.length;
  }

  run(slabs: readonly TensorSlab[]): Promise<void> {
    if (this.state.gaveUp) return Promise.reject(this.state.gaveUp);
    const instance = this.leastBusy();
    this.running[instance]!++;
    return this.workers[instance]!.run(slabs).finally(() => {
      this.running[instance]!--;
    });
  }

  close(): Promise<void> {
    return Promise.all(this.workers.map((worker) => worker.close())).then(() => {});
  }

  /** The worker with the fewest runs in progress, up ones first; the first of equals. */
  private leastBusy(): number {
    let best = 0;
    for (let i = 1; i < this.workers.length; i++) {
      const [candidate, current] = [this.workers[i]!, this.workers[best]!];
      if (candidate.up !== current.up ? candidate.up : this.running[i]! < this.running[best]!) best = i;
    }
    return best;
  }
}
