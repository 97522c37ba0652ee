import type { AttributeValue, Attributes, NormalizedSpan, TraceTree } from '../traces/span-model.ts';
import { buildTraceTree } from '../traces/span-model.ts';

/**
 * `--redact`: camera names and file paths replaced before anything else reads the traces, so
 * the scenario, its comments and the reports never hold them. The mapping is consistent (one
 * camera is always `camera_1`, one path always the same stand-in), so joins by `camera_id` and
 * `file_path` still work. Every string value is rewritten (attributes, resources, events,
 * status messages): URLs and queries that embed a camera id or a path are covered too.
 */

const CAMERA_KEYS = ['camera_id', 'camera.id'];
const CAMERA_NAME_KEYS = ['camera.folder', 'camera.name'];
const PATH_KEYS = ['file_path', 'image_path', 'file.path'];

export interface Redaction {
  cameras: Map<string, string>;
  paths: Map<string, string>;
}

function collect(spans: readonly NormalizedSpan[]): Redaction {
  const cameras = new Map<string, string>();
  const paths = new Map<string, string>();
  const names = new Map<string, string>();
  for (const s of spans) {
    for (const key of CAMERA_KEYS) {
      const v = s.attributes[key];
      if (typeof v === 'string' && v !== '' && !cameras.has(v)) cameras.set(v, `camera_${cameras.size + 1}`);
    }
  }
  for (const s of spans) {
    const camera = [s.attributes['camera_id'], s.attributes['camera.id']].find((v): v is string => typeof v === 'string');
    for (const key of CAMERA_NAME_KEYS) {
      const v = s.attributes[key];
      if (typeof v === 'string' && v !== '' && !names.has(v)) names.set(v, `Camera ${camera ? (cameras.get(camera) ?? '').replace('camera_', '') : names.size + 1}`);
    }
    for (const key of PATH_KEYS) {
      const v = s.attributes[key];
      if (typeof v !== 'string' || v === '' || paths.has(v)) continue;
      const ext = /\.[A-Za-z0-9]{1,5}$/.exec(v)?.[0] ?? '';
      paths.set(v, `/redacted/${camera ? (cameras.get(camera) ?? 'camera') : 'camera'}/${paths.size + 1}${ext}`);
    }
  }
  for (const [k, v] of names) cameras.set(k, v);
  return { cameras, paths };
}

class Rewriter {
  private readonly pairs: [string, string][];
  private readonly pattern: RegExp | undefined;
  constructor(redaction: Redaction) {
    // Paths first and longest first, so a path holding a camera id is replaced whole.
    this.pairs = [...[...redaction.paths].sort((a, b) => b[0].length - a[0].length), ...[...redaction.cameras].sort((a, b) => b[0].length - a[0].length)];
    const escaped = this.pairs.map(([from]) => from.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    this.pattern = escaped.length > 0 ? new RegExp(escaped.join('|'), 'g') : undefined;
  }
  private readonly lookup = (match: string): string => this.pairs.find(([from]) => from === match)?.[1] ?? match;
  text(value: string): string {
    return this.pattern ? value.replace(this.pattern, this.lookup) : value;
  }
  value(v: AttributeValue): AttributeValue {
    if (typeof v === 'string') return this.text(v);
    if (Array.isArray(v)) return v.map((x) => this.value(x));
    if (typeof v === 'object') return this.attributes(v);
    return v;
  }
  attributes(a: Attributes): Attributes {
    return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, this.value(v)]));
  }
  span(s: NormalizedSpan): NormalizedSpan {
    const out: NormalizedSpan = {
      ...s,
      name: this.text(s.name),
      attributes: this.attributes(s.attributes),
      resource: this.attributes(s.resource),
      events: s.events.map((e) => ({ ...e, attributes: this.attributes(e.attributes) })),
      links: s.links.map((l) => ({ ...l, attributes: this.attributes(l.attributes) })),
      status: s.status.message !== undefined ? { ...s.status, message: this.text(s.status.message) } : { ...s.status },
    };
    return out;
  }
}

/** The traces with camera names and file paths replaced, and the mapping used. */
export function redactTraces(traces: readonly TraceTree[]): { traces: TraceTree[]; redaction: Redaction } {
  const redaction = collect(traces.flatMap((t) => t.spans));
  const rewriter = new Rewriter(redaction);
  return { traces: traces.map((t) => buildTraceTree(t.spans.map((s) => rewriter.span(s)), t.traceId)), redaction };
}
