import sharp, { type Sharp } from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImage } from '../../../src/server/input/decode.js';
import { readImageHeader, type ImageHeader } from '../../../src/server/input/header.js';
import { decodeJpegHere, decodesHere } from '../../../src/server/input/jpeg-turbo.js';
import { inputLimitsFromConfig } from '../../../src/server/input/limits.js';
import { growInto, resizeInto } from '../../../src/server/input/model-input.js';
import { rgbPixels } from '../../support/images.js';
import { differences, expectInvalid } from '../../support/input.js';

const TARGET: [number, number] = [299, 299];
const limits = inputLimitsFromConfig({
  model: { io: { input: { format: ['image/jpeg'], dim_limits: [{ min: 1, max: 4 }, { min: 32 }, { min: 32 }] } } },
});

function picture(width: number, height: number, seed = 1): Sharp {
  return sharp(rgbPixels(width, height, seed), { raw: { width, height, channels: 3 } });
}

function headerOf(bytes: Buffer): ImageHeader {
  const header = readImageHeader(bytes, 'jpeg');
  if (header === undefined) throw new Error('the test JPEG has no header the header read vouches for');
  return header;
}

/** What libvips decodes, as the sharp path reads it: sRGB bytes, grey made three channels. */
async function sharpsPixels(bytes: Buffer) {
  const { data, info } = await sharp(bytes, { ignoreIcc: true, autoOrient: false })
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height, channels: info.channels };
}

describe('jpeg-turbo: small sequential JPEGs, decoded on the calling thread', () => {
  const taken: [string, () => Promise<Buffer>][] = [
    ['baseline 4:2:0, the model size', () => picture(299, 299).jpeg({ quality: 90 }).toBuffer()],
    ['baseline 4:4:4, odd size', () => picture(33, 35, 2).jpeg({ quality: 75, chromaSubsampling: '4:4:4' }).toBuffer()],
    ['quality 100, width smaller than height', () => picture(120, 299, 3).jpeg({ quality: 100 }).toBuffer()],
    ['grey', () => picture(64, 48, 4).toColourspace('b-w').jpeg().toBuffer()],
    ['EXIF orientation and ICC segments', () => picture(50, 40, 5).withMetadata({ orientation: 6 }).jpeg().toBuffer()],
    ['Huffman tables not optimised', () => picture(70, 90, 6).jpeg({ optimiseCoding: false }).toBuffer()],
  ];

  it.each(taken)('%s: the very pixels libvips decodes', async (_name, make) => {
    const bytes = await make();
    const header = headerOf(bytes);
    expect(decodesHere(bytes, header, TARGET)).toBe(true);
    const pixels = decodeJpegHere(bytes, header);
    expect(pixels).toBeDefined();
    const { data, ...size } = await sharpsPixels(bytes);
    expect({ width: pixels!.width, height: pixels!.height, channels: pixels!.channels }).toEqual(size);
    expect(differences(pixels!.data, data)).toBe(0);
  });

  it.each(taken)('%s: decodeImage gives the tensor the sharp path gives', async (_name, make) => {
    const bytes = await make();
    const expected = new Float32Array(299 * 299 * 3);
    growInto(await sharpsPixels(bytes), TARGET, expected);
    const { tensor } = await decodeImage(bytes, limits);
    expect(differences(tensor, expected)).toBe(0);
  });

  it.each([
    ['wider than the model', 320, 213],
    ['taller than the model', 213, 320],
    ['twice the model on both axes', 598, 598],
    ['one pixel over on both axes', 300, 300],
    ['shrinking one axis by 1.5 and growing the other', 449, 120],
  ])("a JPEG %s: shrunk here to the tensor sharp's resize gives, byte for byte", async (_name, width, height) => {
    const bytes = await picture(width, height, width + height)
      .jpeg({ quality: 85 })
      .toBuffer();
    expect(decodesHere(bytes, headerOf(bytes), TARGET)).toBe(true);
    const expected = new Float32Array(299 * 299 * 3);
    await resizeInto(sharp(bytes, { ignoreIcc: true, autoOrient: false }), { width, height }, TARGET, expected);
    const { tensor } = await decodeImage(bytes, limits);
    expect(differences(tensor, expected)).toBe(0);
  });

  it('leaves to sharp progressive and CMYK files, files over twice the target on an axis, and files over 1 MiB', async () => {
    const progressive = await picture(64, 48).jpeg({ progressive: true }).toBuffer();
    const cmyk = await picture(64, 48).toColourspace('cmyk').jpeg().toBuffer();
    const wide = await picture(599, 48).jpeg().toBuffer();
    const tall = await picture(48, 599).jpeg().toBuffer();
    const small = await picture(64, 48).jpeg().toBuffer();
    // An application segment of 64 KiB less a little, repeated: a legal file, mostly not pixels.
    const segment = Buffer.concat([Buffer.from([0xff, 0xe9, 0xff, 0xff]), Buffer.alloc(0xfffd)]);
    const padded = Buffer.concat([small.subarray(0, 2), ...Array(17).fill(segment), small.subarray(2)]);
    expect(padded.length).toBeGreaterThan(1 << 20);
    for (const bytes of [progressive, cmyk, wide, tall, padded]) {
      expect(decodesHere(bytes, headerOf(bytes), TARGET)).toBe(false);
    }
    expect(decodesHere(small, headerOf(small), TARGET)).toBe(true);
    // The padded file is still one decodeImage reads (through sharp).
    await expect(decodeImage(padded, limits)).resolves.toMatchObject({ width: 64, height: 48, channels: 3 });
  });

  it('hands back a truncated file (a libjpeg warning), and decodeImage refuses it as before', async () => {
    const bytes = await picture(200, 150).jpeg().toBuffer();
    const cut = bytes.subarray(0, bytes.length >> 1);
    expect(decodeJpegHere(cut, headerOf(cut))).toBeUndefined();
    await expectInvalid(decodeImage(cut, limits), /^could not decode JPEG image: .*premature end/i);
  });

  it('hands back a file libjpeg fails on, and the next file decodes on a fresh instance', async () => {
    const good = await picture(120, 100).jpeg().toBuffer();
    const corrupt = Buffer.from(good);
    // Garble the Huffman tables (after the frame header): libjpeg stops with a fatal error.
    const tables = corrupt.indexOf(Buffer.from([0xff, 0xc4]));
    for (let i = tables + 4; i < tables + 40; i++) corrupt[i] = 0xff;
    expect(decodeJpegHere(corrupt, headerOf(corrupt))).toBeUndefined();
    await expectInvalid(decodeImage(corrupt, limits), /^could not decode JPEG image: .+/);
    const pixels = decodeJpegHere(good, headerOf(good));
    expect(differences(pixels!.data, (await sharpsPixels(good)).data)).toBe(0);
  });
});
