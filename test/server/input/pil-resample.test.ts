import { describe, expect, it } from 'vitest';
import {
  lanczosCoefficients,
  premultiplyAlpha,
  resampleHorizontal,
  resampleVertical,
  unpremultiplyAndDropAlpha,
  type Pixels,
} from '../../../src/server/input/pil-resample.js';

/** A deterministic, busy test image; with 4 channels the last is a varied alpha. */
function pattern(width: number, height: number, channels: number): Pixels {
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        data[(y * width + x) * channels + c] =
          channels === 4 && c === 3 ? 30 + ((x * 41 + y * 67) % 226) : (x * 53 + y * 29 + c * 71 + x * y * 7) % 256;
      }
    }
  }
  return { data, width, height, channels };
}

/** Pillow's image.resize((w, h), Image.LANCZOS): horizontal pass first, RGBA premultiplied. */
function pillowResize(image: Pixels, width: number, height: number): Pixels {
  let out: Pixels = { ...image, data: image.data.slice() };
  const alpha = out.channels === 4;
  if (alpha) premultiplyAlpha(out);
  if (width !== out.width) out = resampleHorizontal(out, width);
  if (height !== out.height) out = resampleVertical(out, height);
  return alpha ? unpremultiplyAndDropAlpha(out) : out;
}

// Outputs of Pillow 12.3.0, Image.fromarray(pattern).resize(size, Image.LANCZOS) (alpha dropped afterwards).
const PILLOW = {
  grey7x5to12x9: [
    0, 10, 47, 84, 105, 121, 190, 247, 138, 0, 19, 70, 5, 20, 58, 89, 125, 173, 195, 170, 84, 22, 47, 84, 20, 40, 81,
    111, 158, 223, 173, 49, 15, 68, 107, 124, 38, 58, 103, 150, 167, 151, 82, 9, 21, 107, 176, 203, 53, 71, 119, 196,
    176, 50, 0, 55, 104, 141, 188, 209, 68, 82, 135, 246, 231, 63, 0, 77, 182, 205, 138, 84, 84, 109, 161, 223, 201, 99,
    59, 117, 191, 179, 70, 0, 97, 144, 189, 140, 73, 72, 126, 172, 135, 61, 49, 61, 102, 162, 203, 85, 0, 48, 162, 200,
    90, 0, 49, 125,
  ],
  rgb9x4to5x7: [
    16, 83, 177, 121, 202, 184, 166, 87, 78, 34, 103, 170, 134, 244, 26, 24, 104, 194, 146, 192, 145, 132, 74, 110, 56,
    131, 146, 189, 164, 41, 46, 139, 201, 172, 154, 83, 76, 70, 160, 103, 161, 100, 235, 51, 87, 77, 155, 149, 146, 82,
    61, 42, 114, 187, 155, 138, 56, 144, 33, 165, 108, 161, 103, 119, 51, 89, 64, 154, 153, 158, 87, 70, 48, 119, 200,
    130, 180, 120, 144, 87, 118, 107, 145, 94, 116, 68, 126, 84, 188, 168, 138, 191, 144, 168, 122, 134, 135, 128, 59,
    83, 65, 164, 132, 221, 135,
  ],
  rgba5x3to8x6: [
    0, 60, 157, 20, 96, 103, 52, 120, 172, 92, 107, 255, 103, 234, 222, 135, 255, 38, 196, 109, 64, 215, 9, 107, 0, 72,
    123, 24, 78, 196, 59, 136, 242, 89, 197, 233, 134, 218, 136, 174, 178, 60, 199, 82, 72, 216, 9, 103, 15, 86, 127,
    39, 88, 248, 76, 158, 255, 101, 255, 122, 165, 184, 56, 205, 67, 81, 197, 27, 94, 198, 35, 107, 34, 102, 178, 58,
    137, 192, 107, 177, 153, 150, 186, 55, 182, 109, 40, 197, 13, 98, 136, 14, 156, 0, 255, 255, 48, 110, 215, 71, 176,
    131, 126, 185, 40, 181, 83, 51, 183, 30, 75, 120, 25, 117, 35, 116, 208, 61, 159, 221, 54, 114, 233, 75, 193, 101,
    134, 188, 0, 203, 37, 56, 182, 0, 104, 0, 98, 156, 0, 201, 235, 92, 127, 200,
  ],
};

/** Pillow's sum over each output's taps, one axis, written as plainly as possible. */
function plainSum(data: Uint8Array, inSize: number, outSize: number, step: number, lines: number, lineStep: number) {
  const { kernelSize, bounds, weights } = lanczosCoefficients(inSize, outSize);
  const out: number[] = [];
  for (let line = 0; line < lines; line++) {
    for (let o = 0; o < outSize; o++) {
      for (let c = 0; c < step; c++) {
        let sum = 1 << 21;
        for (let k = 0; k < bounds[o * 2 + 1]!; k++) {
          sum += data[line * lineStep + (bounds[o * 2]! + k) * step + c]! * weights[o * kernelSize + k]!;
        }
        out.push(Math.min(255, Math.max(0, sum >> 22)));
      }
    }
  }
  return out;
}

