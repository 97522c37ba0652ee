import { describe, expect, it } from 'vitest';
import type { FaultExecutor } from '../../../harness/chaos/fault-executor.ts';
import { planFaultTimeline, type PlannedFault } from '../../../harness/chaos/fault-schema.ts';
import { randomFaultSchedule } from '../../../harness/chaos/random-schedule.ts';
import { ToxicTimeline } from '../../../harness/chaos/toxic-timeline.ts';
import { ConfigError } from '../../../harness/errors.ts';

const targets = ['postgres', 'redis', 'detector', 'llm'];

describe('fault timeline validation', () => {
  it('turns durations into ms and names toxics', () => {
    const [p] = planFaultTimeline([{ at: '10s', duration: '1m', target: 'detector', fault: { type: 'latency', latency: 500, jitter: 100 } }], { targets, runDurationMs: 120_000 });
    expect(p).toMatchObject({ atMs: 10_000, durationMs: 60_000, name: 'latency-detector-0', fault: { type: 'latency', latency: 500, jitter: 100, stream: 'downstream', toxicity: 1 } });
  });

  const bad: [string, unknown, RegExp][] = [
    ['unknown toxic', { at: '1s', duration: '1s', target: 'redis', fault: { type: 'packet_loss' } }, /scenario: faults\[0\]\.fault: unknown fault/],
    ['unknown target', { at: '1s', duration: '1s', target: 'kafka', fault: { type: 'down' } }, /faults\[0\] \(down-kafka-0 on kafka at 1s\): unknown target "kafka"/],
    ['bad duration', { at: 'soon', duration: '1s', target: 'redis', fault: { type: 'down' } }, /faults\[0\]\.at: not a duration: "soon"/],
    ['toxicity above 1', { at: '1s', duration: '1s', target: 'redis', fault: { type: 'reset_peer', toxicity: 2 } }, /faults\[0\]\.fault\.toxicity/],
    ['outside the run', { at: '50s', duration: '20s', target: 'redis', fault: { type: 'down' } }, /ends at 1m10s, after the load ends \(1m\)/],
    ['emulator fault on postgres', { at: '1s', duration: '1s', target: 'postgres', fault: { type: 'emulator', error_rate: 0.2 } }, /has no emulator fault endpoint/],
  ];
  for (const [what, entry, message] of bad) {
    it(`rejects ${what} in one line naming the entry`, () => {
      let error: unknown;
      try {
        planFaultTimeline([entry], { targets, runDurationMs: 60_000 });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain('\n');
    });
  }

  it('rejects overlapping toxics of the same name, allows different ones', () => {
    const a = { name: 'slow', at: '1s', duration: '10s', target: 'detector', fault: { type: 'latency', latency: 100 } };
    expect(() => planFaultTimeline([a, { ...a, at: '5s' }], { targets })).toThrowError(/faults\[1\] .* overlaps faults\[0\]/);
    expect(planFaultTimeline([a, { ...a, name: 'slower', at: '5s' }], { targets })).toHaveLength(2);
    expect(planFaultTimeline([a, { ...a, at: '11s' }], { targets })).toHaveLength(2);
  });
});

describe('seeded random schedule', () => {
  const options = {
    seed: 'night-42',
    runDurationMs: 300_000,
    count: 6,
    minDurationMs: 5_000,
    maxDurationMs: 20_000,
    candidates: [
      { target: 'detector', fault: { type: 'latency' as const, latency: 800 } },
      { target: 'redis', fault: { type: 'reset_peer' as const } },
      { target: 'llm', fault: { type: 'emulator' as const, error_rate: 0.2 } },
    ],
  };
  it('is the same for the same seed and valid', () => {
    const a = randomFaultSchedule(options);
    expect(randomFaultSchedule(options)).toEqual(a);
    expect(randomFaultSchedule({ ...options, seed: 'other' })).not.toEqual(a);
    expect(a).toHaveLength(6);
    expect(() => planFaultTimeline(a, { targets, runDurationMs: 300_000 })).not.toThrow();
  });
});

class RecordingExecutor implements FaultExecutor {
  readonly calls: string[] = [];
  resets = 0;
  private readonly delayMs: number;
  constructor(delayMs = 0) {
    this.delayMs = delayMs;
  }
  async apply(f: PlannedFault) {
    await new Promise((r) => setTimeout(r, this.delayMs));
    this.calls.push(`apply ${f.name}`);
  }
  async remove(f: PlannedFault) {
    this.calls.push(`remove ${f.name}`);
  }
  async resetAll() {
    this.resets += 1;
  }
}

describe('ToxicTimeline', () => {
  it('applies and removes on schedule and records the lag', async () => {
    const plan = planFaultTimeline(
      [
        { name: 'a', at: 50, duration: 100, target: 'detector', fault: { type: 'latency', latency: 1 } },
        { name: 'b', at: 80, duration: 40, target: 'redis', fault: { type: 'down' } },
      ],
      { targets },
    );
    const exec = new RecordingExecutor(5);
    const timeline = new ToxicTimeline(plan, exec);
    await timeline.start(performance.now());
    expect(exec.calls).toEqual(['apply a', 'apply b', 'remove b', 'remove a']);
    for (const r of timeline.records()) {
      expect(r.applyLagMs).toBeGreaterThanOrEqual(0);
      expect(r.applyLagMs).toBeLessThan(50);
      expect(r.removeLagMs).toBeLessThan(50);
    }
  });

  it('stop() cancels what is pending, rolls back what is in effect', async () => {
    const plan = planFaultTimeline(
      [
        { name: 'now', at: 0, duration: 10_000, target: 'detector', fault: { type: 'latency', latency: 1 } },
        { name: 'later', at: 5_000, duration: 1_000, target: 'redis', fault: { type: 'down' } },
      ],
      { targets },
    );
    const exec = new RecordingExecutor();
    const timeline = new ToxicTimeline(plan, exec);
    void timeline.start(performance.now());
    await new Promise((r) => setTimeout(r, 30));
    await timeline.stop();
    expect(exec.calls).toEqual(['apply now']);
    expect(exec.resets).toBe(1);
    const [now, later] = timeline.records();
    expect(now?.rolledBack).toBe(true);
    expect(later?.appliedAtMs).toBeUndefined();
  });
});
