/**
 * The camera of each iteration: a smooth weighted round-robin sequence (nginx's algorithm)
 * over the cameras' weights, repeated. Deterministic, evenly interleaved, and exact in its
 * proportions over one period; shared by the native driver and the k6 script (rendered).
 */
export function cameraSequence(weights: readonly number[], maxLength = 1000): number[] {
  if (weights.length === 0) return [];
  // a period: weights made whole (up to 2 decimals), capped at maxLength
  let scale = 1;
  while (scale < 100 && weights.some((w) => Math.abs(w * scale - Math.round(w * scale)) > 1e-9)) scale *= 10;
  const whole = weights.map((w) => Math.max(1, Math.round(w * scale)));
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const common = whole.reduce(gcd);
  const period = whole.reduce((a, b) => a + b, 0) / common;
  const length = Math.min(period, maxLength);
  const total = weights.reduce((a, b) => a + b, 0);
  const current = weights.map(() => 0);
  const out: number[] = [];
  for (let n = 0; n < length; n++) {
    let best = 0;
    for (let i = 0; i < weights.length; i++) {
      current[i] = (current[i] ?? 0) + (weights[i] ?? 0);
      if ((current[i] ?? 0) > (current[best] ?? 0)) best = i;
    }
    current[best] = (current[best] ?? 0) - total;
    out.push(best);
  }
  return out;
}
