/**
 * A stream of frames in, one answer per frame out, in frame order: the transport-free half of PredictStream.
 *
 * - Backpressure: at most `maxInFlight` frames of the stream ("latest": LATEST_BACKLOG, below) are read and not yet
 *   handed to the consumer. Past that the reader stops pulling from `frames`, so the transport stops reading the
 *   socket and HTTP/2 flow control slows the sender; memory stays bounded however fast it sends and however slowly it
 *   reads.
 * - Policy "all" answers every frame. Policy "latest" (live video) answers the newest frame it can: one frame of the
 *   stream is in the engine at a time, and the newest frame read meanwhile is prepared behind it, so it starts the
 *   moment the engine frees. A newer frame replaces the one prepared behind (LATEST_REPLACEMENTS_PER_RUN times per
 *   engine run; after that it waits undecoded, and a newer one replaces it); every replaced frame is answered ABORTED
 *   at once. So at most LATEST_REPLACEMENTS_PER_RUN + 1 decodes per inference are spent however fast frames come,
 *   the stream is read as fast as the client sends (up to LATEST_BACKLOG answers waiting their turn), the frame
 *   answered is at most about one frame interval older than the engine's run, and the caller knows exactly which
 *   frames were skipped.
 * - A frame that fails is answered with its error and the stream goes on.
 */
import { Code, ServiceError, toServiceError } from '../errors.js';
import { stoppedByShutdown } from './call-signal.js';
import type { CallTrace } from '../observability/tracing.js';
import type { CallContext, Prediction, PredictInput } from './model-service.js';

export type FramePolicy = 'all' | 'latest';

/** What the stream needs of the service: one prediction per frame (ModelService is one). */
export interface Predictor {
  predict(input: PredictInput, context: CallContext): Promise<Prediction>;
}

export interface FrameStreamOptions {
  readonly maxInFlight: number;
  readonly policy: FramePolicy;
  /**
   * The call's signal (core/call-signal.ts). Cancelled or past its deadline: the frames at work are stopped and
   * answered with its reason. The server's shutdown: no more frames are read, those read are answered, and the stream
   * ends UNAVAILABLE.
   */
  readonly signal: AbortSignal;
  /** The call's trace, when tracing is on: each frame's prediction is recorded in it (a span per frame). */
  readonly trace?: CallTrace;
  /** Called as each frame is answered (metrics): served, failed, or dropped by "latest". */
  readonly onFrame?: (outcome: FrameOutcome) => void;
  /**
   * Where this stream adds its counts (gauges summed over the open streams): `inFlight`, frames read and not yet
   * answered; `working`, those of them being prepared, queued or run.
   */
  readonly gauges?: { readonly inFlight: StreamGauge; readonly working: StreamGauge };
}

/** A count the stream moves up and down (a prom-client Gauge fits). */
export interface StreamGauge {
  inc(value?: number): void;
  dec(value?: number): void;
}

export type FrameAnswer =
  | { readonly id: string; readonly prediction: Prediction; readonly error?: undefined }
  | { readonly id: string; readonly prediction?: undefined; readonly error: ServiceError };

export type FrameOutcome = 'ok' | 'error' | 'dropped';

/** Raised at the end of a stream cut short by a server drain, after every frame read has been answered. */
export const DRAIN_ERROR_MESSAGE =
  'server is shutting down; frames after the last answered one were not read — reconnect to go on';

/**
 * "latest": answers (mostly ABORTED ones) that may wait behind the frame being worked on before the stream stops
 * reading. They are small, so reading can run far ahead of inference: otherwise a fast sender's frames queue up in
 * the transport, unseen, and latency grows without bound.
 */
export const LATEST_BACKLOG = 256;

/** "latest": frames of one stream at work at once — one in the engine, the next one prepared behind it. */
const LATEST_AT_WORK = 2;

/**
 * "latest": how often per engine run a newer frame may replace the one prepared behind it. A 30 fps camera sends two
 * or three frames during one run (55–80 ms here), so each is prepared as it comes and the newest runs; a sender
 * flooding the stream still costs at most three decodes per run.
 */
export const LATEST_REPLACEMENTS_PER_RUN = 2;

