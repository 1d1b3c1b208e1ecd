/**
 * Compiles the declarative architecture plus Keras weights into an ONNX model, in memory.
 *
 * The graph takes NHWC images (what the service decodes) and transposes them to NCHW once, because ONNX
 * convolutions are NCHW; ORT's layout optimizer then reorders to its blocked NCHWc format anyway. BatchNorms fold
 * into convolutions as model/inference-graph.ts decides, so inference runs mostly Conv, Relu, Add, MaxPool and the
 * classifier. TensorFlow's 'same' padding is written as explicit (possibly asymmetric) pads computed from the
 * spatial sizes tracked through the graph.
 *
 * Three variants come from the one compiler (GraphPrecision): fp32; fp32 with every quantisation point as an extra
 * output (for calibration); and int8 in ONNX's QDQ form, which ONNX Runtime fuses into integer kernels (QLinearConv,
 * QLinearAdd, uint8 MaxPool). In the int8 graph each activation that feeds a convolution, add or pool passes through
 * QuantizeLinear → DequantizeLinear (uint8, per tensor, scales from calibration); convolution kernels are int8 per
 * output channel and biases int32; a ReLU that alone reads a convolution disappears into the convolution's output
 * quantisation (zero point 0 clamps negatives); global pooling and the classifier stay float.
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
import {
  biasScales,
  quantizeBias,
  quantizeKernelPerChannel,
  uint8Params,
  type ActivationRanges,
  type QuantParams,
} from './quantize.js';

export const INPUT_NAME = 'input';
export const OUTPUT_NAME = 'probabilities';
/** The batch dimension's symbolic name in the graph's input and output. */
const BATCH_DIM = 'batch';
const OPSET_VERSION = 17;
const IR_VERSION = 8;

/** Which graph to build: see the module comment. */
export type GraphPrecision =
  | { readonly kind: 'fp32' }
  | { readonly kind: 'calibration' }
  | { readonly kind: 'int8'; readonly ranges: ActivationRanges };

export interface CompileOptions {
  readonly precision?: GraphPrecision;
  /** Written into the model's metadata_props (e.g. the calibration set of an int8 graph). */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** A layer's output as the graph sees it: an NCHW feature map, or a [batch, features] matrix after pooling. */
interface Value {
  readonly tensor: string;
  readonly channels: number;
  /** Spatial size; undefined once flattened. */
  readonly spatial?: Spatial;
  /** The calibrated range this value is quantised with (int8 graph); undefined for float-only values. */
  readonly range?: string;
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
export function compileOnnxModel(arch: Architecture, weights: WeightMap, options: CompileOptions = {}): Uint8Array {
  return compile(arch, weights, options).model;
}

/**
 * The fp32 graph with every activation the int8 graph quantises as an extra output, and those outputs' names:
 * running it on sample images gives the ranges the int8 graph needs.
 */
export function compileCalibrationModel(
  arch: Architecture,
  weights: WeightMap,
): { model: Uint8Array; tensors: string[] } {
  const { model, observed } = compile(arch, weights, { precision: { kind: 'calibration' } });
  return { model, tensors: observed };
}

function compile(
  arch: Architecture,
  weights: WeightMap,
  options: CompileOptions,
): { model: Uint8Array; observed: string[] } {
  const precision = options.precision ?? { kind: 'fp32' };
  const graph = new GraphCompiler(arch, weights, precision).compile();
  const docs: Record<GraphPrecision['kind'], string> = {
    fp32: 'with BatchNorm folded into convolutions',
    calibration: 'with BatchNorm folded into convolutions, every quantisation point exposed for calibration',
    int8: 'with BatchNorm folded into convolutions, statically quantised (QDQ: uint8 activations, int8 per-channel kernels)',
  };
  const model: ModelProto = {
    irVersion: IR_VERSION,
    producerName: 'xception-service',
    producerVersion: '0.1.0',
    domain: '',
    modelVersion: 1,
    docString: `${arch.name}, compiled from the declarative architecture ${docs[precision.kind]}`,
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
    metadataProps: Object.entries({ 'xception.precision': precision.kind, ...options.metadata }).map(
      ([key, value]) => ({ key, value }),
    ),
  };
  return { model: ModelProto.encode(model).finish(), observed: graph.observed };
}

class GraphCompiler {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  readonly inputs: ValueInfoProto[] = [];
  readonly outputs: ValueInfoProto[] = [];
  /** Calibration graph: the quantisation points exposed as outputs. */
  readonly observed: string[] = [];

