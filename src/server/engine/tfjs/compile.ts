/**
 * Compiles the declarative architecture into TensorFlow.js ops, layer kind by layer kind. Inference-time rewrites:
 * BatchNorms fold into convolutions as model/inference-graph.ts decides, and a ReLU that is the only reader of a
 * convolution's result is fused into the same op. Everything else maps one layer to one op.
 */
import type * as TfModule from '@tensorflow/tfjs';
import type { Architecture, Layer, Padding } from '../../model/architecture.js';
import { batchNormAffine, foldBatchNorm, inferenceGraph } from '../../model/inference-graph.js';
import { weightLookup } from '../../model/weights/weight-lookup.js';
import type { Tensor, WeightMap } from '../../model/weights/weight-map.js';

/** The TensorFlow.js API: @tensorflow/tfjs, or @tensorflow/tfjs-node, which re-exports it. */
export type Tf = typeof TfModule;
type TfTensor = TfModule.Tensor;

export interface CompiledModel {
  /** NHWC batch in, batch × classes softmax probabilities out. The caller disposes both. */
  predict(input: TfModule.Tensor4D): TfTensor;
  /** Frees the weight tensors. */
  dispose(): void;
}

/** One op of the compiled graph: reads the values named in `inputs`, defines the value `output`. */
interface Step {
  readonly output: string;
  readonly inputs: readonly string[];
  apply(inputs: TfTensor[]): TfTensor;
}

