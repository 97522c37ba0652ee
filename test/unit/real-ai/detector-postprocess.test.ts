import { describe, expect, it } from 'vitest';
import { decodeCandidates, iou, nonMaxSuppression, toImageBox, type Candidate } from '../../../reference-stack/detector-onnx/decode.ts';
import { letterbox, letterboxGeometry, PAD_VALUE } from '../../../reference-stack/detector-onnx/letterbox.ts';
import { onnxMetadata } from '../../../reference-stack/detector-onnx/engine.ts';

const box = (classId: number, confidence: number, x1: number, y1: number, x2: number, y2: number): Candidate => ({ classId, confidence, x1, y1, x2, y2 });

describe('letterbox', () => {
  it('fits a landscape image to the square, centred vertically', () => {
    const g = letterboxGeometry(1920, 1080, 640);
    expect(g.scale).toBeCloseTo(1 / 3);
    expect([g.scaledWidth, g.scaledHeight, g.padX, g.padY]).toEqual([640, 360, 0, 140]);
  });

  it('fits a portrait image, centred horizontally, and upscales a small one', () => {
    expect(letterboxGeometry(480, 640, 640)).toMatchObject({ scale: 1, scaledWidth: 480, scaledHeight: 640, padX: 80, padY: 0 });
    expect(letterboxGeometry(320, 160, 640)).toMatchObject({ scale: 2, scaledWidth: 640, scaledHeight: 320, padX: 0, padY: 160 });
  });

  it('pads with grey 114 and writes planar RGB in 0..1', () => {
    // 2x1 RGBA image: a red pixel and a blue one, to a 4x4 input: rows 1..2 hold the image.
    const { data, geometry } = letterbox({ width: 2, height: 1, channels: 4, data: new Uint8Array([255, 0, 0, 255, 0, 0, 255, 255]) }, 4);
    expect(geometry).toMatchObject({ scaledWidth: 4, scaledHeight: 2, padY: 1 });
    const plane = 16;
    expect(data[0]).toBeCloseTo(PAD_VALUE / 255); // top-left is padding, R plane
    expect(data[plane * 2 + 15]).toBeCloseTo(PAD_VALUE / 255); // bottom-right padding, B plane
    expect(data[4]).toBeCloseTo(1); // row 1, col 0: red
    expect(data[plane + 4]).toBeCloseTo(0);
    expect(data[plane * 2 + 7]).toBeCloseTo(1); // row 1, col 3: blue
    expect(data[7]).toBeCloseTo(0);
    // Bilinear in between: column 1 is mostly red, column 2 mostly blue.
    expect(data[5]).toBeGreaterThan(0.5);
    expect(data[6]).toBeLessThan(0.5);
  });

  it('maps a box in input pixels back to the original image', () => {
    const g = letterboxGeometry(1920, 1080, 640);
    expect(toImageBox(box(0, 1, 100, 240, 200, 340), g, 1920, 1080)).toEqual({ x: 300, y: 300, width: 300, height: 300 });
    // Clipped to the image.
    expect(toImageBox(box(0, 1, -10, 100, 50, 150), g, 1920, 1080)).toEqual({ x: 0, y: 0, width: 150, height: 30 });
  });
});

describe('output decoding', () => {
  it('reads the YOLOv8 layout [4 + classes, anchors] and keeps the best class above the threshold', () => {
    const anchors = 3;
    const classes = 2;
    const out = new Float32Array((4 + classes) * anchors);
    const set = (row: number, a: number, v: number) => (out[row * anchors + a] = v);
    // anchor 0: cx 100 cy 50 w 20 h 10, class 1 at 0.9; anchor 1: below threshold; anchor 2: class 0 at 0.3
    [100, 50, 20, 10].forEach((v, r) => set(r, 0, v));
    set(4, 0, 0.2);
    set(5, 0, 0.9);
    set(4, 1, 0.1);
    set(5, 1, 0.2);
    [10, 10, 4, 4].forEach((v, r) => set(r, 2, v));
    set(4, 2, 0.3);
    const c = decodeCandidates(out, { classes, anchors, confidenceThreshold: 0.25 });
    expect(c).toHaveLength(2);
    expect(c[0]).toMatchObject({ classId: 1, x1: 90, y1: 45, x2: 110, y2: 55 });
    expect(c[0]?.confidence).toBeCloseTo(0.9);
    expect(c[1]).toMatchObject({ classId: 0, x1: 8, y1: 8, x2: 12, y2: 12 });
    expect(() => decodeCandidates(out.subarray(1), { classes, anchors, confidenceThreshold: 0.25 })).toThrow(RangeError);
  });
});

describe('NMS', () => {
  it('computes IoU', () => {
    expect(iou(box(0, 1, 0, 0, 10, 10), box(0, 1, 0, 0, 10, 10))).toBe(1);
    expect(iou(box(0, 1, 0, 0, 10, 10), box(0, 1, 5, 0, 15, 10))).toBeCloseTo(50 / 150);
    expect(iou(box(0, 1, 0, 0, 10, 10), box(0, 1, 20, 20, 30, 30))).toBe(0);
  });

  it('drops same-class overlaps above the IoU threshold, keeps other classes and distant boxes', () => {
    const kept = nonMaxSuppression(
      [box(0, 0.7, 1, 1, 11, 11), box(0, 0.9, 0, 0, 10, 10), box(2, 0.8, 0, 0, 10, 10), box(0, 0.6, 50, 50, 60, 60), box(0, 0.5, 5, 0, 15, 10)],
      0.45,
      100,
    );
    expect(kept.map((k) => [k.classId, k.confidence])).toEqual([
      [0, 0.9],
      [2, 0.8],
      [0, 0.6],
      [0, 0.5], // IoU 1/3 with the best: below 0.45, kept
    ]);
  });

  it('stops at maxDetections, highest confidence first', () => {
    const many = Array.from({ length: 10 }, (_, i) => box(0, i / 10, i * 20, 0, i * 20 + 10, 10));
    expect(nonMaxSuppression(many, 0.45, 3).map((k) => k.confidence)).toEqual([0.9, 0.8, 0.7]);
  });
});

describe('ONNX metadata', () => {
  it('reads metadata_props (ModelProto field 14) from the protobuf', () => {
    const str = (field: number, s: string) => [(field << 3) | 2, Buffer.byteLength(s), ...Buffer.from(s)];
    const entry = (k: string, v: string) => {
      const body = [...str(1, k), ...str(2, v)];
      return [(14 << 3) | 2, body.length, ...body];
    };
    // ir_version (field 1, varint 8), producer_name, two metadata entries.
    const bytes = new Uint8Array([0x08, 8, ...str(2, 'hsi-chaos'), ...entry('weights', 'synthetic'), ...entry('gflops', '6.34')]);
    expect(onnxMetadata(bytes)).toEqual({ weights: 'synthetic', gflops: '6.34' });
  });
});
