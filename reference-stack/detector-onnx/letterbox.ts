/**
 * Letterboxing as YOLO models expect it: scale the image to fit a square input keeping its
 * aspect ratio (bilinear), centre it, pad with grey 114, and lay it out as planar RGB floats
 * in 0..1 (NCHW, batch 1). The geometry maps detections back to the original pixels.
 */

export interface LetterboxGeometry {
  /** Input side (640). */
  size: number;
  /** Original pixels → input pixels. */
  scale: number;
  /** Padding added on the left and the top, in input pixels. */
  padX: number;
  padY: number;
  /** The scaled image's size inside the input. */
  scaledWidth: number;
  scaledHeight: number;
}

export const PAD_VALUE = 114;

export function letterboxGeometry(width: number, height: number, size: number): LetterboxGeometry {
  if (!(width > 0 && height > 0 && size > 0)) throw new RangeError('letterbox needs positive sizes');
  const scale = Math.min(size / width, size / height);
  const scaledWidth = Math.max(1, Math.round(width * scale));
  const scaledHeight = Math.max(1, Math.round(height * scale));
  return { size, scale, padX: Math.floor((size - scaledWidth) / 2), padY: Math.floor((size - scaledHeight) / 2), scaledWidth, scaledHeight };
}

/** An interleaved image: 3 (RGB) or 4 (RGBA) bytes per pixel, rows without padding. */
export interface RasterImage {
  width: number;
  height: number;
  channels: 3 | 4;
  data: Uint8Array;
}

/** Source coordinate and weight of one output row or column (bilinear, pixel centres aligned). */
function axisTaps(outLength: number, inLength: number): { i0: Int32Array; i1: Int32Array; w: Float32Array } {
  const i0 = new Int32Array(outLength);
  const i1 = new Int32Array(outLength);
  const w = new Float32Array(outLength);
  const ratio = inLength / outLength;
  for (let o = 0; o < outLength; o++) {
    const src = Math.min(Math.max((o + 0.5) * ratio - 0.5, 0), inLength - 1);
    const lo = Math.floor(src);
    i0[o] = lo;
    i1[o] = Math.min(lo + 1, inLength - 1);
    w[o] = src - lo;
  }
  return { i0, i1, w };
}

/** The letterboxed input tensor's data (length 3·size·size) and its geometry. */
export function letterbox(image: RasterImage, size: number): { data: Float32Array; geometry: LetterboxGeometry } {
  const g = letterboxGeometry(image.width, image.height, size);
  const plane = size * size;
  const data = new Float32Array(3 * plane).fill(PAD_VALUE / 255);
  const xs = axisTaps(g.scaledWidth, image.width);
  const ys = axisTaps(g.scaledHeight, image.height);
  const { channels, width } = image;
  const src = image.data;
  for (let y = 0; y < g.scaledHeight; y++) {
    const r0 = (ys.i0[y] ?? 0) * width;
    const r1 = (ys.i1[y] ?? 0) * width;
    const wy = ys.w[y] ?? 0;
    const rowOut = (y + g.padY) * size + g.padX;
    for (let x = 0; x < g.scaledWidth; x++) {
      const c0 = xs.i0[x] ?? 0;
      const c1 = xs.i1[x] ?? 0;
      const wx = xs.w[x] ?? 0;
      const a = (r0 + c0) * channels;
      const b = (r0 + c1) * channels;
      const c = (r1 + c0) * channels;
      const d = (r1 + c1) * channels;
      for (let ch = 0; ch < 3; ch++) {
        const top = (src[a + ch] ?? 0) * (1 - wx) + (src[b + ch] ?? 0) * wx;
        const bottom = (src[c + ch] ?? 0) * (1 - wx) + (src[d + ch] ?? 0) * wx;
        data[ch * plane + rowOut + x] = (top * (1 - wy) + bottom * wy) / 255;
      }
    }
  }
  return { data, geometry: g };
}
