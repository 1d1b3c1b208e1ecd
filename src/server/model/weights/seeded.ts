/**
 * Deterministic random weights for running the service without a pretrained file: same seed, same tensors, same
 * SHA-256, on every machine. The predictions mean nothing, but every code path runs on real-sized tensors.
 */

import { weightSpecs, type Architecture, type Layer, type WeightSpec } from '../architecture.js';
import type { LoadedWeights, Tensor } from './weight-map.js';
import { sha256Tensors } from './digest.js';
import { SeededRandom } from './random.js';

/**
 * Standard deviation of a classifier weight times sqrt(fan_in), so the softmax over 1000 classes is neither flat nor
 * saturated. With these initialisers the network is close to positively homogeneous (ReLU, no biases, BatchNorm near
 * the identity) and each residual add roughly doubles the activations' second moment. A float64 forward pass of
 * xception() (seeds 0 and 1) measured the logits' spread over classes at ≈ 210·rms(input)·gain. A photo scaled to
 * [-1, 1] has rms ≈ 0.5: spread ≈ 3, top-1 probability ≈ 0.2; a dull, low-contrast image (rms 0.22) gets ≈ 0.02,
 * white noise (rms 0.58) ≈ 0.3.
 */
const DENSE_GAIN = 0.03;

/**
 * He-normal (std sqrt(2/fan_in)) for kernels followed by a ReLU, so activations keep their scale with depth.
 * The depthwise half of a separable convolution gets gain 1 instead: no ReLU sits between it and the pointwise
 * half, so the pair as a whole has He's gain 2 rather than 4.
 */
function fill(spec: WeightSpec, layer: Layer, data: Float32Array, random: SeededRandom): void {
  const [kh = 1, kw = 1, inChannels = 1] = spec.shape;
  switch (spec.role) {
    case 'kernel':
      if (layer.kind === 'dense') random.fillNormal(data, DENSE_GAIN / Math.sqrt(spec.shape[0]!));
      else random.fillNormal(data, Math.sqrt(2 / (kh * kw * inChannels)));
      break;
    case 'depthwise_kernel':
      random.fillNormal(data, Math.sqrt(1 / (kh * kw)));
      break;
    case 'pointwise_kernel':
      random.fillNormal(data, Math.sqrt(2 / inChannels));
      break;
    case 'gamma':
      data.fill(1);
      break;
    case 'moving_mean':
      random.fillNormal(data, 0.01);
      break;
    case 'moving_variance':
      // Near 1 and always positive: BatchNorm stays close to the identity.
      random.fillUniform(data, 0.9, 1.1);
      break;
    default:
      // beta and biases start at zero, as Keras initialises them.
      break;
  }
}

/** Random weights for every tensor of `arch`, deterministic in `seed` (an unsigned 32-bit integer). */
export function seededWeights(arch: Architecture, seed = 0): LoadedWeights {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(`weights seed must be an integer from 0 to ${0xffffffff}, got ${seed}`);
  }
  const random = new SeededRandom(seed);
  const layers = new Map(arch.layers.map((layer) => [layer.name, layer]));
  const weights = new Map<string, Map<string, Tensor>>();
  const inOrder: Tensor[] = [];
  for (const spec of weightSpecs(arch)) {
    const data = new Float32Array(spec.shape.reduce((a, b) => a * b, 1));
    fill(spec, layers.get(spec.layer)!, data, random);
    const tensor: Tensor = { shape: [...spec.shape], data };
    let roles = weights.get(spec.layer);
    if (!roles) weights.set(spec.layer, (roles = new Map()));
    roles.set(spec.role, tensor);
    inOrder.push(tensor);
  }
  return {
    weights,
    format: 'seeded-random',
    source: 'seeded-random',
    sha256: sha256Tensors(inOrder),
    pretrained: false,
    seed,
  };
}
