/**
 * An image's size, read from its first bytes on the calling thread. Checking the limits needs only the header, and
 * asking sharp for it costs a trip through libuv's pool and a second parse of the file that decoding repeats anyway.
 * Reads what libvips will decode (PNG IHDR and tRNS, JPEG SOF) and answers `undefined` for anything it does not know
 * for sure, so that the caller asks sharp instead. The decode itself stays the last word: a header that lied fails there.
 */

import type { EncodedFormat } from './limits.js';
import { PNG_SIGNATURE } from './sniff.js';
import type { ImageDims } from './validate.js';

export interface ImageHeader extends ImageDims {
  /** Bits per sample as libvips decodes it: 16 for 16-bit PNGs, 8 otherwise. */
  readonly bitsPerSample: 8 | 16;
  /** JPEG only: a sequential Huffman frame (SOF0 baseline or SOF1 extended), one scan per component at most. */
  readonly sequential?: boolean;
}

export function readImageHeader(bytes: Uint8Array, format: EncodedFormat): ImageHeader | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return format === 'png' ? readPngHeader(bytes, view) : readJpegHeader(bytes, view);
}

const CHUNK_OVERHEAD = 12; // length, type, CRC

/** Colour type → samples per pixel, before a tRNS chunk adds an alpha channel (palette entries are RGB). */
const PNG_CHANNELS: Readonly<Record<number, number>> = { 0: 1, 2: 3, 3: 3, 4: 2, 6: 4 };

function readPngHeader(bytes: Uint8Array, view: DataView): ImageHeader | undefined {
  const chunkType = (at: number) => String.fromCharCode(bytes[at + 4]!, bytes[at + 5]!, bytes[at + 6]!, bytes[at + 7]!);
  let at = PNG_SIGNATURE.length;
  if (bytes.length < at + CHUNK_OVERHEAD + 13 || chunkType(at) !== 'IHDR') return undefined;
  const width = view.getUint32(at + 8);
  const height = view.getUint32(at + 12);
  const bitDepth = bytes[at + 16]!;
  const colourType = bytes[at + 17]!;
  const channels = PNG_CHANNELS[colourType];
  if (width === 0 || height === 0 || channels === undefined) return undefined;
  const bitsPerSample = bitDepth === 16 ? 16 : 8;
  // tRNS (transparency for grey, RGB or palette images) comes before the first IDAT; libvips turns it into alpha.
  at += CHUNK_OVERHEAD + view.getUint32(at);
  while (at + CHUNK_OVERHEAD <= bytes.length) {
    const type = chunkType(at);
    if (type === 'IDAT') return { width, height, channels, bitsPerSample };
    if (type === 'tRNS')
      return colourType === 4 || colourType === 6
        ? undefined
        : { width, height, channels: channels + 1, bitsPerSample };
    at += CHUNK_OVERHEAD + view.getUint32(at);
  }
  return undefined;
}

/** Start-of-frame markers (baseline, extended, progressive, lossless; Huffman or arithmetic), not DHT/JPG/DAC. */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

function readJpegHeader(bytes: Uint8Array, view: DataView): ImageHeader | undefined {
  let at = 2; // after SOI
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) return undefined;
    const marker = bytes[at + 1]!;
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2; // no length
      continue;
    }
    if (marker === 0xda || marker === 0xd9) return undefined; // scan or end before any frame header
    const length = view.getUint16(at + 2);
    if (isStartOfFrame(marker)) {
      if (at + 10 > bytes.length) return undefined;
      const precision = bytes[at + 4]!;
      const height = view.getUint16(at + 5);
      const width = view.getUint16(at + 7);
      const channels = bytes[at + 9]!;
      // Height 0 (given later by a DNL marker) and 12-bit samples are left to sharp.
      if (precision !== 8 || width === 0 || height === 0 || ![1, 3, 4].includes(channels)) return undefined;
      return { width, height, channels, bitsPerSample: 8, sequential: marker === 0xc0 || marker === 0xc1 };
    }
    at += 2 + length;
  }
  return undefined;
}
