/**
 * Keras HDF5 weights (Keras 2 / tf.keras `save_weights` and `model.save`), read with h5wasm.
 *
 * Layout: a group holds the attribute `layer_names`; each layer has a group with the attribute `weight_names`
 * ("block1_conv1/kernel:0", ...) and a dataset at <layer>/<weight name>. Weights-only files have that group at the
 * root; full-model files under /model_weights.
 */

import { open } from 'node:fs/promises';
import type { Attribute, Dataset, Group } from 'h5wasm/node';
import type { Architecture } from '../architecture.js';
import { WeightsError, type LoadedWeights } from './weight-map.js';
import { sha256File } from './digest.js';
import { matchLayers, roleOf, type FileLayer } from './match.js';

/** The HDF5 format signature; it sits at byte 0 or, after a user block, at 512, 1024, 2048, ... */
const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * The superblock's end-of-file address: the size the file must have. Versions 0 and 1 put it after the B-tree
 * parameters (and v1's indexed-storage K), versions 2 and 3 right after the base and extension addresses.
 */
function endOfFileAddress(superblock: Buffer): bigint | undefined {
  const version = superblock[8];
  const offsetSize = version === 0 || version === 1 ? superblock[13]! : superblock[9]!;
  const start = version === 0 ? 24 : version === 1 ? 28 : version === 2 || version === 3 ? 12 : undefined;
  if (start === undefined || ![2, 4, 8].includes(offsetSize)) return undefined;
  const at = start + 2 * offsetSize;
  if (at + offsetSize > superblock.length) return undefined;
  const address =
    offsetSize === 8
      ? superblock.readBigUInt64LE(at)
      : BigInt(offsetSize === 4 ? superblock.readUInt32LE(at) : superblock.readUInt16LE(at));
  // All ones is HDF5's "undefined address".
  return address === (1n << BigInt(8 * offsetSize)) - 1n ? undefined : address;
}

/**
 * Checks the HDF5 signature, and that the file is as long as its superblock says: a truncated download would
 * otherwise surface as a cascade of HDF5 library errors deep inside a read.
 */
async function checkHdf5(path: string): Promise<void> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    const probe = Buffer.alloc(HDF5_SIGNATURE.length);
    for (let offset = 0; offset + probe.length <= size; offset = offset === 0 ? 512 : offset * 2) {
      await file.read(probe, 0, probe.length, offset);
      if (!probe.equals(HDF5_SIGNATURE)) continue;
      const superblock = Buffer.alloc(64);
      await file.read(superblock, 0, superblock.length, offset);
      const end = endOfFileAddress(superblock);
      if (end !== undefined && BigInt(offset) + end > BigInt(size)) {
        throw new WeightsError(
          `${path}: truncated: the file has ${size} bytes, its HDF5 header says ${BigInt(offset) + end}; download it again`,
        );
      }
      return;
    }
    throw new WeightsError(`${path}: not an HDF5 file`);
  } finally {
    await file.close();
  }
}

/**
 * A list-of-strings attribute, as Keras writes them: fixed-length byte strings (h5py's numpy 'S' arrays) or
 * variable-length strings, possibly split into `name0`, `name1`, ... when too big for one object header. An empty
 * list is stored as an empty float array.
 */
function stringList(node: Group, name: string, where: string): string[] {
  const attrs = node.attrs;
  const chunks: Attribute[] = [];
  if (attrs[name]) chunks.push(attrs[name]);
  else for (let i = 0; attrs[`${name}${i}`]; i++) chunks.push(attrs[`${name}${i}`]!);
  if (chunks.length === 0) throw new WeightsError(`${where}: no '${name}' attribute`);
  const names: string[] = [];
  for (const chunk of chunks) {
    const value = chunk.value;
    if (typeof value === 'string') names.push(value);
    else if (Array.isArray(value) && value.every((v) => typeof v === 'string')) names.push(...(value as string[]));
    else if (ArrayBuffer.isView(value) && (value as ArrayLike<unknown>).length === 0) continue;
    else throw new WeightsError(`${where}: attribute '${chunk.name}' is not a list of strings`);
  }
  // Fixed-length strings come back cut at the first NUL; trim any padding left by writers that pad with spaces.
  return names.map((n) => n.replace(/[\0\s]+$/, ''));
}

