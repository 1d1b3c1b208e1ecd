/**
 * The weights travel to the worker as one Float32Array: one buffer is copied to each worker in one move (the engine
 * keeps it, to start a fresh worker after a fault), apart from the caller's tensors, which may be views into a larger
 * file buffer.
 */
import { weightSpecs, type Architecture } from '../../model/architecture.js';
import { weightLookup } from '../../model/weights/weight-lookup.js';
import type { Tensor, WeightMap } from '../../model/weights/weight-map.js';

export interface PackedEntry {
  readonly layer: string;
  readonly role: string;
  readonly shape: readonly number[];
  /** Offset into `data`, in floats. */
  readonly offset: number;
}

export interface PackedWeights {
  readonly entries: readonly PackedEntry[];
  readonly data: Float32Array;
}

/** Checks every weight the architecture needs is present with Keras' shape, and copies them into one buffer. */
export function packWeights(arch: Architecture, weights: WeightMap): PackedWeights {
  const weight = weightLookup(arch, weights);
  const tensors: Tensor[] = [];
  const entries: PackedEntry[] = [];
  let offset = 0;
  for (const spec of weightSpecs(arch)) {
    const tensor = weight(spec.layer, spec.role);
    tensors.push(tensor);
    entries.push({ layer: spec.layer, role: spec.role, shape: spec.shape, offset });
    offset += tensor.data.length;
  }
  const data = new Float32Array(offset);
  tensors.forEach((tensor, i) => data.set(tensor.data, entries[i]!.offset));
  return { entries, data };
}

/** The WeightMap view of packed weights: tensors are views into `packed.data`, not copies. */
export function unpackWeights(packed: PackedWeights): WeightMap {
  const map = new Map<string, Map<string, Tensor>>();
  for (const entry of packed.entries) {
    const size = entry.shape.reduce((a, b) => a * b, 1);
    const data = packed.data.subarray(entry.offset, entry.offset + size);
    let layer = map.get(entry.layer);
    if (layer === undefined) map.set(entry.layer, (layer = new Map()));
    layer.set(entry.role, { shape: entry.shape, data });
  }
  return map;
}
