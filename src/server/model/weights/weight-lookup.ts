/** The one way compilers read weights: by layer and role, checked against the architecture's weight spec. */
import { weightSpecs, type Architecture } from '../architecture.js';
import { WeightsError, type Tensor, type WeightMap } from './weight-map.js';

/** A layer's weight by role (kernel, gamma, ...). */
export type WeightLookup = (layer: string, role: string) => Tensor;

/** Throws WeightsError naming the layer when a weight is missing, or naming both shapes when they differ. */
export function weightLookup(arch: Architecture, weights: WeightMap): WeightLookup {
  const specShapes = new Map(weightSpecs(arch).map((spec) => [`${spec.layer}/${spec.role}`, spec.shape]));
  return (layer, role) => {
    const shape = specShapes.get(`${layer}/${role}`);
    if (shape === undefined) throw new Error(`architecture ${arch.name}: layer ${layer} has no weight '${role}'`);
    const tensor = weights.get(layer)?.get(role);
    if (tensor === undefined) throw new WeightsError(`layer ${layer}: missing weight '${role}'`);
    const size = shape.reduce((a, b) => a * b, 1);
    if (
      tensor.shape.length !== shape.length ||
      tensor.shape.some((d, i) => d !== shape[i]) ||
      tensor.data.length !== size
    ) {
      throw new WeightsError(
        `layer ${layer}: weight '${role}' has shape [${tensor.shape.join(', ')}] ` +
          `(${tensor.data.length} values), expected [${shape.join(', ')}]`,
      );
    }
    return tensor;
  };
}
