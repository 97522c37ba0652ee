import { existsSync, statSync } from 'node:fs';

/**
 * The model runner behind the real detector: ONNX Runtime through `onnxruntime-node`, loaded
 * at run time (it lives only in the detector image, not in the project's dependencies), with
 * the CUDA execution provider when asked for or available and the CPU one otherwise.
 */

export interface DetectorEngine {
  /** 'cuda' or 'cpu': where inference runs. */
  readonly device: 'cuda' | 'cpu';
  readonly inputName: string;
  readonly outputName: string;
  /** Square input side (from the model's input shape; 640 for YOLO). */
  readonly inputSize: number;
  /** The output's [4 + classes, anchors]. */
  readonly outputShape: readonly [number, number];
  /** ONNX metadata_props (weights, gflops, ...). */
  readonly metadata: Readonly<Record<string, string>>;
  run(input: Float32Array): Promise<Float32Array>;
}

export class ModelFileError extends Error {
  override name = 'ModelFileError';
}

/** The slice of onnxruntime-node's API used here. */
interface OrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
}
interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata?: readonly { name: string; shape?: readonly (number | string)[] }[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
}
interface OrtModule {
  InferenceSession: { create(path: string, options: Record<string, unknown>): Promise<OrtSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
  listSupportedBackends?: () => readonly { name: string }[];
}

async function loadOrt(): Promise<OrtModule> {
  const name = 'onnxruntime-node';
  return (await import(name)) as OrtModule;
}

function describeMetadata(session: OrtSession): number {
  const shape = session.inputMetadata?.[0]?.shape;
  const side = shape?.[3];
  return typeof side === 'number' && side > 0 ? side : 640;
}

export interface EngineOptions {
  modelPath: string;
  device: 'auto' | 'cpu' | 'cuda';
  threads: number;
}

export async function createOnnxEngine(o: EngineOptions): Promise<DetectorEngine> {
  if (!existsSync(o.modelPath) || !statSync(o.modelPath).isFile()) {
    throw new ModelFileError(`model file ${o.modelPath} does not exist; mount it or set DETECTOR_MODEL_PATH`);
  }
  const ort = await loadOrt();
  const cpu = { executionProviders: ['cpu'], intraOpNumThreads: o.threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' };
  let session: OrtSession;
  let device: 'cuda' | 'cpu' = 'cpu';
  // auto tries CUDA only where a GPU is visible: elsewhere the failed attempt only adds noise.
  const gpuVisible = existsSync('/dev/nvidia0') || (process.env['NVIDIA_VISIBLE_DEVICES'] ?? 'void') !== 'void';
  if (o.device === 'cuda' || (o.device === 'auto' && gpuVisible)) {
    try {
      session = await ort.InferenceSession.create(o.modelPath, { ...cpu, executionProviders: ['cuda', 'cpu'] });
      device = 'cuda';
    } catch (error) {
      if (o.device === 'cuda') throw new Error(`the CUDA execution provider did not load: ${(error as Error).message}`);
      session = await ort.InferenceSession.create(o.modelPath, cpu);
    }
  } else {
    session = await ort.InferenceSession.create(o.modelPath, cpu);
  }
  return new OrtEngine(ort, session, device, await readMetadata(o.modelPath));
}

/** metadata_props of an ONNX file, read from its protobuf (field 14 of ModelProto: key 1, value 2). */
export async function readMetadata(path: string): Promise<Record<string, string>> {
  const { readFile } = await import('node:fs/promises');
  return onnxMetadata(await readFile(path));
}

function varint(buf: Uint8Array, at: number): [number, number] {
  let value = 0;
  let shift = 0;
  for (let i = at; i < buf.length; i++) {
    const b = buf[i] ?? 0;
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0) return [value, i + 1];
  }
  throw new RangeError('truncated varint');
}

/** Top-level fields of a protobuf message: [field number, wire type, start, end] of each length-delimited one. */
function* fields(buf: Uint8Array, start: number, end: number): Generator<{ field: number; start: number; end: number }> {
  let at = start;
  while (at < end) {
    const [key, next] = varint(buf, at);
    const field = Math.floor(key / 8);
    const wire = key % 8;
    at = next;
    if (wire === 0) at = varint(buf, at)[1];
    else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else if (wire === 2) {
      const [len, body] = varint(buf, at);
      yield { field, start: body, end: body + len };
      at = body + len;
    } else throw new RangeError(`unsupported wire type ${wire}`);
  }
}

export function onnxMetadata(buf: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  const text = (s: number, e: number) => Buffer.from(buf.buffer, buf.byteOffset + s, e - s).toString('utf8');
  for (const f of fields(buf, 0, buf.length)) {
    if (f.field !== 14) continue;
    let key = '';
    let value = '';
    for (const kv of fields(buf, f.start, f.end)) {
      if (kv.field === 1) key = text(kv.start, kv.end);
      else if (kv.field === 2) value = text(kv.start, kv.end);
    }
    if (key !== '') out[key] = value;
  }
  return out;
}

class OrtEngine implements DetectorEngine {
  readonly inputName: string;
  readonly outputName: string;
  readonly inputSize: number;
  outputShape: readonly [number, number] = [84, 8400];
  readonly device: 'cuda' | 'cpu';
  readonly metadata: Readonly<Record<string, string>>;
  private readonly ort: OrtModule;
  private readonly session: OrtSession;
  constructor(ort: OrtModule, session: OrtSession, device: 'cuda' | 'cpu', metadata: Readonly<Record<string, string>>) {
    this.ort = ort;
    this.session = session;
    this.device = device;
    this.metadata = metadata;
    this.inputName = session.inputNames[0] ?? 'images';
    this.outputName = session.outputNames[0] ?? 'output0';
    this.inputSize = describeMetadata(session);
  }

  async run(input: Float32Array): Promise<Float32Array> {
    const tensor = new this.ort.Tensor('float32', input, [1, 3, this.inputSize, this.inputSize]);
    const out = (await this.session.run({ [this.inputName]: tensor }))[this.outputName];
    if (out === undefined || !(out.data instanceof Float32Array)) throw new Error(`model gave no float32 output ${this.outputName}`);
    const [, rows, anchors] = out.dims;
    if (rows !== undefined && anchors !== undefined) this.outputShape = [rows, anchors];
    return out.data;
  }
}
