/** `xception stream <dir or files…>`: send images as video frames over PredictStream; report each and the frames/s. */
import { Command, Option } from 'commander';
import { setTimeout as delay } from 'node:timers/promises';
import { ModelError, type Frame, type StreamPolicy } from '../client/index.js';
import { addClientOptions, withClient, type ClientFlags } from './client-options.js';
import { CliError, ExitCode } from './exit.js';
import { assertReadable, expandImagePaths, readInputFile } from './files.js';
import { frameJson, frameLine } from './format.js';
import { positiveNumber, wholeNumber } from './parse.js';
import { streamProgress, type StreamCounts } from './progress.js';

interface StreamFlags extends ClientFlags {
  readonly topK: number;
  readonly policy: StreamPolicy;
  readonly maxInFlight: number;
  readonly fps?: number;
  readonly repeat: number;
  readonly json?: boolean;
}

export function streamCommand(): Command {
  return addClientOptions(new Command('stream'))
    .description(
      'send images as the frames of one PredictStream call (encoded files as they are), print each result and the frames/s achieved',
    )
    .argument('<paths...>', 'image files, or folders (their image files, by name)')
    .addOption(new Option('--top-k <n>', 'classes per frame').argParser(wholeNumber(0)).default(1))
    .addOption(
      new Option('--policy <policy>', 'all: answer every frame; latest: live video, the server drops stale frames')
        .choices(['all', 'latest'])
        .default('all'),
    )
    .addOption(
      new Option('--max-in-flight <n>', 'frames sent ahead of the answers').argParser(wholeNumber(1, 256)).default(4),
    )
    .addOption(
      new Option('--fps <n>', 'send at most this many frames a second, like a camera').argParser(positiveNumber),
    )
    .addOption(new Option('--repeat <n>', 'send the images this many times').argParser(wholeNumber(1)).default(1))
    .option('--json', 'one JSON object per frame (stdout); the summary goes to stderr')
    .action(async (paths: string[], flags: StreamFlags) => {
      const files = await expandImagePaths(paths);
      await assertReadable(files);
      const total = files.length * flags.repeat;
      const interrupt = new AbortController();
      const onSigint = () => interrupt.abort();
      process.once('SIGINT', onSigint);

      const counts: StreamCounts = { ok: 0, failed: 0, dropped: 0 };
      const progress = flags.json ? undefined : streamProgress(total);
      const startedAt = performance.now();
      const framesPerSecond = () =>
        (counts.ok + counts.failed + counts.dropped) / Math.max((performance.now() - startedAt) / 1000, 1e-3);
      let failure: unknown;
      try {
        await withClient(flags, async (client) => {
          const results = client.predictStream(frames(files, total, flags.fps, interrupt.signal), {
            topK: flags.topK,
            policy: flags.policy,
            maxInFlight: flags.maxInFlight,
            signal: interrupt.signal,
          });
          for await (const result of results) {
            const file = files[Number(result.id) % files.length]!;
            if (!result.error) counts.ok++;
            else if (result.error.codeName === 'ABORTED') counts.dropped++;
            else counts.failed++;
            if (flags.json) process.stdout.write(`${JSON.stringify(frameJson(file, result))}\n`);
            else progress!.result(frameLine(file, result), counts, framesPerSecond());
          }
        });
      } catch (error) {
        failure = error instanceof ModelError && error.cause instanceof CliError ? error.cause : error;
      } finally {
        progress?.stop();
        process.off('SIGINT', onSigint);
      }

      const seconds = (performance.now() - startedAt) / 1000;
      const answered = counts.ok + counts.failed + counts.dropped;
      const summary =
        `${answered} frames in ${seconds.toFixed(2)} s: ${(answered / seconds).toFixed(2)} frames/s ` +
        `(${counts.ok} ok, ${counts.failed} failed, ${counts.dropped} dropped)`;
      (flags.json ? process.stderr : process.stdout).write(`${summary}\n`);
      if (interrupt.signal.aborted) throw new CliError(ExitCode.INTERRUPTED, 'interrupted');
      if (failure) throw failure;
      if (counts.failed > 0) throw new CliError(ExitCode.CALL_FAILED, ''); // each failed frame is already reported
    });
}

/** The frames: files read as they are sent (so backpressure reaches the disk), paced to `fps` if given. */
async function* frames(
  files: readonly string[],
  total: number,
  fps: number | undefined,
  signal: AbortSignal,
): AsyncGenerator<Frame> {
  const start = performance.now();
  for (let i = 0; i < total && !signal.aborted; i++) {
    if (fps) {
      const wait = start + (i * 1000) / fps - performance.now();
      if (wait > 0) await delay(wait, undefined, { signal }).catch(() => {});
    }
    yield await readInputFile(files[i % files.length]!);
  }
}
