import type { AddressInfo } from 'node:net';
import { SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  FAULT_EVENT,
  FaultInjector,
  FaultSettingsError,
  parseFaultSettings,
  parseFaultSettingsEnv,
  type FaultSettings,
} from '../../../reference-stack/common/fault-knobs.ts';
import { createTracedServer, json, type TracedServer } from '../../../reference-stack/common/http.ts';
import type { Logger } from '../../../reference-stack/common/log.ts';
import { initTracing, type Tracing } from '../../../reference-stack/telemetry/tracing.ts';

const ROUTES = ['/a', '/b'] as const;
const silent: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

function fieldOfError(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof FaultSettingsError) return error.field;
    throw error;
  }
  return undefined;
}

describe('parseFaultSettings', () => {
  it('fills the defaults: 503, no delay, the contract routes, a random seed', () => {
    const s = parseFaultSettings({}, ROUTES, () => 'random-seed');
    expect(s).toEqual({ errorRate: 0, statusCode: 503, delayMs: 0, delayJitterMs: 0, routes: ['/a', '/b'], seed: 'random-seed' });
    expect(parseFaultSettings({ seed: 42 }, ROUTES).seed).toBe('42');
  });

  it('names the faulty field', () => {
    expect(fieldOfError(() => parseFaultSettings({ error_rate: 1.5 }, ROUTES))).toBe('error_rate');
    expect(fieldOfError(() => parseFaultSettings({ error_rate: '0.5' }, ROUTES))).toBe('error_rate');
    expect(fieldOfError(() => parseFaultSettings({ status_code: 302 }, ROUTES))).toBe('status_code');
    expect(fieldOfError(() => parseFaultSettings({ status_code: 503.5 }, ROUTES))).toBe('status_code');
    expect(fieldOfError(() => parseFaultSettings({ delay_ms: -1 }, ROUTES))).toBe('delay_ms');
    expect(fieldOfError(() => parseFaultSettings({ delay_jitter_ms: 'lots' }, ROUTES))).toBe('delay_jitter_ms');
    expect(fieldOfError(() => parseFaultSettings({ routes: [] }, ROUTES))).toBe('routes');
    expect(fieldOfError(() => parseFaultSettings({ routes: ['/a', 7] }, ROUTES))).toBe('routes[1]');
    expect(fieldOfError(() => parseFaultSettings({ routes: ['/a', '/health'] }, ROUTES))).toBe('routes[1]');
    expect(fieldOfError(() => parseFaultSettings({ seed: {} }, ROUTES))).toBe('seed');
    expect(fieldOfError(() => parseFaultSettings({ eror_rate: 1 }, ROUTES))).toBe('eror_rate');
    expect(fieldOfError(() => parseFaultSettings([], ROUTES))).toBe('body');
    expect(() => parseFaultSettings({ routes: ['/admin/faults'] }, ROUTES)).toThrow(/never faulted/);
  });

  it('reads EMULATOR_FAULTS and names the variable and field', () => {
    expect(parseFaultSettingsEnv(undefined, ROUTES)).toBeUndefined();
    expect(parseFaultSettingsEnv('  ', ROUTES)).toBeUndefined();
    expect(parseFaultSettingsEnv('{"error_rate":0.1,"seed":"s"}', ROUTES)).toMatchObject({ errorRate: 0.1, seed: 's', routes: ['/a', '/b'] });
    expect(() => parseFaultSettingsEnv('{"error_rate":2}', ROUTES)).toThrow(/^EMULATOR_FAULTS\.error_rate: /);
    expect(() => parseFaultSettingsEnv('{nope', ROUTES)).toThrow(/^EMULATOR_FAULTS: not valid JSON/);
    expect(() => parseFaultSettingsEnv('[1]', ROUTES)).toThrow(/^EMULATOR_FAULTS: /);
  });
});

function injector(settings?: Partial<FaultSettings>): FaultInjector {
  const inj = new FaultInjector({ faultableRoutes: ROUTES, errorBody: (status, message) => ({ status, message }) });
  if (settings !== undefined) inj.set({ errorRate: 0, statusCode: 503, delayMs: 0, delayJitterMs: 0, routes: ROUTES, seed: 'fixed', ...settings });
  return inj;
}

