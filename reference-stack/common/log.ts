import { trace } from '@opentelemetry/api';

/**
 * One JSON object per line on stdout (stderr for warnings and errors), carrying the active
 * trace and span ids so that log lines can be joined with traces.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

function thresholdFromEnv(): number {
  const raw = (process.env['LOG_LEVEL'] ?? 'info').toLowerCase();
  return raw in ORDER ? ORDER[raw as LogLevel] : ORDER.info;
}

function serializable(value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

export function createLogger(service: string): Logger {
  const threshold = thresholdFromEnv();
  const write = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (ORDER[level] < threshold) return;
    const line: Record<string, unknown> = { ts: new Date().toISOString(), level, service, msg };
    const spanContext = trace.getActiveSpan()?.spanContext();
    if (spanContext !== undefined) {
      line['trace_id'] = spanContext.traceId;
      line['span_id'] = spanContext.spanId;
    }
    if (fields !== undefined) {
      for (const [key, value] of Object.entries(fields)) line[key] = serializable(value);
    }
    const text = `${JSON.stringify(line)}\n`;
    if (ORDER[level] >= ORDER.warn) process.stderr.write(text);
    else process.stdout.write(text);
  };
  return {
    debug: (msg, fields) => write('debug', msg, fields),
    info: (msg, fields) => write('info', msg, fields),
    warn: (msg, fields) => write('warn', msg, fields),
    error: (msg, fields) => write('error', msg, fields),
  };
}

/** Lets one message through per key and interval: for errors that repeat while a dependency is down. */
export function rateLimited(intervalMs: number): (key: string) => boolean {
  const last = new Map<string, number>();
  return (key) => {
    const now = Date.now();
    const previous = last.get(key);
    if (previous !== undefined && now - previous < intervalMs) return false;
    last.set(key, now);
    return true;
  };
}
