/** Images made in the test with sharp: real encoder output, no fixtures on disk. */
import sharp from 'sharp';
import { crc32, deflateSync } from 'node:zlib';
import { PixelFormat, type PredictRequest } from '../../src/gen/modelhub/v1/model_service.js';

export type Rgb = readonly [number, number, number];

/** A noisy but deterministic RGB picture, so encoders and the model see real structure. */
export function rgbPixels(width: number, height: number, seed = 1): Buffer {
  const pixels = Buffer.alloc(width * height * 3);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < pixels.length; i++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    const x = (i / 3) % width;
    pixels[i] = ((x * 255) / width + (state & 63)) & 255;
  }
  return pixels;
}

export function png(width: number, height: number, seed = 1): Promise<Buffer> {
  return sharp(rgbPixels(width, height, seed), { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
}

export function jpeg(width: number, height: number, seed = 1): Promise<Buffer> {
  return sharp(rgbPixels(width, height, seed), { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
}

export function solidPng(width: number, height: number, rgb: Rgb): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } })
    .png()
    .toBuffer();
}

export function webp(width: number, height: number): Promise<Buffer> {
  return sharp(rgbPixels(width, height), { raw: { width, height, channels: 3 } })
    .webp()
    .toBuffer();
}

export function gif(width: number, height: number): Promise<Buffer> {
  return sharp(rgbPixels(width, height), { raw: { width, height, channels: 3 } })
    .gif()
    .toBuffer();
}

export function tiff(width: number, height: number): Promise<Buffer> {
  return sharp(rgbPixels(width, height), { raw: { width, height, channels: 3 } })
    .tiff()
    .toBuffer();
}

/** Converts interleaved RGB to another 8-bit layout. */
export function convertRgb(rgb: Buffer, format: 'RGB8' | 'BGR8' | 'RGBA8' | 'GRAY8'): Buffer {
  const pixels = rgb.length / 3;
  switch (format) {
    case 'RGB8':
      return rgb;
    case 'BGR8': {
      const out = Buffer.alloc(rgb.length);
      for (let i = 0; i < pixels; i++) {
        out[i * 3] = rgb[i * 3 + 2]!;
        out[i * 3 + 1] = rgb[i * 3 + 1]!;
        out[i * 3 + 2] = rgb[i * 3]!;
      }
      return out;
    }
    case 'RGBA8': {
      const out = Buffer.alloc(pixels * 4);
      for (let i = 0; i < pixels; i++) {
        out[i * 4] = rgb[i * 3]!;
        out[i * 4 + 1] = rgb[i * 3 + 1]!;
        out[i * 4 + 2] = rgb[i * 3 + 2]!;
        out[i * 4 + 3] = 255;
      }
      return out;
    }
    case 'GRAY8': {
      const out = Buffer.alloc(pixels);
      for (let i = 0; i < pixels; i++) out[i] = rgb[i * 3 + 1]!;
      return out;
    }
  }
}

export function pngChunk(type: string, data: Uint8Array): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/**
 * A well-formed PNG whose header declares width × height RGB pixels, with `dataBytes` zero bytes of image data:
 * nothing near that many pixels exists, so only the header can be judged without decoding.
 */
export function pngDeclaring(width: number, height: number, dataBytes = 1024): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB; compression, filter, interlace 0
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(Buffer.alloc(dataBytes))),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}

/** The smallest image the server takes: quick to send, and the engine's work is the same (it resizes to 299×299). */
export const smallRawRequest = (id: string): PredictRequest => ({
  id,
  topK: 1,
  input: {
    $case: 'raw',
    value: { width: 32, height: 32, format: PixelFormat.PIXEL_FORMAT_RGB8, data: rgbPixels(32, 32) },
  },
});
