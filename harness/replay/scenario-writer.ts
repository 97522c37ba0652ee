import { formatDurationMs } from '../util/duration.ts';
import type { PlannedFault, ReplayPlan } from './reconstruct.ts';

/**
 * A replay plan as a readable scenario module (`defineScenario({...})`, the public scenario
 * types), with a comment on every rate, fault and setting saying where in the traces it came
 * from (trace ids, times). The import path of scenario-types.ts is given relative to where the
 * file is written.
 */

const iso = (ms: number) => new Date(ms).toISOString();
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const q = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** A camera id the backend accepts (`^[a-z0-9_]{1,64}$`), as HSI normalizes folder names. */
export function safeCameraId(id: string): string {
  const out = id
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 64);
  return out === '' ? 'camera' : out;
}

function value(v: unknown): string {
  if (typeof v === 'string') return q(v);
  if (Array.isArray(v)) return `[${v.map(value).join(', ')}]`;
  if (v !== null && typeof v === 'object') {
    return `{ ${Object.entries(v)
      .map(([k, x]) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : q(k)}: ${value(x)}`)
      .join(', ')} }`;
  }
  return String(v);
}

function header(plan: ReplayPlan): string[] {
  const l = plan.load;
  return [
    '/**',
    ` * Replay of an incident, written by \`hsi-chaos replay\` from ${plan.input}.`,
    ` * ${plan.incident.traces} traces, ${plan.incident.spans} spans (${plan.incident.services.join(', ')}); ${plan.incident.uploads} uploads from ${plan.incident.firstUploadIso} (time 0 below).`,
    ` * Sampling rate ${plan.samplingRate.value} (${plan.samplingRate.source})${plan.redacted ? '; camera names and file paths redacted' : ''}.`,
    ` * Fault windows are the midpoints of the brackets the calls allow; each comment gives the bracket.`,
    ' * Edit freely: this file is a starting point, not a verdict.',
    ' */',
    ...(l.refused > 0 ? [`// ${l.refused} of the uploads were refused (HTTP ≥ 400) in the incident; the replay sends them all.`] : []),
  ];
}

function workload(plan: ReplayPlan): string[] {
  const l = plan.load;
  const perUnit = l.timeUnit === '1s' ? 's' : 'min';
  const lines: string[] = [];
  if (l.kind === 'constant') {
    lines.push(
      `    // ${l.arrivals} uploads in ${secs(l.durationMs)}${l.samplingRate < 1 ? ` (≈ ${Math.round(l.estimatedUploads)} after scaling by 1/${l.samplingRate})` : ''}; per ${l.binMs / 1000} s: ${l.bins.map((b) => Math.round(b.count)).join(' ')} — steady within Poisson noise`,
      `    load: { executor: 'constant-arrival-rate', rate: ${l.rate}, timeUnit: '${l.timeUnit}', duration: '${formatDurationMs(l.durationMs)}', preAllocatedVUs: ${l.preAllocatedVUs}, maxVUs: ${l.maxVUs} },`,
    );
    return lines;
  }
  lines.push(`    // ${l.arrivals} uploads in ${secs(l.durationMs)}${l.samplingRate < 1 ? `, scaled by 1/${l.samplingRate}` : ''}; one step per ${l.binMs / 1000} s bin (uploads/${perUnit}), a 0 s stage to jump and a hold stage`);
  lines.push(`    load: {`, `      executor: 'ramping-arrival-rate',`, `      timeUnit: '${l.timeUnit}',`, `      startRate: ${l.stages[0]?.target ?? 0},`, `      preAllocatedVUs: ${l.preAllocatedVUs},`, `      maxVUs: ${l.maxVUs},`, `      stages: [`);
  for (let i = 0; i < l.stages.length; i += 2) {
    const jump = l.stages[i]!;
    const hold = l.stages[i + 1]!;
    lines.push(`        { duration: '0s', target: ${jump.target} }, { duration: '${hold.duration}', target: ${hold.target} }, // ${secs(l.bins[i / 2]!.fromMs)}`);
  }
  lines.push(`      ],`, `    },`);
  return lines;
}

