import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImage } from '../../../src/server/input/decode.js';
import { inputLimitsFromConfig, type InputLimits } from '../../../src/server/input/limits.js';
import { resampleHorizontal, resampleVertical, type Pixels } from '../../../src/server/input/pil-resample.js';
import { pngDeclaring } from '../../support/images.js';
import { differences, expectInvalid } from '../../support/input.js';

// ModelHub's config.json for xception, the part the input stage reads.
const config = {
  model: {
    io: {
      input: {
        format: ['image/png', 'image/jpg', 'image/jpeg'],
        dim_limits: [{ min: 1, max: 4 }, { min: 32 }, { min: 32 }],
      },
    },
  },
};
const limits = inputLimitsFromConfig(config);
const PIXELS = 299 * 299;

/** ((x/255) − 0.5)·2 in float32, as ModelHub computes it. */
function scaled(x: number): number {
  return Math.fround(Math.fround(Math.fround(x / 255) - 0.5) * 2);
}

function solid(width: number, height: number, rgb: readonly [number, number, number], alpha = 1) {
  const [r, g, b] = rgb;
  const channels = alpha === 1 ? 3 : 4;
  return sharp({ create: { width, height, channels, background: { r, g, b, alpha } } });
}

/** Distinct values of each channel across the tensor. */
function channelValues(tensor: Float32Array): number[][] {
  const sets = [new Set<number>(), new Set<number>(), new Set<number>()];
  for (let i = 0; i < tensor.length; i++) sets[i % 3]!.add(tensor[i]!);
  return sets.map((s) => [...s].sort((a, b) => a - b));
}

