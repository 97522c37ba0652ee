import { afterEach, describe, expect, it } from 'vitest';
import { AfterWrites } from '../../../harness/traces/after-writes.ts';
import { JaegerQueryClient, JaegerQueryError, TraceIncompleteError, assessTrace, type JaegerQueryClientOptions, type TraceLookup } from '../../../harness/traces/jaeger-client.ts';
import { buildTraceTree } from '../../../harness/traces/span-model.ts';
import { parseV3Traces } from '../../../harness/traces/jaeger-schemas.ts';
import { FakeJaeger, captured, fixture, fixtureText, manifest, partialV3, type FakeAnswer, type FakeRequest } from './helpers.ts';

const A = manifest.traces.full.traceId;
const B = manifest.traces.remoteParent.traceId;
const BACKEND = 'nemotron-backend';
const DETECTOR = 'ai-yolo26-emulator';
const MISSING = 'ffffffffffffffffffffffffffffff01';

const NOT_FOUND_V3 = captured('v3-trace-not-found.json');
const FULL_V3 = captured('v3-trace-full.json');
const BACKEND_ONLY_V3: FakeAnswer = { status: 200, body: partialV3((service) => service === BACKEND) };

let fake: FakeJaeger | undefined;
afterEach(async () => {
  await fake?.stop();
  fake = undefined;
});

/** A fake Jaeger v2: the v3 services probe answers from the capture, `route` answers the rest. */
async function jaeger(route: (req: FakeRequest) => FakeAnswer | undefined, options: Omit<JaegerQueryClientOptions, 'baseUrl'> = {}) {
  fake = new FakeJaeger((req) => route(req) ?? (req.path === '/api/v3/services' ? captured('v3-services.json') : { status: 404, body: '404 page not found' }));
  const client = new JaegerQueryClient({ baseUrl: `${await fake.start()}/`, ...options });
  return { client, server: fake };
}

