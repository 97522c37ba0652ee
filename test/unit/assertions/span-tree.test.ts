import { describe, expect, it } from 'vitest';
import { hsiAnalysisTree, hsiUploadTree } from '../../../assertions/hsi/expectations.ts';
import { checkSpanTree, describeCount, evaluateSpanTree } from '../../../assertions/span-tree/evaluate.ts';
import { parseSpanTreeExpectation, span, spanTree, SpanTreeExpectationSchema } from '../../../assertions/span-tree/model.ts';
import { setup } from '../../../assertions/vitest-matchers.ts';
import type { SpanSelectorInput } from '../../../assertions/selectors.ts';
import { ConfigError } from '../../../harness/errors.ts';
import { BACKEND, DETECTOR, hsiRun, hsiUploadTraces, mkTree, uploadTraceId } from './helpers.ts';

setup();

describe('span tree: DSL and JSON form', () => {
  const dsl = span({ service: 'nemotron-backend', name: 'detection_processing' }).child(
    span({ name: /^yolo26_detection/ })
      .expect({ retry_attempt: { gte: 0 } })
      .descendant(span({ service: 'ai-yolo26-emulator', kind: 'server' }).under('some')),
  );
  const json = {
    root: {
      service: 'nemotron-backend',
      name: 'detection_processing',
      children: [
        {
          name: { regex: '^yolo26_detection' },
          expect: { retry_attempt: { gte: 0 } },
          relation: 'child',
          children: [{ service: 'ai-yolo26-emulator', kind: 'server', under: 'some', relation: 'descendant' }],
        },
      ],
    },
  };

  it('produce the same model: the DSL output is plain JSON that the schema accepts', () => {
    const fromDsl = spanTree(dsl);
    expect(fromDsl).toEqual(parseSpanTreeExpectation(json));
    expect(JSON.parse(JSON.stringify(fromDsl))).toEqual(fromDsl);
    expect(SpanTreeExpectationSchema.safeParse(fromDsl).success).toBe(true);
  });

  it('builders are immutable', () => {
    const base = span({ name: 'a' });
    const withChild = base.child(span({ name: 'b' }));
    expect(base.node.children).toBeUndefined();
    expect(withChild.node.children).toHaveLength(1);
    expect(base.exactly(2).node.count).toBe(2);
    expect(base.node.count).toBeUndefined();
  });

  it('rejects a bad JSON expectation with one line naming the field', () => {
    const bad = { root: { name: 'x', children: [{ name: 'y', kind: 'sever' }] } };
    expect(() => parseSpanTreeExpectation(bad, 'scenario.json')).toThrow(ConfigError);
    expect(() => parseSpanTreeExpectation(bad, 'scenario.json')).toThrow(/^scenario\.json: root\.children\.0\.kind: expected a span kind/);
    expect(() => parseSpanTreeExpectation({ root: { name: { regex: '(' } } }, 's')).toThrow(/^s: root\.name: /);
    expect(() => parseSpanTreeExpectation({ root: { name: 'x', colour: 'red' } }, 's')).toThrow(/^s: root: Unrecognized key: "colour"/);
    expect(() => parseSpanTreeExpectation({ root: { name: 'x', count: { min: 3, max: 1 } } }, 's')).toThrow(/root\.count/);
    const message = (() => {
      try {
        parseSpanTreeExpectation(bad, 'scenario.json');
      } catch (error) {
        return (error as Error).message;
      }
      return '';
    })();
    expect(message.split('\n')).toHaveLength(1);
  });
});

