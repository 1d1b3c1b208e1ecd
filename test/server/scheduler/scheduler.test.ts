/**
 * The scheduler on its own, with a small engine function standing in for the model (the scheduler's injection point,
 * not a library mock): batching, admission, deadlines, cancellation and idleness, checked exactly.
 */
import { describe, expect, it } from 'vitest';
import { callSignal } from '../../../src/server/core/call-signal.js';
import { Code, ServiceError } from '../../../src/server/errors.js';
import type { TensorSlab } from '../../../src/server/engine/tensor-slab.js';
import { Scheduler, type SchedulerEngine, type SchedulerOptions } from '../../../src/server/scheduler/scheduler.js';
import { waitFor } from '../../support/poll.js';

const INPUT = 4;
const OUTPUT = 2;

/** An engine whose output for each image is [sum of its input, batch size], and whose runs finish when the test says. */
function controllableEngine() {
  const runs: { batch: number; finish(): void }[] = [];
  const engine: SchedulerEngine = {
    inputSize: INPUT,
    outputSize: OUTPUT,
    run: (slabs: readonly TensorSlab[]) =>
      new Promise<void>((resolve) => {
        runs.push({
          batch: slabs.length,
          finish: () => {
            for (const slab of slabs) {
              slab.output[0] = slab.input.reduce((a, b) => a + b, 0);
              slab.output[1] = slabs.length;
            }
            resolve();
          },
        });
      }),
  };
  return { engine, runs };
}

const options = (overrides: Partial<SchedulerOptions> = {}): SchedulerOptions => ({
  maxConcurrency: 1,
  maxQueue: 8,
  maxBatch: 1,
  batchWaitMs: 0,
  ...overrides,
});
const image = (value: number) => async (tensor: Float32Array) => tensor.fill(value);
/** Keeps the answer: the slab it was read from goes back to the pool. */
const copy = (probabilities: Float32Array) => Array.from(probabilities);