describe('decodeImage: pixels', () => {
  it('turns a constant RGB PNG into exactly ModelHub scaled values', async () => {
    const png = await solid(64, 48, [255, 0, 128]).png().toBuffer();
    const image = await decodeImage(png, limits);
    expect(image).toMatchObject({ width: 64, height: 48, channels: 3, format: 'png' });
    expect(image.tensor).toBeInstanceOf(Float32Array);
    expect(image.tensor.length).toBe(PIXELS * 3);
    expect(channelValues(image.tensor)).toEqual([[1], [-1], [scaled(128)]]);
    expect(scaled(128)).toBeCloseTo(1 / 255, 6);
  });

  it('keeps a constant image constant when upscaling from the 32×32 minimum', async () => {
    const png = await solid(32, 32, [10, 200, 77]).png().toBuffer();
    const image = await decodeImage(png, limits);
    expect(channelValues(image.tensor)).toEqual([[scaled(10)], [scaled(200)], [scaled(77)]]);
  });

  it('decodes a JPEG to its colour within compression error', async () => {
    const jpeg = await solid(640, 480, [255, 0, 128]).jpeg({ quality: 95 }).toBuffer();
    const image = await decodeImage(jpeg, limits);
    expect(image).toMatchObject({ width: 640, height: 480, channels: 3, format: 'jpeg' });
    const expected = [scaled(255), scaled(0), scaled(128)];
    let worst = 0;
    for (let i = 0; i < image.tensor.length; i++) {
      worst = Math.max(worst, Math.abs(image.tensor[i]! - expected[i % 3]!));
    }
    expect(worst).toBeLessThanOrEqual(4 / 255);
  });

  it('stacks a grey PNG into three equal channels', async () => {
    const png = await sharp(Buffer.alloc(50 * 40, 77), { raw: { width: 50, height: 40, channels: 1 } })
      .toColourspace('b-w')
      .png()
      .toBuffer();
    const image = await decodeImage(png, limits);
    expect(image.channels).toBe(1);
    expect(channelValues(image.tensor)).toEqual([[scaled(77)], [scaled(77)], [scaled(77)]]);
  });

  it('stacks a grey JPEG into three equal channels', async () => {
    const jpeg = await sharp(Buffer.alloc(50 * 40, 77), { raw: { width: 50, height: 40, channels: 1 } })
      .toColourspace('b-w')
      .jpeg()
      .toBuffer();
    expect((await sharp(jpeg).metadata()).channels).toBe(1);
    const image = await decodeImage(jpeg, limits);
    const [r, g, b] = channelValues(image.tensor);
    expect(r).toEqual(g);
    expect(g).toEqual(b);
  });

  it('drops alpha and keeps RGB from an opaque RGBA PNG', async () => {
    const png = await solid(40, 60, [255, 0, 128]).ensureAlpha(1).png().toBuffer();
    expect((await sharp(png).metadata()).channels).toBe(4);
    const image = await decodeImage(png, limits);
    expect(image.channels).toBe(4);
    expect(channelValues(image.tensor)).toEqual([[1], [-1], [scaled(128)]]);
  });

  it('resizes a half-transparent RGBA PNG premultiplied, as PIL does, so RGB moves by at most one level', async () => {
    const png = await solid(40, 60, [255, 0, 128], 0.5).png().toBuffer();
    const image = await decodeImage(png, limits);
    const [r, g, b] = channelValues(image.tensor);
    expect(r).toEqual([1]);
    expect(g).toEqual([-1]);
    for (const value of b!) expect(Math.abs(value - scaled(128))).toBeLessThanOrEqual(2 / 255 + 1e-7);
  });

  it('stacks grey and drops alpha from a grey+alpha PNG', async () => {
    const png = await sharp(Buffer.alloc(40 * 40 * 2, 255).fill(90, 0, 40 * 40), {
      raw: { width: 40, height: 40, channels: 2 },
    })
      .toColourspace('b-w')
      .png()
      .toBuffer();
    const image = await decodeImage(png, limits);
    expect(image.channels).toBe(2);
    expect(channelValues(image.tensor)).toHaveLength(3);
    const [r, g, b] = channelValues(image.tensor);
    expect(r).toEqual(g);
    expect(g).toEqual(b);
  });

  it.each([
    [1, 'grey16', 'b-w'],
    [2, 'grey16', 'b-w'],
    [3, 'rgb16', 'srgb'],
    [4, 'rgb16', 'srgb'],
  ] as const)('decodes a %i-channel 16-bit PNG the same as its 8-bit equivalent', async (channels, wide, narrow) => {
    const [width, height] = [50, 40];
    const pixels16 = new Uint16Array(width * height * channels);
    const pixels8 = new Uint8Array(width * height * channels);
    for (let i = 0; i < pixels8.length; i++) {
      pixels8[i] = (i * 7 + (i >> 5)) & 0xff; // not constant, so resizing and its rounding are exercised
      pixels16[i] = pixels8[i]! * 257;
    }
    const raw = { width, height, channels };
    const png16 = await sharp(pixels16, { raw }).toColourspace(wide).png().toBuffer();
    const png8 = await sharp(pixels8, { raw }).toColourspace(narrow).png().toBuffer();
    const meta = await sharp(png16).metadata();
    expect([meta.depth, meta.bitsPerSample, meta.channels]).toEqual(['ushort', 16, channels]);
    const [image16, image8] = await Promise.all([decodeImage(png16, limits), decodeImage(png8, limits)]);
    expect(image16.channels).toBe(channels);
    expect(differences(image16.tensor, image8.tensor)).toBe(0);
  });

  it('takes the high byte of 16-bit samples, as PIL does', async () => {
    const pixels = new Uint16Array(40 * 40 * 3);
    for (let i = 0; i < pixels.length; i += 3) pixels.set([0x80ff, 0x7f80, 0x00ff], i);
    const png = await sharp(pixels, { raw: { width: 40, height: 40, channels: 3 } })
      .toColourspace('rgb16')
      .png()
      .toBuffer();
    const image = await decodeImage(png, limits);
    expect(channelValues(image.tensor)).toEqual([[scaled(0x80)], [scaled(0x7f)], [scaled(0)]]);
  });

  it('expands a palette PNG to its RGB colours', async () => {
    const png = await solid(40, 40, [255, 0, 128]).png({ palette: true }).toBuffer();
    expect((await sharp(png).metadata()).isPalette).toBe(true);
    const image = await decodeImage(png, limits);
    expect(channelValues(image.tensor)).toEqual([[1], [-1], [scaled(128)]]);
  });

  it('does not apply the EXIF orientation (ModelHub does not)', async () => {
    // Left half red, right half blue, tagged "rotate 90° clockwise to display".
    const [width, height] = [64, 32];
    const pixels = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) pixels.set(x < width / 2 ? [255, 0, 0] : [0, 0, 255], (y * width + x) * 3);
    }
    const jpeg = await sharp(pixels, { raw: { width, height, channels: 3 } })
      .jpeg({ quality: 95 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    expect((await sharp(jpeg).metadata()).orientation).toBe(6);
    const image = await decodeImage(jpeg, limits);
    expect([image.width, image.height]).toEqual([64, 32]);
    const at = (x: number, y: number) => Array.from(image.tensor.subarray((y * 299 + x) * 3, (y * 299 + x) * 3 + 3));
    expect(at(10, 150)[0]).toBeGreaterThan(0.9); // still red on the left
    expect(at(288, 150)[2]).toBeGreaterThan(0.9); // still blue on the right
  });

  it('ignores an embedded ICC profile (PIL does not apply one)', async () => {
    const png = await solid(40, 40, [255, 0, 128]).withIccProfile('p3').png().toBuffer();
    expect((await sharp(png).metadata()).hasProfile).toBe(true);
    const stored = await sharp(png, { ignoreIcc: true }).raw().toBuffer();
    expect(Array.from(stored.subarray(0, 3))).not.toEqual([255, 0, 128]); // the profile matters for this image
    const image = await decodeImage(png, limits);
    expect(channelValues(image.tensor)).toEqual([[scaled(stored[0]!)], [scaled(stored[1]!)], [scaled(stored[2]!)]]);
  });

  it('accepts a CMYK JPEG, converted to RGB', async () => {
    const jpeg = await solid(40, 40, [200, 30, 30]).toColourspace('cmyk').jpeg().toBuffer();
    expect((await sharp(jpeg).metadata()).channels).toBe(4);
    const image = await decodeImage(jpeg, limits);
    expect(image.tensor.length).toBe(PIXELS * 3);
    expect(image.tensor[0]).toBeGreaterThan(image.tensor[1]!); // still reddish
  });

  it('decodes a bytes view that sits inside a larger buffer', async () => {
    const png = await solid(32, 32, [255, 0, 128]).png().toBuffer();
    const padded = new Uint8Array(png.length + 20);
    padded.set(png, 10);
    const image = await decodeImage(padded.subarray(10, 10 + png.length), limits);
    expect(channelValues(image.tensor)).toEqual([[1], [-1], [scaled(128)]]);
  });
});