describe('FaultInjector draws', () => {
  it('errors at the configured rate (2000 draws, fixed seed)', () => {
    for (const rate of [0.05, 0.25, 0.5, 0.9]) {
      const inj = injector({ errorRate: rate, seed: 'stat-seed' });
      let errors = 0;
      for (let i = 0; i < 2000; i++) if (inj.decide('/a')?.error === true) errors++;
      // 4 standard deviations of a binomial(2000, rate).
      const sd = Math.sqrt((rate * (1 - rate)) / 2000);
      expect(Math.abs(errors / 2000 - rate)).toBeLessThan(4 * sd);
    }
  });

  it('repeats the sequence for a seed, and restarts it when set again', () => {
    const sequence = (inj: FaultInjector) => Array.from({ length: 64 }, () => inj.decide('/a')?.error);
    const a = injector({ errorRate: 0.5, seed: 'same' });
    const first = sequence(a);
    expect(sequence(injector({ errorRate: 0.5, seed: 'same' }))).toEqual(first);
    expect(sequence(injector({ errorRate: 0.5, seed: 'other' }))).not.toEqual(first);
    a.set({ errorRate: 0.5, statusCode: 503, delayMs: 0, delayJitterMs: 0, routes: ROUTES, seed: 'same' });
    expect(sequence(a)).toEqual(first);
  });

  it('never errors at rate 0 and always at rate 1', () => {
    const never = injector({ errorRate: 0 });
    const always = injector({ errorRate: 1 });
    for (let i = 0; i < 200; i++) {
      expect(never.decide('/a')?.error).toBe(false);
      expect(always.decide('/a')?.error).toBe(true);
    }
  });

  it('spreads the delay uniformly over delay ± jitter, never below 0', () => {
    const inj = injector({ delayMs: 100, delayJitterMs: 20 });
    const delays = Array.from({ length: 2000 }, () => inj.decide('/a')?.delayMs ?? -1);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(80);
    expect(Math.max(...delays)).toBeLessThanOrEqual(120);
    const mean = delays.reduce((s, d) => s + d, 0) / delays.length;
    expect(mean).toBeGreaterThan(98);
    expect(mean).toBeLessThan(102);
    const low = injector({ delayMs: 5, delayJitterMs: 50 });
    for (let i = 0; i < 500; i++) expect(low.decide('/a')?.delayMs).toBeGreaterThanOrEqual(0);
  });

  it('only touches the listed routes', () => {
    const inj = injector({ errorRate: 1, routes: ['/b'] });
    expect(inj.decide('/a')).toBeUndefined();
    expect(inj.decide('/b')?.error).toBe(true);
    inj.clear();
    expect(inj.decide('/b')).toBeUndefined();
    expect(() => inj.wrap('/health', async () => json(200, {}))).toThrow(/not a faultable route/);
  });
});