describe('Scheduler', () => {
  it('runs one request at a time in arrival order with maxConcurrency 1', async () => {
    const engine = controllableEngine();
    const scheduler = new Scheduler(engine.engine, options());
    const results = [1, 2, 3].map((v) => scheduler.submit(image(v), copy));
    await waitFor(() => engine.runs.length === 1, 2000, 'first run');
    expect(scheduler.inFlight).toBe(1);
    expect(scheduler.queueDepth).toBe(2);
    for (let i = 0; i < 3; i++) {
      await waitFor(() => engine.runs.length === i + 1, 2000, `run ${i + 1}`);
      engine.runs[i]!.finish();
    }
    const sums = (await Promise.all(results)).map((r) => r.value[0]);
    expect(sums).toEqual([4, 8, 12]);
    await scheduler.whenIdle();
  });

  it('batches up to maxBatch ready requests into one run and splits the answers back', async () => {
    const engine = controllableEngine();
    const scheduler = new Scheduler(engine.engine, options({ maxBatch: 4, batchWaitMs: 50 }));
    const results = [1, 2, 3, 4, 5].map((v) => scheduler.submit(image(v), copy));
    await waitFor(() => engine.runs.length === 1, 2000, 'a batch');
    expect(engine.runs[0]!.batch).toBe(4);
    engine.runs[0]!.finish();
    await waitFor(() => engine.runs.length === 2, 2000, 'the rest, after the batch wait');
    expect(engine.runs[1]!.batch).toBe(1);
    engine.runs[1]!.finish();
    const answers = await Promise.all(results);
    expect(answers.map((a) => [a.value[0], a.batchSize])).toEqual([
      [4, 4],
      [8, 4],
      [12, 4],
      [16, 4],
      [20, 1],
    ]);
  });

  it('refuses at once with RESOURCE_EXHAUSTED when the queue is full', async () => {
    const engine = controllableEngine();
    const scheduler = new Scheduler(engine.engine, options({ maxQueue: 1 }));
    const first = scheduler.submit(image(1), copy);
    await waitFor(() => engine.runs.length === 1, 2000, 'first run');
    const queued = scheduler.submit(image(2), copy);
    await expect(scheduler.submit(image(3), copy)).rejects.toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
    engine.runs[0]!.finish();
    await waitFor(() => engine.runs.length === 2, 2000, 'second run');
    engine.runs[1]!.finish();
    await expect(Promise.all([first, queued])).resolves.toHaveLength(2);
  });

  it('with no queue (maxQueue 0) serves a free slot and refuses what would have to wait', async () => {
    const engine = controllableEngine();
    const scheduler = new Scheduler(engine.engine, options({ maxQueue: 0 }));
    const first = scheduler.submit(image(1), copy);
    await expect(scheduler.submit(image(2), copy)).rejects.toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
    await waitFor(() => engine.runs.length === 1, 2000, 'first run');
    await expect(scheduler.submit(image(3), copy)).rejects.toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
    engine.runs[0]!.finish();
    expect((await first).value[0]).toBe(4);
    await waitFor(() => scheduler.inFlight === 0, 2000, 'the slot to be free');
    const next = scheduler.submit(image(4), copy);
    await waitFor(() => engine.runs.length === 2, 2000, 'second run');
    engine.runs[1]!.finish();
    expect((await next).value[0]).toBe(16);
  });

  it('drops queued requests whose deadline passes or whose caller aborts, without running them', async () => {
    const engine = controllableEngine();
    const scheduler = new Scheduler(engine.engine, options());
    const running = scheduler.submit(image(1), copy);
    await waitFor(() => engine.runs.length === 1, 2000, 'first run');
    const expiring = scheduler.submit(image(2), copy, { signal: callSignal({ deadline: Date.now() + 20 }).signal });
    const controller = new AbortController();
    const aborted = scheduler.submit(image(3), copy, { signal: controller.signal }).catch((error: unknown) => error);
    controller.abort(new ServiceError(Code.ABORTED, 'dropped'));
    expect(await aborted).toMatchObject({ code: Code.ABORTED, message: 'dropped' });
    await expect(expiring).rejects.toMatchObject({ code: Code.DEADLINE_EXCEEDED });
    expect(scheduler.queueDepth).toBe(0);
    engine.runs[0]!.finish();
    await running;
    await scheduler.whenIdle();
    expect(engine.runs).toHaveLength(1);
  });

  it('passes a failed preparation (a bad image) to its caller and goes on', async () => {
    const engine = controllableEngine();
    const scheduler = new Scheduler(engine.engine, options());
    const bad = scheduler.submit(async () => {
      throw new ServiceError(Code.INVALID_ARGUMENT, 'not an image');
    }, copy);
    await expect(bad).rejects.toMatchObject({ code: Code.INVALID_ARGUMENT });
    const good = scheduler.submit(image(2), copy);
    await waitFor(() => engine.runs.length === 1, 2000, 'run');
    engine.runs[0]!.finish();
    expect((await good).value[0]).toBe(8);
    expect(engine.runs).toHaveLength(1);
  });

  it('reuses tensor slabs: once warm, more requests allocate none', async () => {
    const engine = controllableEngine();
    const scheduler = new Scheduler(engine.engine, options({ maxQueue: 4 }));
    const round = async (values: number[]) => {
      const results = values.map((v) => scheduler.submit(image(v), copy));
      for (let i = 0; i < values.length; i++) {
        await waitFor(() => engine.runs.length > 0, 2000, 'a run');
        engine.runs.shift()!.finish();
      }
      return (await Promise.all(results)).map((r) => r.value[0]);
    };
    expect(await round([1, 2, 3])).toEqual([4, 8, 12]);
    const warm = scheduler.slabsCreated;
    expect(warm).toBe(3);
    for (let i = 0; i < 5; i++) expect(await round([4, 5, 6])).toEqual([16, 20, 24]);
    // A request cancelled while it is prepared gives its slab back too, once the preparation is done with it.
    const controller = new AbortController();
    let finishPrepare!: () => void;
    const cancelled = scheduler
      .submit(
        (tensor) =>
          new Promise<void>((resolve) => {
            finishPrepare = () => {
              tensor.fill(9);
              resolve();
            };
          }),
        copy,
        { signal: controller.signal },
      )
      .catch((error: unknown) => error);
    controller.abort();
    expect(await cancelled).toMatchObject({ code: Code.CANCELLED });
    expect(scheduler.slabsInUse).toBe(1);
    finishPrepare();
    await waitFor(() => scheduler.slabsInUse === 0, 2000, 'the cancelled request to give its slab back');
    expect(await round([7, 8, 9])).toEqual([28, 32, 36]);
    expect(scheduler.slabsCreated).toBe(warm);
  });

  it('gives a slab back once when a request waiting behind another is cancelled', async () => {
    const engine = controllableEngine();
    const scheduler = new Scheduler(engine.engine, options());
    const running = scheduler.submit(image(1), copy);
    await waitFor(() => engine.runs.length === 1, 2000, 'first run');
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const controller = new AbortController();
    let prepared = false;
    const waiting = scheduler
      .submit(
        async (tensor) => {
          tensor.fill(2);
          prepared = true;
        },
        copy,
        { signal: controller.signal, after: gate },
      )
      .catch((error: unknown) => error);
    await waitFor(() => prepared, 2000, 'the second request to be prepared');
    controller.abort();
    expect(await waiting).toMatchObject({ code: Code.CANCELLED });
    open();
    engine.runs[0]!.finish();
    await running;
    await waitFor(() => scheduler.inFlight === 0, 2000, 'the first run to end');
    expect(scheduler.slabsInUse).toBe(0);
    // Two requests at once get two different slabs.
    const both = [3, 4].map((v) => scheduler.submit(image(v), copy));
    for (let i = 1; i <= 2; i++) {
      await waitFor(() => engine.runs.length === i + 1, 2000, `run ${i + 1}`);
      engine.runs[i]!.finish();
    }
    expect((await Promise.all(both)).map((r) => r.value[0])).toEqual([12, 16]);
    expect(scheduler.slabsInUse).toBe(0);
  });
});

