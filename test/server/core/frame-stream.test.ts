/**
 * The frame stream's policies on their own, with a predictor whose predictions finish when the test says (the stream's
 * injection point, as the engine function is the scheduler's): order, per-frame errors, backpressure, "latest", the
 * call's cancellation and the server's shutdown, checked exactly and fast. test/server/transport/grpc/predict-stream
 * and test/server/lifecycle run the same through the real server.
 */
import { describe, expect, it } from 'vitest';
import { callSignal } from '../../../src/server/core/call-signal.js';
import {
  DRAIN_ERROR_MESSAGE,
  LATEST_REPLACEMENTS_PER_RUN,
  processFrames,
  type FrameAnswer,
  type FrameStreamOptions,
  type Predictor,
} from '../../../src/server/core/frame-stream.js';
import type { CallContext, Prediction, PredictInput } from '../../../src/server/core/model-service.js';
import { Code, ServiceError } from '../../../src/server/errors.js';
import { waitFor } from '../../support/poll.js';

interface PendingPrediction {
  readonly id: string;
  readonly context: CallContext;
  resolve(): void;
  reject(error: unknown): void;
}

/** Predictions that finish when the test says; like the scheduler, one whose call ends fails with the signal's reason. */
function controlledPredictor() {
  const calls: PendingPrediction[] = [];
  const predictor: Predictor = {
    predict: (input, context) =>
      new Promise<Prediction>((resolve, reject) => {
        calls.push({ id: input.id, context, resolve: () => resolve(prediction(input.id)), reject });
        context.signal?.addEventListener('abort', () => reject(context.signal!.reason), { once: true });
      }),
  };
  const call = (id: string) => calls.find((c) => c.id === id)!;
  return { predictor, calls, call, ids: () => calls.map((c) => c.id) };
}

function prediction(id: string): Prediction {
  return {
    id,
    outputs: [],
    processingTime: 0,
    timestamp: new Date(0),
    model: { id: 'model', name: 'model' },
    timings: { prepareMs: 0, queueMs: 0, inferenceMs: 0 },
  };
}

/**
 * Frames the test sends; a read waits for the next one (as a client's stream does). Counts the reads and whether the
 * stream let go of it.
 */
function frameSource() {
  const queued: PredictInput[] = [];
  let waiting: ((result: IteratorResult<PredictInput>) => void) | undefined;
  let ended = false;
  const state = { reads: 0, returned: false };
  const iterator: AsyncIterator<PredictInput> = {
    next: () => {
      state.reads++;
      const frame = queued.shift();
      if (frame) return Promise.resolve({ value: frame, done: false });
      if (ended) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => {
        waiting = resolve;
      });
    },
    // As an async generator's: it waits behind a read in progress.
    return: () => {
      state.returned = true;
      const done = { value: undefined, done: true } as const;
      return waiting
        ? new Promise((resolve) => {
            const read = waiting!;
            waiting = (result) => {
              read(result);
              resolve(done);
            };
          })
        : Promise.resolve(done);
    },
  };
  const deliver = (result: IteratorResult<PredictInput>) => {
    const wake = waiting;
    waiting = undefined;
    wake?.(result);
    return wake !== undefined;
  };
  return {
    state,
    frames: { [Symbol.asyncIterator]: () => iterator } as AsyncIterable<PredictInput>,
    send(...ids: string[]) {
      for (const id of ids) if (!deliver({ value: { id, topK: 1 }, done: false })) queued.push({ id, topK: 1 });
    },
    end() {
      ended = true;
      deliver({ value: undefined, done: true });
    },
  };
}

/** A gauge that remembers its highest value. */
function gauge() {
  const g = {
    value: 0,
    max: 0,
    inc: (n = 1) => {
      g.value += n;
      g.max = Math.max(g.max, g.value);
    },
    dec: (n = 1) => {
      g.value -= n;
    },
  };
  return g;
}

/** Reads the answers as they come; `ended` resolves with the error the stream ended with, if any. */
function consume(answers: AsyncGenerator<FrameAnswer>) {
  const received: FrameAnswer[] = [];
  const ended = (async () => {
    for await (const answer of answers) received.push(answer);
  })().then(
    () => undefined,
    (error: unknown) => error,
  );
  return { received, ended };
}