interface Pending {
  readonly id: string;
  readonly controller: AbortController;
  readonly answer: Promise<FrameAnswer>;
  settled: boolean;
  /** Whether its work (prepare, queue, engine) has begun; "latest" holds the newest frame back until its turn. */
  started: boolean;
  /** The frame it runs after ("latest"), until this one is answered (not longer: a stream's frames must not chain up). */
  ahead?: Pending;
  /** Starts its work; with `ahead`, it is prepared at once but runs only once `ahead` is answered. */
  run(ahead?: Pending): void;
}

export async function* processFrames(
  service: Predictor,
  frames: AsyncIterable<PredictInput>,
  options: FrameStreamOptions,
): AsyncGenerator<FrameAnswer, void, undefined> {
  const { signal } = options;
  /** The call ended for the client (cancelled, deadline), not by the server's shutdown. */
  const callEnded = () => signal.aborted && !stoppedByShutdown(signal);
  const pending: Pending[] = [];
  let wakeReader: (() => void) | undefined;
  let wakeWriter: (() => void) | undefined;
  let readerDone = false;
  let readerError: unknown;
  let drained = false;
  /** The consumer is gone: read no more. */
  let closed = false;
  /** Frames started and not yet answered. */
  let working = 0;
  /** "latest": the newest frame, read while LATEST_AT_WORK others were at work; not started. */
  let held: Pending | undefined;
  /** The frame started last: the next one started runs after it. */
  let lastStarted: Pending | undefined;
  /** "latest": replacements of the frame prepared behind the engine's left in this run. */
  let replacementsLeft = LATEST_REPLACEMENTS_PER_RUN;
  const room = options.policy === 'latest' ? Math.max(options.maxInFlight, LATEST_BACKLOG) : options.maxInFlight;
  // One listener for the whole stream (not one per frame: "latest" may hold hundreds of frames).
  const onCallAbort = () => {
    wakeReader?.();
    if (callEnded()) for (const entry of pending) entry.controller.abort(signal.reason);
  };
  signal.addEventListener('abort', onCallAbort, { once: true });

  /** Takes a frame into the answer order; its work begins with run(). */
  const enqueue = (frame: PredictInput): Pending => {
    const { id } = frame;
    // Dropped once its work begins (the service has it then) or it is answered unstarted: "latest" keeps up to
    // LATEST_BACKLOG answers waiting their turn, and they must not hold on to their images.
    let input: PredictInput | undefined = frame;
    const controller = new AbortController();
    if (callEnded()) controller.abort(signal.reason);
    let settle!: (answer: FrameAnswer) => void;
    const entry: Pending = {
      id,
      controller,
      settled: false,
      started: false,
      answer: new Promise<FrameAnswer>((resolve) => {
        settle = resolve;
      }).then((answer) => {
        entry.settled = true;
        input = undefined;
        entry.ahead = undefined;
        const outcome = !answer.error ? 'ok' : answer.error.code === Code.ABORTED ? 'dropped' : 'error';
        options.onFrame?.(outcome);
        if (entry.started) {
          working--;
          options.gauges?.working.dec();
          // A frame answered from its work: the engine moves on to the next run, which gets its own replacements.
          if (outcome !== 'dropped') replacementsLeft = LATEST_REPLACEMENTS_PER_RUN;
          if (held && working < LATEST_AT_WORK) {
            const next = held;
            held = undefined;
            startLatest(next);
          }
        }
        wakeReader?.();
        wakeWriter?.();
        return answer;
      }),
      run: (ahead) => {
        if (entry.started || controller.signal.aborted || !input) return;
        const frameInput = input;
        input = undefined;
        entry.started = true;
        entry.ahead = ahead;
        lastStarted = entry;
        working++;
        options.gauges?.working.inc();
        const after = ahead?.answer;
        service.predict(frameInput, { signal: controller.signal, after, trace: options.trace }).then(
          (prediction) => settle({ id, prediction }),
          (error: unknown) => settle({ id, error: toServiceError(error) }),
        );
      },
    };
    // A frame not started yet is answered with the reason as soon as it is aborted (dropped, cancelled).
    controller.signal.addEventListener(
      'abort',
      () => {
        if (!entry.started) settle({ id, error: toServiceError(controller.signal.reason) });
      },
      { once: true },
    );
    pending.push(entry);
    options.gauges?.inFlight.inc();
    wakeWriter?.();
    return entry;
  };

  /** "latest": starts a frame behind the one at work, if any (it is prepared now and runs when that one is done). */
  const startLatest = (entry: Pending): void => {
    entry.run(lastStarted && !lastStarted.settled ? lastStarted : undefined);
  };

  /**
   * "latest": a newer frame replaces the one prepared behind the engine's, while that one waits and this run has
   * replacements left; otherwise it replaces the frame waiting undecoded. It starts at once if the stream has room.
   */
  const takeLatest = (frame: PredictInput): void => {
    const entry = enqueue(frame);
    held?.controller.abort(droppedError(held.id));
    held = undefined;
    if (working < LATEST_AT_WORK) {
      startLatest(entry);
      return;
    }
    const behind = lastStarted;
    // Its `ahead` unanswered: it has not left the scheduler's queue for the engine, so dropping it wastes no run.
    if (replacementsLeft > 0 && behind?.ahead && !behind.ahead.settled && !behind.settled) {
      replacementsLeft--;
      behind.controller.abort(droppedError(behind.id));
      entry.run(behind.ahead);
    } else {
      held = entry;
    }
  };

  const reader = (async () => {
    const iterator = frames[Symbol.asyncIterator]();
    try {
      while (!closed) {
        if (signal.aborted) {
          drained = stoppedByShutdown(signal);
          break;
        }
        // "all": wait for room before reading. "latest": read first (to replace the waiting frame), then wait.
        if (options.policy === 'all') await untilRoom();
        const next = await nextUnlessStopped(iterator);
        if (next === 'stopped') continue;
        if (next.done || closed) break;
        if (options.policy === 'latest') {
          takeLatest(next.value);
          await untilRoom();
        } else {
          enqueue(next.value).run();
        }
      }
    } catch (error) {
      readerError = error;
    } finally {
      // Stopped before the frames ended: let the source go. Not awaited: it waits behind a read that may never end
      // (a client that sends nothing more); that read ends with the call.
      if (signal.aborted || closed) void iterator.return?.()?.catch(() => {});
      readerDone = true;
      wakeWriter?.();
    }
  })();

  async function untilRoom(): Promise<void> {
    while (pending.length >= room && !signal.aborted && !closed) {
      await new Promise<void>((resolve) => {
        wakeReader = resolve;
      });
      wakeReader = undefined;
    }
  }

  /** The next frame, or 'stopped' as soon as the call's signal aborts. */
  function nextUnlessStopped(iterator: AsyncIterator<PredictInput>): Promise<IteratorResult<PredictInput> | 'stopped'> {
    if (signal.aborted) return Promise.resolve('stopped');
    return new Promise((resolve, reject) => {
      const onAbort = () => resolve('stopped');
      signal.addEventListener('abort', onAbort, { once: true });
      iterator.next().then(
        (result) => {
          signal.removeEventListener('abort', onAbort);
          resolve(result);
        },
        (error) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
    });
  }

  try {
    while (true) {
      const head = pending[0];
      if (head) {
        const answer = await head.answer;
        pending.shift();
        options.gauges?.inFlight.dec();
        wakeReader?.();
        yield answer;
        continue;
      }
      if (readerDone) break;
      await new Promise<void>((resolve) => {
        wakeWriter = resolve;
      });
      wakeWriter = undefined;
    }
    await reader;
    if (readerError) throw readerError;
    if (drained) throw new ServiceError(Code.UNAVAILABLE, DRAIN_ERROR_MESSAGE);
  } finally {
    closed = true;
    wakeReader?.();
    options.gauges?.inFlight.dec(pending.length);
    signal.removeEventListener('abort', onCallAbort);
    // The consumer stopped early (client cancelled, transport broke): stop the work still queued.
    for (const entry of pending) entry.controller.abort(new ServiceError(Code.CANCELLED, 'stream closed'));
  }
}

function droppedError(id: string): ServiceError {
  return new ServiceError(Code.ABORTED, `frame ${JSON.stringify(id)} dropped: a newer frame arrived ("latest" policy)`);
}
