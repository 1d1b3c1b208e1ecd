import { describe, expect, it } from 'vitest';
import { writeModelTensor, type ChannelOrder } from '../../../src/server/input/model-input.js';

/** ModelHub's arithmetic on a float32 array: each step rounds to float32. */
const float32 = (x: number) => Math.fround(Math.fround(Math.fround(x / 255) - 0.5) * 2);

function toModelTensor(pixels: Uint8Array, order?: ChannelOrder): Float32Array {
  const tensor = new Float32Array(pixels.length);
  writeModelTensor(pixels, tensor, order);
  return tensor;
}

describe('writeModelTensor', () => {
  it('scales bytes as (x/255 − 0.5)·2 in float32', () => {
    const tensor = toModelTensor(Uint8Array.from([0, 255, 128, 1, 127, 254]));
    expect(tensor).toBeInstanceOf(Float32Array);
    expect(Array.from(tensor)).toEqual([-1, 1, float32(128), float32(1), float32(127), float32(254)]);
    expect(tensor[2]).toBeCloseTo(1 / 255, 6);
    expect(tensor[4]).toBeCloseTo(-1 / 255, 6);
  });

  it('swaps BGR to RGB per pixel', () => {
    const tensor = toModelTensor(Uint8Array.from([0, 128, 255, 255, 0, 1]), 'bgr');
    expect(Array.from(tensor)).toEqual([1, float32(128), -1, float32(1), -1, 1]);
  });
});