  private readonly values = new Map<string, Value>();
  /** Int8 graph: each range's scale and zero-point initializers, created once and shared by its Q/DQ nodes. */
  private readonly quantParams = new Map<string, { params: QuantParams; scale: string; zeroPoint: string }>();
  /** Int8 graph: ReLUs folded into the quantisation of the convolution they alone read. */
  private readonly absorbedRelus = new Set<string>();
  private readonly graph: InferenceGraph;
  private readonly weight: WeightLookup;
  private readonly lastLayer: Layer;

  constructor(
    private readonly arch: Architecture,
    weights: WeightMap,
    private readonly precision: GraphPrecision,
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
    this.outputs.unshift(valueInfo(OUTPUT_NAME, [BATCH_DIM, output.channels]));
    return this;
  }

  private compileLayer(layer: Layer): void {
    switch (layer.kind) {
      case 'input': {
        if (this.inputs.length > 0) throw new Error(`architecture ${this.arch.name} has more than one input layer`);
        if (layer.shape.some((d, i) => d !== this.arch.inputShape[i])) {
          throw new Error(
            `input layer ${layer.name} has shape [${layer.shape}], the architecture [${this.arch.inputShape}]`,
          );
        }
        const [height, width, channels] = layer.shape;
        this.inputs.push(valueInfo(INPUT_NAME, [BATCH_DIM, height, width, channels]));
        // Transposed once here; ORT's layout pass then works in its blocked NCHWc format throughout.
        const tensor = `${layer.name}/nchw`;
        this.node('Transpose', `${layer.name}/to_nchw`, [INPUT_NAME], [tensor], [ints('perm', [0, 3, 1, 2])]);
        this.values.set(layer.name, this.activation({ tensor, channels, spatial: { height, width } }));
        return;
      }
      case 'conv2d':
        this.conv2d(layer);
        return;
      case 'separableConv2d':
        this.separableConv2d(layer);
        return;
      case 'batchNorm':
        if (!this.graph.isFolded(layer.name)) this.standaloneBatchNorm(layer);
        return;
      case 'relu':
        if (this.absorbedRelus.has(layer.name)) {
          this.values.set(layer.name, this.input(layer, 0));
          return;
        }
        this.elementwise(layer, 'Relu');
        return;
      case 'add':
        this.elementwise(layer, 'Add');
        return;
      case 'maxPool':
        this.maxPool(layer);
        return;
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
        this.dense(layer);
        return;
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
    const depthwiseOut = `${layer.name}/depthwise`;
    const inputs = this.convInputs(
      x,
      `${layer.name}/depthwise`,
      [x.channels, 1, k, k],
      depthwiseKernelToOnnx(depthwise.data, k, x.channels),
    );
    this.node(
      'Conv',
      `${layer.name}/depthwise`,
      inputs,
      [depthwiseOut],
      [
        ints('kernel_shape', [k, k]),
        ints('strides', [1, 1]),
        ints('pads', [rows.before, cols.before, rows.after, cols.after]),
        int('group', x.channels),
      ],
    );
    const mid = this.activation({
      tensor: depthwiseOut,
      channels: x.channels,
      spatial: { height: rows.out, width: cols.out },
    }) as FeatureMap;
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
    const folded =
      norm === undefined ? { kernel: kerasKernel, bias } : foldBatchNorm(kerasKernel, bias, norm, this.weight);
    const outputLayer: Layer = norm ?? layer;

    const rows = tfPadding(x.spatial.height, k, stride, padding);
    const cols = tfPadding(x.spatial.width, k, stride, padding);
    const kernel = convKernelToOnnx(folded.kernel, k, x.channels, filters);
    const inputs = this.convInputs(x, nodeName, [filters, x.channels, k, k], kernel, folded.bias);
    const tensor = this.tensorName(outputLayer);
    this.node(
      'Conv',
      nodeName,
      inputs,
      [tensor],
      [
        ints('kernel_shape', [k, k]),
        ints('strides', [stride, stride]),
        ints('pads', [rows.before, cols.before, rows.after, cols.after]),
        int('group', 1),
      ],
    );
    // A ReLU that alone reads this output is the quantisation of it with the ReLU's own range (zero point 0).
    const reader = this.graph.soleReader(outputLayer.name);
    const absorbRelu = this.precision.kind === 'int8' && reader?.kind === 'relu';
    if (absorbRelu) this.absorbedRelus.add(reader.name);
    this.values.set(
      outputLayer.name,
      this.activation(
        { tensor, channels: filters, spatial: { height: rows.out, width: cols.out } },
        absorbRelu ? reader.name : tensor,
      ),
    );
  }

  /**
   * A Conv's weight inputs after its data input: the float kernel (and bias) as they are, or, in the int8 graph, int8
   * per-channel codes (and int32 bias codes at input scale × kernel scale) behind DequantizeLinear.
   */
  private convInputs(
    x: FeatureMap,
    nodeName: string,
    dims: readonly number[],
    kernel: Float32Array,
    bias?: Float32Array,
  ): string[] {
    if (this.precision.kind !== 'int8') {
      const inputs = [x.tensor, this.initializer(`${nodeName}/kernel`, dims, kernel)];
      if (bias !== undefined) inputs.push(this.initializer(`${nodeName}/bias`, [dims[0]!], bias));
      return inputs;
    }
    if (x.range === undefined) throw new Error(`${nodeName}: the int8 graph needs a quantised input, got ${x.tensor}`);
    const outChannels = dims[0]!;
    const channelAxis = [int('axis', 0)];
    const codes = quantizeKernelPerChannel(kernel, outChannels);
    const kernelName = `${nodeName}/kernel`;
    this.node(
      'DequantizeLinear',
      `${kernelName}/dequantize`,
      [
        this.rawInitializer(`${kernelName}/q`, dims, TensorProto_DataType.INT8, codes.data),
        this.initializer(`${kernelName}/scale`, [outChannels], codes.scales),
        this.rawInitializer(
          `${kernelName}/zero_point`,
          [outChannels],
          TensorProto_DataType.INT8,
          new Int8Array(outChannels),
        ),
      ],
      [kernelName],
      channelAxis,
    );
    const inputs = [x.tensor, kernelName];
    if (bias !== undefined) {
      const scales = biasScales(this.quantization(x.range).params.scale, codes.scales);
      const biasName = `${nodeName}/bias`;
      this.node(
        'DequantizeLinear',
        `${biasName}/dequantize`,
        [
          this.rawInitializer(`${biasName}/q`, [outChannels], TensorProto_DataType.INT32, quantizeBias(bias, scales)),
          this.initializer(`${biasName}/scale`, [outChannels], scales),
          this.rawInitializer(
            `${biasName}/zero_point`,
            [outChannels],
            TensorProto_DataType.INT32,
            new Int32Array(outChannels),
          ),
        ],
        [biasName],
        channelAxis,
      );
      inputs.push(biasName);
    }
    return inputs;
  }

  /**
   * A quantisation point: a tensor the int8 graph stores as uint8. The fp32 graph leaves it alone; the calibration
   * graph also outputs it; the int8 graph routes it through QuantizeLinear → DequantizeLinear with the scale of
   * `range` (its own name unless a ReLU or pool shares another's), and readers take the dequantised tensor.
   */
  private activation(value: Value, range = value.tensor): Value {
    switch (this.precision.kind) {
      case 'fp32':
        return value;
      case 'calibration':
        if (range === value.tensor) {
          this.observed.push(value.tensor);
          this.outputs.push(
            valueInfo(value.tensor, [
              BATCH_DIM,
              value.channels,
              ...(value.spatial ? [value.spatial.height, value.spatial.width] : []),
            ]),
          );
        }
        return { ...value, range };
      case 'int8': {
        const { scale, zeroPoint } = this.quantization(range);
        const quantized = `${value.tensor}/quantized`;
        const dequantized = `${value.tensor}/dequantized`;
        this.node('QuantizeLinear', `${value.tensor}/quantize`, [value.tensor, scale, zeroPoint], [quantized]);
        this.node('DequantizeLinear', `${value.tensor}/dequantize`, [quantized, scale, zeroPoint], [dequantized]);
        return { ...value, tensor: dequantized, range };
      }
    }
  }

  /** The uint8 parameters of a calibrated range, and their initializers. */
  private quantization(range: string): { params: QuantParams; scale: string; zeroPoint: string } {
    let known = this.quantParams.get(range);
    if (known !== undefined) return known;
    if (this.precision.kind !== 'int8') throw new Error('quantisation parameters exist only in the int8 graph');
    const calibrated = this.precision.ranges.get(range);
    if (calibrated === undefined)
      throw new Error(`no calibrated range for tensor ${range}: the calibration does not match this graph`);
    const params = uint8Params(calibrated);
    known = {
      params,
      scale: this.initializer(`${range}/scale`, [], Float32Array.of(params.scale)),
      zeroPoint: this.rawInitializer(
        `${range}/zero_point`,
        [],
        TensorProto_DataType.UINT8,
        Uint8Array.of(params.zeroPoint),
      ),
    };
    this.quantParams.set(range, known);
    return known;
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
    this.values.set(layer.name, this.activation({ ...x, tensor }));
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
    this.node(
      opType,
      layer.name,
      inputs.map((v) => v.tensor),
      [tensor],
    );
    const value = { ...first, tensor };
    this.values.set(layer.name, first.spatial === undefined ? value : this.activation(value));
  }

  /** ONNX MaxPool never lets padded cells win, which is TensorFlow's −∞ padding. */
  private maxPool(layer: MaxPoolLayer): void {
    const x = this.spatialInput(layer);
    const rows = tfPadding(x.spatial.height, layer.poolSize, layer.strides, layer.padding);
    const cols = tfPadding(x.spatial.width, layer.poolSize, layer.strides, layer.padding);
    const tensor = this.tensorName(layer);
    this.node(
      'MaxPool',
      layer.name,
      [x.tensor],
      [tensor],
      [
        ints('kernel_shape', [layer.poolSize, layer.poolSize]),
        ints('strides', [layer.strides, layer.strides]),
        ints('pads', [rows.before, cols.before, rows.after, cols.after]),
      ],
    );
    // Pooling picks values, so its output keeps its input's scale: with equal Q/DQ on both sides it runs on uint8.
    const value = { tensor, channels: x.channels, spatial: { height: rows.out, width: cols.out } };
    this.values.set(layer.name, x.range === undefined ? value : this.activation(value, x.range));
  }

  /** Gemm with Keras' [in, out] kernel as B, then the softmax over classes. */
  private dense(layer: DenseLayer): void {
    const x = this.input(layer, 0);
    if (x.spatial !== undefined) throw new Error(`layer ${layer.name}: dense needs a pooled (flat) input`);
    const kernel = this.weight(layer.name, 'kernel');
    const bias = this.weight(layer.name, 'bias');
    const logits = `${layer.name}/logits`;
    this.node(
      'Gemm',
      layer.name,
      [
        x.tensor,
        this.initializer(`${layer.name}/kernel`, kernel.shape, kernel.data),
        this.initializer(`${layer.name}/bias`, bias.shape, bias.data),
      ],
      [logits],
    );
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
    return this.rawInitializer(name, dims, TensorProto_DataType.FLOAT, data);
  }

  private rawInitializer(
    name: string,
    dims: readonly number[],
    dataType: TensorProto_DataType,
    data: Float32Array | Int32Array | Int8Array | Uint8Array,
  ): string {
    this.initializers.push({
      name,
      dims: [...dims],
      dataType,
      rawData: littleEndianBytes(data),
      floatData: [],
      int64Data: [],
      docString: '',
    });
    return name;
  }

  private node(
    opType: string,
    name: string,
    input: string[],
    output: string[],
    attribute: AttributeProto[] = [],
  ): void {
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
function littleEndianBytes(data: Float32Array | Int32Array | Int8Array | Uint8Array): Buffer {
  if (hostIsLittleEndian || data.BYTES_PER_ELEMENT === 1)
    return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const bytes = Buffer.alloc(data.byteLength);
  if (data instanceof Float32Array) data.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
  else data.forEach((v, i) => bytes.writeInt32LE(v, i * 4));
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
            typeof d === 'number'
              ? { value: { $case: 'dimValue', value: d } }
              : { value: { $case: 'dimParam', value: d } },
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
