/**
 * Runs a TensorFlow.js graph model (tfjs-converter's `model.json` and weight files) made of the
 * few operations a BlazeFace detector uses, with tfjs-core's own ops and weight decoder.
 *
 * Written by hand, in place of tfjs-converter's `loadGraphModel`, for size: the converter runs
 * any graph, so it brings an executor for every TensorFlow operation and, through them, most of
 * tfjs-core. Measured with esbuild (minified, gzipped), tfjs-core + the wasm backend + the
 * converter come to 139 KB of script; tfjs-core's base + the wasm backend's kernels for these
 * operations + this file to about 50 KB. A model that needs another operation is refused when it
 * is loaded, not half-run.
 */
import { add, depthwiseConv2d, fused, io, maxPool, pad, relu, reshape, type NamedTensorMap, type Tensor, type Tensor4D } from '@tensorflow/tfjs-core';

/** One attribute of a node, as TensorFlow's GraphDef JSON writes it (`s` is base64, integers are strings). */
interface AttrValue {
  s?: string;
  i?: string;
  f?: number;
  b?: boolean;
  list?: { i?: string[]; s?: string[] };
}

export interface NodeDef {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, AttrValue>;
}

/** The parts of tfjs-converter's model.json this runner reads. */
export interface GraphModelJson {
  modelTopology: { node: NodeDef[] };
  weightsManifest: Array<{ paths: string[]; weights: io.WeightsManifestEntry[] }>;
}

type Step = (inputs: Tensor[]) => Tensor;
type Plan = Array<{ name: string; inputs: string[]; step: Step }>;

/** `atob` on both platforms: attribute strings are short ASCII. */
const decodeText = (base64: string | undefined): string => (base64 === undefined ? '' : atob(base64));
const integers = (value: AttrValue | undefined): number[] => (value?.list?.i ?? []).map(Number);
const pair = (values: number[], fallback: number): [number, number] => [values[1] ?? fallback, values[2] ?? fallback];

function padding(node: NodeDef): 'same' | 'valid' {
  const value = decodeText(node.attr?.padding?.s);
  if (value === 'SAME') return 'same';
  if (value === 'VALID') return 'valid';
  throw new Error(`${node.name}: padding ${value} is not supported`);
}

function checkNhwc(node: NodeDef): void {
  const format = decodeText(node.attr?.data_format?.s);
  if (format !== '' && format !== 'NHWC') throw new Error(`${node.name}: data format ${format} is not supported`);
}

/** The operation of a node, with its attributes read once; `constant` reads a Const input's values. */
function stepOf(node: NodeDef, constant: (name: string) => number[]): Step {
  const inputName = (index: number) => node.input?.[index]?.replace(/:0$/, '') ?? '';
  switch (node.op) {
    case 'Identity':
      return ([x]) => x as Tensor;
    case 'AddV2':
    case 'Add':
      return ([a, b]) => add(a as Tensor, b as Tensor);
    case 'Relu':
      return ([x]) => relu(x as Tensor);
    case 'Reshape': {
      const shape = constant(inputName(1));
      return ([x]) => reshape(x as Tensor, shape);
    }
    case 'Pad': {
      const flat = constant(inputName(1));
      const paddings = Array.from({ length: flat.length / 2 }, (_, axis): [number, number] => [flat[2 * axis] ?? 0, flat[2 * axis + 1] ?? 0]);
      return ([x]) => pad(x as Tensor, paddings);
    }
    case 'MaxPool': {
      checkNhwc(node);
      const size = pair(integers(node.attr?.ksize), 1);
      const strides = pair(integers(node.attr?.strides), 1);
      const mode = padding(node);
      return ([x]) => maxPool(x as Tensor4D, size, strides, mode);
    }
    case 'DepthwiseConv2dNative': {
      checkNhwc(node);
      const strides = pair(integers(node.attr?.strides), 1);
      const dilations = pair(integers(node.attr?.dilations), 1);
      const mode = padding(node);
      return ([x, filter]) => depthwiseConv2d(x as Tensor4D, filter as Tensor4D, strides, mode, 'NHWC', dilations);
    }
    case '_FusedConv2D': {
      checkNhwc(node);
      const strides = pair(integers(node.attr?.strides), 1);
      const dilations = pair(integers(node.attr?.dilations), 1);
      const mode = padding(node);
      const fusedOps = (node.attr?.fused_ops?.list?.s ?? []).map(decodeText);
      if (fusedOps[0] !== 'BiasAdd' || fusedOps.length > 2 || (fusedOps.length === 2 && fusedOps[1] !== 'Relu')) {
        throw new Error(`${node.name}: fused operations ${fusedOps.join('+')} are not supported`);
      }
      const activation = fusedOps[1] === 'Relu' ? 'relu' : 'linear';
      return ([x, filter, bias]) =>
        fused.conv2d({ x: x as Tensor4D, filter: filter as Tensor4D, bias: bias as Tensor, strides, pad: mode, dataFormat: 'NHWC', dilations, activation });
    }
    default:
      throw new Error(`${node.name}: operation ${node.op} is not supported`);
  }
}

