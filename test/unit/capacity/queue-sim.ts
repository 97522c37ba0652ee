/**
 * A seeded single-server queue for the backlog judgement's tests: evenly spaced arrivals at
 * `rate` per second (the capacity step's constant arrival rate), lognormal service times of
 * the detector emulator's shape (mean 320 ms, p95 480 ms), c slots, the backlog (jobs in the
 * system) polled every 0.5 s from an empty start, as the step's QueueMonitor sees it.
 */
export interface SimOptions {
  rate: number;
  seconds: number;
  seed: number;
  slots?: number;
  meanMs?: number;
}

function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SIGMA = 0.268; // ln-space sigma of a lognormal with p95/mean = 1.5

/** Backlog samples { t: seconds since the load started, y: jobs queued + in service }. */
export function simulateBacklog(o: SimOptions): { t: number; y: number }[] {
  const random = mulberry32(o.seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const mu = Math.log(o.meanMs ?? 320) - (SIGMA * SIGMA) / 2;
  const free: number[] = Array.from({ length: o.slots ?? 1 }, () => 0);
  const arrivals: number[] = [];
  const departures: number[] = [];
  for (let i = 0; i < Math.floor(o.rate * o.seconds); i++) {
    const at = ((i + 0.5) / o.rate) * 1000 + (random() - 0.5) * 20;
    free.sort((a, b) => a - b);
    const start = Math.max(at, free[0]!);
    free[0] = start + Math.exp(mu + SIGMA * normal());
    arrivals.push(at);
    departures.push(free[0]);
  }
  departures.sort((a, b) => a - b);
  const samples: { t: number; y: number }[] = [];
  let arrived = 0;
  let departed = 0;
  for (let ms = 0; ms < o.seconds * 1000; ms += 500) {
    const at = ms + random() * 40; // the poll's own jitter
    while (arrived < arrivals.length && arrivals[arrived]! <= at) arrived++;
    while (departed < departures.length && departures[departed]! <= at) departed++;
    samples.push({ t: at / 1000, y: arrived - departed });
  }
  return samples;
}
