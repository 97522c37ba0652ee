import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readIncident } from '../../../harness/replay/incident.ts';
import { readTraceFile } from '../../../harness/replay/input.ts';
import { redactTraces } from '../../../harness/replay/redact.ts';
import { ConfigError } from '../../../harness/errors.ts';
import { parseLegacyTraces } from '../../../harness/traces/jaeger-schemas.ts';
import { toLegacyJson } from '../../../harness/traces/legacy-export.ts';
import { spanToJson } from '../../../harness/traces/span-model.ts';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');
const REAL_SHAPE = join(ROOT, 'test', 'fixtures', 'replay', 'hsi-real-shape.json');

function temp(name: string, content: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'hsi-replay-')), name);
  writeFileSync(file, content);
  return file;
}

describe('--redact on recorded traces', () => {
  const { traces } = readTraceFile(REAL_SHAPE);
  const redacted = redactTraces(traces);
  const text = JSON.stringify(redacted.traces.map((t) => t.spans.map(spanToJson)));

  it('leaves no camera id, camera name or file path anywhere', () => {
    for (const secret of ['front_door', 'driveway', 'back_yard', 'Front Door', 'Back Yard', '/export/foscam', 'MDAlarm_']) expect(text).not.toContain(secret);
    expect(redacted.redaction.cameras.get('front_door')).toMatch(/^camera_\d$/);
  });

  it('keeps the joins: the same uploads, cameras and pipelines are found after redaction', () => {
    const before = readIncident(traces);
    const after = readIncident(redacted.traces);
    expect(after.arrivals).toHaveLength(before.arrivals.length);
    expect(after.stitchedJoins).toBe(before.stitchedJoins);
    expect(new Set(after.arrivals.map((a) => a.cameraId)).size).toBe(3);
  });

  it('is a counter-example when off: the unredacted text holds the camera ids and paths', () => {
    expect(JSON.stringify(traces.map((t) => t.spans.map(spanToJson)))).toContain('/export/foscam/Front Door/');
  });
});

describe('traces export: Jaeger legacy JSON round trip', () => {
  it('spans read back from the export equal the originals (times to the microsecond)', () => {
    const { traces } = readTraceFile(REAL_SHAPE);
    const back = parseLegacyTraces(JSON.parse(JSON.stringify(toLegacyJson(traces))));
    const key = (s: { traceId: string; spanId: string }) => `${s.traceId}:${s.spanId}`;
    const original = new Map(traces.flatMap((t) => t.spans).map((s) => [key(s), spanToJson(s)]));
    expect(back).toHaveLength(original.size);
    for (const s of back) expect(spanToJson(s)).toEqual(original.get(key(s)));
  });
});

describe('replay input: bad files are one ConfigError line', () => {
  it.each([
    ['not JSON', 'this is not json {', /not JSON/],
    ['an unknown shape', '{"traces": []}', /neither Jaeger's legacy JSON/],
    ['a trace without spans', '{"data":[{"traceID":"4bf92f3577b34da6a3ce929d0e0e4736","spans":[],"processes":{}}]}', /trace 4bf92f3577b34da6a3ce929d0e0e4736 has no spans/],
    ['no traces at all', '{"data":[]}', /holds no spans/],
    ['a span without its process', '{"data":[{"traceID":"4bf92f3577b34da6a3ce929d0e0e4736","spans":[{"traceID":"4bf92f3577b34da6a3ce929d0e0e4736","spanID":"00f067aa0ba902b7","operationName":"x","startTime":1,"duration":1,"processID":"p9"}],"processes":{}}]}', /processID/],
  ])('%s', (_what, content, message) => {
    const file = temp('traces.json', content);
    expect(() => readTraceFile(file)).toThrow(ConfigError);
    expect(() => readTraceFile(file)).toThrow(message);
  });

  it('reads OTLP JSON, also one object per line', () => {
    const span = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', name: 'detection_processing', kind: 5, startTimeUnixNano: '1764597600000000000', endTimeUnixNano: '1764597600100000000', attributes: [{ key: 'camera_id', value: { stringValue: 'front_door' } }] };
    const doc = { resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'nemotron-backend' } }] }, scopeSpans: [{ spans: [span] }] }] };
    expect(readTraceFile(temp('otlp.json', JSON.stringify(doc))).traces[0]!.spans[0]!.name).toBe('detection_processing');
    const lines = `${JSON.stringify(doc)}\n${JSON.stringify({ resourceSpans: [{ ...doc.resourceSpans[0], scopeSpans: [{ spans: [{ ...span, spanId: '00f067aa0ba902b8' }] }] }] })}\n`;
    expect(readTraceFile(temp('otlp.ndjson', lines)).traces[0]!.spans).toHaveLength(2);
  });
});
