import { HSI_QUEUE_ROLES, queueRoleOfKey, type DlqKey, type HsiDialect, type HsiQueueRole } from '../contract/dialects.ts';
import { NestedDlqEntrySchema, parseStoredDlqEntry } from '../contract/dlq-entry.ts';
import { AnalysisQueuePayload, DetectionQueuePayload } from '../contract/hsi-queue-payloads.ts';
import { decodePayload } from '../contract/payload-codec.ts';
import { describeValue, schemaDifferences, type Difference } from './differences.ts';
import type { PushedPayload } from './queue-capture.ts';

/**
 * Queue payloads and dead letters of a live stack against the contract, per dialect (pure).
 * Payloads: what the producers pushed during one traced upload (Redis MONITOR). Dead letters:
 * the first entries of each DLQ key the dialect names (both shapes parse; the dialect's own
 * shape is the expected one).
 */
export const PAYLOAD_SCHEMAS = Object.freeze({ detection: DetectionQueuePayload, analysis: AnalysisQueuePayload });

export interface CheckedPart {
  where: string;
  differences: Difference[];
  note?: string;
  /** Nothing to check there (a route the stack does not serve). */
  skipped?: boolean;
}

function payloadDifferences(where: string, role: HsiQueueRole, raw: string): Difference[] {
  const decoded = decodePayload(raw);
  if (!decoded.ok) return [{ area: 'queue', where, what: 'payload', expected: 'JSON (or "Z:"+base64(zstd(JSON)))', seen: `undecodable: ${decoded.error}` }];
  return schemaDifferences('queue', where, PAYLOAD_SCHEMAS[role], decoded.value);
}

/** One part per queue role: pushes to the dialect's key checked against the payload schema. */
export function queuePayloadChecks(pushes: readonly PushedPayload[], dialect: HsiDialect, expectRoles: readonly HsiQueueRole[] = HSI_QUEUE_ROLES): CheckedPart[] {
  return expectRoles.map((role): CheckedPart => {
    const key = dialect.queueKey(role);
    const where = `Redis ${key}`;
    const mine = pushes.filter((p) => p.key === key);
    const elsewhere = pushes.filter((p) => p.key !== key && !p.key.includes('dlq:') && queueRoleOfKey(p.key) === role);
    const differences: Difference[] = elsewhere.slice(0, 1).map((p) => ({ area: 'queue', where, what: `${role} queue key (dialect ${dialect.name})`, expected: key, seen: p.key }));
    if (mine.length === 0 && elsewhere.length === 0) {
      differences.push({ area: 'queue', where, what: `a ${role} payload pushed during the traced upload`, expected: 'one push', seen: 'none' });
      return { where, differences };
    }
    const sample = mine[0] ?? elsewhere[0]!;
    differences.push(...payloadDifferences(where, role, sample.raw));
    return { where, differences, note: `${mine.length + elsewhere.length} push(es) seen` };
  });
}

/** The expected dead-letter shape of a key: the dialect's retry-handler shape, or the job itself for an overflow list. */
function dlqEntryDifferences(where: string, role: HsiQueueRole, dlq: DlqKey, raw: string, dialect: HsiDialect): Difference[] {
  const entry = parseStoredDlqEntry(raw);
  if (entry.shape === 'unparsed' || entry.payload === undefined) return [{ area: 'dlq', where, what: 'entry', expected: 'a JSON object', seen: `unparsable: ${entry.parseError ?? 'not an object'}` }];
  if (dlq.kind === 'overflow') return payloadDifferences(where, role, raw).map((d) => ({ ...d, area: 'dlq' as const }));
  const out: Difference[] = [];
  if (entry.shape !== dialect.dlqEntryShape) out.push({ area: 'dlq', where, what: `entry shape (dialect ${dialect.name})`, expected: dialect.dlqEntryShape, seen: entry.shape });
  if (entry.shape === 'nested') out.push(...schemaDifferences('dlq', where, NestedDlqEntrySchema, entry.payload));
  else if (typeof entry.payload['error'] !== 'string') out.push({ area: 'dlq', where, what: 'field error', expected: 'string', seen: describeValue(entry.payload['error']) });
  if (entry.job !== undefined) out.push(...schemaDifferences('dlq', `${where} (the failed job)`, PAYLOAD_SCHEMAS[role], entry.job));
  return out;
}

export interface DlqSample {
  key: string;
  entries: readonly string[];
}

/** One part per DLQ key that holds entries; empty keys are named in a note (nothing to check). */
export function dlqChecks(samples: readonly DlqSample[], dialect: HsiDialect): CheckedPart[] {
  const out: CheckedPart[] = [];
  for (const role of HSI_QUEUE_ROLES) {
    for (const dlq of dialect.dlqKeys(role)) {
      const sample = samples.find((s) => s.key === dlq.key);
      const where = `Redis ${dlq.key}`;
      if (!sample || sample.entries.length === 0) continue;
      const differences = sample.entries.flatMap((raw, i) => dlqEntryDifferences(`${where}[${i}]`, role, dlq, raw, dialect));
      out.push({ where, differences, note: `${sample.entries.length} entr${sample.entries.length === 1 ? 'y' : 'ies'} read` });
    }
  }
  return out;
}