/**
 * A graph model ready to run: its weights as tensors (kept until `dispose`), its operations in
 * an order where every input comes before its use.
 *
 * @example
 * const graph = GraphModel.load(modelJson, weightBytes);
 * const [scores, boxes] = tidy(() => graph.run({ input }, ['Identity', 'Identity_2']));
 */
export class GraphModel {
  readonly #weights: NamedTensorMap;
  readonly #plan: Plan;

  private constructor(weights: NamedTensorMap, plan: Plan) {
    this.#weights = weights;
    this.#plan = plan;
  }

  /** Decodes the weights (float32, or quantized as the manifest says) and checks every operation is supported. */
  static load(model: GraphModelJson, weightData: ArrayBuffer): GraphModel {
    const specs = model.weightsManifest.flatMap((group) => group.weights);
    const weights = io.decodeWeights(weightData, specs);
    const constant = (name: string): number[] => {
      const tensor = weights[name];
      if (tensor === undefined) throw new Error(`the model has no constant ${name}`);
      return Array.from(tensor.dataSync());
    };
    const plan = model.modelTopology.node
      .filter((node) => node.op !== 'Const' && node.op !== 'Placeholder')
      .map((node) => ({
        name: node.name,
        inputs: (node.input ?? []).filter((input) => !input.startsWith('^')).map((input) => input.replace(/:0$/, '')),
        step: stepOf(node, constant),
      }));
    return new GraphModel(weights, order(plan, new Set([...Object.keys(weights), ...placeholders(model)])));
  }

  /**
   * Runs the graph on `feeds` (by placeholder name) and returns the named outputs. Intermediate
   * tensors are left to the caller's `tidy`.
   */
  run(feeds: NamedTensorMap, outputs: string[]): Tensor[] {
    const values = new Map<string, Tensor>(Object.entries({ ...this.#weights, ...feeds }));
    for (const { name, inputs, step } of this.#plan) {
      values.set(name, step(inputs.map((input) => values.get(input) as Tensor)));
    }
    return outputs.map((output) => {
      const value = values.get(output);
      if (value === undefined) throw new Error(`the model has no output ${output}`);
      return value;
    });
  }

  dispose(): void {
    for (const tensor of Object.values(this.#weights)) tensor.dispose();
  }
}

const placeholders = (model: GraphModelJson): string[] => model.modelTopology.node.filter((node) => node.op === 'Placeholder').map((node) => node.name);

/** The steps in an order where each one's inputs are known before it runs (a converter's JSON need not be ordered). */
function order<T extends { name: string; inputs: string[] }>(steps: T[], known: Set<string>): T[] {
  const ordered: T[] = [];
  let waiting = steps;
  while (waiting.length > 0) {
    const ready = waiting.filter((step) => step.inputs.every((input) => known.has(input)));
    if (ready.length === 0) throw new Error(`the model's graph cannot be ordered at ${waiting[0]?.name}`);
    for (const step of ready) known.add(step.name);
    ordered.push(...ready);
    waiting = waiting.filter((step) => !ready.includes(step));
  }
  return ordered;
}