function toFloat32(value: unknown, where: string, dtype: unknown): Float32Array {
  if (value instanceof Float32Array) return value;
  if (value instanceof Float64Array) return Float32Array.from(value);
  throw new WeightsError(`${where}: dtype ${JSON.stringify(dtype)} is not supported, expected float32`);
}

/** h5wasm sometimes throws plain objects with a message rather than Errors. */
function describe(error: unknown): string {
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(error);
}

function isGroup(entity: unknown): entity is Group {
  return (entity as { type?: string } | null)?.type === 'Group';
}

function isDataset(entity: unknown): entity is Dataset {
  return (entity as { type?: string } | null)?.type === 'Dataset';
}

/** The group holding `layer_names`: the root (save_weights) or /model_weights (model.save). */
function weightsRoot(file: Group, path: string): Group {
  if (file.attrs.layer_names || file.attrs.layer_names0) return file;
  const modelWeights = file.keys().includes('model_weights') ? file.get('model_weights') : null;
  if (isGroup(modelWeights)) return modelWeights;
  throw new WeightsError(
    `${path}: not a Keras HDF5 weights file (no 'layer_names' at the root or under /model_weights; ` +
      `Keras 3 '.weights.h5' files are not supported — save with the legacy HDF5 format)`,
  );
}

function readLayers(root: Group): FileLayer[] {
  const present = new Set(root.keys());
  return stringList(root, 'layer_names', 'weights file').map((layerName) => {
    const group = present.has(layerName) ? root.get(layerName) : null;
    if (!isGroup(group)) throw new WeightsError(`${layerName}: listed in layer_names but has no group in the file`);
    const tensors = stringList(group, 'weight_names', layerName).map((weightName) => {
      const dataset = group.get(weightName);
      if (!isDataset(dataset)) throw new WeightsError(`${layerName}: no dataset for weight '${weightName}'`);
      const where = `${layerName}/${roleOf(weightName)}`;
      return {
        role: roleOf(weightName),
        shape: dataset.shape ?? [],
        read: () => toFloat32(dataset.value, where, dataset.dtype),
      };
    });
    return { name: layerName, tensors };
  });
}

/** Loads Keras HDF5 weights for `arch`, checking every tensor; throws WeightsError naming what does not fit. */
export async function loadKerasHdf5(path: string, arch: Architecture): Promise<LoadedWeights> {
  try {
    await checkHdf5(path);
  } catch (error) {
    if (error instanceof WeightsError) throw error;
    throw new WeightsError(`cannot read weights file ${path}: ${(error as Error).message}`, { cause: error });
  }

  const sha256 = sha256File(path);
  // Keep the rejection handled if loading fails first; it is awaited below.
  sha256.catch(() => undefined);

  const h5wasm = await import('h5wasm/node');
  await h5wasm.ready;
  let file: InstanceType<typeof h5wasm.File>;
  try {
    file = new h5wasm.File(path, 'r');
  } catch (error) {
    throw new WeightsError(`${path}: cannot open as HDF5 (${describe(error)})`, { cause: error });
  }
  let weights: ReturnType<typeof matchLayers>;
  try {
    weights = matchLayers(readLayers(weightsRoot(file, path)), arch);
  } catch (error) {
    if (error instanceof WeightsError) throw error;
    // h5wasm reports a damaged file (truncated download, ...) by throwing from deep inside a read.
    throw new WeightsError(`${path}: cannot read the file (${describe(error)}); is it damaged?`, { cause: error });
  } finally {
    file.close();
  }
  return { weights, format: 'keras-hdf5', source: path, sha256: await sha256, pretrained: true };
}
