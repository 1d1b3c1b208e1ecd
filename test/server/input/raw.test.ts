import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImage } from '../../../src/server/input/decode.js';
import { DEFAULT_MAX_INPUT_PIXELS } from '../../../src/server/config.js';
import type { InputLimits } from '../../../src/server/input/limits.js';
import { prepareRawImage, type RawImage, type RawPixelFormat } from '../../../src/server/input/raw.js';
import { differences, expectInvalid } from '../../support/input.js';

const limits: InputLimits = {
  allowedFormats: ['image/png', 'image/jpg', 'image/jpeg'],
  dimLimits: { channels: { min: 1, max: 4 }, height: { min: 32 }, width: { min: 32 } },
  maxInputPixels: DEFAULT_MAX_INPUT_PIXELS,
  targetSize: [299, 299],
};

function scaled(x: number): number {
  return Math.fround(Math.fround(Math.fround(x / 255) - 0.5) * 2);
}

/** width × height pixels, pixel(x, y) giving each pixel's channels. */
function raster(
  width: number,
  height: number,
  channels: number,
  pixel: (x: number, y: number) => number[],
): Uint8Array {
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set(pixel(x, y), (y * width + x) * channels);
  }
  return data;
}

/** A colourful, non-constant test picture, so that resizing does real work. */
const picture = (x: number, y: number): [number, number, number] => [
  (x * 5) & 0xff,
  (y * 3 + x) & 0xff,
  (x * y) & 0xff,
];