/** Lets every promise chain that can settle now settle (one turn of the event loop): a fact checked after it is stable. */
const settled = () => new Promise((resolve) => setImmediate(resolve));

const summary = (answers: FrameAnswer[]) => answers.map((a) => (a.error ? [a.id, Code[a.error.code]] : [a.id, 'OK']));

function stream(options: Partial<FrameStreamOptions> & { signal?: AbortSignal } = {}) {
  const predictor = controlledPredictor();
  const source = frameSource();
  const gauges = { inFlight: gauge(), working: gauge() };
  const answers = processFrames(predictor.predictor, source.frames, {
    maxInFlight: 4,
    policy: 'all',
    signal: new AbortController().signal,
    gauges,
    ...options,
  });
  return { ...predictor, source, gauges, answers };
}

describe('processFrames', () => {
  it('answers every frame once, in frame order, whatever order their predictions finish in', async () => {
    const s = stream();
    const out = consume(s.answers);
    s.source.send('a', 'b', 'c');
    await waitFor(() => s.calls.length === 3, 2000, 'three predictions');
    for (const id of ['c', 'a', 'b']) s.call(id).resolve();
    s.source.end();
    expect(await out.ended).toBeUndefined();
    expect(summary(out.received)).toEqual([
      ['a', 'OK'],
      ['b', 'OK'],
      ['c', 'OK'],
    ]);
    expect([s.gauges.inFlight.value, s.gauges.working.value]).toEqual([0, 0]);
  });

  it('answers a failed frame with its error, a fault as INTERNAL, and goes on with the next ones', async () => {
    const s = stream();
    const out = consume(s.answers);
    s.source.send('bad', 'broken', 'good');
    await waitFor(() => s.calls.length === 3, 2000, 'three predictions');
    s.call('bad').reject(new ServiceError(Code.INVALID_ARGUMENT, 'not an image'));
    s.call('broken').reject(new TypeError('a bug'));
    s.call('good').resolve();
    s.source.end();
    expect(await out.ended).toBeUndefined();
    expect(summary(out.received)).toEqual([
      ['bad', 'INVALID_ARGUMENT'],
      ['broken', 'INTERNAL'],
      ['good', 'OK'],
    ]);
    expect(out.received[0]!.error!.message).toBe('not an image');
  });

  it('"all": reads no further than maxInFlight frames not yet handed on, and one more for each answer taken', async () => {
    const s = stream({ maxInFlight: 2 });
    s.source.send(...Array.from({ length: 10 }, (_, i) => `f${i}`));
    const first = s.answers.next();
    await waitFor(() => s.calls.length >= 2, 2000, 'two predictions');
    await settled();
    expect([s.source.state.reads, s.calls.length, s.gauges.inFlight.value]).toEqual([2, 2, 2]);

    s.call('f0').resolve();
    expect((await first).value).toMatchObject({ id: 'f0' });
    await waitFor(() => s.calls.length >= 3, 2000, 'a third prediction');
    await settled();
    expect([s.source.state.reads, s.gauges.inFlight.max]).toEqual([3, 2]);
    await s.answers.return();
  });

  it('"latest": one frame at work and the newest prepared behind it; a newer frame replaces the prepared one (twice per run, then the undecoded one), each replaced frame answered ABORTED at once', async () => {
    expect(LATEST_REPLACEMENTS_PER_RUN).toBe(2);
    const s = stream({ policy: 'latest', maxInFlight: 1 });
    const out = consume(s.answers);
    s.source.send('f0', 'f1', 'f2', 'f3');
    await waitFor(() => s.source.state.reads === 5, 2000, 'every frame read');
    await settled();
    // f0 at work; f1, then f2 prepared behind it and replaced; f3 prepared to run after f0's answer.
    expect(s.ids()).toEqual(['f0', 'f1', 'f2', 'f3']);
    expect(s.call('f0').context.after).toBeUndefined();
    expect([s.call('f1'), s.call('f2')].map((c) => c.context.signal!.aborted)).toEqual([true, true]);
    const gate = s.call('f3').context.after!;
    let gateOpen = false;
    void gate.then(() => {
      gateOpen = true;
    });
    expect(summary(out.received)).toEqual([]);
    await settled();
    expect(gateOpen).toBe(false);

    // No replacements left in this run: f4 waits undecoded, f5 replaces it, no work on f4.
    s.source.send('f4', 'f5');
    await waitFor(() => s.source.state.reads === 7, 2000, 'f4 and f5 read');
    await settled();
    expect(s.ids()).toEqual(['f0', 'f1', 'f2', 'f3']);

    s.call('f0').resolve();
    await waitFor(() => s.calls.length === 5, 2000, 'the waiting frame started');
    await settled();
    expect(gateOpen).toBe(true);
    expect(s.ids()).toEqual(['f0', 'f1', 'f2', 'f3', 'f5']);
    expect(s.call('f5').context.after).toBeDefined();
    // f3 in the engine now: a new run, so f6 replaces f5, prepared behind f3.
    s.source.send('f6');
    await waitFor(() => s.calls.length === 6, 2000, 'f6 started');
    expect(s.call('f5').context.signal!.aborted).toBe(true);
    s.call('f3').resolve();
    s.call('f6').resolve();
    s.source.end();
    expect(await out.ended).toBeUndefined();
    expect(summary(out.received)).toEqual([
      ['f0', 'OK'],
      ['f1', 'ABORTED'],
      ['f2', 'ABORTED'],
      ['f3', 'OK'],
      ['f4', 'ABORTED'],
      ['f5', 'ABORTED'],
      ['f6', 'OK'],
    ]);
    for (const dropped of [1, 2, 4, 5]) {
      expect(out.received[dropped]!.error!.message).toMatch(/dropped: a newer frame arrived/);
    }
    // One in the engine, one prepared behind it, and a replaced one until its answer is out.
    expect(s.gauges.working.max).toBe(3);
    expect([s.gauges.inFlight.value, s.gauges.working.value]).toEqual([0, 0]);
  });

  it('a cancelled call stops its frames at work, answers them with the reason, and ends without waiting for another frame', async () => {
    const cancelled = new AbortController();
    const call = callSignal({ cancelled: cancelled.signal });
    const s = stream({ signal: call.signal });
    const out = consume(s.answers);
    s.source.send('a', 'b');
    await waitFor(() => s.calls.length === 2, 2000, 'two predictions');
    s.call('a').resolve();
    cancelled.abort();
    expect(await out.ended).toBeUndefined();
    expect(summary(out.received)).toEqual([
      ['a', 'OK'],
      ['b', 'CANCELLED'],
    ]);
    expect(s.call('b').context.signal!.aborted).toBe(true);
    expect(s.source.state.returned).toBe(true);
    expect([s.gauges.inFlight.value, s.gauges.working.value]).toEqual([0, 0]);
  });

  it('on shutdown reads no more, answers every frame read, then ends UNAVAILABLE, though the client sends nothing more', async () => {
    const shutdown = new AbortController();
    const call = callSignal({ shutdown: shutdown.signal });
    const s = stream({ signal: call.signal });
    const out = consume(s.answers);
    s.source.send('a', 'b');
    await waitFor(() => s.calls.length === 2, 2000, 'two predictions');
    shutdown.abort();
    await settled();
    // The frames read go on: shutdown is no cancellation.
    expect(s.calls.map((c) => c.context.signal!.aborted)).toEqual([false, false]);
    expect(s.source.state.returned).toBe(true);
    s.call('b').resolve();
    s.call('a').resolve();
    const error = await out.ended;
    expect(error).toBeInstanceOf(ServiceError);
    expect(error).toMatchObject({ code: Code.UNAVAILABLE, message: DRAIN_ERROR_MESSAGE });
    expect(summary(out.received)).toEqual([
      ['a', 'OK'],
      ['b', 'OK'],
    ]);
    expect(s.ids()).toEqual(['a', 'b']);
  });
});
