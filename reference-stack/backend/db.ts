import { context, ROOT_CONTEXT, SpanKind, type Attributes, type Tracer } from '@opentelemetry/api';
import {
  ATTR_DB_COLLECTION_NAME,
  ATTR_DB_NAMESPACE,
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_QUERY_TEXT,
  ATTR_DB_SYSTEM_NAME,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  DB_SYSTEM_NAME_VALUE_POSTGRESQL,
} from '@opentelemetry/semantic-conventions';
import { Pool, type PoolClient, type QueryResult, type QueryResultRow } from 'pg';
import { rateLimited, type Logger } from '../common/log.ts';
import { withTimeout } from '../common/timing.ts';
import { inSpan } from '../telemetry/tracing.ts';
import type { BackendSettings } from './settings.ts';

/**
 * PostgreSQL access: a pg Pool that survives dropped connections (broken clients are discarded,
 * new ones are opened on demand), one CLIENT span per SQL statement, and the schema migrations.
 */

export type Queryable = Pool | PoolClient;

export interface Database {
  pool: Pool;
  /** Runs one statement in a CLIENT span named `<spanName>` (e.g. `INSERT detections`). */
  query<R extends QueryResultRow = QueryResultRow>(spanName: string, text: string, values?: unknown[], on?: Queryable): Promise<QueryResult<R>>;
  /** BEGIN ... COMMIT on one pooled client (ROLLBACK and discard of the client on error). */
  transaction<T>(fn: (client: PoolClient) => Promise<T>): Promise<T>;
  /** `SELECT 1` without a span (health probes would otherwise flood the trace store). */
  ping(timeoutMs: number): Promise<void>;
  close(timeoutMs: number): Promise<void>;
}

