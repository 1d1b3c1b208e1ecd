/** fetch-weights' download bar. */
import type { DownloadProgress } from '../server/model/fetch-weights.js';
import { lazyBar } from './progress.js';

const megabytes = (bytes: number): string => (bytes / 1e6).toFixed(1);

/** An `onProgress` callback for fetchWeights: a bar on stderr from the first report to the last (`done`). */
export function downloadProgress(stream: NodeJS.WriteStream = process.stderr): (progress: DownloadProgress) => void {
  let bar: ReturnType<typeof lazyBar> | undefined;
  return ({ receivedBytes, totalBytes, done }) => {
    const known = totalBytes !== undefined && totalBytes > 0;
    bar ??= lazyBar(
      known
        ? 'downloading [{bar}] {percentage}% | {received}/{size} MB | ETA {eta_formatted}'
        : 'downloading {received} MB',
      stream,
    );
    bar.update(receivedBytes, known ? totalBytes : 0, {
      received: megabytes(receivedBytes),
      size: known ? megabytes(totalBytes) : '?',
    });
    if (done) bar.stop();
  };
}