function cameras(plan: ReplayPlan): string[] {
  const lines = ['  cameras: ['];
  for (const c of plan.cameras) {
    const id = safeCameraId(c.id);
    const fields: Record<string, unknown> = { id, weight: c.weight, fixtures: c.fixtures };
    if (c.files) fields['files'] = c.files;
    const sizes = c.sizes.length > 0 ? `, sizes ${c.sizes.map((s) => `${Math.round(s / 1024)} KB`).join('/')}` : '';
    const renamed = id !== c.id ? ` (traces: "${c.id}")` : '';
    lines.push(`    ${value(fields)}, // ${c.arrivals} uploads${sizes}${renamed}, first in trace ${c.firstTraceId}`);
  }
  lines.push('  ],');
  return lines;
}

function faultComment(f: PlannedFault, t0: number): string[] {
  const e = f.evidence;
  const rel = (ms: number) => secs(ms - t0);
  return [
    `    // ${f.target}: ${e.basis}; ${e.affected} of ${e.calls} calls from ${iso(f.fromMs)}.`,
    `    //   start between ${rel(e.start.lo)} and ${rel(e.start.hi)}, end between ${rel(e.end.lo)} and ${rel(e.end.hi)}${f.clipped ? ' (cut at the load end)' : ''};`,
    `    //   traces ${e.firstTraceId} (first) … ${e.lastTraceId} (last)${e.statusCodes ? `; status codes ${value(e.statusCodes)}` : ''}`,
  ];
}

function faults(plan: ReplayPlan): string[] {
  if (plan.faults.length === 0) return ['  faults: [], // no error or latency window found on any hop'];
  const lines = ['  faults: ['];
  for (const f of plan.faults) {
    lines.push(...faultComment(f, plan.load.t0Ms));
    lines.push(`    { name: ${q(f.name)}, at: '${formatDurationMs(f.atMs)}', duration: '${formatDurationMs(f.durationMs)}', target: ${q(f.target)}, fault: ${value(f.fault)} },`);
  }
  lines.push('  ],');
  return lines;
}

function stack(plan: ReplayPlan): string[] {
  const backend = plan.hints.filter((h) => h.scope === 'backend');
  const detector = plan.hints.filter((h) => h.scope === 'detector');
  const llm = plan.hints.filter((h) => h.scope === 'llm');
  const defects = plan.hints.filter((h) => h.scope === 'defect');
  if (backend.length + detector.length + llm.length + defects.length === 0) return [];
  const lines = ['  stack: {'];
  if (defects.length > 0) {
    for (const d of defects) lines.push(`    // ${d.key}: ${d.source}`);
    lines.push(`    defects: ${value(defects.map((d) => d.key))},`);
  }
  for (const [scope, list] of [['backend', backend], ['detector', detector], ['llm', llm]] as const) {
    if (list.length === 0) continue;
    lines.push(`    ${scope}: {`);
    for (const h of list) {
      // a long value (the detector's replayed engine times) gets its comment above it
      if (h.value.length > 60) lines.push(`      // ${h.source}`, `      ${h.key}: ${q(h.value)},`);
      else lines.push(`      ${h.key}: ${q(h.value)}, // ${h.source}`);
    }
    lines.push('    },');
  }
  lines.push('  },');
  return lines;
}

export function writeScenarioSource(plan: ReplayPlan, scenarioTypesImport: string): string {
  const l = plan.load;
  const description = `replay of ${plan.incident.uploads} uploads and ${plan.faults.length} fault window(s) read from ${plan.input}`;
  const notes = plan.hints.filter((h) => h.scope === 'note').map((h) => `// ${h.key}: ${h.value} (${h.source})`);
  return [
    `import { defineScenario } from ${q(scenarioTypesImport)};`,
    '',
    ...header(plan),
    ...notes,
    'export default defineScenario({',
    `  name: ${q(plan.name)},`,
    `  description: ${q(description)},`,
    '  scenarios: {',
    ...workload(plan),
    '  },',
    ...cameras(plan),
    `  tracing: { sampledFraction: 1 }, // every replayed upload traced, for the fidelity comparison`,
    ...faults(plan),
    `  expectations: ${value(plan.expectations)},`,
    ...stack(plan),
    `  limits: { maxDuration: '${formatDurationMs(Math.max(60_000, l.durationMs * 3))}', maxRequests: ${Math.max(100, Math.ceil(l.estimatedUploads * 2))} },`,
    '});',
    '',
  ].join('\n');
}
