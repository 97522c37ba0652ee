import type { LetterboxGeometry } from './letterbox.ts';

/**
 * Output decoding of a YOLOv8/YOLO11-layout detector (`[1, 4 + classes, anchors]`: centre x,
 * centre y, width, height in input pixels, then one score per class) and class-wise
 * non-maximum suppression, as Ultralytics' post-processing does it.
 */

export interface Candidate {
  classId: number;
  confidence: number;
  /** Corners in the model's input pixels. */
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export interface DecodeOptions {
  classes: number;
  anchors: number;
  confidenceThreshold: number;
}

/** Every anchor whose best class scores at least the threshold. */
export function decodeCandidates(output: Float32Array, o: DecodeOptions): Candidate[] {
  const { anchors, classes } = o;
  if (output.length < (4 + classes) * anchors) throw new RangeError(`output has ${output.length} values, expected ${(4 + classes) * anchors}`);
  const out: Candidate[] = [];
  for (let a = 0; a < anchors; a++) {
    let best = -1;
    let score = -Infinity;
    for (let c = 0; c < classes; c++) {
      const s = output[(4 + c) * anchors + a] ?? 0;
      if (s > score) {
        score = s;
        best = c;
      }
    }
    if (score < o.confidenceThreshold) continue;
    const cx = output[a] ?? 0;
    const cy = output[anchors + a] ?? 0;
    const w = output[2 * anchors + a] ?? 0;
    const h = output[3 * anchors + a] ?? 0;
    out.push({ classId: best, confidence: score, x1: cx - w / 2, y1: cy - h / 2, x2: cx + w / 2, y2: cy + h / 2 });
  }
  return out;
}

export function iou(a: Candidate, b: Candidate): number {
  const ix = Math.max(0, Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1));
  const iy = Math.max(0, Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1));
  const inter = ix * iy;
  const union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return union <= 0 ? 0 : inter / union;
}

/** Greedy NMS per class: highest confidence first, drop same-class boxes overlapping it above `iouThreshold`. */
export function nonMaxSuppression(candidates: readonly Candidate[], iouThreshold: number, maxDetections: number): Candidate[] {
  const sorted = [...candidates].sort((a, b) => b.confidence - a.confidence);
  const kept: Candidate[] = [];
  for (const c of sorted) {
    if (kept.length >= maxDetections) break;
    if (kept.some((k) => k.classId === c.classId && iou(k, c) > iouThreshold)) continue;
    kept.push(c);
  }
  return kept;
}

/** A box in the original image's pixels (x, y = top-left), clipped to the image. */
export interface ImageBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

export function toImageBox(c: Candidate, g: LetterboxGeometry, imageWidth: number, imageHeight: number): ImageBox {
  const clip = (v: number, max: number) => Math.min(Math.max(v, 0), max);
  const x1 = clip((c.x1 - g.padX) / g.scale, imageWidth);
  const y1 = clip((c.y1 - g.padY) / g.scale, imageHeight);
  const x2 = clip((c.x2 - g.padX) / g.scale, imageWidth);
  const y2 = clip((c.y2 - g.padY) / g.scale, imageHeight);
  return { x: Math.round(x1), y: Math.round(y1), width: Math.round(x2 - x1), height: Math.round(y2 - y1) };
}

/** The 80 COCO class names in YOLO's order. */
export const COCO_CLASSES = [
  'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat', 'traffic light',
  'fire hydrant', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow',
  'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee',
  'skis', 'snowboard', 'sports ball', 'kite', 'baseball bat', 'baseball glove', 'skateboard', 'surfboard', 'tennis racket', 'bottle',
  'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple', 'sandwich', 'orange',
  'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch', 'potted plant', 'bed',
  'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote', 'keyboard', 'cell phone', 'microwave', 'oven',
  'toaster', 'sink', 'refrigerator', 'book', 'clock', 'vase', 'scissors', 'teddy bear', 'hair drier', 'toothbrush',
] as const;
