/**
 * --watch-weights: polls the weights file's modification time and size and reloads when they change. A change is acted
 * on once the file has looked the same for two polls in a row, so a file still being written is not read half-way
 * (writing to a temporary name and renaming it over the old one is safer still). A TensorFlow.js model.json is
 * watched, not its shard files: replace the shards first, then model.json.
 */
import { stat } from 'node:fs/promises';
import type { ServerConfig } from '../config.js';
import { contribWeightsPath } from '../model/weights/resolve.js';
import type { Logger } from '../observability/logger.js';
import type { WeightsReloader } from './weights-reload.js';

export interface WeightsWatcher {
  close(): void;
}

export function watchWeights(
  config: Pick<ServerConfig, 'weights' | 'contribDir' | 'watchWeightsIntervalMs'>,
  reloader: Pick<WeightsReloader, 'reload'>,
  logger: Logger,
): WeightsWatcher {
  const path = config.weights ?? contribWeightsPath(config.contribDir);
  let loaded: string | undefined;
  let seen: string | undefined;
  let busy = false;
  const poll = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    try {
      const now = await signature(path);
      // Act on a change only once it holds still for one poll.
      if (now !== loaded && now === seen && now !== 'missing') {
        loaded = now;
        await reloader.reload('watch').catch(() => {}); // logged and counted by the reloader
      }
      seen = now;
    } finally {
      busy = false;
    }
  };
  // What is there at start is what was loaded.
  const first = signature(path).then((now) => {
    loaded = seen = now;
  });
  const timer = setInterval(() => void first.then(poll), config.watchWeightsIntervalMs);
  timer.unref();
  logger.info({ path, intervalMs: config.watchWeightsIntervalMs }, 'watching the weights file for changes');
  return { close: () => clearInterval(timer) };
}

async function signature(path: string): Promise<string> {
  try {
    const { mtimeMs, size } = await stat(path);
    return `${mtimeMs}:${size}`;
  } catch {
    return 'missing';
  }
}
