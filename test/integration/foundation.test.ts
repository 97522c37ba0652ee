import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFixtures } from '../../harness/load/fixtures.ts';
import { sendUpload, type UploadRecord } from '../../harness/load/upload-client.ts';
import { HsiStack, newRunId, type StartedHsiStack } from '../../harness/stack/hsi-stack.ts';
import { JaegerQueryClient } from '../../harness/traces/jaeger-client.ts';
import type { NormalizedSpan } from '../../harness/traces/span-model.ts';
import { run } from '../../harness/util/exec.ts';
import { dockerResourcesOfRun, testConfig, waitFor } from './stack-helpers.ts';

const BACKEND = 'nemotron-backend';
const DETECTOR = 'ai-yolo26-emulator';

describe('embedded stack: each upload becomes one Jaeger trace across backend and detector', () => {
  const config = testConfig();
  let stack: StartedHsiStack;
  let runId: string;

  beforeAll(async () => {
    runId = newRunId('test');
    stack = await new HsiStack(config).withRunId(runId).start();
  });

  afterAll(async () => {
    await stack?.stop();
    expect(await dockerResourcesOfRun(runId)).toEqual([]);
  });

  it('publishes every port on 127.0.0.1 only', async () => {
    for (const [role, container] of Object.entries(stack.containers())) {
      const res = await run('docker', ['inspect', '--format', '{{json .NetworkSettings.Ports}}', container.getId()]);
      const ports = JSON.parse(res.stdout) as Record<string, { HostIp: string; HostPort: string }[] | null>;
      const bindings = Object.values(ports).flatMap((b) => b ?? []);
      expect(bindings.length, `${role} publishes ports`).toBeGreaterThan(0);
      for (const b of bindings) expect(b.HostIp, `${role} binds ${b.HostPort}`).toBe('127.0.0.1');
    }
  });

  it('links upload → queue → detection worker → detector in one trace, and stores detections', async () => {
    const cameras = loadFixtures(config.fixturesDir).slice(0, 3);
    const records: UploadRecord[] = [];
    for (const camera of cameras) {
      const file = camera.files[0]!;
      const { readFileSync } = await import('node:fs');
      records.push(await sendUpload({ backendUrl: stack.getBackendUrl(), cameraId: camera.cameraId, fileName: file.split('/').pop()!, bytes: readFileSync(file) }));
    }
    for (const r of records) expect(r.status, r.error).toBe(202);

    const jaeger = new JaegerQueryClient({ baseUrl: stack.getJaegerQueryUrl() });
    const db = new pg.Client({ connectionString: stack.getPostgresConnectionUri() });
    await db.connect();
    try {
      for (const record of records) {
        const tree = await jaeger.waitForTrace(record.traceId, {
          expectedServices: [BACKEND, DETECTOR],
          expectedSpanNames: ['detection_processing', 'yolo26_detection_request'],
          timeoutMs: 30_000,
          pollIntervalMs: 500,
        });
        const find = (service: string, predicate: (s: NormalizedSpan) => boolean, what: string): NormalizedSpan => {
          const span = tree.spans.find((s) => s.service === service && predicate(s));
          expect(span, `${what} in trace ${record.traceId}`).toBeDefined();
          return span!;
        };
        const server = find(BACKEND, (s) => s.kind === 'server' && s.name.includes('/uploads'), 'upload server span');
        const producer = find(BACKEND, (s) => s.kind === 'producer', 'detection_queue producer span');
        const processing = find(BACKEND, (s) => s.name === 'detection_processing', 'detection_processing span');
        const request = find(BACKEND, (s) => s.name === 'yolo26_detection_request', 'yolo26_detection_request span');
        const detector = find(DETECTOR, (s) => s.kind === 'server', 'detector server span');

        expect(server.parentSpanId, 'server span continues the load driver traceparent').toBe(record.clientSpanId);
        expect(producer.parentSpanId).toBe(server.spanId);
        expect(processing.parentSpanId, 'queue consumer continues the producer').toBe(producer.spanId);
        expect(processing.kind).toBe('consumer');
        expect(request.parentSpanId).toBe(processing.spanId);
        // The detector's server span hangs under the request span, directly or via an HTTP client span.
        const ancestors = new Set<string>();
        let cursor: string | undefined = detector.parentSpanId;
        const byId = new Map(tree.spans.map((s) => [s.spanId, s]));
        while (cursor !== undefined && !ancestors.has(cursor)) {
          ancestors.add(cursor);
          cursor = byId.get(cursor)?.parentSpanId;
        }
        expect(ancestors.has(request.spanId), 'detector span descends from yolo26_detection_request').toBe(true);
        // One tree: only the server span has its parent outside the trace (the load driver's).
        const orphans = tree.spans.filter((s) => s.parentSpanId === undefined || !byId.has(s.parentSpanId));
        expect(orphans.map((s) => s.name)).toEqual([server.name]);

        const rows = await db.query<{ camera_id: string; object_type: string }>('SELECT camera_id, object_type FROM detections WHERE file_path = $1', [record.filePath]);
        expect(rows.rowCount, `detections for ${record.filePath}`).toBeGreaterThan(0);
        for (const row of rows.rows) expect(row.camera_id).toBe(record.cameraId);
      }
    } finally {
      await db.end();
    }
  });

  it('routes the backend to PostgreSQL and Redis through Toxiproxy', async () => {
    const ready = async () => (await fetch(`${stack.getBackendUrl()}/api/system/health/ready`)).status;
    for (const proxy of ['postgres', 'redis']) {
      const p = await stack.toxiproxy.client.get(proxy);
      await p.update({ enabled: false, listen: p.listen, upstream: p.upstream });
      await waitFor(`backend not ready with ${proxy} proxy down`, async () => ((await ready()) === 503 ? true : undefined), 20_000);
      await p.update({ enabled: true, listen: p.listen, upstream: p.upstream });
      await waitFor(`backend ready again with ${proxy} proxy up`, async () => ((await ready()) === 200 ? true : undefined), 30_000);
    }
  });
});
