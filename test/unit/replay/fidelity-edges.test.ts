import { describe, expect, it } from 'vitest';
import { judgeEdge } from '../../../harness/replay/fidelity.ts';
import { roundestWithin } from '../../../harness/replay/reconstruct-hints.ts';

describe('replay fidelity: a window edge the traces hide', () => {
  // chaos-detector-down, Dec 2 08:02: the detector's end lies between the breaker's opening and its
  // trial call on both sides; the midpoints differ by 1.01 s (an A/A rerun: by 1.23 s)
  const incident = { estimate: 15.06, bracket: [12.17, 17.94] as [number, number] };

  it('is judged by its brackets when one side cannot place it within the tolerance', () => {
    const r = judgeEdge('end', incident, { estimate: 16.07, bracket: [12.92, 19.22] }, 1);
    expect(r).toEqual({ ok: true, hidden: { edge: 'end', incidentSec: [12.17, 17.94], replaySec: [12.92, 19.22] } });
  });

  it('fails when the brackets, widened by the tolerance, do not meet', () => {
    expect(judgeEdge('end', incident, { estimate: 21.5, bracket: [19.1, 23.9] }, 1).ok).toBe(false);
  });

  it('keeps the offset rule for edges both sides place within the tolerance', () => {
    expect(judgeEdge('start', { estimate: 4.88, bracket: [4.75, 5.01] }, { estimate: 5.9, bracket: [5.8, 6.0] }, 1)).toEqual({ ok: false });
    expect(judgeEdge('start', { estimate: 4.88, bracket: [4.75, 5.01] }, { estimate: 5.8, bracket: [5.7, 5.9] }, 1)).toEqual({ ok: true });
  });
});

describe('replay hints: the breaker recovery time', () => {
  it('is the roundest value between the last refused call and the first trial call', () => {
    expect(roundestWithin(4880, 5770)).toBe('5');
    expect(roundestWithin(5200, 5770)).toBe('5.5');
    expect(roundestWithin(5560, 5770)).toBe('5.7');
    expect(roundestWithin(0, 5820)).toBe('5');
  });
  it('falls back to the trial gap when nothing round fits', () => {
    expect(roundestWithin(5760, 5770)).toBe('5.8');
  });
});