describe('decodeImage: resizing like PIL', () => {
  /** A smooth, photo-like RGB picture. */
  function smooth(width: number, height: number): Pixels {
    const data = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        for (let c = 0; c < 3; c++) {
          data[(y * width + x) * 3 + c] = Math.round(127.5 + 120 * Math.sin(x / (6 + c) + c) * Math.cos(y / 9 - c));
        }
      }
    }
    return { data, width, height, channels: 3 };
  }

  /** PIL's resize((299, 299), LANCZOS), by the Pillow-exact resampler (checked against Pillow in its own test). */
  function pillowResize(image: Pixels): Uint8Array {
    return resampleVertical(resampleHorizontal(image, 299), 299).data;
  }

  async function largestDifference(image: Pixels): Promise<number> {
    const png = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
      .png()
      .toBuffer();
    const { tensor } = await decodeImage(png, limits);
    const expected = pillowResize(image);
    let worst = 0;
    for (let i = 0; i < tensor.length; i++) worst = Math.max(worst, Math.abs(tensor[i]! - scaled(expected[i]!)));
    return Math.round(worst * 127.5);
  }

  it('matches PIL exactly when the image grows on both axes', async () => {
    expect(await largestDifference(smooth(40, 33))).toBe(0);
  });

  // ModelHub's sample photos are 320×213: wider than the target, less high.
  it('stays within 2 levels of PIL when one axis shrinks and the other grows', async () => {
    expect(await largestDifference(smooth(320, 213))).toBeLessThanOrEqual(2);
  });

  it('stays within 4 levels of PIL when both axes shrink', async () => {
    expect(await largestDifference(smooth(640, 480))).toBeLessThanOrEqual(4);
  });
});

