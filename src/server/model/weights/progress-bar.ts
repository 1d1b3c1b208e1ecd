/** A terminal progress bar for downloads (cli-progress); silent when the output is not a terminal. */

import cliProgress from 'cli-progress';
import type { DownloadProgress } from '../fetch-weights.js';

function megabytes(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

/**
 * An `onProgress` callback that draws a bar on `stream` (stderr by default), starting on the first report and
 * stopping on the last (`done`). Logs and pipes get nothing, so captured output stays clean.
 */
export function createProgressBar(stream: NodeJS.WriteStream = process.stderr): (progress: DownloadProgress) => void {
  if (!stream.isTTY) return () => {};
  let bar: cliProgress.SingleBar | undefined;
  return ({ receivedBytes, totalBytes, done }) => {
    if (!bar) {
      const known = totalBytes !== undefined && totalBytes > 0;
      bar = new cliProgress.SingleBar(
        {
          stream,
          format: known
            ? 'downloading [{bar}] {percentage}% | {received}/{size} MB | ETA {eta_formatted}'
            : 'downloading {received} MB',
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(known ? totalBytes : 0, 0, { received: megabytes(0), size: known ? megabytes(totalBytes) : '?' });
    }
    bar.update(receivedBytes, { received: megabytes(receivedBytes) });
    if (done) bar.stop();
  };
}
