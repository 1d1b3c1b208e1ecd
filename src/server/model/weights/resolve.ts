/** Decides where the service's weights come from: an explicit file, ModelHub's model.h5, or a seeded initialisation. */

import { access } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { Architecture } from '../architecture.js';
import { WeightsError, type LoadedWeights } from './weight-map.js';
import { loadKerasHdf5 } from './hdf5.js';
import { seededWeights } from './seeded.js';
import { loadTfjsLayersModel } from './tfjs.js';

export interface ResolveWeightsOptions {
  /** --weights PATH: a Keras .h5/.hdf5 file or a TF.js model.json. */
  readonly weightsPath?: string;
  /** Refuse to fall back to random weights. */
  readonly requirePretrained: boolean;
  /** Seed for the random fallback. */
  readonly seed: number;
  /** The ModelHub contribution directory (contrib_src), which keeps its weights at model/model.h5. */
  readonly contribDir: string;
  readonly arch: Architecture;
}

/** Where ModelHub keeps a contribution's Keras weights, and where fetch-weights puts them. */
export function contribWeightsPath(contribDir: string): string {
  return join(contribDir, 'model', 'model.h5');
}

/** Loads a weights file, choosing the format by extension. */
export async function loadWeightsFile(path: string, arch: Architecture): Promise<LoadedWeights> {
  const extension = extname(path).toLowerCase();
  if (extension === '.h5' || extension === '.hdf5') return loadKerasHdf5(path, arch);
  if (extension === '.json') return loadTfjsLayersModel(path, arch);
  throw new WeightsError(
    `${path}: unknown weights format '${extension || '(no extension)'}'; expected a Keras .h5/.hdf5 file ` +
      `or a TensorFlow.js model.json`,
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The weights to serve: `weightsPath` if given; else `<contribDir>/model/model.h5` if present; else seeded random
 * weights, unless `requirePretrained`. A file that is present but does not fit fails loudly rather than falling back.
 */
export async function resolveWeights(options: ResolveWeightsOptions): Promise<LoadedWeights> {
  const { weightsPath, requirePretrained, seed, contribDir, arch } = options;
  if (weightsPath !== undefined) {
    if (!(await exists(weightsPath))) throw new WeightsError(`weights file ${weightsPath} does not exist`);
    return loadWeightsFile(weightsPath, arch);
  }
  const contribWeights = contribWeightsPath(contribDir);
  if (await exists(contribWeights)) return loadKerasHdf5(contribWeights, arch);
  if (requirePretrained) {
    throw new WeightsError(
      `pretrained weights are required but none were found at ${contribWeights}: run \`xception fetch-weights\` ` +
        `to download Keras' ImageNet weights there, or pass --weights PATH (.h5/.hdf5 or model.json)`,
    );
  }
  return seededWeights(arch, seed);
}