export function createDatabase(settings: BackendSettings, tracer: Tracer, log: Logger, applicationName: string): Database {
  const pool = new Pool({
    connectionString: settings.databaseUrl,
    max: settings.dbPoolSize,
    connectionTimeoutMillis: Math.min(settings.dbQueryTimeoutMs, 5000),
    idleTimeoutMillis: 30_000,
    // Client-side bound on every query: a stalled connection (e.g. a Toxiproxy timeout) errors
    // instead of hanging, and pg-pool then discards that client.
    query_timeout: settings.dbQueryTimeoutMs,
    statement_timeout: settings.dbQueryTimeoutMs,
    keepAlive: true,
    application_name: applicationName,
  });
  const allowLog = rateLimited(10_000);
  // Without this listener an idle client's socket error would crash the process.
  pool.on('error', (error) => {
    // ROOT_CONTEXT: the event fires inside whatever request context was active; it belongs to none.
    if (allowLog('pool-error')) context.with(ROOT_CONTEXT, () => log.warn('postgres idle client error (client discarded)', { error }));
  });

  const url = new URL(settings.databaseUrl);
  const baseAttributes: Attributes = {
    [ATTR_DB_SYSTEM_NAME]: DB_SYSTEM_NAME_VALUE_POSTGRESQL,
    [ATTR_DB_NAMESPACE]: decodeURIComponent(url.pathname.replace(/^\//, '')),
    [ATTR_SERVER_ADDRESS]: url.hostname,
    [ATTR_SERVER_PORT]: url.port === '' ? 5432 : Number(url.port),
  };

  const query = <R extends QueryResultRow>(spanName: string, text: string, values: unknown[] = [], on: Queryable = pool): Promise<QueryResult<R>> => {
    const [operation, collection] = spanName.split(' ');
    const attributes: Attributes = { ...baseAttributes, [ATTR_DB_QUERY_TEXT]: text };
    if (operation !== undefined) attributes[ATTR_DB_OPERATION_NAME] = operation;
    if (collection !== undefined) attributes[ATTR_DB_COLLECTION_NAME] = collection;
    return inSpan(tracer, spanName, { kind: SpanKind.CLIENT, attributes }, () => on.query<R>(text, values));
  };

  return {
    pool,
    query,
    async transaction<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      try {
        await query('BEGIN', 'BEGIN', [], client);
        const result = await fn(client);
        await query('COMMIT', 'COMMIT', [], client);
        client.release();
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        // Passing the error destroys the client instead of returning a possibly broken one.
        client.release(error instanceof Error ? error : new Error(String(error)));
        throw error;
      }
    },
    async ping(timeoutMs: number): Promise<void> {
      await withTimeout(pool.query('SELECT 1'), timeoutMs, 'postgres ping');
    },
    async close(timeoutMs: number): Promise<void> {
      await withTimeout(pool.end(), timeoutMs, 'postgres pool close').catch(() => undefined);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Migrations
// ---------------------------------------------------------------------------------------------

export interface Migration {
  version: number;
  name: string;
  statements: readonly string[];
}

/** Append new migrations with higher versions; never edit an applied one. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'cameras_and_detections',
    statements: [
      `CREATE TABLE IF NOT EXISTS cameras (
        id text PRIMARY KEY,
        name text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE TABLE IF NOT EXISTS detections (
        id bigserial PRIMARY KEY,
        camera_id text NOT NULL REFERENCES cameras (id) ON DELETE CASCADE,
        file_path text NOT NULL,
        file_type text,
        detected_at timestamptz NOT NULL DEFAULT now(),
        object_type text,
        confidence real,
        bbox_x integer,
        bbox_y integer,
        bbox_width integer,
        bbox_height integer,
        created_at timestamptz NOT NULL DEFAULT now()
      )`,
      'CREATE INDEX IF NOT EXISTS idx_detections_camera_detected_at ON detections (camera_id, detected_at DESC)',
      'CREATE INDEX IF NOT EXISTS idx_detections_detected_at ON detections (detected_at DESC)',
      'CREATE INDEX IF NOT EXISTS idx_detections_file_path ON detections (file_path)',
    ],
  },
  {
    version: 2,
    name: 'events_and_trace_ids',
    statements: [
      // The trace id of the detection_processing span that wrote the row: the harness joins
      // traces to rows with it when propagation is broken.
      'ALTER TABLE detections ADD COLUMN IF NOT EXISTS trace_id text',
      'CREATE INDEX IF NOT EXISTS idx_detections_trace_id ON detections (trace_id)',
      `CREATE TABLE IF NOT EXISTS events (
        id bigserial PRIMARY KEY,
        batch_id text NOT NULL UNIQUE,
        camera_id text NOT NULL REFERENCES cameras (id) ON DELETE CASCADE,
        started_at timestamptz NOT NULL,
        ended_at timestamptz,
        risk_score integer NOT NULL CHECK (risk_score BETWEEN 0 AND 100),
        risk_level text NOT NULL,
        summary text NOT NULL,
        reasoning text,
        detection_ids bigint[] NOT NULL,
        trace_id text,
        is_fallback boolean NOT NULL DEFAULT false,
        close_reason text,
        created_at timestamptz NOT NULL DEFAULT now()
      )`,
      'CREATE INDEX IF NOT EXISTS idx_events_camera_started_at ON events (camera_id, started_at DESC)',
      'CREATE INDEX IF NOT EXISTS idx_events_started_at ON events (started_at DESC)',
      'CREATE INDEX IF NOT EXISTS idx_events_risk_level ON events (risk_level)',
      'CREATE INDEX IF NOT EXISTS idx_events_trace_id ON events (trace_id)',
      `CREATE TABLE IF NOT EXISTS event_detections (
        event_id bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
        detection_id bigint NOT NULL REFERENCES detections (id) ON DELETE CASCADE,
        PRIMARY KEY (event_id, detection_id)
      )`,
      'CREATE INDEX IF NOT EXISTS idx_event_detections_detection_id ON event_detections (detection_id)',
    ],
  },
];

/** Arbitrary constant key of the advisory lock that serializes concurrent migrators. */
const MIGRATION_LOCK_KEY = 748_201_113;

/** Applies pending migrations in one transaction; safe to run from several processes at once. */
export async function migrate(db: Database, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  return db.transaction(async (client) => {
    await db.query('SELECT pg_advisory_xact_lock', 'SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY], client);
    await db.query(
      'CREATE schema_migrations',
      `CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`,
      [],
      client,
    );
    const applied = await db.query<{ version: number }>('SELECT schema_migrations', 'SELECT version FROM schema_migrations', [], client);
    const done = new Set(applied.rows.map((r) => Number(r.version)));
    const newlyApplied: number[] = [];
    for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(migration.version)) continue;
      for (const statement of migration.statements) {
        const operation = statement.trim().split(/\s+/).slice(0, 2).join(' ');
        await db.query(`${operation} migration_${migration.version}`, statement, [], client);
      }
      await db.query('INSERT schema_migrations', 'INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name], client);
      newlyApplied.push(migration.version);
    }
    return newlyApplied;
  });
}

// ---------------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------------

export interface DetectionRow {
  id: string;
  camera_id: string;
  file_path: string;
  file_type: string | null;
  detected_at: Date;
  object_type: string | null;
  confidence: number | null;
  bbox_x: number | null;
  bbox_y: number | null;
  bbox_width: number | null;
  bbox_height: number | null;
  trace_id: string | null;
  created_at: Date;
}

export const DETECTION_COLUMNS =
  'id, camera_id, file_path, file_type, detected_at, object_type, confidence, bbox_x, bbox_y, bbox_width, bbox_height, trace_id, created_at';

export interface EventRow {
  id: string;
  batch_id: string;
  camera_id: string;
  started_at: Date;
  ended_at: Date | null;
  risk_score: number;
  risk_level: string;
  summary: string;
  reasoning: string | null;
  /** bigint[] comes back as strings. */
  detection_ids: string[];
  trace_id: string | null;
  is_fallback: boolean;
  close_reason: string | null;
  created_at: Date;
}

export const EVENT_COLUMNS =
  'id, batch_id, camera_id, started_at, ended_at, risk_score, risk_level, summary, reasoning, detection_ids, trace_id, is_fallback, close_reason, created_at';

/** An events row as the API answers it (contract fields first). */
export function eventToJson(r: EventRow): Record<string, unknown> {
  const detectionIds = r.detection_ids.map(Number);
  return {
    id: Number(r.id),
    camera_id: r.camera_id,
    started_at: r.started_at.toISOString(),
    ended_at: r.ended_at === null ? null : r.ended_at.toISOString(),
    risk_score: r.risk_score,
    risk_level: r.risk_level,
    summary: r.summary,
    reasoning: r.reasoning,
    detection_count: detectionIds.length,
    detection_ids: detectionIds,
    batch_id: r.batch_id,
    trace_id: r.trace_id,
    is_fallback: r.is_fallback,
    close_reason: r.close_reason,
    created_at: r.created_at.toISOString(),
  };
}

export function detectionToJson(r: DetectionRow): Record<string, unknown> {
  return { ...r, id: Number(r.id), detected_at: r.detected_at.toISOString(), created_at: r.created_at.toISOString() };
}

/** "front_door" -> "Front Door" (the display name HSI derives from the camera folder). */
export function cameraNameFromId(cameraId: string): string {
  return cameraId
    .split('_')
    .filter((part) => part !== '')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join(' ');
}

export const UPSERT_CAMERA_SQL = 'INSERT INTO cameras (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING';

/**
 * Camera id from a drop-folder name, as HSI normalizes it: "Front Door" -> "front_door".
 * Accents are dropped, anything but [a-z0-9] becomes "_", runs collapse, the ends are trimmed,
 * at most 64 characters. Undefined when nothing is left.
 */
export function normalizeCameraId(folderName: string): string | undefined {
  const id = folderName
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 64)
    .replace(/_+$/, '');
  return id === '' ? undefined : id;
}
