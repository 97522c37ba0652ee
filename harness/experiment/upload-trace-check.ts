import pg from 'pg';
import type { StackConfig } from '../config/stack-config.ts';
import { ExitCode } from '../errors.ts';
import { fixtureCycle, loadFixtures } from '../load/fixtures.ts';
import { sendUpload, type UploadRecord } from '../load/upload-client.ts';
import { RunResults } from '../util/run-results.ts';
import { ensureDockerEngine } from '../stack/docker-engine.ts';
import { HsiStack, newRunId, type StartedHsiStack } from '../stack/hsi-stack.ts';
import { prepareImages } from '../stack/images/prepare-images.ts';
import { registerTeardown, runTeardown } from '../stack/teardown.ts';
import { JaegerQueryClient } from '../traces/jaeger-client.ts';
import type { TraceTree } from '../traces/span-model.ts';

/**
 * The main job's first form: stack up, a bounded number of camera uploads, each
 * upload's trace awaited in Jaeger and checked to be one tree holding backend and
 * detector spans, detection rows checked in PostgreSQL, summary written, stack down.
 */
export const BACKEND_SERVICE = 'nemotron-backend';
export const DETECTOR_SERVICE = 'ai-yolo26-emulator';
const EXPECTED_SPANS = ['detection_processing', 'yolo26_detection_request'];

export interface UploadTraceCheckOptions {
  config: StackConfig;
  uploads: number;
  concurrency: number;
  traceTimeoutMs: number;
  runId?: string;
  /** Keep the stack running afterwards (debugging); the caller stops it. */
  keepStack?: boolean;
  log: (line: string) => void;
}

export interface TraceCheck {
  traceId: string;
  cameraId: string;
  found: boolean;
  oneTree: boolean;
  spanCount: number;
  services: string[];
  missing: string[];
  detectionRows: number;
  ok: boolean;
  problem?: string;
}

export interface UploadTraceCheckSummary {
  schemaVersion: 1;
  kind: 'upload-trace-check';
  runId: string;
  status: 'running' | 'passed' | 'failed' | 'error' | 'interrupted';
  startedAt: string;
  finishedAt?: string;
  resultsDir: string;
  stack?: { startSeconds: number; perService: Record<string, number>; images: Record<string, string>; backendUrl: string; jaegerUrl: string; gpus: boolean };
  images?: { image: string; action: string; seconds: number }[];
  uploads: { planned: number; sent: number; accepted: number; rejected: number };
  traces: TraceCheck[];
  error?: string;
}

function checkTree(tree: TraceTree): { oneTree: boolean; problem?: string } {
  const ids = new Set(tree.spans.map((s) => s.spanId));
  const orphans = tree.spans.filter((s) => s.parentSpanId !== undefined && !ids.has(s.parentSpanId));
  // The load driver's own span is never exported, so the upload's server span hangs under an
  // absent parent: exactly one such root is the expected shape, more means a broken hop.
  const roots = tree.spans.filter((s) => s.parentSpanId === undefined || !ids.has(s.parentSpanId));
  if (roots.length === 1) return { oneTree: true };
  return {
    oneTree: false,
    problem: `${roots.length} roots (${roots.map((r) => `${r.service}/${r.name}`).join(', ')}); ${orphans.length} span(s) with a parent outside the trace`,
  };
}

/** Bounded load: exactly `uploads` requests, `concurrency` in flight; each recorded as it comes back. */
async function sendUploads(
  backendUrl: string,
  cameras: ReturnType<typeof loadFixtures>,
  options: Pick<UploadTraceCheckOptions, 'uploads' | 'concurrency'>,
  out: { results: RunResults; summary: UploadTraceCheckSummary; save: () => void },
): Promise<UploadRecord[]> {
  const { results, summary } = out;
  const records: UploadRecord[] = [];
  const source = fixtureCycle(cameras);
  const next = () => source.next().value;
  let index = 0;
  const worker = async () => {
    while (index < options.uploads) {
      index += 1;
      const fixture = next();
      if (!fixture) return;
      const record = await sendUpload({ backendUrl, cameraId: fixture.cameraId, fileName: fixture.name, bytes: fixture.bytes });
      records.push(record);
      results.appendNdjson('requests.ndjson', record);
      summary.uploads.sent += 1;
      if (record.accepted) summary.uploads.accepted += 1;
      else summary.uploads.rejected += 1;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, worker));
  out.save();
  return records;
}

