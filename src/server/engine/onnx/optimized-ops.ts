/**
 * What ONNX Runtime actually runs: the operator types of a model after its graph optimisations (the session's
 * `optimizedModelFilePath` output, read back with our ONNX stubs). This is how the int8 graph is checked to run its
 * convolutions as integer kernels rather than as float Convs between Quantize/DequantizeLinear pairs.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ModelProto } from '../../../gen/onnx/onnx.js';
import { onnxSessionOptions } from './session-options.js';

/** Node counts by operator, as "OpType" for ONNX's own operators and "domain:OpType" for others (com.microsoft…). */
export async function optimizedOpCounts(model: Uint8Array, threads = 1): Promise<Map<string, number>> {
  const dir = await mkdtemp(join(tmpdir(), 'xception-optimized-'));
  try {
    const path = join(dir, 'model.onnx');
    // Errors only: ORT warns that an NCHWc-optimised model is specific to this machine, which is all we need of it.
    const session = await ort.InferenceSession.create(model, {
      ...onnxSessionOptions(threads),
      optimizedModelFilePath: path,
      logSeverityLevel: 3,
    });
    await session.release();
    const optimized = ModelProto.decode(await readFile(path));
    const counts = new Map<string, number>();
    for (const node of optimized.graph?.node ?? []) {
      const op = node.domain === '' || node.domain === 'ai.onnx' ? node.opType : `${node.domain}:${node.opType}`;
      counts.set(op, (counts.get(op) ?? 0) + 1);
    }
    return counts;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Convolutions that run on integers and those that still run on floats, in an optimised model's op counts. */
export function convolutionKinds(counts: ReadonlyMap<string, number>): { integer: number; float: number } {
  let integer = 0;
  let float = 0;
  for (const [op, n] of counts) {
    const type = op.slice(op.lastIndexOf(':') + 1);
    if (/^(Nhwc)?QLinearConv$|^ConvInteger$/.test(type)) integer += n;
    else if (/^(Fused)?Conv$/.test(type)) float += n;
  }
  return { integer, float };
}
