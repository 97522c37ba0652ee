import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EventStreamRecorder, WS_EVENTS_FILE } from '../../../harness/events/event-stream-recorder.ts';
import { RunResults } from '../../../harness/util/run-results.ts';
import { EventStream } from '../../../reference-stack/backend/event-stream.ts';

/** The recorder against the reference stack's own /ws/events (in process, no Docker). */
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function backend(stream: EventStream): Promise<string> {
  const server: Server = createServer((_req, res) => res.end());
  stream.attach(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())), () => stream.close());
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
}

describe('EventStreamRecorder', () => {
  it('records each frame with its receive time, as it arrives, into ws-events.ndjson', async () => {
    const stream = new EventStream();
    const dir = mkdtempSync(join(tmpdir(), 'ws-rec-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const results = new RunResults(dir, 'r1');
    const recorder = new EventStreamRecorder({ backendUrl: await backend(stream), results });
    cleanups.push(() => recorder.close());
    await recorder.start();
    await until(() => stream.subscribers === 1);
    stream.publish({ id: 1, batch_id: 'b1', camera_id: 'front_door' });
    stream.publish({ id: 2, batch_id: 'b2', camera_id: 'front_door' });
    await recorder.waitFor([{ eventId: '1' }, { eventId: '2' }], 2_000);
    const log = recorder.snapshot();
    expect(log.subscribed).toBe(true);
    expect(log.receipts.map((r) => r.events)).toEqual([[{ eventId: '1', batchId: 'b1', cameraId: 'front_door' }], [{ eventId: '2', batchId: 'b2', cameraId: 'front_door' }]]);
    const lines = readFileSync(join(results.dir, WS_EVENTS_FILE), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(2);
  });

  it('sees the defect switch HSI_DEFECT_WS_DROPS_BROADCAST: the first event never arrives', async () => {
    const stream = new EventStream({ dropFirstBroadcast: true });
    stream.publish({ id: 0 }); // no subscriber yet: not the one dropped
    const recorder = new EventStreamRecorder({ backendUrl: await backend(stream) });
    cleanups.push(() => recorder.close());
    await recorder.start();
    await until(() => stream.subscribers === 1);
    stream.publish({ id: 1 });
    stream.publish({ id: 2 });
    await recorder.waitFor([{ eventId: '1' }, { eventId: '2' }], 500);
    expect(recorder.snapshot().receipts.flatMap((r) => r.events.map((e) => e.eventId))).toEqual(['2']);
    expect(stream.dropped).toBe(1);
  });

  it('says why when there is no /ws/events, without throwing', async () => {
    const server = createServer((_req, res) => res.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const recorder = new EventStreamRecorder({ backendUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, openTimeoutMs: 300 });
    await recorder.start();
    const log = recorder.snapshot();
    expect(log.subscribed).toBe(false);
    expect(log.note).toMatch(/./);
    recorder.close();
  });
});
