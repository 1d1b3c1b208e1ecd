import sharp, { type Sharp } from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImage } from '../../../src/server/input/decode.js';
import { readImageHeader } from '../../../src/server/input/header.js';
import { inputLimitsFromConfig } from '../../../src/server/input/limits.js';
import { pngChunk, rgbPixels } from '../../support/images.js';

const PNG_SIGNATURE_BYTES = 8;
const IHDR_CHUNK_BYTES = 25;

function picture(width: number, height: number, channels: 1 | 2 | 3 | 4 = 3): Sharp {
  const rgb = rgbPixels(width, height);
  const data = Buffer.alloc(width * height * channels);
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < channels; c++) data[i * channels + c] = rgb[i * 3 + Math.min(c, 2)]!;
  }
  return sharp(data, { raw: { width, height, channels } });
}

/** The PNG with one more chunk right after IHDR, where tRNS and other ancillary chunks live. */
function withChunkAfterHeader(png: Buffer, type: string, data: Uint8Array): Buffer {
  const split = PNG_SIGNATURE_BYTES + IHDR_CHUNK_BYTES;
  return Buffer.concat([png.subarray(0, split), pngChunk(type, data), png.subarray(split)]);
}

/** What libvips decodes, as sharp reports it: the answer the header read must give. */
async function sharpsHeader(bytes: Buffer) {
  const { width, height, channels, depth, format, isProgressive } = await sharp(bytes).metadata();
  // sharp's JPEGs here are Huffman-coded: sequential unless progressive.
  const jpeg = format === 'jpeg' ? { sequential: !isProgressive } : {};
  return { width, height, channels, bitsPerSample: depth === 'ushort' ? 16 : 8, ...jpeg };
}

describe('readImageHeader agrees with what libvips decodes', () => {
  const images: [string, () => Promise<Buffer>][] = [
    ['RGB PNG', () => picture(41, 37).png().toBuffer()],
    ['RGBA PNG', () => picture(41, 37, 4).png().toBuffer()],
    ['grey PNG', () => picture(41, 37, 1).toColourspace('b-w').png().toBuffer()],
    ['grey + alpha PNG', () => picture(41, 37, 2).toColourspace('b-w').png().toBuffer()],
    ['palette PNG', () => picture(41, 37).png({ palette: true }).toBuffer()],
    ['palette PNG with transparency', () => picture(41, 37, 4).png({ palette: true }).toBuffer()],
    ['16-bit RGB PNG', () => picture(41, 37).toColourspace('rgb16').png().toBuffer()],
    ['16-bit grey PNG', () => picture(41, 37, 1).toColourspace('grey16').png().toBuffer()],
    ['interlaced PNG', () => picture(41, 37).png({ progressive: true }).toBuffer()],
    [
      'RGB PNG with a tRNS colour',
      async () => withChunkAfterHeader(await picture(41, 37).png().toBuffer(), 'tRNS', new Uint8Array(6)),
    ],
    [
      'grey PNG with a tRNS level',
      async () =>
        withChunkAfterHeader(await picture(41, 37, 1).toColourspace('b-w').png().toBuffer(), 'tRNS', new Uint8Array(2)),
    ],
    ['baseline JPEG', () => picture(1921, 1079).jpeg().toBuffer()],
    ['progressive JPEG', () => picture(41, 37).jpeg({ progressive: true }).toBuffer()],
    ['grey JPEG', () => picture(41, 37, 1).toColourspace('b-w').jpeg().toBuffer()],
    ['CMYK JPEG', () => picture(41, 37).toColourspace('cmyk').jpeg().toBuffer()],
    ['JPEG with EXIF and ICC segments', () => picture(41, 37).withMetadata({ orientation: 6 }).jpeg().toBuffer()],
  ];

  it.each(images)('%s', async (_name, make) => {
    const bytes = await make();
    const format = bytes[0] === 0xff ? 'jpeg' : 'png';
    expect(readImageHeader(bytes, format)).toEqual(await sharpsHeader(bytes));
  });
});

describe('readImageHeader leaves to sharp what it cannot vouch for', () => {
  it('gives up on a JPEG with bytes between its segments, which libjpeg skips with a warning, and decodeImage still decodes it', async () => {
    const jpeg = await picture(40, 36).jpeg().toBuffer();
    const afterFirstSegment = 4 + jpeg.readUInt16BE(4);
    const junk = Buffer.concat([
      jpeg.subarray(0, afterFirstSegment),
      Buffer.from([0x00, 0x00]),
      jpeg.subarray(afterFirstSegment),
    ]);
    expect(readImageHeader(junk, 'jpeg')).toBeUndefined();
    const limits = inputLimitsFromConfig({
      model: { io: { input: { format: ['image/jpeg'], dim_limits: [{ min: 1, max: 4 }, { min: 32 }, { min: 32 }] } } },
    });
    await expect(decodeImage(junk, limits)).resolves.toMatchObject({ width: 40, height: 36, channels: 3 });
  });

  it('gives up on a frame whose height comes later (DNL), on 12-bit samples, and on files cut before the frame', async () => {
    const jpeg = await picture(40, 36).jpeg().toBuffer();
    const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
    const zeroHeight = Buffer.from(jpeg);
    zeroHeight.writeUInt16BE(0, sof + 5);
    expect(readImageHeader(zeroHeight, 'jpeg')).toBeUndefined();
    const twelveBit = Buffer.from(jpeg);
    twelveBit[sof + 4] = 12;
    expect(readImageHeader(twelveBit, 'jpeg')).toBeUndefined();
    expect(readImageHeader(jpeg.subarray(0, sof + 6), 'jpeg')).toBeUndefined();
    const png = await picture(40, 36).png().toBuffer();
    expect(readImageHeader(png.subarray(0, 20), 'png')).toBeUndefined();
    expect(readImageHeader(png.subarray(0, PNG_SIGNATURE_BYTES + IHDR_CHUNK_BYTES), 'png')).toBeUndefined();
  });
});
