import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import { readImageInfo } from '../common/image.ts';
import { rateLimited, type Logger } from '../common/log.ts';
import { inSpan, recordException } from '../telemetry/tracing.ts';
import { MIN_IMAGE_BYTES } from './api.ts';
import { normalizeCameraId, UPSERT_CAMERA_SQL, type Database } from './db.ts';
import { publish, type RedisConnections } from './queue.ts';
import type { BackendQueues } from './queue-dialect.ts';
import type { FileWatcherSettings } from './settings.ts';

/**
 * The real stack's ingestion: cameras FTP images into `/cameras/<Camera Name>/...`. The watcher
 * polls the drop folder (polling works on bind mounts, where inotify does not), waits until a
 * file stops changing (FILE_WATCHER_DEBOUNCE_SECONDS, then FILE_WATCHER_STABLE_SECONDS without
 * a size/mtime change), rejects images under 10 KB or with an undecodable header, skips
 * duplicates by SHA-256 for FILE_WATCHER_DEDUP_SECONDS (`SET dedup:{sha} NX EX`), and enqueues
 * the file like the HTTP upload does, in a root span `file_watcher ingest`. The file stays where
 * it is (the mount may be read-only); `file_path` is its path.
 */

export const SPAN_FILE_WATCHER_INGEST = 'file_watcher ingest';
export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png']);
export const dedupKey = (sha256: string): string => `dedup:${sha256}`;

export interface FileObservation {
  size: number;
  mtimeMs: number;
}

export interface TrackedFile extends FileObservation {
  /** When the size or mtime last changed (epoch ms; the mtime for a file first seen complete). */
  lastChange: number;
  /** Consecutive polls that saw the same size and mtime. */
  observations: number;
  /** Handled (enqueued, duplicate or rejected) in this size/mtime. */
  done: boolean;
}

/** Updates the tracking of one file with a new poll's observation. */
export function observeFile(previous: TrackedFile | undefined, observation: FileObservation, now: number): TrackedFile {
  if (previous === undefined) {
    // A file that was already complete when first seen counts from its mtime (not from the future).
    return { ...observation, lastChange: Math.min(now, observation.mtimeMs), observations: 1, done: false };
  }
  if (previous.size !== observation.size || previous.mtimeMs !== observation.mtimeMs) {
    return { ...observation, lastChange: now, observations: 1, done: false };
  }
  return { ...previous, observations: previous.observations + 1 };
}

/**
 * Ready once two polls agree and nothing changed for debounce + stable time (HSI: 0.5 s
 * debounce after the last write event, then 2 s of unchanged size).
 */
export function isFileReady(file: TrackedFile, now: number, settings: Pick<FileWatcherSettings, 'debounceMs' | 'stableMs'>): boolean {
  return !file.done && file.observations >= 2 && now - file.lastChange >= settings.debounceMs + settings.stableMs;
}

/** Camera id of a path under the drop folder: the normalized first folder; undefined for files at the top or odd names. */
export function cameraIdForPath(dropDir: string, filePath: string): { cameraId: string; folder: string } | undefined {
  const parts = relative(dropDir, filePath).split(sep);
  if (parts.length < 2 || parts[0] === undefined || parts[0] === '..' || parts[0] === '') return undefined;
  const cameraId = normalizeCameraId(parts[0]);
  return cameraId === undefined ? undefined : { cameraId, folder: parts[0] };
}

/** Image files we watch: .jpg/.jpeg/.png, not hidden (FTP temporary files often are). */
export function isWatchedFile(name: string): boolean {
  return !name.startsWith('.') && IMAGE_EXTENSIONS.has(extname(name).toLowerCase());
}

export type IngestOutcome = 'enqueued' | 'duplicate' | 'rejected_too_small' | 'rejected_undecodable' | 'rejected_no_camera' | 'vanished' | 'retry';

export interface FileWatcherStatus {
  enabled: boolean;
  drop_dir: string | undefined;
  tracked_files: number;
  polls: number;
  enqueued: number;
  duplicates: number;
  rejected: number;
  rejected_too_small: number;
  rejected_undecodable: number;
  errors: number;
  last_error: string | undefined;
}

export interface FileWatcherDeps {
  settings: FileWatcherSettings;
  tracer: Tracer;
  log: Logger;
  db: Database;
  redis: RedisConnections;
  /** HSI_DEFECT_QUEUE_NO_TRACE_CONTEXT */
  noTraceContext?: boolean;
  now?: () => number;
  /** Keys and payload form of the profile. */
  queues: BackendQueues;
}