describe('decodeImage: dimensions', () => {
  it('refuses a 31-pixel-high image naming the minimum of 32 and the actual size', async () => {
    const png = await solid(40, 31, [1, 2, 3]).png().toBuffer();
    await expectInvalid(decodeImage(png, limits), /height 31 px is below the minimum of 32 px \(image is 40×31\)/);
  });

  it('refuses a 31-pixel-wide image', async () => {
    const jpeg = await solid(31, 40, [1, 2, 3]).jpeg().toBuffer();
    await expectInvalid(decodeImage(jpeg, limits), /width 31 px is below the minimum of 32 px \(image is 31×40\)/);
  });

  it('accepts 32×32', async () => {
    const png = await solid(32, 32, [1, 2, 3]).png().toBuffer();
    await expect(decodeImage(png, limits)).resolves.toMatchObject({ width: 32, height: 32 });
  });

  it('refuses a header declaring 100000×100000 by the pixel cap, from the header alone', async () => {
    const err = await expectInvalid(
      decodeImage(pngDeclaring(100_000, 100_000, 64), limits),
      /100000×100000 = 10000000000 pixels, over the limit of 40000000 pixels/,
    );
    expect(err.message).not.toMatch(/decode/);
  });

  it('refuses a JPEG whose frame header declares 65000×65000 by the pixel cap, before decoding', async () => {
    const jpeg = await solid(40, 40, [1, 2, 3]).jpeg().toBuffer();
    const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
    jpeg.writeUInt16BE(65_000, sof + 5); // height
    jpeg.writeUInt16BE(65_000, sof + 7); // width
    const err = await expectInvalid(
      decodeImage(jpeg, limits),
      /^JPEG image is 65000×65000 = 4225000000 pixels, over the limit of 40000000 pixels$/,
    );
    expect(err.message).not.toMatch(/decode/);
  });

  it('applies a lower pixel cap given as an override', async () => {
    const small = inputLimitsFromConfig(config, { maxInputPixels: 1000 });
    const png = await solid(40, 40, [1, 2, 3]).png().toBuffer();
    await expectInvalid(decodeImage(png, small), /40×40 = 1600 pixels, over the limit of 1000 pixels/);
  });

  it('applies channel and maximum limits from the config', async () => {
    const strict: InputLimits = {
      ...limits,
      dimLimits: { channels: { min: 3, max: 3 }, height: { min: 32, max: 100 }, width: { min: 32 } },
    };
    const grey = await sharp(Buffer.alloc(40 * 40, 9), { raw: { width: 40, height: 40, channels: 1 } })
      .toColourspace('b-w')
      .png()
      .toBuffer();
    await expectInvalid(decodeImage(grey, strict), /channel count 1 is below the minimum of 3/);
    const rgba = await solid(40, 40, [1, 2, 3], 0.5).png().toBuffer();
    await expectInvalid(decodeImage(rgba, strict), /channel count 4 is above the maximum of 3/);
    const tall = await solid(40, 101, [1, 2, 3]).png().toBuffer();
    await expectInvalid(decodeImage(tall, strict), /height 101 px is above the maximum of 100 px/);
  });
});

describe('decodeImage: formats and corrupt input', () => {
  const allowed = /allowed formats: image\/png, image\/jpg, image\/jpeg/;

  it.each([
    ['GIF', () => solid(40, 40, [1, 2, 3]).gif().toBuffer()],
    ['WEBP', () => solid(40, 40, [1, 2, 3]).webp().toBuffer()],
    ['TIFF', () => solid(40, 40, [1, 2, 3]).tiff().toBuffer()],
  ])('refuses %s naming the allowed formats', async (name, make) => {
    const message = new RegExp(`unsupported image format ${name}; ${allowed.source}`);
    await expectInvalid(decodeImage(await make(), limits), message);
  });

  it('refuses SVG before any decoder sees it', async () => {
    const svg = Buffer.from(
      '<?xml version="1.0"?>\n' +
        '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64"/></svg>',
    );
    await expectInvalid(decodeImage(svg, limits), new RegExp(`unsupported image format SVG; ${allowed.source}`));
  });

  it('refuses a format the config does not allow even if the decoder could read it', async () => {
    const pngOnly = inputLimitsFromConfig(config, { allowedFormats: ['image/png'] });
    const jpeg = await solid(40, 40, [1, 2, 3]).jpeg().toBuffer();
    await expectInvalid(decodeImage(jpeg, pngOnly), /unsupported image format JPEG; allowed formats: image\/png$/);
  });

  it('refuses empty bytes', async () => {
    await expectInvalid(decodeImage(new Uint8Array(0), limits), /^image is empty$/);
  });

  it('refuses random bytes', async () => {
    const random = new Uint8Array(4096);
    for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24;
    random[0] = 0x13; // not the start of any signature
    await expectInvalid(decodeImage(random, limits), new RegExp(`unrecognised image format; ${allowed.source}`));
  });

  it('refuses a PNG signature followed by garbage', async () => {
    const bytes = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(200, 7)]);
    await expectInvalid(decodeImage(bytes, limits), /^could not decode PNG image: .+/);
  });

  it('refuses a truncated PNG', async () => {
    const png = await solid(640, 480, [255, 0, 128]).png().toBuffer();
    await expectInvalid(decodeImage(png.subarray(0, png.length >> 1), limits), /^could not decode PNG image: .+/);
  });

  it('refuses a truncated JPEG', async () => {
    const jpeg = await solid(640, 480, [255, 0, 128]).jpeg().toBuffer();
    await expectInvalid(decodeImage(jpeg.subarray(0, jpeg.length >> 1), limits), /^could not decode JPEG image: .+/);
  });
});
