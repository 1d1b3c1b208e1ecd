/**
 * The serving engine's worker health, from the events its engine reports (engine/engine.ts EngineHealthEvents), as
 * one flag for readiness plus logs and metrics. Each engine built gets its own events; only those of the engine now
 * serving count (one being built for a reload, or one finishing its last runs after it, does not change health).
 */
import type { EngineHealthEvents } from '../engine/engine.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';

export class EngineHealth {
  private built = 0;
  private serving = -1;
  private workerUp = true;

  constructor(
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    /** Called whenever `up` may have changed. */
    private readonly changed: () => void,
  ) {}

  /** Whether the serving engine's worker is up: false from a fault until its replacement is ready, or for good. */
  get up(): boolean {
    return this.workerUp;
  }

  /** Events for an engine about to be built; pass its id to `serve` once it serves. */
  forNewEngine(): { id: number; events: EngineHealthEvents } {
    const id = ++this.built;
    const serving = () => id === this.serving;
    return {
      id,
      events: {
        onFault: (error) => {
          this.metrics.engineFaults.inc();
          this.logger.warn(
            { error: error.message },
            'engine worker failed: the calls of its run were answered UNAVAILABLE; starting a fresh worker',
          );
          if (serving()) this.set(false);
        },
        onRestarted: () => {
          this.metrics.engineRestarts.inc();
          this.logger.info('engine worker restarted from the weights in memory');
          if (serving()) this.set(true);
        },
        onGaveUp: (error) => {
          // The fault that made it give up is reported here alone (onFault means a replacement is coming).
          this.metrics.engineFaults.inc();
          this.logger.error(
            { error: error.message },
            'engine worker keeps failing: no more restarts; NOT_SERVING until this server is replaced',
          );
          if (serving()) this.set(false);
        },
      },
    };
  }

  /** The engine `id` serves from now on (freshly built and warmed: up). */
  serve(id: number): void {
    this.serving = id;
    this.set(true);
  }

  private set(up: boolean): void {
    this.workerUp = up;
    this.metrics.engineUp.set(up ? 1 : 0);
    this.changed();
  }
}
