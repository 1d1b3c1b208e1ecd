import { describe, expect, it } from 'vitest';
import { sniffFormat } from '../../../src/server/input/sniff.js';

const bytes = (...parts: (string | number[])[]) =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === 'string' ? [...Buffer.from(p, 'latin1')] : p)));

describe('sniffFormat', () => {
  it.each([
    ['png', bytes([0x89], 'PNG\r\n\x1a\n', [0, 0, 0, 13])],
    ['jpeg', bytes([0xff, 0xd8, 0xff, 0xe0])],
    ['gif', bytes('GIF89a', [1, 0])],
    ['gif', bytes('GIF87a', [1, 0])],
    ['webp', bytes('RIFF', [0, 0, 0, 0], 'WEBPVP8 ')],
    ['tiff', bytes('II*', [0])],
    ['tiff', bytes('MM', [0], '*')],
    ['bmp', bytes('BM', [0, 0, 0, 0])],
    ['avif', bytes([0, 0, 0, 0x1c], 'ftypavif')],
    ['heif', bytes([0, 0, 0, 0x18], 'ftypheic')],
    ['pdf', bytes('%PDF-1.7')],
    ['svg', bytes('<svg xmlns="http://www.w3.org/2000/svg"/>')],
    ['svg', bytes([0xef, 0xbb, 0xbf], '\n  <?xml version="1.0"?><svg/>')],
  ])('recognises %s', (format, data) => {
    expect(sniffFormat(data)).toBe(format);
  });

  it('does not recognise a partial signature or unknown bytes', () => {
    expect(sniffFormat(bytes([0x89], 'PNG'))).toBeUndefined();
    expect(sniffFormat(bytes([0xff, 0xd8]))).toBeUndefined();
    expect(sniffFormat(bytes('hello'))).toBeUndefined();
    expect(sniffFormat(new Uint8Array(0))).toBeUndefined();
  });
});
