/**
 * One image's input and output tensors in memory shared with the engine's worker. The input stage writes the
 * prepared floats straight into a slab, the worker reads them from the same memory (nothing is copied between
 * threads) and writes the probabilities back beside them. Slabs are reused: on these machines touching freshly
 * allocated memory costs more than the serving path's own work, so none is allocated per request once warm.
 */
import type { Engine } from './engine.js';

export interface TensorSlab {
  /** Shared with the worker the first time a run uses it; after that, named by the id the engine gave it. */
  readonly memory: SharedArrayBuffer;
  /** One image, NHWC without the batch axis. */
  readonly input: Float32Array;
  /** Its probabilities, written by the engine. */
  readonly output: Float32Array;
}

/** The views of a slab's memory, as each side builds them. */
export function slabViews(memory: SharedArrayBuffer, inputSize: number, outputSize: number) {
  return {
    input: new Float32Array(memory, 0, inputSize),
    output: new Float32Array(memory, inputSize * Float32Array.BYTES_PER_ELEMENT, outputSize),
  };
}

/**
 * A free list of slabs that grows on demand. It needs no bound of its own: slabs are taken only for admitted work,
 * which the scheduler bounds (queue + running runs × batch).
 */
export class TensorSlabPool {
  private readonly free: TensorSlab[] = [];
  private count = 0;

  constructor(
    readonly inputSize: number,
    readonly outputSize: number,
  ) {}

  /** Slabs created so far: once warm, this stops growing. */
  get created(): number {
    return this.count;
  }

  /** Slabs held by admitted requests now. */
  get inUse(): number {
    return this.count - this.free.length;
  }

  acquire(): TensorSlab {
    const slab = this.free.pop();
    if (slab !== undefined) return slab;
    const memory = new SharedArrayBuffer((this.inputSize + this.outputSize) * Float32Array.BYTES_PER_ELEMENT);
    this.count++;
    return { memory, ...slabViews(memory, this.inputSize, this.outputSize) };
  }

  release(slab: TensorSlab): void {
    this.free.push(slab);
  }
}

/**
 * Runs `batch` images given as one NHWC array and returns batch × classes probabilities: for callers outside the
 * serving path (benchmarks, parity checks, warm-up), which have plain arrays rather than slabs.
 */
export async function runTensors(engine: Engine, input: Float32Array, batch: number): Promise<Float32Array> {
  const { inputSize, outputSize } = engine;
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`batch must be a positive integer, got ${batch}`);
  if (input.length !== batch * inputSize) {
    throw new Error(`input has ${input.length} floats; batch ${batch} needs ${batch * inputSize}`);
  }
  let pool = poolsByEngine.get(engine);
  if (pool === undefined) poolsByEngine.set(engine, (pool = new TensorSlabPool(inputSize, outputSize)));
  const slabs = Array.from({ length: batch }, (_, i) => {
    const slab = pool.acquire();
    slab.input.set(input.subarray(i * inputSize, (i + 1) * inputSize));
    return slab;
  });
  try {
    await engine.run(slabs);
    const output = new Float32Array(batch * outputSize);
    slabs.forEach((slab, i) => output.set(slab.output, i * outputSize));
    return output;
  } finally {
    for (const slab of slabs) pool.release(slab);
  }
}

/** One pool per engine for runTensors, so repeated calls reuse the slabs the worker already knows. */
const poolsByEngine = new WeakMap<Engine, TensorSlabPool>();