describe('span tree: evaluation', () => {
  it('the healthy HSI upload trace matches the built-in expectation (detection and analysis part)', () => {
    const { traces } = hsiRun({ uploads: 3, analysis: true });
    for (const t of traces) {
      expect(t).toMatchSpanTree(hsiUploadTree());
      expect(t).toMatchSpanTree(hsiUploadTree({ analysis: true }));
    }
    // Only the batch's opening upload carries the analysis part.
    expect(traces[0]).toMatchSpanTree(hsiUploadTree({ analysis: true, analysisRequired: true }));
    expect(traces[1]).not.toMatchSpanTree(hsiUploadTree({ analysis: true, analysisRequired: true }));
    expect(traces[0]).toMatchSpanTree(hsiAnalysisTree());
    expect(checkSpanTree(traces, hsiUploadTree({ analysis: true }))).toPass();
  });

  it('the example DSL tree from the brief matches a healthy trace anywhere in it', () => {
    const [t] = hsiUploadTraces({ n: 1 });
    const tree = span({ service: BACKEND, name: 'detection_processing' }).child(span({ name: 'yolo26_detection_request' }).descendant(span({ service: DETECTOR, kind: 'server' })));
    expect(t).toMatchSpanTree(tree);
  });

  it('detector not instrumented: names the missing detector span and its expected parent', () => {
    const { traces } = hsiRun({ uploads: 4, defects: { detectorNotInstrumented: true } });
    const result = checkSpanTree(traces, hsiUploadTree());
    expect(result.passed).toBe(false);
    expect(result.family).toBe('span-tree');
    expect(result.measured).toMatchObject({ value: 4, text: '4/4 traces failing' });
    expect(result.message).toContain(`under nemotron-backend "yolo26_detection_request" expected a child ai-yolo26-emulator "POST /detect": none (0 of min 1)`);
    expect(result.message).toMatch(/^span tree "hsi upload \(detection \+ analysis\)" fails in 4\/4 traces: trace a0{30}\d: /);
    expect(result.exampleTraceIds).toHaveLength(4);
  });

  it('queue without trace context: the consumer is missing under the producer', () => {
    const { traces, uploads } = hsiRun({ uploads: 2, defects: { queueNoContext: true } });
    const uploadTraces = traces.filter((t) => uploads.some((u) => u.traceId === t.traceId));
    const e = evaluateSpanTree(uploadTraces[0]!, hsiUploadTree());
    expect(e.passed).toBe(false);
    expect(e.failures[0]!.message).toBe(
      `trace ${uploadTraceId(1)}: under nemotron-backend "detection_queue publish" expected a child nemotron-backend "detection_processing": none (0 of min 1)`,
    );
    expect(e.failures[0]!.parent?.name).toBe('detection_queue publish');
    // The worker's trace has detection_processing as a root, not the upload span.
    const worker = traces.find((t) => t.roots[0]?.name === 'detection_processing')!;
    const w = evaluateSpanTree(worker, hsiUploadTree());
    expect(w.failures[0]!.detail).toMatch(/^expected a root nemotron-backend "POST \/api\/cameras\/\{camera_id\}\/uploads": none \(0 of min 1\) \(roots: nemotron-backend "detection_processing"\)/);
  });

  it('counts: exactly, max, none; relations child vs descendant', () => {
    const t = mkTree('1', [
      { id: '1', name: 'root', start: 0, dur: 100 },
      { id: '2', parent: '1', name: 'mid', start: 10, dur: 50 },
      { id: '3', parent: '2', name: 'leaf', start: 20, dur: 10, attrs: { n: 3, tag: 'abc' } },
      { id: '4', parent: '2', name: 'leaf', start: 40, dur: 10, attrs: { n: 7, tag: 'abd' } },
    ]);
    expect(t).toMatchSpanTree(span({ name: 'root' }).descendant(span({ name: 'leaf' }).exactly(2)));
    expect(t).not.toMatchSpanTree(span({ name: 'root' }).child(span({ name: 'leaf' })));
    expect(t).toMatchSpanTree(span({ name: 'root' }).child(span({ name: 'leaf' }).none()));
    const e = evaluateSpanTree(t, span({ name: 'mid' }).child(span({ name: 'leaf' }).atMost(1)));
    expect(e.failures[0]!.detail).toBe('under svc "mid" expected a child "leaf": 2 (max 1)'.replace('svc', 'nemotron-backend'));
    const exact = evaluateSpanTree(t, span({ name: 'mid' }).child(span({ name: 'leaf' }).exactly(3)));
    expect(exact.failures[0]!.detail).toContain(': 2 (exactly 3)');
    expect(evaluateSpanTree(t, spanTree(span({ name: 'mid' }), { match: 'root' })).failures[0]!.detail).toContain('expected a root "mid": none (0 of min 1) (found 1 not at the root, e.g. under nemotron-backend "root")');
    expect(t).toMatchSpanTree(spanTree(span({ name: 'root' }), { match: 'root' }));
  });

  it('selects by attributes (equality, RegExp, exists, numeric) and checks attributes of matched spans', () => {
    const t = mkTree('1', [
      { id: '1', name: 'root', start: 0, dur: 100 },
      { id: '3', parent: '1', name: 'leaf', start: 20, dur: 10, attrs: { n: 3, tag: 'abc', flag: true } },
      { id: '4', parent: '1', name: 'leaf', start: 40, dur: 10, attrs: { n: '7', tag: 'abd' } },
    ]);
    const count = (attributes: SpanSelectorInput['attributes']) => evaluateSpanTree(t, span({ name: 'root' }).child(span({ name: 'leaf', attributes: attributes ?? {} }).exactly(1))).passed;
    expect(count({ tag: 'abc' })).toBe(true);
    expect(count({ tag: /d$/ })).toBe(true);
    expect(count({ flag: { exists: true } })).toBe(true);
    expect(count({ flag: true })).toBe(true);
    expect(count({ n: { gt: 5 } })).toBe(true); // '7' counts as 7
    expect(count({ n: { gte: 3, lt: 4 } })).toBe(true);
    expect(count({ n: 7 })).toBe(true); // compared as text when the types differ
    const checked = evaluateSpanTree(t, span({ name: 'root' }).child(span({ name: 'leaf' }).exactly(2).expect({ flag: { exists: true }, n: { lt: 5 } })));
    expect(checked.passed).toBe(false);
    expect(checked.failures.map((f) => f.detail)).toEqual([
      `nemotron-backend "leaf" (span 0000000000000004): expected flag exists, got no such attribute`,
      `nemotron-backend "leaf" (span 0000000000000004): expected n<5, got "7"`,
    ]);
  });

  it('under: some passes when one of several parents has the child (retried calls)', () => {
    const t = mkTree('1', [
      { id: '1', name: 'detection_processing', start: 0, dur: 100 },
      { id: '2', parent: '1', name: 'yolo26_detection_request', kind: 'client', start: 1, dur: 10, status: { code: 'error' } },
      { id: '3', parent: '1', name: 'yolo26_detection_request', kind: 'client', start: 20, dur: 10 },
      { id: '4', parent: '3', service: DETECTOR, name: 'POST /detect', kind: 'server', start: 21, dur: 8 },
    ]);
    const some = span({ name: 'detection_processing' }).child(span({ name: 'yolo26_detection_request' }).child(span({ service: DETECTOR, kind: 'server' }).under('some')));
    const every = span({ name: 'detection_processing' }).child(span({ name: 'yolo26_detection_request' }).child(span({ service: DETECTOR, kind: 'server' })));
    expect(t).toMatchSpanTree(some);
    expect(t).not.toMatchSpanTree(every);
    const none = mkTree('2', [
      { id: '1', name: 'detection_processing', start: 0, dur: 100 },
      { id: '2', parent: '1', name: 'yolo26_detection_request', kind: 'client', start: 1, dur: 10 },
      { id: '3', parent: '1', name: 'yolo26_detection_request', kind: 'client', start: 20, dur: 10 },
    ]);
    expect(evaluateSpanTree(none, some).failures[0]!.detail).toBe('under any of 2 nemotron-backend "yolo26_detection_request" spans expected a child ai-yolo26-emulator server span: none (0 of min 1)');
  });

  it('a verdict (checkSpanTree, leaves only counted) names the same failures as a full evaluation', () => {
    const t = mkTree('3', [
      { id: '1', name: 'detection_processing', start: 0, dur: 100 },
      { id: '2', parent: '1', name: 'yolo26_detection_request', kind: 'client', start: 1, dur: 10 },
      { id: '3', parent: '1', name: 'yolo26_detection_request', kind: 'client', start: 20, dur: 10 },
      { id: '4', parent: '3', name: 'db', kind: 'client', start: 21, dur: 1 },
      { id: '5', parent: '4', name: 'db', kind: 'client', start: 22, dur: 1 },
    ]);
    const request = () => span({ name: 'yolo26_detection_request' });
    const cases = [
      span({ name: 'detection_processing' }).child(request().child(span({ service: DETECTOR, kind: 'server' }).under('some'))),
      span({ name: 'detection_processing' }).child(request().child(span({ service: DETECTOR, kind: 'server' }))),
      span({ name: 'detection_processing' }).child(span({ name: 'yolo26_detection_request' }).exactly(1)),
      span({ name: 'detection_processing' }).descendant(span({ name: 'db' }).exactly(1)),
      span({ name: 'detection_processing' }).descendant(span({ name: 'db' }).none()),
      span({ name: 'detection_processing' }).child(request().descendant(span({ name: 'db' }).atLeast(2))),
      span({ name: 'detection_processing' }).child(request().descendant(span({ name: 'db' }).atLeast(2).under('some'))),
      span({ name: 'detection_processing' }).child(span({ name: 'db' }).under('some')),
    ];
    let failing = 0;
    for (const expectation of cases) {
      const full = evaluateSpanTree(t, expectation).failures.map((f) => f.detail);
      const verdict = checkSpanTree([t], expectation);
      expect(verdict.passed, JSON.stringify(full)).toBe(full.length === 0);
      expect((verdict.details?.['defects'] as { detail: string }[]).map((d) => d.detail).sort()).toEqual([...new Set(full)].sort());
      if (full.length > 0) failing++;
    }
    expect(failing).toBe(7);
  });

  it('describes counts', () => {
    expect(describeCount(0, { min: 1, max: null })).toBe('none (0 of min 1)');
    expect(describeCount(1, { min: 2, max: null })).toBe('1 (of min 2)');
    expect(describeCount(3, { min: 0, max: 2 })).toBe('3 (max 2)');
    expect(describeCount(2, { min: 1, max: 1 })).toBe('2 (exactly 1)');
  });

  it('fails on an empty trace set', () => {
    expect(checkSpanTree([], hsiUploadTree()).passed).toBe(false);
  });
});
