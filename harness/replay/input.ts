import { existsSync, readFileSync, statSync } from 'node:fs';
import { fetchPipelineTraces } from '../traces/stitch.ts';
import { ConfigError, HarnessError, errorMessage } from '../errors.ts';
import { JaegerQueryClient, JaegerQueryError } from '../traces/jaeger-client.ts';
import { parseLegacyTraces, parseV3Traces } from '../traces/jaeger-schemas.ts';
import { groupTraces, normalizeTraceId, type NormalizedSpan, type TraceTree } from '../traces/span-model.ts';

/**
 * Where an incident's traces come from: an exported file (Jaeger legacy JSON as its UI
 * downloads it, `{data:[...]}`; OTLP JSON `{resourceSpans:[...]}`, one object or one per line
 * as the OpenTelemetry Collector's file exporter writes; Jaeger api/v3 `{result:{...}}`), or a
 * Jaeger query service (api/v3 or legacy, detected) asked for a service's pipeline traces in a
 * time window and/or for trace ids. Every problem is one ConfigError line (exit 2).
 */

export interface TraceInput {
  traces: TraceTree[];
  /** how the input is named in messages and in the scenario's comments */
  description: string;
}

type Format = 'legacy' | 'otlp' | 'v3';

function formatOf(body: unknown): Format | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  if ('data' in body) return 'legacy';
  if ('resourceSpans' in body) return 'otlp';
  if ('result' in body) return 'v3';
  return undefined;
}

function parseBody(text: string, file: string): unknown[] {
  try {
    return [JSON.parse(text) as unknown];
  } catch (whole) {
    // OTLP file exporter: one JSON object per line.
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    if (lines.length > 1) {
      try {
        return lines.map((l) => JSON.parse(l) as unknown);
      } catch {
        // fall through to the whole-file message
      }
    }
    throw new ConfigError(`${file}: not JSON (${errorMessage(whole).split('\n')[0]}); expected Jaeger's legacy JSON {"data":[...]} or OTLP JSON {"resourceSpans":[...]}`);
  }
}

function spansOf(body: unknown, file: string): NormalizedSpan[] {
  const format = formatOf(body);
  try {
    if (format === 'legacy') return parseLegacyTraces(body, file);
    if (format === 'otlp') return parseV3Traces({ result: body }, file);
    if (format === 'v3') return parseV3Traces(body, file);
  } catch (error) {
    if (error instanceof JaegerQueryError) throw new ConfigError(error.message);
    throw error;
  }
  throw new ConfigError(`${file}: neither Jaeger's legacy JSON (a "data" array) nor OTLP JSON ("resourceSpans"); export the traces from Jaeger's UI (Download JSON) or with "hsi-chaos traces export"`);
}

/** Legacy files list their traces: one that holds no span is named, as it says the export is broken. */
function emptyLegacyTrace(body: unknown): string | undefined {
  if (formatOf(body) !== 'legacy') return undefined;
  const data = (body as { data?: unknown }).data;
  if (!Array.isArray(data)) return undefined;
  const empty = data.find((t: unknown) => typeof t === 'object' && t !== null && Array.isArray((t as { spans?: unknown }).spans) && (t as { spans: unknown[] }).spans.length === 0);
  return empty ? String((empty as { traceID?: unknown }).traceID ?? '?') : undefined;
}

export function readTraceFile(file: string): TraceInput {
  if (!existsSync(file) || !statSync(file).isFile()) throw new ConfigError(`${file}: no such file; give a Jaeger JSON export or an OTLP JSON file`);
  const bodies = parseBody(readFileSync(file, 'utf8'), file);
  const spans: NormalizedSpan[] = [];
  for (const body of bodies) {
    const empty = emptyLegacyTrace(body);
    if (empty !== undefined) throw new ConfigError(`${file}: trace ${empty} has no spans; export the traces again (Jaeger's UI: Download JSON of a search result)`);
    spans.push(...spansOf(body, file));
  }
  if (spans.length === 0) throw new ConfigError(`${file}: holds no spans; export an incident's traces into it`);
  return { traces: groupTraces(spans), description: file };
}

export interface JaegerInputOptions {
  url: string;
  service: string;
  /** window; both or neither */
  startMin?: Date;
  startMax?: Date;
  traceIds?: readonly string[];
  /** per search, default 200 */
  limit?: number;
}

function checkedIds(ids: readonly string[]): string[] {
  return ids.map((id) => {
    const n = normalizeTraceId(id);
    if (n === undefined) throw new ConfigError(`--trace-id ${id}: not a trace id (up to 32 hex characters)`);
    return n;
  });
}

async function knownService(client: JaegerQueryClient, service: string): Promise<void> {
  const services = await client.services();
  if (!services.includes(service)) {
    throw new ConfigError(`--service ${service}: Jaeger at ${client.baseUrl} has no such service (known: ${services.join(', ') || 'none'})`);
  }
}

/**
 * The Jaeger named by `--jaeger` is input, like a file: one that does not answer, answers
 * nonsense or fails mid-search is a usage error (exit 2, one line naming the URL), not the
 * environment error a run's own Jaeger stopping would be (exit 3).
 */
function asInputError(url: string, error: unknown): unknown {
  if (error instanceof JaegerQueryError) return new ConfigError(`--jaeger ${url}: ${error.message.replace(/; is [^;]*\(16686\)\?$/, '')}; check the URL (Jaeger's query port, 16686) and that it is reachable from here`);
  if (error instanceof HarnessError) return error;
  return new ConfigError(`--jaeger ${url}: ${errorMessage(error)}`);
}

async function fetchFromJaeger(client: JaegerQueryClient, options: JaegerInputOptions, ids: readonly string[], window: { startMin: Date; startMax: Date } | undefined): Promise<TraceTree[]> {
  await knownService(client, options.service);
  if (window) return fetchPipelineTraces(client, { ...window, service: options.service, traceIds: ids, limit: options.limit ?? 200 });
  const found = await Promise.all(ids.map((id) => client.getTrace(id)));
  const missing = ids.filter((_, i) => found[i] === undefined);
  if (missing.length > 0) throw new ConfigError(`--trace-id ${missing[0]}: Jaeger at ${client.baseUrl} has no such trace${missing.length > 1 ? ` (nor ${missing.length - 1} more)` : ''}`);
  return found.filter((t): t is TraceTree => t !== undefined);
}

/** Pipeline traces of `service` from a Jaeger query service; every failure is one ConfigError line (exit 2). */
export async function readJaeger(options: JaegerInputOptions): Promise<TraceInput> {
  const ids = checkedIds(options.traceIds ?? []);
  const window = options.startMin !== undefined && options.startMax !== undefined ? { startMin: options.startMin, startMax: options.startMax } : undefined;
  if (!window && ids.length === 0) throw new ConfigError('--jaeger needs a time window (--start and --end, or --since) or --trace-id');
  let client: JaegerQueryClient;
  let traces: TraceTree[];
  try {
    client = new JaegerQueryClient({ baseUrl: options.url, requestTimeoutMs: 10_000 });
    traces = await fetchFromJaeger(client, options, ids, window);
  } catch (error) {
    throw asInputError(options.url, error);
  }
  const what = window ? `${options.service} from ${window.startMin.toISOString()} to ${window.startMax.toISOString()}` : `${ids.length} trace id(s)`;
  if (traces.length === 0) throw new ConfigError(`--jaeger ${options.url}: no traces of ${what}; widen the window or check the service name`);
  return { traces, description: `Jaeger ${client.baseUrl}, ${what}` };
}
