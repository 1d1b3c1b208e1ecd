/** How many engine runs a server has made (read from its metrics), to prove work was or was not done. */
import type { RunningServer } from '../../src/server/server.js';

export async function engineRuns(server: RunningServer): Promise<number> {
  const metric = await server.metrics.batchSize.get();
  return metric.values.find((v) => v.metricName === 'xception_batch_size_count')?.value ?? 0;
}
