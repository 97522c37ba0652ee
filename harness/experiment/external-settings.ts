import { request } from 'undici';
import { z } from 'zod';
import { HSI_ROUTES } from '../contract/hsi-api.ts';
import { errorMessage } from '../errors.ts';
import type { Scenario } from '../scenario/scenario-types.ts';
import type { SettingsInEffect } from './evaluator.ts';

/**
 * A scenario's `stack` settings on an external stack. The embedded stack gets them as its
 * containers' environment; an external reference stack takes the backend's run-time ones
 * through POST /admin/settings (reference-stack/backend/live-settings.ts), which answers
 * what it applied, what they were before and what it could not apply (read only at start).
 * Everything else (the emulators' environment, defect switches, any setting of a stack
 * without the endpoint) is named as not applied, one line each, before the load starts.
 * The previous values are posted back after the run (ExternalSettingsRollback.restore).
 */

export const ADMIN_SETTINGS_PATH = HSI_ROUTES.adminSettings;

const AnswerSchema = z.object({
  applied: z.record(z.string(), z.string()),
  previous: z.record(z.string(), z.string()),
  not_applied: z.array(z.object({ name: z.string(), reason: z.string() })),
});
export type SettingsAnswer = z.infer<typeof AnswerSchema>;

/** What the scenario asks of the stack: the backend's settings to post, and what no endpoint can change. */
export interface SettingsPlan {
  backend: Record<string, string>;
  /** One line each: `detector EMULATOR_GPU_SLOTS=1: …`. */
  notApplicable: string[];
}

export function planExternalSettings(scenario: Pick<Scenario, 'stack'>): SettingsPlan {
  const stack = scenario.stack;
  const notApplicable: string[] = [];
  for (const service of ['detector', 'llm'] as const) {
    for (const [key, value] of Object.entries(stack?.[service] ?? {})) notApplicable.push(`${service} ${key}=${value}: read only when the ${service} starts`);
  }
  for (const defect of stack?.defects ?? []) notApplicable.push(`defect ${defect}: a defect switch is set only when the stack starts`);
  return { backend: { ...(stack?.backend ?? {}) }, notApplicable };
}

/** The lines naming every backend setting the stack did not take (answer undefined: the stack has no endpoint). */
export function notAppliedLines(plan: SettingsPlan, answer: SettingsAnswer | undefined, why = 'the stack has no settings endpoint'): string[] {
  const backend = answer
    ? answer.not_applied.map((n) => `backend ${n.name}=${plan.backend[n.name] ?? '?'}: ${n.reason}`)
    : Object.entries(plan.backend).map(([k, v]) => `backend ${k}=${v}: ${why}`);
  return [...backend, ...plan.notApplicable];
}

export type SettingsPost = (url: URL, body: Record<string, string>) => Promise<{ status: number; body: unknown }>;

const postJson: SettingsPost = async (url, body) => {
  const res = await request(url, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' }, headersTimeout: 5_000, bodyTimeout: 5_000 });
  const text = await res.body.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: kept as text for the message
  }
  return { status: res.statusCode, body: parsed };
};

/** Posts the previous values back once; restore() is safe to call from a finally and a teardown both. */
export class ExternalSettingsRollback {
  private pending: Record<string, string> | undefined;
  private readonly url: URL;
  private readonly post: SettingsPost;
  constructor(url: URL, previous: Record<string, string>, post: SettingsPost) {
    this.url = url;
    this.post = post;
    this.pending = Object.keys(previous).length > 0 ? previous : undefined;
  }

  get needed(): boolean {
    return this.pending !== undefined;
  }

  /** Returns a line for the log. */
  async restore(): Promise<string | undefined> {
    const previous = this.pending;
    if (!previous) return undefined;
    this.pending = undefined;
    const res = await this.post(this.url, previous);
    if (res.status !== 200) throw new Error(`restoring the external stack's settings: POST ${this.url.href} answered HTTP ${res.status}; set them back by hand: ${JSON.stringify(previous)}`);
    return `external stack: settings restored (${Object.entries(previous).map(([k, v]) => `${k}=${v}`).join(', ')})`;
  }
}