describe('prepareRawImage', () => {
  it('scales constant RGB8 exactly', async () => {
    const image = await prepareRawImage(
      { width: 40, height: 50, format: 'RGB8', data: raster(40, 50, 3, () => [255, 0, 128]) },
      limits,
    );
    expect(image).toMatchObject({ width: 40, height: 50, channels: 3, format: 'raw' });
    expect(image.tensor.length).toBe(299 * 299 * 3);
    expect(Array.from(image.tensor.subarray(0, 6))).toEqual([1, -1, scaled(128), 1, -1, scaled(128)]);
  });

  it('gives the same tensor for RGB8 as for the same pixels encoded as PNG', async () => {
    const data = raster(64, 48, 3, picture);
    const png = await sharp(data, { raw: { width: 64, height: 48, channels: 3 } })
      .png()
      .toBuffer();
    const [fromRaw, fromPng] = await Promise.all([
      prepareRawImage({ width: 64, height: 48, format: 'RGB8', data }, limits),
      decodeImage(png, limits),
    ]);
    expect(differences(fromRaw.tensor, fromPng.tensor)).toBe(0);
  });

  it('gives the same tensor for a model-size frame (no resize) as for the same pixels as PNG, RGB and BGR', async () => {
    const rgb = raster(299, 299, 3, picture);
    const bgr = raster(299, 299, 3, (x, y) => picture(x, y).reverse());
    const png = await sharp(rgb, { raw: { width: 299, height: 299, channels: 3 } })
      .png()
      .toBuffer();
    const [fromRgb, fromBgr, fromPng] = await Promise.all([
      prepareRawImage({ width: 299, height: 299, format: 'RGB8', data: rgb }, limits),
      prepareRawImage({ width: 299, height: 299, format: 'BGR8', data: bgr }, limits),
      decodeImage(png, limits),
    ]);
    expect(differences(fromRgb.tensor, fromPng.tensor)).toBe(0);
    expect(differences(fromBgr.tensor, fromPng.tensor)).toBe(0);
    expect(Array.from(fromRgb.tensor.subarray(0, 3))).toEqual(picture(0, 0).map(scaled));
  });

  it('writes into the tensor it is given', async () => {
    const tensor = new Float32Array(299 * 299 * 3);
    const data = raster(64, 48, 3, picture);
    const image = await prepareRawImage({ width: 64, height: 48, format: 'RGB8', data }, limits, tensor);
    expect(image.tensor).toBe(tensor);
    expect(tensor.some((v) => v !== 0)).toBe(true);
  });

  it('equals RGB8 for BGR8 after the channel swap', async () => {
    const rgb = raster(64, 48, 3, picture);
    const bgr = raster(64, 48, 3, (x, y) => picture(x, y).reverse());
    const [fromRgb, fromBgr] = await Promise.all([
      prepareRawImage({ width: 64, height: 48, format: 'RGB8', data: rgb }, limits),
      prepareRawImage({ width: 64, height: 48, format: 'BGR8', data: bgr }, limits),
    ]);
    expect(fromBgr.channels).toBe(3);
    expect(differences(fromRgb.tensor, fromBgr.tensor)).toBe(0);
    expect(Array.from(fromBgr.tensor.subarray(0, 3))).toEqual(picture(0, 0).map(scaled));
  });

  it('stacks GRAY8 into three equal channels', async () => {
    const image = await prepareRawImage(
      { width: 33, height: 90, format: 'GRAY8', data: raster(33, 90, 1, (x) => [x * 7]) },
      limits,
    );
    expect(image.channels).toBe(1);
    for (let i = 0; i < image.tensor.length; i += 3) {
      if (image.tensor[i] !== image.tensor[i + 1] || image.tensor[i] !== image.tensor[i + 2]) {
        expect.unreachable(`pixel ${i / 3} is not grey: ${Array.from(image.tensor.subarray(i, i + 3))}`);
      }
    }
  });

  it('drops the alpha of RGBA8, and treats it exactly as an RGBA PNG of the same pixels', async () => {
    const opaque = raster(40, 40, 4, () => [255, 0, 128, 255]);
    const image = await prepareRawImage({ width: 40, height: 40, format: 'RGBA8', data: opaque }, limits);
    expect(image.channels).toBe(4);
    expect(Array.from(image.tensor.subarray(0, 3))).toEqual([1, -1, scaled(128)]);

    const translucent = raster(64, 48, 4, (x, y) => [...picture(x, y), 128 + ((x * y) & 0x7f)]);
    const png = await sharp(translucent, { raw: { width: 64, height: 48, channels: 4 } })
      .png()
      .toBuffer();
    const [fromRaw, fromPng] = await Promise.all([
      prepareRawImage({ width: 64, height: 48, format: 'RGBA8', data: translucent }, limits),
      decodeImage(png, limits),
    ]);
    expect(differences(fromRaw.tensor, fromPng.tensor)).toBe(0);
  });

  it('refuses data whose length does not match, saying expected and actual', async () => {
    await expectInvalid(
      prepareRawImage({ width: 40, height: 40, format: 'RGB8', data: new Uint8Array(40 * 40 * 4) }, limits),
      /raw RGB8 image data is 6400 bytes; expected 40×40×3 = 4800/,
    );
  });

  it.each([
    [0, 40],
    [40, 0],
    [-40, 40],
    [40.5, 40],
  ])('refuses width %d, height %d', async (width, height) => {
    await expectInvalid(
      prepareRawImage({ width, height, format: 'GRAY8', data: new Uint8Array(0) }, limits),
      /width and height must be positive integers/,
    );
  });

  it('refuses sizes below dim_limits, naming the limit and the size', async () => {
    await expectInvalid(
      prepareRawImage({ width: 40, height: 31, format: 'GRAY8', data: new Uint8Array(40 * 31) }, limits),
      /height 31 px is below the minimum of 32 px \(image is 40×31\)/,
    );
  });

  it('refuses sizes over the pixel cap before looking at the data', async () => {
    await expectInvalid(
      prepareRawImage({ width: 100_000, height: 100_000, format: 'RGB8', data: new Uint8Array(3) }, limits),
      /over the limit of 40000000 pixels/,
    );
  });

  it('refuses an unknown pixel format', async () => {
    const format = 'YUV420' as RawPixelFormat;
    const raw: RawImage = { width: 40, height: 40, format, data: new Uint8Array(1600) };
    await expectInvalid(
      prepareRawImage(raw, limits),
      /unsupported raw pixel format YUV420; allowed: RGB8, RGBA8, GRAY8, BGR8/,
    );
  });
});
