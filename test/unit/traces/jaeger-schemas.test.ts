import { describe, expect, it } from 'vitest';
import {
  JaegerQueryError,
  decodeOtlpId,
  legacyServicesResponseSchema,
  parseJaegerJson,
  parseLegacyTraces,
  parseV3Traces,
  v3ServicesResponseSchema,
} from '../../../harness/traces/jaeger-schemas.ts';
import { buildTraceTree, groupTraces, type NormalizedSpan } from '../../../harness/traces/span-model.ts';
import { fixture, manifest } from './helpers.ts';

const A = manifest.traces.full;
const B = manifest.traces.remoteParent;
const BACKEND = 'nemotron-backend';
const DETECTOR = 'ai-yolo26-emulator';

function byName(spans: readonly NormalizedSpan[], name: string, service?: string): NormalizedSpan {
  const span = spans.find((s) => s.name === name && (service === undefined || s.service === service));
  if (!span) throw new Error(`no span ${name}`);
  return span;
}

/** Deep copy of a fixture, to damage or re-encode in one test. */
function copy(name: string): Record<string, unknown> {
  return structuredClone(fixture(name)) as Record<string, unknown>;
}

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

describe('api/v3 answers of a real Jaeger v2 into NormalizedSpan', () => {
  const spans = parseV3Traces(fixture('v3-trace-full.json'));
  const tree = buildTraceTree(spans);

  it('reads every span with lower-case hex ids and the parent links', () => {
    expect(spans).toHaveLength(A.spans);
    for (const s of spans) {
      expect(s.traceId).toBe(A.traceId);
      expect(s.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(s.spanId).toMatch(/^[0-9a-f]{16}$/);
    }
    const root = byName(spans, 'POST /api/upload');
    expect(root.spanId).toBe(A.rootSpanId);
    expect(root.parentSpanId).toBeUndefined();
    const chain = ['POST /api/upload', 'detection_processing', 'POST', 'yolo26_detection_request', 'inference'].map((n) => byName(spans, n));
    for (let i = 1; i < chain.length; i++) expect(chain[i]!.parentSpanId, chain[i]!.name).toBe(chain[i - 1]!.spanId);
    expect(byName(spans, 'detections process').parentSpanId).toBe(byName(spans, 'detections publish').spanId);
    expect(tree.roots.map((r) => r.name)).toEqual(['POST /api/upload']);
    expect(tree.services()).toEqual(A.services.slice().sort());
  });

  it('maps service, kind, times, status, resource and scope', () => {
    const kinds = Object.fromEntries(spans.map((s) => [s.name, s.kind]));
    expect(kinds).toEqual({
      'POST /api/upload': 'server',
      detection_processing: 'internal',
      POST: 'client',
      yolo26_detection_request: 'server',
      inference: 'internal',
      'detections publish': 'producer',
      'detections process': 'consumer',
    });
    const root = byName(spans, 'POST /api/upload');
    expect(root.service).toBe(BACKEND);
    expect(root.durationMs).toBe(180.25);
    expect(root.startTimeUnixNano % 1_000_000n).toBe(250_000n); // the capture started it at x.25 ms
    expect(root.startTimeMs).toBe(Number(root.startTimeUnixNano / 1000n) / 1000);
    expect(root.status).toEqual({ code: 'ok' });
    expect(root.resource).toEqual({ 'deployment.environment.name': 'fixture', 'service.version': '1.4.0' });
    expect(root.scope).toBe('fixture-backend');
    expect(byName(spans, 'inference').status).toEqual({ code: 'error', message: 'CUDA out of memory (simulated)' });
    expect(byName(spans, 'yolo26_detection_request').status).toEqual({ code: 'error' });
    expect(byName(spans, 'detection_processing').status).toEqual({ code: 'unset' });
    expect(byName(spans, 'inference').service).toBe(DETECTOR);
    expect(byName(spans, 'inference').durationMs).toBe(120);
  });

  it('keeps attribute types: strings, integers, doubles, booleans and arrays', () => {
    expect(byName(spans, 'POST /api/upload').attributes).toEqual({
      'camera.id': 'cam-01',
      'hsi.counts': [1, 2, 3],
      'hsi.sampled': true,
      'hsi.score': 0.875,
      'hsi.tags': ['front', 'night'],
      'http.request.method': 'POST',
      'http.response.status_code': 202,
      'upload.bytes': 48213,
      'url.path': '/api/upload',
    });
    expect(byName(spans, 'inference').attributes).toEqual({ 'gpu.enabled': false });
  });

  it('reads events (ms after the span start) and links', () => {
    expect(byName(spans, 'detection_processing').events).toEqual([{ name: 'frame.decoded', timeMs: 3, attributes: { format: 'jpeg', height: 1080, width: 1920 } }]);
    const exception = byName(spans, 'inference').events[0];
    expect(exception?.name).toBe('exception');
    expect(exception?.timeMs).toBe(110);
    expect(exception?.attributes['exception.message']).toBe('CUDA out of memory (simulated)');
    const bRoot = parseV3Traces(fixture('v3-trace-remote-parent.json')).find((s) => s.name === 'POST /api/upload');
    expect(byName(spans, 'detections process').links).toEqual([{ traceId: B.traceId, spanId: bRoot?.spanId, attributes: { 'link.reason': 'same camera batch' } }]);
  });

  it('keeps a parent that is not in the trace (the unexported load-driver span) and makes that span the root', () => {
    const remote = buildTraceTree(parseV3Traces(fixture('v3-trace-remote-parent.json')));
    expect(remote.spans).toHaveLength(B.spans);
    expect(remote.roots).toHaveLength(1);
    expect(remote.roots[0]?.name).toBe('POST /api/upload');
    expect(remote.roots[0]?.parentSpanId).toBe(B.missingParentSpanId);
  });

  it('splits a search answer (every span of every matching trace, all services) into trees', () => {
    const trees = groupTraces(parseV3Traces(fixture('v3-search.json')));
    expect(Object.fromEntries(trees.map((t) => [t.traceId, t.spans.length]))).toEqual({ [A.traceId]: A.spans, [B.traceId]: B.spans });
    for (const t of trees) expect(t.services()).toEqual([DETECTOR, BACKEND]);
  });

  it('accepts the older encodings: base64 ids, enum names, instrumentationLibrarySpans', () => {
    const doc = copy('v3-trace-full.json') as { result: { resourceSpans: Record<string, unknown>[] } };
    const b64 = (hex: unknown) => Buffer.from(String(hex), 'hex').toString('base64');
    const kindNames = ['SPAN_KIND_UNSPECIFIED', 'SPAN_KIND_INTERNAL', 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT', 'SPAN_KIND_PRODUCER', 'SPAN_KIND_CONSUMER'];
    const statusNames = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];
    for (const rs of doc.result.resourceSpans) {
      rs['instrumentationLibrarySpans'] = (rs['scopeSpans'] as Record<string, unknown>[]).map((ss) => ({ instrumentationLibrary: ss['scope'], spans: ss['spans'] }));
      delete rs['scopeSpans'];
      for (const ss of rs['instrumentationLibrarySpans'] as { spans: Record<string, unknown>[] }[]) {
        for (const s of ss.spans) {
          s['traceId'] = b64(s['traceId']);
          s['spanId'] = b64(s['spanId']);
          s['parentSpanId'] = s['parentSpanId'] === undefined ? '' : b64(s['parentSpanId']);
          s['kind'] = kindNames[s['kind'] as number];
          const status = s['status'] as { code?: number };
          if (status.code !== undefined) (status as { code?: unknown }).code = statusNames[status.code];
          for (const l of (s['links'] ?? []) as Record<string, unknown>[]) {
            l['traceId'] = b64(l['traceId']);
            l['spanId'] = b64(l['spanId']);
          }
        }
      }
    }
    expect(JSON.stringify(doc)).toContain('==');
    expect(parseV3Traces(doc)).toEqual(spans);
  });

  it('rejects a malformed answer with an error naming the path that failed', () => {
    const badId = copy('v3-trace-full.json') as { result: { resourceSpans: { scopeSpans: { spans: Record<string, unknown>[] }[] }[] } };
    badId.result.resourceSpans[1]!.scopeSpans[0]!.spans[0]!['spanId'] = 'not-an-id';
    const error = errorOf(() => parseV3Traces(badId, 'GET /api/v3/traces/x'));
    expect(error).toBeInstanceOf(JaegerQueryError);
    expect(error.message).toMatch(/^GET \/api\/v3\/traces\/x: result\.resourceSpans\.1\.scopeSpans\.0\.spans\.0\.spanId: expected a span id .*"not-an-id"/);

    const badKind = copy('v3-trace-full.json') as typeof badId;
    badKind.result.resourceSpans[0]!.scopeSpans[0]!.spans[0]!['kind'] = 9;
    expect(errorOf(() => parseV3Traces(badKind)).message).toContain('result.resourceSpans.0.scopeSpans.0.spans.0.kind: expected a span kind');

    const noName = copy('v3-trace-full.json') as typeof badId;
    delete noName.result.resourceSpans[0]!.scopeSpans[0]!.spans[0]!['name'];
    expect(errorOf(() => parseV3Traces(noName)).message).toContain('result.resourceSpans.0.scopeSpans.0.spans.0.name:');

    expect(errorOf(() => parseV3Traces(fixture('v3-trace-not-found.json'))).message).toContain(': result:');
  });

  it('reads the services answer, including the empty `{}` Jaeger gives before any span arrives', () => {
    expect(parseJaegerJson(v3ServicesResponseSchema, fixture('v3-services.json'), 's').services).toEqual([DETECTOR, BACKEND]);
    expect(parseJaegerJson(v3ServicesResponseSchema, fixture('v3-services-empty.json'), 's').services ?? []).toEqual([]);
    expect(parseJaegerJson(legacyServicesResponseSchema, fixture('legacy-services.json'), 's').data).toEqual([BACKEND, DETECTOR]);
  });
});

describe('legacy (1.x) answers of the same Jaeger into NormalizedSpan', () => {
  const v3 = parseV3Traces(fixture('v3-trace-full.json'));
  const legacy = parseLegacyTraces(fixture('legacy-trace-full.json'));

  it('gives the same spans as api/v3, except what the legacy format cannot carry', () => {
    expect(legacy).toHaveLength(v3.length);
    // Legacy flattens arrays into JSON strings and has no link attributes.
    const comparable = (s: NormalizedSpan) => ({
      ...s,
      attributes: Object.fromEntries(Object.entries(s.attributes).map(([k, v]) => [k, Array.isArray(v) ? JSON.stringify(v) : v])),
      links: s.links.map((l) => ({ ...l, attributes: {} })),
    });
    const sorted = (list: NormalizedSpan[]) => [...list].sort((a, b) => a.spanId.localeCompare(b.spanId));
    expect(sorted(legacy)).toEqual(sorted(v3).map(comparable));
  });

  it('turns the OpenTelemetry tags back into kind, status and scope', () => {
    const inference = byName(legacy, 'inference');
    expect(inference.kind).toBe('internal');
    expect(inference.status).toEqual({ code: 'error', message: 'CUDA out of memory (simulated)' });
    expect(inference.scope).toBe('fixture-detector');
    for (const key of ['span.kind', 'otel.status_code', 'otel.status_description', 'otel.scope.name', 'error']) expect(inference.attributes).not.toHaveProperty(key);
    expect(byName(legacy, 'POST /api/upload').attributes['hsi.tags']).toBe('["front","night"]');
  });

  it('takes the first same-trace CHILD_OF as parent and the other references as links', () => {
    const consumer = byName(legacy, 'detections process');
    expect(consumer.parentSpanId).toBe(byName(legacy, 'detections publish').spanId);
    expect(consumer.links.map((l) => l.traceId)).toEqual([B.traceId]);
  });

  it('keeps the missing remote parent (Jaeger only adds warnings) and pads short ids', () => {
    const remote = buildTraceTree(parseLegacyTraces(fixture('legacy-trace-remote-parent.json')));
    expect(remote.roots.map((r) => r.parentSpanId)).toEqual([B.missingParentSpanId]);
    const doc = copy('legacy-trace-remote-parent.json') as { data: { traceID: string; spans: { traceID: string; references: { traceID: string }[] }[] }[] };
    const trace = doc.data[0]!;
    // A 64-bit trace id as 1.x prints it: 16 hex digits.
    const short = '00000000000000000000000000000abc'.slice(16);
    trace.traceID = short;
    for (const s of trace.spans) {
      s.traceID = short;
      for (const r of s.references) r.traceID = short;
    }
    const spans = parseLegacyTraces(doc);
    expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set(['0'.repeat(29) + 'abc']));
    expect(buildTraceTree(spans).roots).toHaveLength(1);
  });

  it('reads a search answer and the 404 answer (data null)', () => {
    const trees = groupTraces(parseLegacyTraces(fixture('legacy-search.json')));
    expect(trees.map((t) => t.spans.length).sort()).toEqual([B.spans, A.spans].sort());
    expect(parseLegacyTraces(fixture('legacy-trace-not-found.json'))).toEqual([]);
  });

  it('names the failing path: bad tag values and unknown processes', () => {
    const badTag = copy('legacy-trace-full.json') as { data: { spans: { tags: { value: unknown }[]; processID: string }[] }[] };
    badTag.data[0]!.spans[2]!.tags[0]!.value = { nested: true };
    expect(errorOf(() => parseLegacyTraces(badTag, 'GET /api/traces/x')).message).toMatch(/^GET \/api\/traces\/x: data\.0\.spans\.2\.tags\.0\.value: /);

    const noProcess = copy('legacy-trace-full.json') as typeof badTag;
    noProcess.data[0]!.spans[1]!.processID = 'p9';
    expect(errorOf(() => parseLegacyTraces(noProcess)).message).toContain('data.0.spans.1.processID: no process "p9" in data.0.processes');
  });
});

describe('decodeOtlpId', () => {
  it('accepts hex and base64, rejects the rest', () => {
    expect(decodeOtlpId('4BF92F3577B34DA6A3CE929D0E0E4736', 16)).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(decodeOtlpId(Buffer.from('4bf92f3577b34da6a3ce929d0e0e4736', 'hex').toString('base64'), 16)).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(decodeOtlpId(Buffer.from('00f067aa0ba902b7', 'hex').toString('base64url'), 8)).toBe('00f067aa0ba902b7');
    expect(decodeOtlpId('00f067aa0ba902b7', 16)).toBeUndefined();
    expect(decodeOtlpId('0'.repeat(16), 8)).toBeUndefined();
    expect(decodeOtlpId('not base64!', 8)).toBeUndefined();
  });
});