describe('Scheduler.useEngine (weights reload)', () => {
  it('runs requests on the engine current at their admission, and lets the old one go after its last run', async () => {
    const old = controllableEngine();
    const next = controllableEngine();
    const scheduler = new Scheduler(old.engine, options({ maxBatch: 4 }));
    const before = [1, 2].map((v) => scheduler.submit(image(v), copy));
    await waitFor(() => old.runs.length === 1, 2000, 'first old run');
    let retired = false;
    const switched = scheduler.useEngine(next.engine).then(() => {
      retired = true;
    });
    const after = [3, 4].map((v) => scheduler.submit(image(v), copy));

    // The second request admitted before the switch still runs on the old engine, and not batched with newer ones.
    old.runs[0]!.finish();
    await waitFor(() => old.runs.length === 2, 2000, 'second old run');
    expect(old.runs[1]!.batch).toBe(1);
    expect(next.runs.length).toBe(0);
    expect(retired).toBe(false);
    old.runs[1]!.finish();
    await switched;
    expect((await Promise.all(before)).map((r) => r.value[0])).toEqual([INPUT * 1, INPUT * 2]);

    await waitFor(() => next.runs.length === 1, 2000, 'new engine run');
    expect(next.runs[0]!.batch).toBe(2);
    next.runs[0]!.finish();
    expect((await Promise.all(after)).map((r) => r.value[0])).toEqual([INPUT * 3, INPUT * 4]);
    expect(old.runs.length).toBe(2);
  });

  it('lets an idle engine go at once, counts requests that left the queue, and refuses other tensor sizes', async () => {
    const old = controllableEngine();
    const scheduler = new Scheduler(old.engine, options());
    const first = scheduler.submit(image(1), copy);
    const abort = new AbortController();
    const cancelled = scheduler.submit(image(2), copy, { signal: abort.signal });
    await waitFor(() => old.runs.length === 1, 2000, 'first run');
    const next = controllableEngine();
    let retired = false;
    const switched = scheduler.useEngine(next.engine).then(() => {
      retired = true;
    });
    abort.abort();
    await expect(cancelled).rejects.toMatchObject({ code: Code.CANCELLED });
    expect(retired).toBe(false);
    old.runs[0]!.finish();
    await first;
    await switched;
    await expect(scheduler.useEngine(controllableEngine().engine)).resolves.toBeUndefined();
    expect(() => scheduler.useEngine({ ...next.engine, inputSize: INPUT + 1 })).toThrow(/differ from the running one/);
  });
});
