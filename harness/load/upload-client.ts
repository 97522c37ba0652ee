import { FormData, request } from 'undici';
import { formatBaggage, newTraceContext, type OutgoingTraceContext } from './trace-context.ts';

/** What one camera upload did, as the load driver records it. */
export interface UploadRecord {
  cameraId: string;
  fixture: string;
  traceId: string;
  /** The span id sent in traceparent: the parent the backend's server span must name. */
  clientSpanId: string;
  sampled: boolean;
  status: number;
  accepted: boolean;
  latencyMs: number;
  uploadId?: string;
  filePath?: string;
  error?: string;
}

export interface UploadOptions {
  backendUrl: string;
  cameraId: string;
  fileName: string;
  bytes: Buffer;
  sampled?: boolean;
  requestSource?: string;
  timeoutMs?: number;
}

/** POST /api/cameras/{camera_id}/uploads, multipart field `file`, with traceparent and baggage. */
export async function sendUpload(options: UploadOptions): Promise<UploadRecord> {
  const trace: OutgoingTraceContext = newTraceContext(options.sampled ?? true);
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(options.bytes)], { type: 'image/jpeg' }), options.fileName);
  const started = performance.now();
  const base: Omit<UploadRecord, 'status' | 'accepted' | 'latencyMs'> = {
    cameraId: options.cameraId,
    fixture: options.fileName,
    traceId: trace.traceId,
    clientSpanId: trace.spanId,
    sampled: trace.sampled,
  };
  try {
    const res = await request(`${options.backendUrl}/api/cameras/${encodeURIComponent(options.cameraId)}/uploads`, {
      method: 'POST',
      body: form,
      headers: {
        traceparent: trace.traceparent,
        baggage: formatBaggage({ 'camera.id': options.cameraId, 'request.source': options.requestSource ?? 'hsi-chaos' }),
      },
      headersTimeout: options.timeoutMs ?? 30_000,
      bodyTimeout: options.timeoutMs ?? 30_000,
    });
    const text = await res.body.text();
    const latencyMs = performance.now() - started;
    let body: { id?: unknown; file_path?: unknown; detail?: unknown; error?: unknown } = {};
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      // a non-JSON answer is recorded by its status alone
    }
    const record: UploadRecord = { ...base, status: res.statusCode, accepted: res.statusCode === 202, latencyMs };
    if (typeof body.id === 'string') record.uploadId = body.id;
    if (typeof body.file_path === 'string') record.filePath = body.file_path;
    if (res.statusCode !== 202) record.error = typeof body.error === 'string' ? body.error : text.slice(0, 200);
    return record;
  } catch (error) {
    return { ...base, status: 0, accepted: false, latencyMs: performance.now() - started, error: (error as Error).message };
  }
}
