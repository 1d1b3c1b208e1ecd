/**
 * The dying engine's worker: the production onnx worker (the same session on the same compiled model, served by the
 * same serveWorker) that dies on demand when a run's image starts with one of DEATH_PIXELS, and whose start a test can
 * hold or fail through the shared controls.
 */
import { readlinkSync } from 'node:fs';
import { workerData } from 'node:worker_threads';
import { startOnnxSession, type OnnxWorkerData } from '../../src/server/engine/onnx/onnx-session.js';
import { serveWorker } from '../../src/server/engine/serve-worker.js';
import { Control, DEATH_EXIT_CODE, deathOf, MAX_WORKERS } from './engine-deaths.js';
import { waitFor } from './poll.js';

export interface DyingWorkerData extends OnnxWorkerData {
  readonly controls: Int32Array;
}

const { controls, ...onnx } = workerData as DyingWorkerData;

// This thread's OS id ("PID/task/TID"), so a test can see whether the thread still runs.
const threadId = Number(readlinkSync('/proc/thread-self').split('/').pop());
const index = Atomics.add(controls, Control.started, 1);
if (index >= MAX_WORKERS) throw new Error(`the dying engine started more than ${MAX_WORKERS} workers`);
Atomics.store(controls, Control.threadIds + index, threadId);

/** Resolves once the test turns the control `slot` off. */
async function released(slot: number): Promise<void> {
  await waitFor(() => Atomics.load(controls, slot) === 0, 60_000, `the test to release control ${slot}`);
}

await serveWorker(async () => {
  await released(Control.holdStarts);
  if (Atomics.load(controls, Control.failStarts) !== 0) throw new Error('the dying engine was told to fail to start');
  const model = await startOnnxSession(onnx);
  return {
    ...model,
    run: async (input, batch) => {
      for (let image = 0; image < batch; image++) {
        const death = deathOf(input, image * model.inputSize);
        if (death !== undefined) await released(Control.holdDeaths);
        switch (death) {
          case 'exit':
            process.exit(DEATH_EXIT_CODE);
            break;
          case 'uncaught':
            setTimeout(() => {
              throw new Error('the dying engine threw where nothing catches');
            });
            return new Promise<never>(() => {});
          case 'runtime':
            throw new Error('the dying engine runtime failed mid-run');
        }
      }
      return model.run(input, batch);
    },
  };
});