/** One accepted upload: its trace (one tree holding backend and detector spans) and its detection rows. */
async function checkUpload(record: UploadRecord, jaeger: JaegerQueryClient, db: pg.Client, traceTimeoutMs: number): Promise<TraceCheck> {
  const check: TraceCheck = { traceId: record.traceId, cameraId: record.cameraId, found: false, oneTree: false, spanCount: 0, services: [], missing: [], detectionRows: 0, ok: false };
  try {
    const tree = await jaeger.waitForTrace(record.traceId, {
      expectedServices: [BACKEND_SERVICE, DETECTOR_SERVICE],
      expectedSpanNames: EXPECTED_SPANS,
      timeoutMs: traceTimeoutMs,
      pollIntervalMs: 500,
    });
    check.found = true;
    check.spanCount = tree.spans.length;
    check.services = tree.services();
    const shape = checkTree(tree);
    check.oneTree = shape.oneTree;
    if (shape.problem) check.problem = shape.problem;
  } catch (error) {
    check.problem = (error as Error).message;
  }
  if (record.filePath) {
    const rows = await db.query<{ n: string }>('SELECT count(*)::text AS n FROM detections WHERE file_path = $1', [record.filePath]);
    check.detectionRows = Number(rows.rows[0]?.n ?? 0);
  }
  if (check.found && check.detectionRows === 0) check.problem ??= 'no detections row in PostgreSQL';
  check.ok = check.found && check.oneTree && check.detectionRows > 0;
  return check;
}

export async function runUploadTraceCheck(options: UploadTraceCheckOptions): Promise<{ summary: UploadTraceCheckSummary; exitCode: number; stack?: StartedHsiStack }> {
  const { config, log } = options;
  // Bad input fails before anything expensive starts.
  const cameras = loadFixtures(config.fixturesDir);
  const runId = options.runId ?? newRunId();
  const results = new RunResults(config.resultsDir, runId);
  const summary: UploadTraceCheckSummary = {
    schemaVersion: 1,
    kind: 'upload-trace-check',
    runId,
    status: 'running',
    startedAt: new Date().toISOString(),
    resultsDir: results.dir,
    uploads: { planned: options.uploads, sent: 0, accepted: 0, rejected: 0 },
    traces: [],
  };
  const save = () => results.writeJson('summary.json', summary);
  save();
  log(`run ${runId}: results in ${results.dir}`);
  // Registered first, so it runs last on Ctrl-C: the summary says what happened.
  const unregisterResults = registerTeardown('results', async () => {
    summary.status = 'interrupted';
    summary.finishedAt = new Date().toISOString();
    save();
  });

  let stack: StartedHsiStack | undefined;
  try {
    await ensureDockerEngine({ bootstrap: false, log }); // bootstrapped, if at all, by the CLI
    const built = await prepareImages(config, { log });
    summary.images = built.map(({ image, action, seconds }) => ({ image, action, seconds }));
    save();

    log('starting the stack…');
    stack = await new HsiStack(config).withRunId(runId).withLog(log).start();
    summary.stack = {
      startSeconds: stack.timings.totalSeconds,
      perService: stack.timings.perService,
      images: { ...stack.images },
      backendUrl: stack.getBackendUrl(),
      jaegerUrl: stack.getJaegerQueryUrl(),
      gpus: stack.gpus,
    };
    save();
    log(`stack started in ${stack.timings.totalSeconds.toFixed(1)} s (backend ${stack.getBackendUrl()}, Jaeger ${stack.getJaegerQueryUrl()})`);

    const records = await sendUploads(stack.getBackendUrl(), cameras, options, { results, summary, save });
    log(`uploads: ${summary.uploads.sent} sent, ${summary.uploads.accepted} accepted (202), ${summary.uploads.rejected} rejected`);

    const jaeger = new JaegerQueryClient({ baseUrl: stack.getJaegerQueryUrl() });
    const db = new pg.Client({ connectionString: stack.getPostgresConnectionUri() });
    await db.connect();
    try {
      for (const record of records.filter((r) => r.accepted)) {
        const check = await checkUpload(record, jaeger, db, options.traceTimeoutMs);
        summary.traces.push(check);
        save();
        log(`trace ${check.traceId} ${check.ok ? 'ok ' : 'BAD'} ${check.spanCount} spans, services: ${check.services.join(', ') || '-'}, detections: ${check.detectionRows}${check.problem ? ` — ${check.problem}` : ''}`);
      }
    } finally {
      await db.end();
    }
    const allOk = summary.uploads.accepted === options.uploads && summary.traces.every((t) => t.ok);
    summary.status = allOk ? 'passed' : 'failed';
    return { summary, exitCode: allOk ? ExitCode.pass : ExitCode.expectationFailed, ...(options.keepStack && stack ? { stack } : {}) };
  } catch (error) {
    summary.status = 'error';
    summary.error = (error as Error).message;
    throw error;
  } finally {
    unregisterResults();
    summary.finishedAt = new Date().toISOString();
    save();
    if (stack && !options.keepStack) {
      log('stopping the stack…');
      await stack.stop();
    }
    if (!options.keepStack) await runTeardown();
  }
}