export class FileWatcher {
  private readonly d: FileWatcherDeps;
  private readonly now: () => number;
  private readonly files = new Map<string, TrackedFile>();
  private readonly knownCameras = new Set<string>();
  private readonly allowLog = rateLimited(10_000);
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private stopped = false;
  private firstScan = true;
  private counters = { polls: 0, enqueued: 0, duplicates: 0, tooSmall: 0, undecodable: 0, noCamera: 0, errors: 0 };
  private lastError: string | undefined;

  constructor(deps: FileWatcherDeps) {
    this.d = deps;
    this.now = deps.now ?? Date.now;
  }

  status(): FileWatcherStatus {
    const c = this.counters;
    return {
      enabled: this.d.settings.dropDir !== undefined,
      drop_dir: this.d.settings.dropDir,
      tracked_files: this.files.size,
      polls: c.polls,
      enqueued: c.enqueued,
      duplicates: c.duplicates,
      rejected: c.tooSmall + c.undecodable + c.noCamera,
      rejected_too_small: c.tooSmall,
      rejected_undecodable: c.undecodable,
      errors: c.errors,
      last_error: this.lastError,
    };
  }

  start(): void {
    if (this.d.settings.dropDir === undefined || this.timer !== undefined) return;
    this.d.log.info('file watcher started', {
      drop_dir: this.d.settings.dropDir,
      poll_ms: this.d.settings.pollMs,
      stable_ms: this.d.settings.stableMs,
      debounce_ms: this.d.settings.debounceMs,
    });
    const tick = (): void => {
      if (this.stopped) return;
      this.polling = context
        .with(ROOT_CONTEXT, () => this.pollOnce())
        .catch((error: unknown) => {
          this.counters.errors++;
          this.lastError = (error as Error).message;
          if (this.allowLog(`poll:${this.lastError}`)) this.d.log.warn('drop folder poll failed', { error });
        })
        .finally(() => {
          this.polling = undefined;
          if (!this.stopped) this.timer = setTimeout(tick, this.d.settings.pollMs);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.polling;
  }

  /** One poll: observe every watched file, ingest the ready ones (in path order). */
  async pollOnce(): Promise<void> {
    const dropDir = this.d.settings.dropDir;
    if (dropDir === undefined) return;
    this.counters.polls++;
    const now = this.now();
    const seen = new Set<string>();
    let entries: { parentPath: string; name: string; isFile(): boolean; isSymbolicLink(): boolean }[];
    try {
      entries = await readdir(dropDir, { recursive: true, withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // not mounted (yet)
      throw error;
    }
    const ready: string[] = [];
    for (const entry of entries) {
      if (!(entry.isFile() || entry.isSymbolicLink()) || !isWatchedFile(entry.name)) continue;
      const path = join(entry.parentPath, entry.name);
      if (relative(dropDir, path).split(sep).some((part) => part.startsWith('.'))) continue;
      let observation: FileObservation;
      try {
        const s = await stat(path);
        if (!s.isFile()) continue;
        observation = { size: s.size, mtimeMs: s.mtimeMs };
      } catch {
        continue; // vanished between readdir and stat
      }
      seen.add(path);
      let tracked = observeFile(this.files.get(path), observation, now);
      // First scan after start: files older than the dedup window were handled by an earlier run.
      if (this.firstScan && now - observation.mtimeMs > this.d.settings.dedupSeconds * 1000) tracked = { ...tracked, done: true };
      this.files.set(path, tracked);
      if (isFileReady(tracked, now, this.d.settings)) ready.push(path);
    }
    this.firstScan = false;
    for (const path of this.files.keys()) if (!seen.has(path)) this.files.delete(path);
    for (const path of ready.sort()) {
      if (this.stopped) break;
      const outcome = await this.ingest(dropDir, path);
      const tracked = this.files.get(path);
      if (tracked !== undefined && outcome !== 'retry') this.files.set(path, { ...tracked, done: true });
      if (outcome === 'vanished') this.files.delete(path);
    }
  }

  /** Checks and enqueues one file in a root span `file_watcher ingest`. */
  async ingest(dropDir: string, path: string): Promise<IngestOutcome> {
    const { tracer, log, redis } = this.d;
    const camera = cameraIdForPath(dropDir, path);
    let baggage = propagation.createBaggage({ 'request.source': { value: 'file_watcher' } });
    if (camera !== undefined) baggage = baggage.setEntry('camera.id', { value: camera.cameraId });
    const parent = propagation.setBaggage(ROOT_CONTEXT, baggage);
    const attributes = {
      file_path: path,
      'request.source': 'file_watcher',
      ...(camera !== undefined ? { camera_id: camera.cameraId, 'camera.id': camera.cameraId, 'camera.folder': camera.folder } : {}),
    };
    const outcome = await inSpan(
      tracer,
      SPAN_FILE_WATCHER_INGEST,
      { kind: SpanKind.INTERNAL, attributes, root: true },
      async (span): Promise<IngestOutcome> => {
        const result = await this.check(path, camera?.cameraId, (key, value) => span.setAttribute(key, value));
        span.setAttribute('file_watcher.outcome', result.outcome);
        if (result.outcome === 'retry') span.setStatus({ code: SpanStatusCode.ERROR, message: 'duplicate check failed; retrying' });
        if (result.outcome !== 'enqueued' || camera === undefined || result.hash === undefined) return result.outcome;
        this.ensureCamera(camera.cameraId, camera.folder);
        const now = new Date(this.now()).toISOString();
        const message = { camera_id: camera.cameraId, file_path: path, timestamp: now, media_type: 'image', pipeline_start_time: now, file_hash: result.hash };
        try {
          await publish(tracer, redis.main, redis.address, this.d.queues.target('detection'), message, !this.d.noTraceContext, { camera_id: camera.cameraId, file_path: path });
        } catch (error) {
          recordException(span, error, 'enqueue failed');
          // Let the next poll try again: the duplicate marker must not block it.
          await redis.main.del(dedupKey(result.hash)).catch(() => undefined);
          this.counters.errors++;
          this.lastError = (error as Error).message;
          if (this.allowLog(`enqueue:${this.lastError}`)) log.warn('drop-folder file not enqueued; retrying on the next poll', { file_path: path, error });
          span.setAttribute('file_watcher.outcome', 'retry');
          return 'retry';
        }
        this.counters.enqueued++;
        log.info('drop-folder file enqueued', { camera_id: camera.cameraId, file_path: path });
        return 'enqueued';
      },
      parent,
    );
    return outcome;
  }

  private async check(
    path: string,
    cameraId: string | undefined,
    set: (key: string, value: string | number | boolean) => void,
  ): Promise<{ outcome: IngestOutcome; hash?: string }> {
    const { log, redis, settings } = this.d;
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { outcome: 'vanished' };
      throw error;
    }
    set('file.size', bytes.length);
    if (cameraId === undefined) {
      this.counters.noCamera++;
      if (this.allowLog(`no-camera:${path}`)) log.warn('drop-folder file rejected: not inside a camera folder', { file_path: path });
      return { outcome: 'rejected_no_camera' };
    }
    if (bytes.length < MIN_IMAGE_BYTES) {
      this.counters.tooSmall++;
      log.warn('drop-folder file rejected: under the minimum size', { file_path: path, size: bytes.length, min_bytes: MIN_IMAGE_BYTES });
      return { outcome: 'rejected_too_small' };
    }
    if (readImageInfo(bytes) === undefined) {
      this.counters.undecodable++;
      log.warn('drop-folder file rejected: not a decodable JPEG/PNG', { file_path: path, size: bytes.length });
      return { outcome: 'rejected_undecodable' };
    }
    const hash = createHash('sha256').update(bytes).digest('hex');
    set('file.hash', hash);
    let fresh: string | null;
    try {
      fresh = await redis.main.set(dedupKey(hash), path, 'EX', settings.dedupSeconds, 'NX');
    } catch (error) {
      this.counters.errors++;
      this.lastError = (error as Error).message;
      if (this.allowLog(`dedup:${this.lastError}`)) log.warn('duplicate check failed; retrying on the next poll', { file_path: path, error });
      return { outcome: 'retry' };
    }
    if (fresh === null) {
      this.counters.duplicates++;
      log.info('drop-folder file skipped: duplicate', { file_path: path, file_hash: hash });
      return { outcome: 'duplicate', hash };
    }
    return { outcome: 'enqueued', hash };
  }

  /** Best-effort camera row with the folder's display name ("Front Door"). */
  private ensureCamera(cameraId: string, folder: string): void {
    if (this.knownCameras.has(cameraId)) return;
    this.d.db
      .query('INSERT cameras', UPSERT_CAMERA_SQL, [cameraId, folder])
      .then(() => this.knownCameras.add(cameraId))
      .catch(() => undefined);
  }
}
