/** The model's weights, by Keras layer name and weight role, in Keras' layouts (see architecture.ts weightSpecs). */

export interface Tensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** layer name → role (kernel, gamma, ...) → tensor. Anonymous residual layers use the architecture's names. */
export type WeightMap = ReadonlyMap<string, ReadonlyMap<string, Tensor>>;

export type WeightsFormat = 'keras-hdf5' | 'tfjs-layers-model' | 'seeded-random';

/** Weights plus where they came from, so the service can be honest about them. */
export interface LoadedWeights {
  readonly weights: WeightMap;
  readonly format: WeightsFormat;
  /** File path, or 'seeded-random'. */
  readonly source: string;
  /** Hex SHA-256 of the file (of the generated tensors for seeded weights). */
  readonly sha256: string;
  readonly pretrained: boolean;
  /** The seed of a random initialisation; undefined when pretrained. */
  readonly seed?: number;
}

/** A weights file that does not fit the architecture: names the layer and, where it applies, both shapes. */
export class WeightsError extends Error {
  override readonly name = 'WeightsError';
}
