/** SHA-256 digests that identify a set of weights: of the file as stored, or of the tensors as generated. */

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Tensor } from './weight-map.js';

/** Hex SHA-256 of a file, read as a stream so a large weights file is never held twice in memory. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Hex SHA-256 of the tensors' float32 bytes (platform order, little-endian everywhere Node runs), in the given order. */
export function sha256Tensors(tensors: Iterable<Tensor>): string {
  const hash = createHash('sha256');
  for (const { data } of tensors) hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return hash.digest('hex');
}
