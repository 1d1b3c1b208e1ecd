import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WeightsError } from '../../../../src/server/model/weights/weight-map.js';
import { contribWeightsPath, resolveWeights } from '../../../../src/server/model/weights/resolve.js';
import { seededWeights } from '../../../../src/server/model/weights/seeded.js';
import { kerasLayers, tinyXception, writeKerasHdf5 } from '../../../support/hdf5-writer.js';

const arch = tinyXception();
const trained = seededWeights(arch, 99);
let dir: string;
let emptyContrib: string;
let h5Path: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xception-resolve-'));
  emptyContrib = join(dir, 'empty-contrib');
  await mkdir(emptyContrib);
  h5Path = join(dir, 'weights.h5');
  await writeKerasHdf5(h5Path, kerasLayers(arch, trained.weights));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('resolveWeights', () => {
  it('loads --weights PATH by extension: .h5/.hdf5 as Keras HDF5', async () => {
    const loaded = await resolveWeights({
      weightsPath: h5Path,
      requirePretrained: true,
      seed: 0,
      contribDir: emptyContrib,
      arch,
    });
    expect(loaded).toMatchObject({ format: 'keras-hdf5', source: h5Path, pretrained: true });
    expect(loaded.weights.get('predictions')!.get('kernel')!.data).toEqual(
      trained.weights.get('predictions')!.get('kernel')!.data,
    );
  });

  it('sends .json to the TF.js loader and refuses other extensions', async () => {
    const json = join(dir, 'model.json');
    await writeFile(json, '{}');
    await expect(
      resolveWeights({ weightsPath: json, requirePretrained: false, seed: 0, contribDir: emptyContrib, arch }),
    ).rejects.toThrow(/no valid weightsManifest; not a TensorFlow.js layers model/);
    const onnx = join(dir, 'model.onnx');
    await writeFile(onnx, '');
    await expect(
      resolveWeights({ weightsPath: onnx, requirePretrained: false, seed: 0, contribDir: emptyContrib, arch }),
    ).rejects.toThrow(
      new WeightsError(
        `${onnx}: unknown weights format '.onnx'; expected a Keras .h5/.hdf5 file or a TensorFlow.js model.json`,
      ),
    );
  });

  it('fails on a --weights file that does not exist instead of falling back', async () => {
    const missing = join(dir, 'missing.h5');
    await expect(
      resolveWeights({ weightsPath: missing, requirePretrained: false, seed: 0, contribDir: emptyContrib, arch }),
    ).rejects.toThrow(`weights file ${missing} does not exist`);
  });

  it("uses ModelHub's <contribDir>/model/model.h5 when present", async () => {
    const contribDir = join(dir, 'contrib_src');
    await mkdir(join(contribDir, 'model'), { recursive: true });
    await writeKerasHdf5(contribWeightsPath(contribDir), kerasLayers(arch, trained.weights, { naming: 'keras-2.2' }), {
      layout: 'full-model',
    });
    const loaded = await resolveWeights({ requirePretrained: true, seed: 0, contribDir, arch });
    expect(loaded).toMatchObject({
      format: 'keras-hdf5',
      source: join(contribDir, 'model', 'model.h5'),
      pretrained: true,
    });
  });

  it('falls back to seeded random weights', async () => {
    const loaded = await resolveWeights({ requirePretrained: false, seed: 17, contribDir: emptyContrib, arch });
    expect(loaded).toMatchObject({
      format: 'seeded-random',
      pretrained: false,
      seed: 17,
      sha256: seededWeights(arch, 17).sha256,
    });
  });

  it('tells the user how to get real weights when they are required', async () => {
    const error = await resolveWeights({ requirePretrained: true, seed: 0, contribDir: emptyContrib, arch }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WeightsError);
    expect((error as Error).message).toContain('xception fetch-weights');
    expect((error as Error).message).toContain('--weights');
    expect((error as Error).message).toContain(contribWeightsPath(emptyContrib));
  });
});
