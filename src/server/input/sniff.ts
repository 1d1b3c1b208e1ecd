/**
 * Recognises an image format from its first bytes, without any decoder: the caller's MIME type is never trusted,
 * and bytes of a format we refuse must never reach a library that would parse or render them (SVG above all).
 */

import type { EncodedFormat } from './limits.js';

/** A format recognised by signature; only `png` and `jpeg` are decodable, the rest exist for clear refusals. */
export type SniffedFormat =
  | EncodedFormat
  | 'gif'
  | 'webp'
  | 'tiff'
  | 'bmp'
  | 'avif'
  | 'heif'
  | 'jxl'
  | 'jp2'
  | 'pdf'
  | 'svg';

export const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function startsWith(bytes: Uint8Array, signature: readonly number[], offset = 0): boolean {
  if (bytes.length < offset + signature.length) return false;
  for (let i = 0; i < signature.length; i++) {
    if (bytes[offset + i] !== signature[i]) return false;
  }
  return true;
}

function ascii(text: string): number[] {
  return [...text].map((c) => c.charCodeAt(0));
}

/** Brands of ISO base media files (HEIF family) seen at offset 8, after the `ftyp` box type. */
function isoBrand(bytes: Uint8Array): string | undefined {
  if (!startsWith(bytes, ascii('ftyp'), 4) || bytes.length < 12) return undefined;
  return String.fromCharCode(bytes[8]!, bytes[9]!, bytes[10]!, bytes[11]!);
}

/** XML or SVG text: optional UTF-8 BOM and whitespace, then `<`. */
function looksLikeMarkup(bytes: Uint8Array): boolean {
  let i = startsWith(bytes, [0xef, 0xbb, 0xbf]) ? 3 : 0;
  const isSpace = (b: number | undefined) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
  while (i < 1024 && isSpace(bytes[i])) i++;
  return bytes[i] === 0x3c; // '<'
}

export function sniffFormat(bytes: Uint8Array): SniffedFormat | undefined {
  if (startsWith(bytes, PNG_SIGNATURE)) return 'png';
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(bytes, ascii('GIF87a')) || startsWith(bytes, ascii('GIF89a'))) return 'gif';
  if (startsWith(bytes, ascii('RIFF')) && startsWith(bytes, ascii('WEBP'), 8)) return 'webp';
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a])) return 'tiff';
  if (startsWith(bytes, ascii('BM'))) return 'bmp';
  if (startsWith(bytes, [0xff, 0x0a]) || startsWith(bytes, [0, 0, 0, 0x0c, ...ascii('JXL ')])) return 'jxl';
  if (startsWith(bytes, [0, 0, 0, 0x0c, ...ascii('jP  ')])) return 'jp2';
  if (startsWith(bytes, ascii('%PDF'))) return 'pdf';
  const brand = isoBrand(bytes);
  if (brand === 'avif' || brand === 'avis') return 'avif';
  if (brand !== undefined && ['heic', 'heix', 'hevc', 'heim', 'heis', 'mif1', 'msf1'].includes(brand)) return 'heif';
  if (looksLikeMarkup(bytes)) return 'svg';
  return undefined;
}