describe('Pillow-compatible lanczos', () => {
  it('matches Pillow upscaling grey on both axes', () => {
    expect(Array.from(pillowResize(pattern(7, 5, 1), 12, 9).data)).toEqual(PILLOW.grey7x5to12x9);
  });

  it('matches Pillow shrinking one axis and growing the other, RGB', () => {
    expect(Array.from(pillowResize(pattern(9, 4, 3), 5, 7).data)).toEqual(PILLOW.rgb9x4to5x7);
  });

  it('matches Pillow on RGBA, premultiplied as Pillow resizes it', () => {
    const out = pillowResize(pattern(5, 3, 4), 8, 6);
    expect(out.channels).toBe(3);
    expect(Array.from(out.data)).toEqual(PILLOW.rgba5x3to8x6);
  });

  it('keeps a constant image constant, edges included', () => {
    const constant: Pixels = { data: new Uint8Array(32 * 32 * 3).fill(201), width: 32, height: 32, channels: 3 };
    const out = resampleVertical(resampleHorizontal(constant, 299), 299);
    expect(out.data.length).toBe(299 * 299 * 3);
    expect(out.data.every((v) => v === 201)).toBe(true);
  });

  it('resamples both axes to the integer of the plain weighted sum when growing (seven taps), edges included', () => {
    for (const [inSize, outSize, channels] of [
      [213, 299, 3],
      [32, 299, 1],
      [3, 10, 4],
    ] as const) {
      const lines = 17;
      const across = pattern(inSize, lines, channels);
      expect(lanczosCoefficients(inSize, outSize).kernelSize).toBe(7);
      expect(Array.from(resampleHorizontal(across, outSize).data)).toEqual(
        plainSum(across.data, inSize, outSize, channels, lines, inSize * channels),
      );
      const down = pattern(lines, inSize, channels);
      const vertical = resampleVertical(down, outSize).data;
      const byColumn = plainSum(down.data, inSize, outSize, lines * channels, 1, 0);
      expect(Array.from(vertical)).toEqual(byColumn);
    }
  });

  it('resamples in WebAssembly to the integer of the plain weighted sum: any kernel, any stride, any size', () => {
    // Shrinking kernels (15 and 41 taps), 1 to 4 channels, rows that are no multiple of the 16-sample vectors, and a
    // large image between small ones (the module's memory grows, and what was laid out before must not leak into what
    // follows). Each case runs down the columns (vertical pass) and along the rows (horizontal pass) of `lines` lines.
    for (const [inSize, outSize, lines, channels] of [
      [7, 12, 1, 1],
      [640, 299, 17, 3],
      [213, 299, 299, 3],
      [1920, 299, 16, 4],
      [9, 5, 5, 2],
      [1080, 1079, 160, 3],
      [3, 10, 2, 4],
    ] as const) {
      const down = pattern(lines, inSize, channels);
      const stride = lines * channels;
      const out = new Uint8Array(outSize * stride + 40).fill(7);
      const vertical = resampleVertical(down, outSize, out);
      expect(vertical.data.buffer).toBe(out.buffer);
      expect(Array.from(vertical.data)).toEqual(plainSum(down.data, inSize, outSize, stride, 1, 0));
      // Not a byte past the image asked for, though the kernels write whole vectors.
      expect(out.subarray(outSize * stride).every((v) => v === 7)).toBe(true);

      const across = pattern(inSize, lines, channels);
      out.fill(7);
      const horizontal = resampleHorizontal(across, outSize, out);
      expect(horizontal.data.buffer).toBe(out.buffer);
      expect(Array.from(horizontal.data)).toEqual(
        plainSum(across.data, inSize, outSize, channels, lines, inSize * channels),
      );
      expect(out.subarray(outSize * stride).every((v) => v === 7)).toBe(true);
    }
  });

  it('has weights summing to one in fixed point for every output position', () => {
    for (const [inSize, outSize] of [
      [32, 299],
      [213, 299],
      [640, 299],
    ] as const) {
      const { kernelSize, bounds, weights } = lanczosCoefficients(inSize, outSize);
      for (let i = 0; i < outSize; i++) {
        let sum = 0;
        for (let k = 0; k < bounds[i * 2 + 1]!; k++) sum += weights[i * kernelSize + k]!;
        expect(Math.abs(sum - (1 << 22))).toBeLessThanOrEqual(kernelSize);
        expect(bounds[i * 2]! + bounds[i * 2 + 1]!).toBeLessThanOrEqual(inSize);
      }
    }
  });

  it('unpremultiplies as Pillow does: alpha 0 and 255 untouched, others scaled and floored', () => {
    const data = Uint8Array.from([10, 20, 30, 0, 10, 20, 30, 255, 64, 100, 128, 128]);
    const image: Pixels = { data, width: 3, height: 1, channels: 4 };
    expect(Array.from(unpremultiplyAndDropAlpha(image).data)).toEqual([10, 20, 30, 10, 20, 30, 127, 199, 255]);
  });
});
