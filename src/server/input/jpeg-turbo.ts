/**
 * Small sequential JPEGs decoded on the calling thread by libjpeg-turbo compiled to WebAssembly (the module that
 * @cwasm/jpeg-turbo ships), then shrunk if need be by libvips-shrink.ts. For a small image sharp's trip costs more than
 * the work: libuv's pool, then libvips' own worker, which hands every 16-row strip back to the waiting thread (1.2–3.7
 * ms for a 320×213 JPEG on these VMs, where this decodes it in ~0.4 ms). The pixels are libjpeg-turbo's own
 * (islow DCT, fancy upsampling), the same library and settings libvips and Pillow decode with.
 *
 * Anything unusual goes back to sharp, which stays the last word on what is refused and why: progressive, arithmetic
 * or lossless files (a progressive file's scan count is up to its sender, and this runs on the calling thread),
 * CMYK, files over MAX_BYTES, and any file libjpeg warns about (a truncated one, corrupt data) or fails on.
 */

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { ImageHeader } from './header.js';
import { shrinksHere } from './libvips-shrink.js';
import type { Pixels } from './pil-resample.js';
import { WebAssembly, type WebAssemblyMemory } from './webassembly.js';

/** Bigger files go to sharp: a baseline JPEG that fits the model's input is a few hundred KB at most. */
const MAX_BYTES = 1 << 20;

/** TurboJPEG's TJPF_RGB: libjpeg-turbo writes grey as three equal channels, as libvips' sRGB conversion does. */
const TJPF_RGB = 0;

interface TurboJpeg {
  readonly memory: WebAssemblyMemory;
  malloc(bytes: number): number;
  free(pointer: number): void;
  tjInitDecompress(): number;
  tjDecompress2(
    handle: number,
    source: number,
    sourceBytes: number,
    destination: number,
    width: number,
    pitch: number,
    height: number,
    pixelFormat: number,
    flags: number,
  ): number;
}

/** libjpeg's fatal errors end in longjmp, which the module imports: it unwinds out of WebAssembly as this. */
class JpegFatal extends Error {}

let compiled: object | undefined;

/** One instance, its decompressor and two grow-only buffers, reused by every call; dropped after a fatal error. */
interface Decoder {
  readonly exports: TurboJpeg;
  readonly handle: number;
  readonly input: Allocation;
  readonly output: Allocation;
}

interface Allocation {
  pointer: number;
  bytes: number;
}

let decoder: Decoder | undefined;

/**
 * Whether this decoder takes the file: a sequential Huffman JPEG, grey or three-component, under MAX_BYTES, at most
 * MAX_SHRINK times targetSize ([height, width]) on each axis — the shrinks libvips-shrink.ts reproduces to the byte,
 * and small enough for the calling thread (the largest, 598×598, decodes in ~3 ms and is prepared in ~3.5 ms).
 */
export function decodesHere(bytes: Uint8Array, header: ImageHeader, targetSize: readonly [number, number]): boolean {
  const [height, width] = targetSize;
  return (
    header.sequential === true &&
    (header.channels === 1 || header.channels === 3) &&
    shrinksHere(header.width, width) &&
    shrinksHere(header.height, height) &&
    bytes.length <= MAX_BYTES
  );
}

/**
 * The RGB pixels of a JPEG `decodesHere` took, or undefined when libjpeg-turbo warned or failed (the caller then
 * asks sharp). The pixels live in the decoder's memory: read them before the next call.
 */
export function decodeJpegHere(bytes: Uint8Array, header: ImageHeader): Pixels | undefined {
  const { width, height } = header;
  const outputBytes = width * height * 3;
  try {
    const instance = (decoder ??= instantiate());
    const { exports } = instance;
    const source = reserve(exports, instance.input, bytes.length);
    new Uint8Array(exports.memory.buffer, source, bytes.length).set(bytes);
    const destination = reserve(exports, instance.output, outputBytes);
    const status = exports.tjDecompress2(
      instance.handle,
      source,
      bytes.length,
      destination,
      width,
      width * 3,
      height,
      TJPF_RGB,
      0,
    );
    // -1 without a longjmp: a warning (truncated file, corrupt data); sharp decides what that means.
    if (status !== 0) return undefined;
    return { data: new Uint8Array(exports.memory.buffer, destination, outputBytes), width, height, channels: 3 };
  } catch (err) {
    // A fatal error or a trap left the instance's stack and heap mid-call: start the next call on a fresh one.
    decoder = undefined;
    if (err instanceof JpegFatal || err instanceof WebAssembly.RuntimeError) return undefined;
    throw err;
  }
}

function instantiate(): Decoder {
  compiled ??= new WebAssembly.Module(
    readFileSync(createRequire(import.meta.url).resolve('@cwasm/jpeg-turbo/jpeg-turbo.wasm')),
  );
  const unavailable = (name: string) => () => {
    throw new JpegFatal(`libjpeg-turbo called ${name}`);
  };
  const instance = new WebAssembly.Instance(compiled, {
    // setjmp always answers "first return", so a fatal error's longjmp throws out of the module instead.
    env: { setjmp: () => 0, longjmp: unavailable('longjmp') },
    wasi_snapshot_preview1: {
      environ_sizes_get: () => 0,
      environ_get: unavailable('environ_get'),
      proc_exit: unavailable('proc_exit'),
      fd_close: unavailable('fd_close'),
      fd_seek: unavailable('fd_seek'),
      fd_write: unavailable('fd_write'),
    },
  });
  const exports = instance.exports as unknown as TurboJpeg;
  const handle = exports.tjInitDecompress();
  if (handle === 0) throw new JpegFatal('libjpeg-turbo could not create a decompressor');
  return { exports, handle, input: { pointer: 0, bytes: 0 }, output: { pointer: 0, bytes: 0 } };
}

/** A buffer in the module's memory of at least `bytes`, grown (never shrunk) as files need. */
function reserve(exports: TurboJpeg, allocation: Allocation, bytes: number): number {
  if (allocation.bytes < bytes) {
    if (allocation.pointer !== 0) exports.free(allocation.pointer);
    allocation.pointer = exports.malloc(bytes);
    if (allocation.pointer === 0) throw new JpegFatal('out of memory'); // the whole decoder is dropped
    allocation.bytes = bytes;
  }
  return allocation.pointer;
}