describe('fault knobs over HTTP', () => {
  const memory = new InMemorySpanExporter();
  let tracing: Tracing;
  let server: TracedServer;
  let base: string;
  const faults = new FaultInjector({ faultableRoutes: ROUTES, errorBody: (status, message) => ({ error: { code: status, message } }) });

  beforeAll(async () => {
    tracing = initTracing({ serviceName: 'fault-knobs-test', env: { OTEL_TRACES_EXPORTER: 'none' }, extraSpanProcessors: [new SimpleSpanProcessor(memory)] });
    server = createTracedServer({
      tracer: tracing.tracer,
      log: silent,
      routes: [
        { method: 'POST', pattern: /^\/a$/, template: '/a', handler: faults.wrap('/a', async () => json(200, { ok: 'a' })) },
        { method: 'POST', pattern: /^\/b$/, template: '/b', handler: faults.wrap('/b', async () => json(200, { ok: 'b' })) },
        { method: 'GET', pattern: /^\/health$/, template: '/health', handler: async () => json(200, { status: 'ok' }) },
        ...faults.adminRoutes(),
      ],
    });
    await server.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await server.close(500);
    await tracing.shutdown(1000);
  });

  const put = (body: unknown) => fetch(`${base}/admin/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const traceparent = (n: number) => `00-${n.toString(16).padStart(32, 'a')}-b7ad6b7169203331-01`;
  const serverSpan = async (traceId: string, name: string) =>
    vi.waitFor(() => {
      const span = memory.getFinishedSpans().find((s) => s.spanContext().traceId === traceId && s.name === name);
      if (span === undefined) throw new Error('span not exported yet');
      return span;
    });

  it('rejects invalid settings with 400 naming the field', async () => {
    const res = await put({ error_rate: 3 });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_fault_settings', field: 'error_rate' });
    const bad = await fetch(`${base}/admin/faults`, { method: 'PUT', body: '{oops' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ field: 'body' });
    const routes = await put({ routes: ['/health'] });
    expect(await routes.json()).toMatchObject({ field: 'routes[0]' });
  });

  it('injects errors on the listed routes only, with an event and error status', async () => {
    const set = await put({ error_rate: 1, status_code: 500, routes: ['/a'], seed: 1 });
    expect(set.status).toBe(200);
    expect(await set.json()).toMatchObject({ active: true, settings: { error_rate: 1, status_code: 500, routes: ['/a'], seed: '1' } });

    const a = await fetch(`${base}/a`, { method: 'POST', body: 'x'.repeat(100_000), headers: { traceparent: traceparent(1) } });
    expect(a.status).toBe(500);
    expect(a.headers.get('x-fault-injected')).toBe('error');
    expect(await a.json()).toEqual({ error: { code: 500, message: 'emulated fault: injected HTTP 500' } });
    expect((await fetch(`${base}/b`, { method: 'POST' })).status).toBe(200);
    expect((await fetch(`${base}/health`)).status).toBe(200);

    const span = await serverSpan(traceparent(1).slice(3, 35), 'POST /a');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    const event = span.events.find((e) => e.name === FAULT_EVENT);
    expect(event?.attributes).toMatchObject({ 'fault.kind': 'error', 'fault.status_code': 500, 'fault.delay_ms': 0 });
  });

  it('marks injected 4xx answers as errors too', async () => {
    await put({ error_rate: 1, status_code: 429, routes: ['/b'] });
    const res = await fetch(`${base}/b`, { method: 'POST', headers: { traceparent: traceparent(2) } });
    expect(res.status).toBe(429);
    const span = await serverSpan(traceparent(2).slice(3, 35), 'POST /b');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('delays before answering', async () => {
    await put({ delay_ms: 150 });
    const started = performance.now();
    const res = await fetch(`${base}/a`, { method: 'POST', headers: { traceparent: traceparent(3) } });
    const elapsed = performance.now() - started;
    expect(res.status).toBe(200);
    expect(elapsed).toBeGreaterThanOrEqual(145);
    const span = await serverSpan(traceparent(3).slice(3, 35), 'POST /a');
    expect(span.events.find((e) => e.name === FAULT_EVENT)?.attributes).toMatchObject({ 'fault.kind': 'delay', 'fault.delay_ms': 150 });
    expect(span.status.code).not.toBe(SpanStatusCode.ERROR);
  });

  it('DELETE restores normal service and GET reports the counters', async () => {
    await put({ error_rate: 1 });
    expect((await fetch(`${base}/a`, { method: 'POST' })).status).toBe(503);
    const deleted = await fetch(`${base}/admin/faults`, { method: 'DELETE' });
    expect(deleted.status).toBe(200);
    expect(await deleted.json()).toMatchObject({ active: false, settings: null });
    expect((await fetch(`${base}/a`, { method: 'POST' })).status).toBe(200);
    const state = (await (await fetch(`${base}/admin/faults`)).json()) as { counters: Record<string, number> };
    expect(state.counters).toMatchObject({ errors_injected: 3, delayed: 1, total_delay_ms: 150 });
  });
});
