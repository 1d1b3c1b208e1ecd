/**
 * Compiles the declarative architecture plus Keras weights into an ONNX model, in memory.
 *
 * The graph takes NHWC images (what the service decodes) and transposes them to NCHW once, because ONNX
 * convolutions are NCHW; ORT's layout optimizer then reorders to its blocked NCHWc format anyway. BatchNorms fold
 * into convolutions as model/inference-graph.ts decides, so inference runs mostly Conv, Relu, Add, MaxPool and the
 * classifier. TensorFlow's 'same' padding is written as explicit (possibly asymmetric) pads computed from the
 * spatial sizes tracked through the graph.
 */
import {
  AttributeProto,
  AttributeProto_AttributeType,
  ModelProto,
  TensorProto_DataType,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from '../../../gen/onnx/onnx.js';
import type {
  Architecture,
  BatchNormLayer,
  Conv2DLayer,
  DenseLayer,
  Layer,
  MaxPoolLayer,
  Padding,
  SeparableConv2DLayer,
} from '../../model/architecture.js';
import { batchNormAffine, foldBatchNorm, inferenceGraph, type InferenceGraph } from '../../model/inference-graph.js';
import { weightLookup, type WeightLookup } from '../../model/weights/weight-lookup.js';
import type { WeightMap } from '../../model/weights/weight-map.js';

export const INPUT_NAME = 'input';
export const OUTPUT_NAME = 'probabilities';
/** The batch dimension's symbolic name in the graph's input and output. */
const BATCH_DIM = 'batch';
const OPSET_VERSION = 17;
const IR_VERSION = 8;

/** A layer's output as the graph sees it: an NCHW feature map, or a [batch, features] matrix after pooling. */
interface Value {
  readonly tensor: string;
  readonly channels: number;
  /** Spatial size; undefined once flattened. */
  readonly spatial?: Spatial;
}

interface Spatial {
  readonly height: number;
  readonly width: number;
}

type FeatureMap = Value & { readonly spatial: Spatial };

/** Pads along one spatial axis, TensorFlow-style, and the resulting output size. */
interface AxisPadding {
  readonly before: number;
  readonly after: number;
  readonly out: number;
}

/** TensorFlow's padding arithmetic: 'same' puts the smaller half of the total before, the larger after. */
export function tfPadding(size: number, kernel: number, stride: number, padding: Padding): AxisPadding {
  if (padding === 'valid') {
    const out = Math.floor((size - kernel) / stride) + 1;
    if (out < 1) throw new Error(`kernel ${kernel} does not fit spatial size ${size} with 'valid' padding`);
    return { before: 0, after: 0, out };
  }
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  const before = Math.floor(total / 2);
  return { before, after: total - before, out };
}

/** Serialises the architecture and weights as an ONNX ModelProto (opset 17, IR 8). */
export function compileOnnxModel(arch: Architecture, weights: WeightMap): Uint8Array {
  const graph = new GraphCompiler(arch, weights).compile();
  const model: ModelProto = {
    irVersion: IR_VERSION,
    producerName: 'xception-service',
    producerVersion: '0.1.0',
    domain: '',
    modelVersion: 1,
    docString: `${arch.name}, compiled from the declarative architecture with BatchNorm folded into convolutions`,
    graph: {
      name: arch.name,
      node: graph.nodes,
      initializer: graph.initializers,
      input: graph.inputs,
      output: graph.outputs,
      valueInfo: [],
      docString: '',
    },
    opsetImport: [{ domain: '', version: OPSET_VERSION }],
  };
  return ModelProto.encode(model).finish();
}

class GraphCompiler {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  readonly inputs: ValueInfoProto[] = [];
  readonly outputs: ValueInfoProto[] = [];

  private readonly values = new Map<string, Value>();
  private readonly graph: InferenceGraph;
  private readonly weight: WeightLookup;
  private readonly lastLayer: Layer;

  constructor(
    private readonly arch: Architecture,
    weights: WeightMap,
  ) {
    const last = arch.layers.at(-1);
    if (last === undefined) throw new Error(`architecture ${arch.name} has no layers`);
    this.lastLayer = last;
    this.graph = inferenceGraph(arch);
    this.weight = weightLookup(arch, weights);
  }

  compile(): this {
    for (const layer of this.arch.layers) this.compileLayer(layer);
    const output = this.value(this.lastLayer.name);
    if (output.spatial !== undefined || output.channels !== this.arch.classes) {
      throw new Error(
        `architecture ${this.arch.name} must end in [batch, ${this.arch.classes}] probabilities; ` +
          `its last layer ${this.lastLayer.name} does not`,
      );
    }
    this.outputs.push(valueInfo(OUTPUT_NAME, [BATCH_DIM, output.channels]));
    return this;
  }

  private compileLayer(layer: Layer): void {
    switch (layer.kind) {
      case 'input': {
        if (this.inputs.length > 0) throw new Error(`architecture ${this.arch.name} has more than one input layer`);
        if (layer.shape.some((d, i) => d !== this.arch.inputShape[i])) {
          throw new Error(`input layer ${layer.name} has shape [${layer.shape}], the architecture [${this.arch.inputShape}]`);
        }
        const [height, width, channels] = layer.shape;
        this.inputs.push(valueInfo(INPUT_NAME, [BATCH_DIM, height, width, channels]));
        // Transposed once here; ORT's layout pass then works in its blocked NCHWc format throughout.
        const tensor = `${layer.name}/nchw`;
        this.node('Transpose', `${layer.name}/to_nchw`, [INPUT_NAME], [tensor], [ints('perm', [0, 3, 1, 2])]);
        this.values.set(layer.name, { tensor, channels, spatial: { height, width } });
        return;
      }
      case 'conv2d':
        return this.conv2d(layer);
      case 'separableConv2d':
        return this.separableConv2d(layer);
      case 'batchNorm':
        if (!this.graph.isFolded(layer.name)) this.standaloneBatchNorm(layer);
        return;
      case 'relu':
        return this.elementwise(layer, 'Relu');
      case 'add':
        return this.elementwise(layer, 'Add');
      case 'maxPool':
        return this.maxPool(layer);
      case 'globalAveragePool': {
        const x = this.spatialInput(layer);
        const pooled = `${layer.name}/pooled`;
        this.node('GlobalAveragePool', layer.name, [x.tensor], [pooled]);
        const tensor = this.tensorName(layer);
        this.node('Flatten', `${layer.name}/flatten`, [pooled], [tensor], [int('axis', 1)]);
        this.values.set(layer.name, { tensor, channels: x.channels });
        return;
      }
      case 'dense':
        return this.dense(layer);
      default: {
        const unknown: { kind: string; name: string } = layer;
        throw new Error(`layer ${unknown.name}: kind '${unknown.kind}' has no ONNX translation`);
      }
    }
  }

  private conv2d(layer: Conv2DLayer): void {
    const kernel = this.weight(layer.name, 'kernel').data;
    this.convWithFoldedNorm(layer, this.spatialInput(layer), kernel, layer.kernelSize, layer.strides, layer.padding);
  }

  /** Depthwise k×k convolution (group = channels), then a pointwise 1×1 convolution that takes the bias and BN. */
  private separableConv2d(layer: SeparableConv2DLayer): void {
    const x = this.spatialInput(layer);
    const k = layer.kernelSize;
    const depthwise = this.weight(layer.name, 'depthwise_kernel');
    const pointwise = this.weight(layer.name, 'pointwise_kernel');

    const rows = tfPadding(x.spatial.height, k, 1, layer.padding);
    const cols = tfPadding(x.spatial.width, k, 1, layer.padding);
    const depthwiseKernel = this.initializer(
      `${layer.name}/depthwise_kernel`,
      [x.channels, 1, k, k],
      depthwiseKernelToOnnx(depthwise.data, k, x.channels),
    );
    const depthwiseOut = `${layer.name}/depthwise`;
    this.node('Conv', `${layer.name}/depthwise`, [x.tensor, depthwiseKernel], [depthwiseOut], [
      ints('kernel_shape', [k, k]),
      ints('strides', [1, 1]),
      ints('pads', [rows.before, cols.before, rows.after, cols.after]),
      int('group', x.channels),
    ]);
    const mid: FeatureMap = {
      tensor: depthwiseOut,
      channels: x.channels,
      spatial: { height: rows.out, width: cols.out },
    };
    this.convWithFoldedNorm(layer, mid, pointwise.data, 1, 1, 'valid', `${layer.name}/pointwise`);
  }

  /** Emits a Conv (from a Keras [k, k, in, out] kernel) with the layer's bias and its folded BatchNorm, if any. */
  private convWithFoldedNorm(
    layer: Conv2DLayer | SeparableConv2DLayer,
    x: FeatureMap,
    kerasKernel: Float32Array,
    k: number,
    stride: number,
    padding: Padding,
    nodeName = layer.name,
  ): void {
    const filters = layer.filters;
    const bias = layer.useBias ? this.weight(layer.name, 'bias').data : undefined;
    const norm = this.graph.foldedNorm(layer.name);
    const folded = norm === undefined ? { kernel: kerasKernel, bias } : foldBatchNorm(kerasKernel, bias, norm, this.weight);
    const outputLayer: Layer = norm ?? layer;

    const rows = tfPadding(x.spatial.height, k, stride, padding);
    const cols = tfPadding(x.spatial.width, k, stride, padding);
    const kernel = convKernelToOnnx(folded.kernel, k, x.channels, filters);
    const inputs = [x.tensor, this.initializer(`${nodeName}/kernel`, [filters, x.channels, k, k], kernel)];
    if (folded.bias !== undefined) inputs.push(this.initializer(`${nodeName}/bias`, [filters], folded.bias));
    const tensor = this.tensorName(outputLayer);
    this.node('Conv', nodeName, inputs, [tensor], [
      ints('kernel_shape', [k, k]),
      ints('strides', [stride, stride]),
      ints('pads', [rows.before, cols.before, rows.after, cols.after]),
      int('group', 1),
    ]);
    this.values.set(outputLayer.name, {
      tensor,
      channels: filters,
      spatial: { height: rows.out, width: cols.out },
    });
  }

  /** A BatchNorm with no convolution to fold into becomes a per-channel Mul and Add. */
  private standaloneBatchNorm(layer: BatchNormLayer): void {
    const x = this.input(layer, 0);
    if (x.spatial === undefined) throw new Error(`layer ${layer.name}: BatchNorm after flattening is not supported`);
    const { scale, shift } = batchNormAffine(layer, this.weight);
    const shape = [x.channels, 1, 1];
    const scaleName = this.initializer(`${layer.name}/scale`, shape, Float32Array.from(scale));
    const shiftName = this.initializer(`${layer.name}/shift`, shape, Float32Array.from(shift));
    const scaled = `${layer.name}/scaled`;
    this.node('Mul', `${layer.name}/mul`, [x.tensor, scaleName], [scaled]);
    const tensor = this.tensorName(layer);
    this.node('Add', `${layer.name}/add`, [scaled, shiftName], [tensor]);
    this.values.set(layer.name, { ...x, tensor });
  }

  private elementwise(layer: Layer, opType: 'Relu' | 'Add'): void {
    const inputs = layer.inputs.map((_, i) => this.input(layer, i));
    const first = inputs[0]!;
    for (const other of inputs.slice(1)) {
      if (
        other.channels !== first.channels ||
        other.spatial?.height !== first.spatial?.height ||
        other.spatial?.width !== first.spatial?.width
      ) {
        throw new Error(`layer ${layer.name}: inputs ${layer.inputs.join(', ')} have different shapes`);
      }
    }
    const tensor = this.tensorName(layer);
    this.node(opType, layer.name, inputs.map((v) => v.tensor), [tensor]);
    this.values.set(layer.name, { ...first, tensor });
  }

  /** ONNX MaxPool never lets padded cells win, which is TensorFlow's −∞ padding. */
  private maxPool(layer: MaxPoolLayer): void {
    const x = this.spatialInput(layer);
    const rows = tfPadding(x.spatial.height, layer.poolSize, layer.strides, layer.padding);
    const cols = tfPadding(x.spatial.width, layer.poolSize, layer.strides, layer.padding);
    const tensor = this.tensorName(layer);
    this.node('MaxPool', layer.name, [x.tensor], [tensor], [
      ints('kernel_shape', [layer.poolSize, layer.poolSize]),
      ints('strides', [layer.strides, layer.strides]),
      ints('pads', [rows.before, cols.before, rows.after, cols.after]),
    ]);
    this.values.set(layer.name, { tensor, channels: x.channels, spatial: { height: rows.out, width: cols.out } });
  }

  /** Gemm with Keras' [in, out] kernel as B, then the softmax over classes. */
  private dense(layer: DenseLayer): void {
    const x = this.input(layer, 0);
    if (x.spatial !== undefined) throw new Error(`layer ${layer.name}: dense needs a pooled (flat) input`);
    const kernel = this.weight(layer.name, 'kernel');
    const bias = this.weight(layer.name, 'bias');
    const logits = `${layer.name}/logits`;
    this.node('Gemm', layer.name, [
      x.tensor,
      this.initializer(`${layer.name}/kernel`, kernel.shape, kernel.data),
      this.initializer(`${layer.name}/bias`, bias.shape, bias.data),
    ], [logits]);
    const tensor = this.tensorName(layer);
    this.node('Softmax', `${layer.name}/${layer.activation}`, [logits], [tensor], [int('axis', 1)]);
    this.values.set(layer.name, { tensor, channels: layer.units });
  }

  private tensorName(layer: Layer): string {
    return layer === this.lastLayer ? OUTPUT_NAME : layer.name;
  }

  private value(name: string): Value {
    const value = this.values.get(name);
    if (value === undefined) throw new Error(`layer ${name} is used before it is defined (layers must be topological)`);
    return value;
  }

  private input(layer: Layer, index: number): Value {
    const name = layer.inputs[index];
    if (name === undefined) throw new Error(`layer ${layer.name} has no input ${index}`);
    return this.value(name);
  }

  private spatialInput(layer: Layer): FeatureMap {
    const x = this.input(layer, 0);
    if (x.spatial === undefined) throw new Error(`layer ${layer.name}: needs a feature map, got a flat input`);
    return x as FeatureMap;
  }

  private initializer(name: string, dims: readonly number[], data: Float32Array): string {
    this.initializers.push({
      name,
      dims: [...dims],
      dataType: TensorProto_DataType.FLOAT,
      rawData: littleEndianBytes(data),
      floatData: [],
      int64Data: [],
      docString: '',
    });
    return name;
  }

  private node(opType: string, name: string, input: string[], output: string[], attribute: AttributeProto[] = []): void {
    this.nodes.push({ opType, name, input, output, attribute, docString: '', domain: '' });
  }
}

/** Keras conv kernel [kh, kw, in, out] → ONNX [out, in, kh, kw]. */
function convKernelToOnnx(keras: Float32Array, k: number, inChannels: number, outChannels: number): Float32Array {
  const taps = k * k;
  const onnx = new Float32Array(keras.length);
  for (let tap = 0; tap < taps; tap++) {
    for (let i = 0; i < inChannels; i++) {
      const from = (tap * inChannels + i) * outChannels;
      const to = i * taps + tap;
      for (let o = 0; o < outChannels; o++) {
        onnx[o * inChannels * taps + to] = keras[from + o]!;
      }
    }
  }
  return onnx;
}

/** Keras depthwise kernel [kh, kw, channels, 1] → ONNX grouped-conv kernel [channels, 1, kh, kw]. */
function depthwiseKernelToOnnx(keras: Float32Array, k: number, channels: number): Float32Array {
  const onnx = new Float32Array(keras.length);
  for (let c = 0; c < channels; c++) {
    for (let p = 0; p < k * k; p++) onnx[c * k * k + p] = keras[p * channels + c]!;
  }
  return onnx;
}

const hostIsLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** ONNX raw_data is little-endian; on the (little-endian) hosts we run on this is a view, not a copy. */
function littleEndianBytes(data: Float32Array): Buffer {
  if (hostIsLittleEndian) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const bytes = Buffer.alloc(data.byteLength);
  data.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
  return bytes;
}

function valueInfo(name: string, dims: readonly (number | string)[]): ValueInfoProto {
  return {
    name,
    docString: '',
    type: {
      tensorType: {
        elemType: TensorProto_DataType.FLOAT,
        shape: {
          dim: dims.map((d) =>
            typeof d === 'number' ? { value: { $case: 'dimValue', value: d } } : { value: { $case: 'dimParam', value: d } },
          ),
        },
      },
    },
  };
}

function int(name: string, value: number): AttributeProto {
  return AttributeProto.create({ name, i: value, type: AttributeProto_AttributeType.INT });
}

function ints(name: string, values: readonly number[]): AttributeProto {
  return AttributeProto.create({ name, ints: [...values], type: AttributeProto_AttributeType.INTS });
}
