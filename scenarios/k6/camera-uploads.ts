/**
 * k6 script for camera uploads (k6 v1/v2 runs .ts natively; type-checked with
 * scenarios/k6/tsconfig.json). It reads the scenario definition the harness rendered
 * (harness/load/k6/render-k6.ts) from the file named by __ENV.HSI_SCENARIO_JSON:
 *
 *   HSI_SCENARIO_JSON=/tmp/steady.k6.json k6 run --out json=points.json \
 *     --summary-export=summary.json scenarios/k6/camera-uploads.ts
 *
 * Each iteration uploads one fixture image of one camera (POST /api/cameras/{id}/uploads,
 * multipart field `file`) with a W3C traceparent minted here (random ids, sampled by the
 * scenario's fraction; nothing is fetched from the network) and baggage camera.id,
 * request.source and the scenario's keys. The trace id is put in the samples' metadata
 * (`trace_id`), so it appears in the --out json Point lines; an accepted upload adds one
 * `hsi_uploads` sample whose metadata carries the upload id and file path.
 */
import exec from 'k6/execution';
import http from 'k6/http';
import { Counter, Gauge, Rate, Trend } from 'k6/metrics';
import type { Options } from 'k6/options';

/** Mirror of RenderedScenario in harness/load/k6/render-k6.ts. */
interface RenderedScenario {
  version: 1;
  name: string;
  backendUrl: string;
  options: Options;
  cameras: { id: string; name: string; files: { path: string; name: string }[] }[];
  sequences: Record<string, number[]>;
  tracing: { sampledFraction: number; baggage: Record<string, string>; requestSource: string };
  timeout: string;
  limits: { maxRequests: number };
  metrics: Record<string, { type: 'counter' | 'gauge' | 'rate' | 'trend'; contains: 'default' | 'time' | 'data' }>;
}

const configPath = __ENV['HSI_SCENARIO_JSON'];
if (!configPath) throw new Error('HSI_SCENARIO_JSON is not set: run this script through hsi-chaos (--driver k6), or point it at a rendered scenario JSON');
const config = JSON.parse(open(configPath)) as RenderedScenario;
const backendUrl = (__ENV['HSI_BACKEND_URL'] ?? config.backendUrl).replace(/\/+$/, '');

export const options: Options = config.options;

// fixtures are read once per VU, in the init context
const fixtures: { name: string; data: ArrayBuffer }[][] = config.cameras.map((camera) =>
  camera.files.map((file) => ({ name: file.name, data: open(file.path, 'b') })),
);

const uploads = new Counter('hsi_uploads');
// custom metrics, declared in the init context as k6 requires
const customMetrics: Record<string, Counter | Gauge | Rate | Trend> = {};
for (const [name, m] of Object.entries(config.metrics ?? {})) {
  if (m.type === 'counter') customMetrics[name] = new Counter(name);
  else if (m.type === 'gauge') customMetrics[name] = new Gauge(name);
  else if (m.type === 'rate') customMetrics[name] = new Rate(name);
  else customMetrics[name] = new Trend(name, m.contains === 'time');
}
const expected202 = http.expectedStatuses(202);
const HEX = '0123456789abcdef';

function randomHex(chars: number): string {
  let out = '';
  for (let i = 0; i < chars; i++) out += HEX.charAt(Math.floor(Math.random() * 16));
  // all-zero ids are invalid in W3C trace context
  return /^0+$/.test(out) ? `${out.slice(0, -1)}1` : out;
}

function encodeBaggage(entries: Record<string, string>): string {
  return Object.keys(entries)
    .map((key) => `${key}=${encodeURIComponent(entries[key] ?? '')}`)
    .join(',');
}

export default function upload(): void {
  if (exec.instance.iterationsCompleted + exec.instance.iterationsInterrupted >= config.limits.maxRequests) {
    exec.test.abort(`limits.maxRequests (${config.limits.maxRequests}) reached`);
    return;
  }
  const scenarioName = exec.scenario.name;
  const sequence = config.sequences[scenarioName] ?? [0];
  const iteration = exec.scenario.iterationInTest;
  const cameraIndex = sequence[iteration % sequence.length] ?? 0;
  const camera = config.cameras[cameraIndex];
  const files = fixtures[cameraIndex];
  if (!camera || !files || files.length === 0) throw new Error(`no camera ${cameraIndex} in the rendered scenario`);
  const file = files[Math.floor(iteration / sequence.length) % files.length];
  if (!file) throw new Error(`camera ${camera.id} has no fixture`);

  const traceId = randomHex(32);
  const spanId = randomHex(16);
  const sampled = Math.random() < config.tracing.sampledFraction;
  const metadata = exec.vu.metrics.metadata;
  metadata['trace_id'] = traceId;
  metadata['trace_sampled'] = sampled ? 'true' : 'false';

  const res = http.post(
    `${backendUrl}/api/cameras/${encodeURIComponent(camera.id)}/uploads`,
    { file: http.file(file.data, file.name, /\.png$/i.test(file.name) ? 'image/png' : 'image/jpeg') },
    {
      headers: {
        traceparent: `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`,
        baggage: encodeBaggage({ 'camera.id': camera.id, 'request.source': config.tracing.requestSource, ...config.tracing.baggage }),
      },
      tags: { camera: camera.id, name: 'POST /api/cameras/{camera_id}/uploads' },
      timeout: config.timeout,
      responseCallback: expected202,
    },
  );

  if (res.status === 202) {
    let answer: { id?: unknown; file_path?: unknown } = {};
    try {
      answer = JSON.parse(String(res.body)) as typeof answer;
    } catch {
      // a non-JSON answer still counts as accepted
    }
    if (typeof answer.id === 'string') metadata['upload_id'] = answer.id;
    if (typeof answer.file_path === 'string') metadata['file_path'] = answer.file_path;
    metadata['span_id'] = spanId;
    uploads.add(1, { camera: camera.id, fixture: file.name });
  }
  delete metadata['trace_id'];
  delete metadata['trace_sampled'];
  delete metadata['upload_id'];
  delete metadata['file_path'];
  delete metadata['span_id'];
}