export interface AppliedExternalSettings {
  applied: Record<string, string>;
  notApplied: string[];
  rollback: ExternalSettingsRollback;
}

/** Applies the scenario's backend settings to an external stack; a stack without the endpoint (404) gets them all named as not applied. */
export async function applyExternalSettings(backendUrl: string, scenario: Pick<Scenario, 'stack'>, post: SettingsPost = postJson): Promise<AppliedExternalSettings> {
  const plan = planExternalSettings(scenario);
  const url = new URL(ADMIN_SETTINGS_PATH, backendUrl);
  const none = (why?: string): AppliedExternalSettings => ({ applied: {}, notApplied: notAppliedLines(plan, undefined, why), rollback: new ExternalSettingsRollback(url, {}, post) });
  if (Object.keys(plan.backend).length === 0) return none();
  let res: { status: number; body: unknown };
  try {
    res = await post(url, plan.backend);
  } catch (error) {
    return none(`POST ${url.href} failed (${errorMessage(error)})`);
  }
  if (res.status === 404 || res.status === 405) return none();
  const answer = AnswerSchema.safeParse(res.body);
  if (res.status !== 200 || !answer.success) {
    const detail = typeof res.body === 'object' && res.body !== null && 'detail' in res.body ? String(res.body.detail) : `HTTP ${res.status}`;
    return none(`the stack refused it (${detail})`);
  }
  return { applied: answer.data.applied, notApplied: notAppliedLines(plan, answer.data), rollback: new ExternalSettingsRollback(url, answer.data.previous, post) };
}

const LiveAnswerSchema = z.object({ live: z.record(z.string(), z.string()) });

export type SettingsGet = (url: URL) => Promise<{ status: number; body: unknown }>;

const getJson: SettingsGet = async (url) => {
  const res = await request(url, { method: 'GET', headersTimeout: 5_000, bodyTimeout: 5_000 });
  const text = await res.body.text();
  try {
    return { status: res.statusCode, body: JSON.parse(text) as unknown };
  } catch {
    return { status: res.statusCode, body: text };
  }
};

/** The backend's live settings as the stack reports them (GET /admin/settings `{live}`), or undefined when it cannot tell. */
export async function readLiveSettings(backendUrl: string, get: SettingsGet = getJson): Promise<Record<string, string> | undefined> {
  try {
    const res = await get(new URL(ADMIN_SETTINGS_PATH, backendUrl));
    const answer = LiveAnswerSchema.safeParse(res.body);
    return res.status === 200 && answer.success ? answer.data.live : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The settings the run's checks are judged against. The embedded stack's are its environment
 * (the scenario's `stack.backend`, contract defaults for the rest). A stack started elsewhere is
 * asked (after the scenario's settings were applied): what it reports is in effect, anything
 * else is unknown. A stack that cannot tell gets nothing assumed: its checks say they cannot judge.
 */
export async function settingsInEffect(kind: 'embedded' | 'compose' | 'external', backendUrl: string, scenario: Pick<Scenario, 'stack'>, get: SettingsGet = getJson): Promise<SettingsInEffect> {
  const configured = scenario.stack?.backend ?? {};
  if (kind === 'embedded') return { values: configured };
  const live = await readLiveSettings(backendUrl, get);
  if (live) return { values: live, origin: `read back from the stack (GET ${ADMIN_SETTINGS_PATH})`, othersUnknown: 'the stack does not report it' };
  if (kind === 'compose') return { values: configured, origin: "the compose stack's environment", othersUnknown: `the compose file sets it and the stack does not report its settings (no GET ${ADMIN_SETTINGS_PATH})` };
  const notApplied = Object.keys(configured).length > 0 ? "; the scenario's stack.backend was not applied" : '';
  return { values: {}, othersUnknown: `the external stack does not report its settings (no GET ${ADMIN_SETTINGS_PATH})${notApplied}` };
}
