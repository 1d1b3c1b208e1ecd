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

  it('scales every byte value as numpy does, whatever the length (the kernel works 16 bytes at a time)', () => {
    const everyByte = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(Array.from(toModelTensor(everyByte))).toEqual(Array.from(everyByte, float32));
    for (const length of [3, 15, 17, 51, 897]) {
      const pixels = Uint8Array.from({ length }, (_, i) => (i * 37 + 11) % 256);
      // Written into the middle of a larger array: not a value past the image's own is touched.
      const around = new Float32Array(length + 32).fill(9);
      writeModelTensor(pixels, around.subarray(16, 16 + length));
      expect(Array.from(around.subarray(16, 16 + length))).toEqual(Array.from(pixels, float32));
      expect([...around.subarray(0, 16), ...around.subarray(16 + length)].every((v) => v === 9)).toBe(true);
    }
  });

  it("leaves the caller's BGR bytes as they were", () => {
    const bgr = Uint8Array.from([1, 2, 3, 4, 5, 6]);
    toModelTensor(bgr, 'bgr');
    expect(Array.from(bgr)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});
