import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { MAX_SHRINK, shrinkLikeLibvips, shrinksHere } from '../../../src/server/input/libvips-shrink.js';
import { rgbPixels } from '../../support/images.js';
import { differences } from '../../support/input.js';

/** Fresh buffers per slot, as the serving path's scratch hands them out (it reuses them). */
const scratch = (_slot: number, bytes: number) => new Uint8Array(bytes);

describe("libvips' lanczos3 shrink, reproduced", () => {
  it.each([
    [320, 213, 299, 213],
    [213, 320, 213, 299],
    [300, 300, 299, 299],
    [598, 598, 299, 299],
    [333, 500, 299, 299],
    [449, 299, 299, 299],
    [597, 17, 299, 17],
    [40, 64, 33, 33],
  ])('%i×%i → %i×%i: the bytes sharp gives', async (width, height, targetWidth, targetHeight) => {
    const data = rgbPixels(width, height, width * 7 + height);
    const expected = await sharp(data, { raw: { width, height, channels: 3 } })
      .resize(targetWidth, targetHeight, { fit: 'fill', kernel: 'lanczos3', fastShrinkOnLoad: false })
      .raw()
      .toBuffer();
    const before = Uint8Array.from(data);
    const shrunk = shrinkLikeLibvips({ data, width, height, channels: 3 }, [targetHeight, targetWidth], scratch);
    expect({ width: shrunk.width, height: shrunk.height }).toEqual({ width: targetWidth, height: targetHeight });
    expect(differences(shrunk.data, expected)).toBe(0);
    expect(differences(data, before)).toBe(0);
  });

  it('leaves axes within the target alone, and takes factors up to MAX_SHRINK', () => {
    const image = { data: rgbPixels(20, 10, 3), width: 20, height: 10, channels: 3 };
    expect(shrinkLikeLibvips(image, [299, 299], scratch)).toBe(image);
    expect(shrinksHere(299 * MAX_SHRINK, 299)).toBe(true);
    expect(shrinksHere(299 * MAX_SHRINK + 1, 299)).toBe(false);
  });
});
