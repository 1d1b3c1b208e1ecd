/**
 * The scheduler on its own, with a small engine function standing in for the model (the scheduler's injection point,
 * not a library mock): batching, admission, deadlines, cancellation and idleness, checked exactly.
 */
import { describe, expect, it } from 'vitest';
import { Code, ServiceError } from '../../../src/server/errors.js';
import { Scheduler, type RunBatch, type SchedulerOptions } from '../../../src/server/scheduler/scheduler.js';
import { waitFor } from '../../support/server.js';

const INPUT = 4;
const OUTPUT = 2;

/** An engine whose output row i is [sum of input i, batch size], and whose runs finish when the test says. */
function controllableEngine() {
  const runs: { batch: number; finish(): void }[] = [];
  const run: RunBatch = (input, batch) => new Promise((resolve) => {
    const output = new Float32Array(batch * OUTPUT);
    for (let i = 0; i < batch; i++) {
      let sum = 0;
      for (let j = 0; j < INPUT; j++) sum += input[i * INPUT + j]!;
      output[i * OUTPUT] = sum;
      output[i * OUTPUT + 1] = batch;
    }
    runs.push({ batch, finish: () => resolve(output) });
  });
  return { run, runs };
}

const options = (overrides: Partial<SchedulerOptions> = {}): SchedulerOptions =>
  ({ maxConcurrency: 1, maxQueue: 8, maxBatch: 1, batchWaitMs: 0, ...overrides });
const image = (value: number) => async () => new Float32Array(INPUT).fill(value);

describe('Scheduler', () => {
  it('runs one request at a time in arrival order with maxConcurrency 1', async () => {
    const engine = controllableEngine();
    const scheduler = new Scheduler(engine.run, INPUT, OUTPUT, options());
    const results = [1, 2, 3].map((v) => scheduler.submit(image(v)));
    await waitFor(() => engine.runs.length === 1, 2000, 'first run');
    expect(scheduler.inFlight).toBe(1);
    expect(scheduler.queueDepth).toBe(2);
    for (let i = 0; i < 3; i++) {
      await waitFor(() => engine.runs.length === i + 1, 2000, `run ${i + 1}`);
      engine.runs[i]!.finish();
    }
    const sums = (await Promise.all(results)).map((r) => r.probabilities[0]);
    expect(sums).toEqual([4, 8, 12]);
    await scheduler.whenIdle();
  });

  it('batches up to maxBatch ready requests into one run and splits the answers back', async () => {
    const engine = controllableEngine();
    const scheduler = new Scheduler(engine.run, INPUT, OUTPUT, options({ maxBatch: 4, batchWaitMs: 50 }));
    const results = [1, 2, 3, 4, 5].map((v) => scheduler.submit(image(v)));
    await waitFor(() => engine.runs.length === 1, 2000, 'a batch');
    expect(engine.runs[0]!.batch).toBe(4);
    engine.runs[0]!.finish();
    await waitFor(() => engine.runs.length === 2, 2000, 'the rest, after the batch wait');
    expect(engine.runs[1]!.batch).toBe(1);
    engine.runs[1]!.finish();
    const answers = await Promise.all(results);
    expect(answers.map((a) => [a.probabilities[0], a.batchSize])).toEqual([[4, 4], [8, 4], [12, 4], [16, 4], [20, 1]]);
  });

  it('refuses at once with RESOURCE_EXHAUSTED when the queue is full', async () => {
    const engine = controllableEngine();
    const scheduler = new Scheduler(engine.run, INPUT, OUTPUT, options({ maxQueue: 1 }));
    const first = scheduler.submit(image(1));
    await waitFor(() => engine.runs.length === 1, 2000, 'first run');
    const queued = scheduler.submit(image(2));
    await expect(scheduler.submit(image(3))).rejects.toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
    engine.runs[0]!.finish();
    await waitFor(() => engine.runs.length === 2, 2000, 'second run');
    engine.runs[1]!.finish();
    await expect(Promise.all([first, queued])).resolves.toHaveLength(2);
  });

  it('drops queued requests whose deadline passes or whose caller aborts, without running them', async () => {
    const engine = controllableEngine();
    const scheduler = new Scheduler(engine.run, INPUT, OUTPUT, options());
    const running = scheduler.submit(image(1));
    await waitFor(() => engine.runs.length === 1, 2000, 'first run');
    const expiring = scheduler.submit(image(2), { deadline: Date.now() + 20 });
    const controller = new AbortController();
    const aborted = scheduler.submit(image(3), { signal: controller.signal }).catch((error: unknown) => error);
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
    const scheduler = new Scheduler(engine.run, INPUT, OUTPUT, options());
    const bad = scheduler.submit(async () => { throw new ServiceError(Code.INVALID_ARGUMENT, 'not an image'); });
    await expect(bad).rejects.toMatchObject({ code: Code.INVALID_ARGUMENT });
    const good = scheduler.submit(image(2));
    await waitFor(() => engine.runs.length === 1, 2000, 'run');
    engine.runs[0]!.finish();
    expect((await good).probabilities[0]).toBe(8);
    expect(engine.runs).toHaveLength(1);
  });
});
