import { describe, expect, it } from 'vitest';
import { needsSpans, SilenceWatch } from '../../../assertions/hsi/span-silence.ts';
import { ScenarioExpectationSchema } from '../../../assertions/expectations.ts';

/** The watch beside the drain: one count at the mark; stopped first (or a failed count) says nothing. */
describe('SilenceWatch', () => {
  it('counts once at the mark: no span is silent, some is heard', async () => {
    let counts = 0;
    expect(await new SilenceWatch(10, async () => (counts++, 0)).watch()).toBe('silent');
    expect(await new SilenceWatch(10, async () => 3).watch()).toBe('heard');
    expect(counts).toBe(1);
  });

  it('stopped before the mark, or a count that fails, says nothing (the trace collection names a Jaeger failure)', async () => {
    const watch = new SilenceWatch(60_000, async () => 0);
    const end = watch.watch();
    watch.stop();
    expect(await end).toBe('stopped');
    expect(await new SilenceWatch(0, () => Promise.reject(new Error('Jaeger down'))).watch()).toBe('stopped');
  });

  it('only nothing-lost reads no span', () => {
    const parse = (e: unknown) => ScenarioExpectationSchema.parse(e);
    expect(needsSpans([parse({ family: 'nothing-lost' })])).toBe(false);
    expect(needsSpans([parse({ family: 'nothing-lost' }), parse({ family: 'latency' })])).toBe(true);
  });
});
