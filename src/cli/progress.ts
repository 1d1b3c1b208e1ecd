/** Terminal progress bars for the CLI (cli-progress): silent when the output is not a terminal. */
import cliProgress from 'cli-progress';

/** A bar on `stream` (stderr) that starts at its first update; nothing at all when the stream is not a terminal. */
export function lazyBar(format: string, stream: NodeJS.WriteStream = process.stderr) {
  if (!stream.isTTY) return { update: (_value: number, _total: number, _payload?: object) => {}, stop: () => {} };
  let bar: cliProgress.SingleBar | undefined;
  return {
    update(value: number, total: number, payload: object = {}) {
      if (bar === undefined) {
        bar = new cliProgress.SingleBar({ stream, format, hideCursor: true }, cliProgress.Presets.shades_classic);
        bar.start(total, 0, payload);
      }
      bar.update(value, payload);
    },
    stop: () => bar?.stop(),
  };
}

/**
 * The stream command's live display. On a terminal (stderr) a progress bar with the achieved frames/s; result lines
 * are printed above it. Without a terminal, no bar: result lines go to stdout untouched, for pipes and logs.
 */

export interface StreamCounts {
  ok: number;
  failed: number;
  dropped: number;
}

export interface StreamProgress {
  /** Prints a result line (stdout) and moves the bar. */
  result(line: string, counts: StreamCounts, framesPerSecond: number): void;
  stop(): void;
}

export function streamProgress(total: number): StreamProgress {
  const print = (line: string) => process.stdout.write(`${line}\n`);
  if (!process.stderr.isTTY) return { result: (line) => print(line), stop: () => {} };
  const bars = new cliProgress.MultiBar(
    {
      stream: process.stderr,
      format: 'streaming [{bar}] {value}/{total} frames | {fps} frames/s | {failed} failed | {dropped} dropped',
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const bar = bars.create(total, 0, { fps: '0.0', failed: 0, dropped: 0 });
  return {
    result(line, counts, framesPerSecond) {
      // On the same terminal, lines must go above the bar; to a pipe, stdout stays clean.
      if (process.stdout.isTTY) bars.log(`${line}\n`);
      else print(line);
      bar.update(counts.ok + counts.failed + counts.dropped, {
        fps: framesPerSecond.toFixed(1),
        failed: counts.failed,
        dropped: counts.dropped,
      });
    },
    stop: () => bars.stop(),
  };
}
