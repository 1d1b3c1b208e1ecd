/** Full-size Xception weights files for tests that load them the way a server does (88 MB each, written in ~1 s). */
import { rename } from 'node:fs/promises';
import { xception } from '../../src/server/model/architecture.js';
import { seededWeights } from '../../src/server/model/weights/seeded.js';
import { kerasLayers, writeKerasHdf5 } from './hdf5-writer.js';

/**
 * Writes seeded-random ImageNet Xception weights as a Keras HDF5 file at `path`, through a temporary file renamed over
 * it (what an operator replacing a live file should do).
 */
export async function writeXceptionH5(path: string, seed: number): Promise<void> {
  const arch = xception(1000);
  const partial = `${path}.${seed}.partial`;
  await writeKerasHdf5(partial, kerasLayers(arch, seededWeights(arch, seed).weights));
  await rename(partial, path);
}