/** Answers the trace lookups of `traceId` in turn from `answers`, repeating the last one. */
function sequence(traceId: string, answers: FakeAnswer[]): (req: FakeRequest) => FakeAnswer | undefined {
  let n = 0;
  return (req) => {
    if (req.path !== `/api/v3/traces/${traceId}`) return undefined;
    return answers[Math.min(n++, answers.length - 1)];
  };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('JaegerQueryClient: API detection', () => {
  it('uses api/v3 when it answers, asking only once even for concurrent calls', async () => {
    const { client, server } = await jaeger((req) => (req.path === `/api/v3/traces/${A}` ? FULL_V3 : undefined));
    const trees = await Promise.all([client.getTrace(A), client.getTrace(A.toUpperCase()), client.getTrace(A)]);
    expect(await client.api()).toBe('v3');
    expect(server.count('/api/v3/services')).toBe(1);
    expect(trees.map((t) => t?.spans.length)).toEqual([7, 7, 7]);
    expect(await client.getTrace(MISSING)).toBeUndefined();
    expect(server.count('/api/traces/' + A)).toBe(0);
  });

  it('keeps only the asked-for trace when an answer also holds spans of another one', async () => {
    const doc = JSON.parse(FULL_V3.body) as { result: { resourceSpans: { scopeSpans: { spans: { traceId: string }[] }[] }[] } };
    doc.result.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.traceId = B;
    const { client } = await jaeger((req) => (req.path.startsWith('/api/v3/traces/') ? { status: 200, body: JSON.stringify(doc) } : undefined));
    const tree = await client.getTrace(A);
    expect(tree?.spans).toHaveLength(6);
    expect(tree?.spans.every((s) => s.traceId === A)).toBe(true);
  });

  const absent: [string, FakeAnswer][] = [
    ['404 with a plain-text body', { status: 404, body: '404 page not found' }],
    ['404 with a JSON error', { status: 404, body: '{"error":{"httpCode":404,"message":"Not Found"}}' }],
    ['200 with a JSON error', { status: 200, body: '{"error":{"message":"no such route"}}' }],
    ['404 with an empty JSON object', { status: 404, body: '{}' }],
    ['405', { status: 405, body: '' }],
    ['200 with the UI page (how Jaeger answers unknown paths)', captured('v3-unknown-path.html')],
  ];
  for (const [what, v3Answer] of absent) {
    it(`falls back to the legacy API when api/v3 answers ${what}, and remembers it`, async () => {
      const { client, server } = await jaeger((req) => {
        if (req.path.startsWith('/api/v3/')) return v3Answer;
        if (req.path === '/api/services') return captured('legacy-services.json');
        if (req.path === `/api/traces/${A}`) return captured('legacy-trace-full.json');
        if (req.path.startsWith('/api/traces/')) return captured('legacy-trace-not-found.json');
        return undefined;
      });
      const tree = await client.getTrace(A);
      expect(tree?.spans).toHaveLength(7);
      expect(tree?.services()).toEqual([DETECTOR, BACKEND]);
      expect(await client.getTrace(MISSING)).toBeUndefined();
      expect(await client.services()).toEqual([DETECTOR, BACKEND]);
      expect(await client.api()).toBe('legacy');
      expect(server.count('/api/v3/services')).toBe(1);
      expect(server.count('/api/services')).toBe(2); // the probe, then services()
      expect(server.count(`/api/v3/traces/${A}`)).toBe(0);
    });
  }

  it('honours a fixed api without probing', async () => {
    const legacy = await jaeger((req) => (req.path === `/api/traces/${A}` ? captured('legacy-trace-full.json') : undefined), { api: 'legacy' });
    expect((await legacy.client.getTrace(A))?.spans).toHaveLength(7);
    expect(legacy.server.requests.map((r) => r.path)).toEqual([`/api/traces/${A}`]);
    await legacy.server.stop();

    const v3 = await jaeger((req) => (req.path === `/api/v3/traces/${A}` ? FULL_V3 : undefined), { api: 'v3' });
    expect((await v3.client.getTrace(A))?.spans).toHaveLength(7);
    expect(v3.server.requests.map((r) => r.path)).toEqual([`/api/v3/traces/${A}`]);
  });

  it('says so when neither API answers, and asks again on the next call', async () => {
    const { client, server } = await jaeger((req) => ({ status: 404, body: `404 page not found ${req.path}` }));
    const error = await rejection(client.getTrace(A));
    expect(error).toBeInstanceOf(JaegerQueryError);
    expect(error.message).toMatch(/serves neither api\/v3 \(GET \/api\/v3\/services: 404 .*\) nor the legacy API \(GET \/api\/services: 404 .*\); is this Jaeger's query port/);
    await rejection(client.getTrace(A));
    expect(server.count('/api/v3/services')).toBe(2);
  });

  it('reports an unreachable Jaeger as a retryable error naming the URL', async () => {
    const closed = new FakeJaeger(() => ({ status: 200, body: '' }));
    const url = await closed.start();
    await closed.stop();
    const error = await rejection(new JaegerQueryClient({ baseUrl: url }).getTrace(A));
    expect(error).toBeInstanceOf(JaegerQueryError);
    expect((error as JaegerQueryError).retryable).toBe(true);
    // Jaeger gone mid-run is the environment (exit 3), never a usage error (issue 15).
    expect((error as JaegerQueryError).exitCode).toBe(3);
    expect(error.message).toContain(`${url}/api/v3/services failed`);
    expect(error.message).toContain('ECONNREFUSED');
  });

  it('rejects bad input before asking Jaeger', async () => {
    expect(() => new JaegerQueryClient({ baseUrl: 'localhost:16686' })).toThrow(/must be http or https|not a URL/);
    const { client, server } = await jaeger(() => undefined);
    expect((await rejection(client.getTrace('not-a-trace'))).message).toContain('"not-a-trace" is not a trace id');
    expect(server.requests).toEqual([]);
  });
});

describe('JaegerQueryClient: reading', () => {
  it('turns HTTP errors into JaegerQueryError with Jaeger’s own message', async () => {
    const { client } = await jaeger((req) => (req.path.startsWith('/api/v3/traces/') ? { status: 500, body: '{"error":{"httpCode":500,"message":"storage exploded"}}' } : undefined));
    const error = (await rejection(client.getTrace(A))) as JaegerQueryError;
    expect(error.message).toMatch(/Jaeger GET http:\/\/127\.0\.0\.1:\d+\/api\/v3\/traces\/[0-9a-f]{32}: HTTP 500: storage exploded/);
    expect(error.status).toBe(500);
    expect(error.retryable).toBe(true);
  });

  it('names the request and the JSON path when an answer is malformed', async () => {
    const { client } = await jaeger((req) => (req.path.startsWith('/api/v3/traces/') ? { status: 200, body: '{"result":{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}}' } : undefined));
    const error = (await rejection(client.getTrace(A))) as JaegerQueryError;
    expect(error.message).toMatch(/^Jaeger GET .*\/api\/v3\/traces\/[0-9a-f]{32}: result\.resourceSpans\.0\.scopeSpans\.0\.spans\.0\.traceId: expected a trace id/);
    expect(error.retryable).toBe(false);
  });

  it('gives one line naming the request, the field and what was wrong, for each kind of broken answer', async () => {
    const bodies: [string, RegExp][] = [
      ['{"result":{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","name":"x","startTimeUnixNano":"12x","endTimeUnixNano":"13"}]}]}]}}', /spans\.0\.startTimeUnixNano: expected nanoseconds as a decimal string/],
      ['{"result":{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"0000000000000000","name":"x","startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}}', /spans\.0\.spanId: expected a span id/],
      ['{"result":{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","name":7,"startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}}', /spans\.0\.name: /],
      ['{"result":{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","name":"x","kind":9,"startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}}', /spans\.0\.kind: expected a span kind/],
      ['{"result":{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"intValue":"1.5"}}]}}]}}', /resource\.attributes\.0\.value\.intValue: expected an integer/],
      ['{"result":7}', /^Jaeger GET .*: result: /],
      ['{"result":{"resourceSpans":[', /not JSON: \{"result"/],
    ];
    for (const [body, expected] of bodies) {
      const { client } = await jaeger((req) => (req.path.startsWith('/api/v3/traces/') ? { status: 200, body } : undefined));
      const error = (await rejection(client.getTrace(A))) as JaegerQueryError;
      expect(error, body).toBeInstanceOf(JaegerQueryError);
      expect(error.message, body).toMatch(/^Jaeger GET http:\/\/127\.0\.0\.1:\d+\/api\/v3\/traces\/[0-9a-f]{32}: /);
      expect(error.message, body).toMatch(expected);
      expect(error.message, body).not.toContain('\n');
    }
  });

  it('merges a streamed (one JSON object per line) api/v3 answer', async () => {
    const doc = fixture('v3-trace-full.json') as { result: { resourceSpans: unknown[] } };
    const lines = doc.result.resourceSpans.map((rs) => JSON.stringify({ result: { resourceSpans: [rs] } })).join('\n');
    const { client } = await jaeger((req) => (req.path === `/api/v3/traces/${A}` ? { status: 200, body: `${lines}\n` } : undefined));
    expect((await client.getTrace(A))?.spans).toHaveLength(7);
  });

  it('lists services (Jaeger v2 answers {} when empty)', async () => {
    let empty = true;
    const { client } = await jaeger((req) => (req.path === '/api/v3/services' ? (empty ? captured('v3-services-empty.json') : captured('v3-services.json')) : undefined));
    expect(await client.services()).toEqual([]);
    empty = false;
    expect(await client.services()).toEqual([DETECTOR, BACKEND]);
  });
});

describe('JaegerQueryClient.findTraces', () => {
  const startMin = new Date('2026-11-24T08:00:00.000Z');
  const startMax = new Date('2026-11-24T09:00:00.123Z');

  it('searches api/v3 and filters attributes itself (the Jaeger v2 build captured ignores query.attributes)', async () => {
    const { client, server } = await jaeger((req) => (req.path === '/api/v3/traces' ? captured('v3-search-attributes.json') : undefined));
    const found = await client.findTraces({ service: DETECTOR, operation: 'yolo26_detection_request', attributes: { 'camera.id': 'cam-01' }, startMin, startMax, limit: 5 });
    expect(found.map((t) => t.traceId)).toEqual([A]);
    const sent = server.requests.find((r) => r.path === '/api/v3/traces')!.query;
    expect(Object.fromEntries(sent)).toEqual({
      'query.service_name': DETECTOR,
      'query.operation_name': 'yolo26_detection_request',
      'query.attributes': '{"camera.id":"cam-01"}',
      'query.start_time_min': '2026-11-24T08:00:00.000Z',
      'query.start_time_max': '2026-11-24T09:00:00.123Z',
      'query.search_depth': '5',
      'query.num_traces': '5',
    });
    // Without the attribute both traces match, newest first; limit cuts.
    expect((await client.findTraces({ service: DETECTOR, startMin, startMax })).map((t) => t.traceId)).toEqual([A, B]);
    expect((await client.findTraces({ service: DETECTOR, startMin, startMax, limit: 1 })).map((t) => t.traceId)).toEqual([A]);
    // Numbers and booleans compare as strings; resource attributes count too.
    expect(await client.findTraces({ service: BACKEND, attributes: { 'upload.bytes': 48213, 'hsi.sampled': true }, startMin, startMax })).toHaveLength(1);
    expect(await client.findTraces({ service: BACKEND, attributes: { 'service.version': '1.4.0' }, startMin, startMax })).toHaveLength(2);
  });

  it('answers an empty list for a 404', async () => {
    const { client } = await jaeger((req) => (req.path === '/api/v3/traces' ? captured('v3-search-empty.json') : undefined));
    expect(await client.findTraces({ service: 'no-such-service', startMin, startMax })).toEqual([]);
  });

  it('searches the legacy API with microsecond bounds', async () => {
    const { client, server } = await jaeger((req) => (req.path === '/api/traces' ? captured('legacy-search.json') : undefined), { api: 'legacy' });
    const found = await client.findTraces({ service: BACKEND, operation: 'POST /api/upload', attributes: { 'camera.id': 'cam-02' }, startMin, startMax, limit: 7 });
    expect(found.map((t) => t.traceId)).toEqual([B]);
    expect(Object.fromEntries(server.requests[0]!.query)).toEqual({
      service: BACKEND,
      operation: 'POST /api/upload',
      tags: '{"camera.id":"cam-02"}',
      start: String(startMin.getTime() * 1000),
      end: String(startMax.getTime() * 1000),
      limit: '7',
    });
  });

  it('rejects an empty time window and a bad limit', async () => {
    const { client } = await jaeger(() => undefined);
    await expect(client.findTraces({ service: BACKEND, startMin: startMax, startMax: startMin })).rejects.toThrow(/startMin .* must be before startMax/);
    await expect(client.findTraces({ service: BACKEND, startMin, startMax, limit: 0 })).rejects.toThrow(/limit must be a positive integer/);
  });
});

describe('JaegerQueryClient.waitForTrace: completeness', () => {
  const expected = { expectedServices: [BACKEND, DETECTOR], expectedSpanNames: ['detection_processing', 'yolo26_detection_request'] };

  it('waits until found, every expected service and span present, and the count unchanged over two polls', async () => {
    const { client, server } = await jaeger(sequence(A, [NOT_FOUND_V3, NOT_FOUND_V3, BACKEND_ONLY_V3, FULL_V3, FULL_V3]));
    const tree = await client.waitForTrace(A, { ...expected, timeoutMs: 5000, pollIntervalMs: 10 });
    expect(tree.spans).toHaveLength(7);
    expect(server.count(`/api/v3/traces/${A}`)).toBe(5);
  });

  it('needs the second poll even when everything expected is there at once', async () => {
    const { client, server } = await jaeger(sequence(A, [FULL_V3]));
    await client.waitForTrace(A, { timeoutMs: 5000, pollIntervalMs: 10 });
    expect(server.count(`/api/v3/traces/${A}`)).toBe(2);
  });

  it('times out naming the missing services and spans and how many spans were seen', async () => {
    const { client } = await jaeger(sequence(A, [BACKEND_ONLY_V3]));
    const error = await rejection(client.waitForTrace(A, { ...expected, expectedSpanNames: [...expected.expectedSpanNames, 'inference'], timeoutMs: 150, pollIntervalMs: 20 }));
    expect(error).toBeInstanceOf(TraceIncompleteError);
    expect(error.message).toMatch(
      new RegExp(`^trace ${A}: incomplete after 150 ms \\(\\d+ polls\\): 5 span\\(s\\) seen from ${BACKEND}; missing services: ${DETECTOR}; missing spans: yolo26_detection_request, inference$`),
    );
    const incomplete = error as TraceIncompleteError;
    expect(incomplete.exitCode).toBe(1);
    expect([incomplete.found, incomplete.spanCount, incomplete.missingServices, incomplete.missingSpanNames]).toEqual([true, 5, [DETECTOR], ['yolo26_detection_request', 'inference']]);
    expect(incomplete.lastTree?.spans).toHaveLength(5);
  });

  it('says "trace not found" when Jaeger never had it', async () => {
    const { client } = await jaeger(sequence(A, [NOT_FOUND_V3]));
    const error = await rejection(client.waitForTrace(A, { ...expected, timeoutMs: 100, pollIntervalMs: 20 }));
    expect(error).toBeInstanceOf(TraceIncompleteError);
    // One poll when the machine is slow (the first answer took the whole 100 ms), more otherwise.
    expect(error.message).toMatch(new RegExp(`^trace ${A}: trace not found in Jaeger after 100 ms \\(\\d+ polls?\\)$`));
    const polls = Number(/\((\d+) polls?\)$/.exec(error.message)?.[1]);
    expect(error.message.endsWith(`(${polls} poll${polls === 1 ? '' : 's'})`)).toBe(true);
  });

  it('counts polls in words: 1 poll, 3 polls', () => {
    const missing = assessTrace(undefined, expected);
    expect(new TraceIncompleteError(A, 100, 1, missing, undefined, {}).message).toBe(`trace ${A}: trace not found in Jaeger after 100 ms (1 poll)`);
    expect(new TraceIncompleteError(A, 100, 3, missing, undefined, {}).message).toBe(`trace ${A}: trace not found in Jaeger after 100 ms (3 polls)`);
  });

  it('does not accept a trace whose span count keeps changing', async () => {
    let n = 0;
    const { client } = await jaeger((req) => (req.path === `/api/v3/traces/${A}` ? (n++ % 2 === 0 ? BACKEND_ONLY_V3 : FULL_V3) : undefined));
    const error = await rejection(client.waitForTrace(A, { timeoutMs: 150, pollIntervalMs: 20 }));
    expect(error.message).toMatch(/span count still changing \((5 → 7|7 → 5)\)$/);
  });

  it('rides out Jaeger errors that may pass, and reports the last one on timeout', async () => {
    const boom: FakeAnswer = { status: 503, body: '{"error":{"httpCode":503,"message":"storage warming up"}}' };
    const recovered = await jaeger(sequence(A, [boom, boom, FULL_V3]));
    expect((await recovered.client.waitForTrace(A, { timeoutMs: 5000, pollIntervalMs: 10 })).spans).toHaveLength(7);
    await recovered.server.stop();

    const broken = await jaeger(sequence(A, [boom]));
    const error = await rejection(broken.client.waitForTrace(A, { timeoutMs: 80, pollIntervalMs: 20 }));
    expect(error).toBeInstanceOf(TraceIncompleteError);
    expect(error.message).toMatch(/trace not found in Jaeger after 80 ms .*; last error: Jaeger GET .*: HTTP 503: storage warming up$/);
  });

  it('throws a malformed answer at once instead of polling on', async () => {
    const { client, server } = await jaeger(sequence(A, [{ status: 200, body: '<html>proxy error</html>' }]));
    const error = await rejection(client.waitForTrace(A, { timeoutMs: 5000, pollIntervalMs: 10 }));
    expect(error).toBeInstanceOf(JaegerQueryError);
    expect(error.message).toContain('not JSON: <html>proxy error</html>');
    expect(server.count(`/api/v3/traces/${A}`)).toBe(1);
  });

  it('assessTrace lists what is missing', () => {
    const tree = buildTraceTree(parseV3Traces(JSON.parse(BACKEND_ONLY_V3.body)));
    expect(assessTrace(tree, expected)).toEqual({ found: true, spanCount: 5, services: [BACKEND], missingServices: [DETECTOR], missingSpanNames: ['yolo26_detection_request'] });
    expect(assessTrace(undefined, expected)).toEqual({ found: false, spanCount: 0, services: [], missingServices: [BACKEND, DETECTOR], missingSpanNames: expected.expectedSpanNames });
  });
});

describe('JaegerQueryClient.waitForTraces', () => {
  it('waits for many traces with bounded concurrency and answers per trace, in order', async () => {
    const { client, server } = await jaeger((req) => {
      if (req.path === `/api/v3/traces/${A}`) return { ...FULL_V3, delayMs: 15 };
      if (req.path.startsWith('/api/v3/traces/')) return { ...NOT_FOUND_V3, delayMs: 15 };
      return undefined;
    });
    const ids = [A, A, 'zz', A, MISSING, A, A, A];
    // A is found after two polls of a 15 ms answer; the timeout only ends the waits for MISSING,
    // so it is long enough that a loaded machine cannot turn a found trace into a timeout.
    const results = await client.waitForTraces(ids, { timeoutMs: 2_000, pollIntervalMs: 10, concurrency: 3 });
    expect(results.map((r) => r.traceId)).toEqual(ids);
    expect(results.map((r) => r.ok)).toEqual([true, true, false, true, false, true, true, true]);
    const errors = results.flatMap((r) => (r.ok ? [] : [r.error]));
    expect(errors[0]).toBeInstanceOf(JaegerQueryError);
    expect(errors[1]).toBeInstanceOf(TraceIncompleteError);
    expect(server.maxInFlight).toBe(3);
  });

  it('defaults to 8 at a time', async () => {
    const { client, server } = await jaeger((req) => (req.path === `/api/v3/traces/${A}` ? { ...FULL_V3, delayMs: 15 } : undefined));
    const results = await client.waitForTraces(new Array<string>(20).fill(A), { timeoutMs: 2000, pollIntervalMs: 5 });
    expect(results.every((r) => r.ok)).toBe(true);
    expect(server.maxInFlight).toBe(8);
  });
});

describe('JaegerQueryClient.forEachTrace (the bulk read)', () => {
  it('hands over, per id and with its index, what getTrace gives or throws, with at most `concurrency` requests in flight', async () => {
    const { client, server } = await jaeger((req) => {
      if (req.path === `/api/v3/traces/${A}`) return { ...FULL_V3, delayMs: 10 };
      if (req.path === `/api/v3/traces/${B}`) return { status: 500, body: '{"error":{"httpCode":500,"message":"storage down"}}', delayMs: 10 };
      if (req.path === `/api/v3/traces/${'c'.repeat(32)}`) return { status: 200, body: '{"result":{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"x"}]}]}]}}' };
      if (req.path.startsWith('/api/v3/traces/')) return { ...NOT_FOUND_V3, delayMs: 10 };
      return undefined;
    });
    const ids = [A, MISSING, B, 'zz', A.toUpperCase(), 'c'.repeat(32), A, A];
    const got: { index: number; ok: boolean; spans?: number; error?: Error }[] = [];
    await client.forEachTrace(ids, { concurrency: 3 }, (r, index) => {
      expect(r.traceId).toBe(ids[index]);
      got.push(r.ok ? { index, ok: true, spans: r.tree?.spans.length ?? 0 } : { index, ok: false, error: r.error });
    });
    got.sort((a, b) => a.index - b.index);
    expect(got.map((g) => g.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(got.map((g) => g.spans ?? 'error')).toEqual([7, 0, 'error', 'error', 7, 'error', 7, 7]);
    // each failure is the error getTrace throws for that id
    for (const index of [2, 3, 5]) {
      const single = await rejection(client.getTrace(ids[index]!));
      expect(got[index]!.error).toBeInstanceOf(JaegerQueryError);
      expect(got[index]!.error!.message).toBe(single.message);
      expect((got[index]!.error as JaegerQueryError).retryable).toBe((single as JaegerQueryError).retryable);
    }
    expect((got[2]!.error as JaegerQueryError).retryable).toBe(true);
    expect(server.maxInFlight).toBeLessThanOrEqual(3);
  });

  it('hands every id an error when Jaeger cannot be reached, and rejects with what onTrace throws once all are handed over', async () => {
    // a port that was just closed: nothing listens there
    const closed = new FakeJaeger(() => ({ status: 200, body: '' }));
    const closedUrl = await closed.start();
    await closed.stop();
    const unreachable = new JaegerQueryClient({ baseUrl: closedUrl, requestTimeoutMs: 2000 });
    const seen: TraceLookup[] = [];
    await unreachable.forEachTrace([A, B], {}, (r) => seen.push(r));
    expect(seen.map((r) => r.ok)).toEqual([false, false]);
    expect(seen.every((r) => !r.ok && r.error instanceof JaegerQueryError && r.error.retryable)).toBe(true);

    const { client } = await jaeger((req) => (req.path.startsWith('/api/v3/traces/') ? FULL_V3 : undefined));
    let calls = 0;
    const error = await rejection(
      client.forEachTrace([A, A, A], { concurrency: 1 }, () => {
        calls += 1;
        if (calls === 1) throw new Error('checker failed');
      }),
    );
    expect(error.message).toBe('checker failed');
    expect(calls).toBe(3);
  });
});

describe('AfterWrites', () => {
  it('runs work after an immediate queued right after it, in order, and drains', async () => {
    const later = new AfterWrites();
    const order: string[] = [];
    later.add(() => order.push('work 1'));
    setImmediate(() => order.push('immediate queued after'));
    later.add(() => order.push('work 2'));
    await later.drained();
    expect(order).toEqual(['immediate queued after', 'work 1', 'work 2']);
    await later.drained(); // nothing left: resolves at once
  });

  it('keeps running after a failure and rejects the drain with the first one', async () => {
    const later = new AfterWrites();
    const ran: number[] = [];
    later.add(() => {
      throw new Error('first');
    });
    later.add(() => ran.push(2));
    later.add(() => {
      throw new Error('second');
    });
    expect((await rejection(later.drained())).message).toBe('first');
    expect(ran).toEqual([2]);
  });
});

it('fixtures: the manifest matches the files it lists', () => {
  for (const c of manifest.captures) expect(fixtureText(c.file).length, c.file).toBeGreaterThan(0);
});

describe('JaegerQueryClient: an overall limit per request', () => {
  it('gives up on an answer that keeps dripping (each chunk inside the idle timeout) after requestTimeoutMs, not never', async () => {
    const { createServer } = await import('node:http');
    const timers = new Set<NodeJS.Timeout>();
    const server = createServer((req, res) => {
      if (req.url === '/api/v3/services') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('{"services":["a"]}');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('{"result":{"resourceSpans":[');
      const drip = setInterval(() => res.write(' '), 20);
      timers.add(drip);
      res.on('close', () => clearInterval(drip));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      const client = new JaegerQueryClient({ baseUrl: `http://127.0.0.1:${port}`, requestTimeoutMs: 200 });
      const started = performance.now();
      const error = await rejection(client.getTrace(A));
      const took = performance.now() - started;
      expect(error).toBeInstanceOf(JaegerQueryError);
      expect(error.message).toMatch(/failed: .*abort|timeout/i);
      expect(took).toBeGreaterThanOrEqual(190);
      expect(took).toBeLessThan(5_000);
    } finally {
      for (const t of timers) clearInterval(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }, 10_000);
});