export function compileModel(tf: Tf, arch: Architecture, weights: WeightMap): CompiledModel {
  const owned: TfTensor[] = [];
  const keep = <T extends TfTensor>(t: T): T => {
    owned.push(t);
    return t;
  };
  const weight = weightLookup(arch, weights);
  const constant = (t: Tensor): TfTensor => keep(tf.tensor(t.data, [...t.shape], 'float32'));
  const graph = inferenceGraph(arch);
  const fusedRelus = new Set<string>();
  const steps: Step[] = [];
  let inputName: string | undefined;

  try {
    for (const layer of arch.layers) {
      if (fusedRelus.has(layer.name)) continue;
      switch (layer.kind) {
        case 'input':
          if (inputName !== undefined) throw new Error(`architecture ${arch.name} has more than one input layer`);
          inputName = layer.name;
          break;

        case 'conv2d':
        case 'separableConv2d': {
          // Fuse the following ReLU where nothing else reads the (BatchNorm-folded) convolution's result.
          const norm = graph.foldedNorm(layer.name);
          let output = norm?.name ?? layer.name;
          const after = graph.soleReader(output);
          const relu = after?.kind === 'relu';
          if (relu) {
            fusedRelus.add(after.name);
            output = after.name;
          }

          const kernelRole = layer.kind === 'conv2d' ? 'kernel' : 'pointwise_kernel';
          const kernel = weight(layer.name, kernelRole);
          const bias = layer.useBias ? weight(layer.name, 'bias').data : undefined;
          const folded =
            norm === undefined ? { kernel: kernel.data, bias } : foldBatchNorm(kernel.data, bias, norm, weight);
          const filter = keep(tf.tensor4d(folded.kernel, kernel.shape as [number, number, number, number]));
          const biasTensor = folded.bias === undefined ? undefined : keep(tf.tensor1d(folded.bias));
          const activation = relu ? 'relu' : 'linear';

          if (layer.kind === 'conv2d') {
            const { strides, padding } = layer;
            steps.push({
              output,
              inputs: layer.inputs,
              apply: ([x]) => {
                const image = x as TfModule.Tensor4D;
                return tf.fused.conv2d({ x: image, filter, strides, pad: padding, bias: biasTensor, activation });
              },
            });
          } else {
            const depthwise = constant(weight(layer.name, 'depthwise_kernel')) as TfModule.Tensor4D;
            const padding: Padding = layer.padding;
            steps.push({
              output,
              inputs: layer.inputs,
              apply: ([x]) => {
                const d = tf.depthwiseConv2d(x as TfModule.Tensor4D, depthwise, 1, padding);
                return tf.fused.conv2d({ x: d, filter, strides: 1, pad: 'valid', bias: biasTensor, activation });
              },
            });
          }
          break;
        }

        case 'batchNorm': {
          if (graph.isFolded(layer.name)) break;
          const affine = batchNormAffine(layer, weight);
          const scale = keep(tf.tensor1d(Float32Array.from(affine.scale)));
          const shift = keep(tf.tensor1d(Float32Array.from(affine.shift)));
          steps.push({ output: layer.name, inputs: layer.inputs, apply: ([x]) => tf.add(tf.mul(x!, scale), shift) });
          break;
        }

        case 'relu':
          steps.push({ output: layer.name, inputs: layer.inputs, apply: ([x]) => tf.relu(x!) });
          break;

        case 'maxPool': {
          const { poolSize, strides, padding } = layer;
          steps.push({
            output: layer.name,
            inputs: layer.inputs,
            apply: ([x]) => tf.maxPool(x as TfModule.Tensor4D, poolSize, strides, padding),
          });
          break;
        }

        case 'add':
          steps.push({ output: layer.name, inputs: layer.inputs, apply: ([a, b]) => tf.add(a!, b!) });
          break;

        case 'globalAveragePool':
          steps.push({ output: layer.name, inputs: layer.inputs, apply: ([x]) => tf.mean(x!, [1, 2]) });
          break;

        case 'dense': {
          const kernel = constant(weight(layer.name, 'kernel')) as TfModule.Tensor2D;
          const bias = constant(weight(layer.name, 'bias'));
          steps.push({
            output: layer.name,
            inputs: layer.inputs,
            apply: ([x]) => tf.softmax(tf.fused.matMul({ a: x as TfModule.Tensor2D, b: kernel, bias })),
          });
          break;
        }

        default: {
          const unknown = layer as Layer;
          throw new Error(`layer ${unknown.name}: kind '${unknown.kind}' has no TensorFlow.js translation`);
        }
      }
    }
  } catch (error) {
    tf.dispose(owned);
    throw error;
  }

  if (inputName === undefined) {
    tf.dispose(owned);
    throw new Error(`architecture ${arch.name} has no input layer`);
  }
  const outputName = arch.layers.at(-1)!.name;
  const lastStep = steps.at(-1);
  if (lastStep === undefined || lastStep.output !== outputName) {
    tf.dispose(owned);
    throw new Error(`architecture ${arch.name}: the last layer ${outputName} is not the output of the compiled graph`);
  }
  const input = inputName;

  // Each intermediate value is freed right after its last reader runs, so peak memory is a few feature maps rather
  // than the whole network's (which, at larger batches, would not fit the wasm heap).
  const lastReader = new Map<string, number>();
  steps.forEach((step, i) => step.inputs.forEach((name) => lastReader.set(name, i)));
  const freeAfter = steps.map(() => [] as string[]);
  for (const [name, i] of lastReader) if (name !== input && name !== outputName) freeAfter[i]!.push(name);

  return {
    predict: (image) => {
      const values = new Map<string, TfTensor>([[input, image]]);
      try {
        steps.forEach((step, i) => {
          const args = step.inputs.map((name) => {
            const value = values.get(name);
            if (value === undefined) throw new Error(`value ${name} is used before it is defined`);
            return value;
          });
          values.set(
            step.output,
            tf.tidy(() => step.apply(args)),
          );
          for (const name of freeAfter[i]!) {
            values.get(name)!.dispose();
            values.delete(name);
          }
        });
        const output = values.get(outputName)!;
        values.delete(outputName);
        return output;
      } finally {
        // Leftovers: values no step reads, or everything when a step threw. The input belongs to the caller.
        values.delete(input);
        tf.dispose([...values.values()]);
      }
    },
    dispose: () => tf.dispose(owned),
  };
}
