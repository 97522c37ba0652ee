import { createHash } from 'node:crypto';
import { AbortedError } from '../common/timing.ts';
import { WaitQueue } from '../common/wait-queue.ts';
import { createRng, normal, type Rng } from '../detector-emulator/emulation.ts';

/**
 * The parts of the Nemotron / llama.cpp emulator that decide what it answers and how long it
 * takes: a token estimate, the prefill + decode timing model, a seeded draw of the number of
 * generated tokens, a risk analysis derived from a hash of the prompt, and llama-server's
 * slots with a bounded FIFO queue.
 */

/** Prompt tokens ≈ characters / 4 (UTF-16 code units), rounded up, at least 1 (the BOS token). */
export function estimateTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

export interface TimingModel {
  prefillTokensPerS: number;
  decodeTokensPerS: number;
  /** Multiplies every time (CI runs with e.g. 0.05). */
  timeScale: number;
}

export interface GenerationTime {
  prefillMs: number;
  decodeMs: number;
  totalMs: number;
}

/** time = (prompt tokens / prefill rate + generated tokens / decode rate) × time scale. */
export function generationTimeMs(promptTokens: number, completionTokens: number, model: TimingModel): GenerationTime {
  const prefillMs = (promptTokens / model.prefillTokensPerS) * 1000 * model.timeScale;
  const decodeMs = (completionTokens / model.decodeTokensPerS) * 1000 * model.timeScale;
  return { prefillMs, decodeMs, totalMs: prefillMs + decodeMs };
}

/**
 * Number of tokens the emulated model wants to generate: a lognormal with the given mean
 * (mu = ln(mean) − sigma²/2), rounded, at least 1; sigma 0 always gives the mean. The caller
 * bounds it by max_tokens and the context left.
 */
export function sampleCompletionTokens(rng: Rng, mean: number, sigma: number): number {
  if (sigma <= 0) return Math.max(1, Math.round(mean));
  const mu = Math.log(mean) - (sigma * sigma) / 2;
  return Math.max(1, Math.round(Math.exp(mu + sigma * normal(rng))));
}

/** Requests per second the slots sustain for a prompt of this size and the mean completion. */
export function analyticCapacityRps(slots: number, typicalPromptTokens: number, completionTokensMean: number, model: TimingModel): number {
  const { totalMs } = generationTimeMs(typicalPromptTokens, completionTokensMean, model);
  return Math.round((slots / (totalMs / 1000)) * 1000) / 1000;
}

/** Model weights plus one KV cache per slot, as an estimate (nothing is allocated). */
export function vramUsedGb(modelSizeGb: number, kvCacheGbPerSlot: number, slots: number): number {
  return Math.round((modelSizeGb + kvCacheGbPerSlot * slots) * 100) / 100;
}

// ---------------------------------------------------------------------------------------------
// Content: the risk analysis
// ---------------------------------------------------------------------------------------------

export type RiskLevel = 'low' | 'medium' | 'high' | 'critical';

/** HSI's bands: < 30 low, < 60 medium, < 85 high, else critical. */
export function riskLevel(score: number): RiskLevel {
  if (score < 30) return 'low';
  if (score < 60) return 'medium';
  if (score < 85) return 'high';
  return 'critical';
}

export interface RiskAnalysis {
  risk_score: number;
  risk_level: RiskLevel;
  summary: string;
  reasoning: string;
}

/** Object classes the emulated model recognises in a prompt, their word forms, and how each moves the score. */
const OBJECT_CLASSES: readonly { name: string; pattern: RegExp; weight: number }[] = [
  { name: 'person', pattern: /\b(?:person|persons|people|pedestrians?)\b/gi, weight: 20 },
  { name: 'car', pattern: /\bcars?\b/gi, weight: 6 },
  { name: 'truck', pattern: /\btrucks?\b/gi, weight: 8 },
  { name: 'motorcycle', pattern: /\bmotorcycles?\b/gi, weight: 8 },
  { name: 'bus', pattern: /\bbus(?:es)?\b/gi, weight: 4 },
  { name: 'bicycle', pattern: /\bbicycles?\b/gi, weight: 3 },
  { name: 'dog', pattern: /\bdogs?\b/gi, weight: -4 },
  { name: 'cat', pattern: /\bcats?\b/gi, weight: -6 },
  { name: 'bird', pattern: /\bbirds?\b/gi, weight: -8 },
];

export interface FoundClass {
  name: string;
  count: number;
  /** Offset of the first mention (for the order of the summary). */
  first: number;
}

/** Object classes mentioned in the prompt, in order of first mention. */
export function findObjectClasses(prompt: string): FoundClass[] {
  const found: FoundClass[] = [];
  for (const { name, pattern } of OBJECT_CLASSES) {
    const matches = [...prompt.matchAll(pattern)];
    const first = matches[0]?.index;
    if (first !== undefined) found.push({ name, count: matches.length, first });
  }
  return found.sort((a, b) => a.first - b.first);
}

function listText(names: readonly string[]): string {
  if (names.length <= 1) return names[0] ?? '';
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

const CONTEXT_REMARKS = [
  'The movement pattern is consistent with ordinary activity near the property.',
  'The timing and dwell of the activity were weighed against a routine visit.',
  'No forced entry or tampering is described in the detections.',
  'The activity is brief and does not approach entry points repeatedly.',
  'The sequence of detections suggests someone or something passing through.',
] as const;

/**
 * The emulated model's answer: a pure function of the prompt (the same batch always gets the
 * same answer). The score is a hash-seeded base in [0, 60) moved by the classes the prompt
 * mentions (person +20, and +10 more for three or more mentions; vehicles +3..+8; animals
 * −4..−8), clamped to 0..100. The summary names the classes and, when the prompt has a
 * `Camera: <name>` line (the backend's prompt does), the camera.
 */
export function emulateAnalysis(prompt: string): RiskAnalysis {
  const rng = createRng(createHash('sha256').update(prompt).digest());
  const classes = findObjectClasses(prompt);
  let score = rng() * 60;
  for (const c of classes) score += OBJECT_CLASSES.find((o) => o.name === c.name)?.weight ?? 0;
  const persons = classes.find((c) => c.name === 'person')?.count ?? 0;
  if (persons >= 3) score += 10;
  const risk_score = Math.max(0, Math.min(100, Math.round(score)));
  const risk_level = riskLevel(risk_score);
  const names = classes.map((c) => c.name);
  const remark = CONTEXT_REMARKS[Math.floor(rng() * CONTEXT_REMARKS.length)] ?? CONTEXT_REMARKS[0];
  const camera = /\bcamera:[ \t]*([^\n(]{1,60})/i.exec(prompt)?.[1]?.trim();
  const where = camera === undefined || camera === '' ? '' : ` at ${camera}`;
  const seen = names.length === 0 ? `No recognised objects in the detections${where}` : `${listText(names).replace(/^./, (ch) => ch.toUpperCase())} detected${where}`;
  const summary = `${seen}; activity assessed as ${risk_level} risk (emulated analysis).`;
  const counted = classes.map((c) => `${c.name} ×${c.count}`).join(', ');
  const reasoning =
    `Emulated by the LLM emulator, no model ran: the score ${risk_score} comes from a hash of the prompt` +
    (classes.length === 0 ? ' alone, as the prompt names no known object class.' : `, adjusted for the objects mentioned (${counted}).`) +
    ` ${remark}`;
  return { risk_score, risk_level, summary, reasoning };
}

// ---------------------------------------------------------------------------------------------
// Chat prompts
// ---------------------------------------------------------------------------------------------

export interface ChatMessage {
  role: string;
  content: string | readonly { type: string; text?: string | undefined }[] | null;
}

/** Text of a message's content (string, or the text parts of a typed content array). */
export function messageText(content: ChatMessage['content']): string {
  if (content === null) return '';
  if (typeof content === 'string') return content;
  return content
    .filter((part) => part.type === 'text' && typeof part.text === 'string')
    .map((part) => part.text)
    .join('\n');
}

/** The ChatML prompt llama.cpp builds from `messages` (Nemotron's template uses the same markers). */
export function renderChatPrompt(messages: readonly ChatMessage[]): string {
  let prompt = '';
  for (const m of messages) prompt += `<|im_start|>${m.role}\n${messageText(m.content)}<|im_end|>\n`;
  return `${prompt}<|im_start|>assistant\n`;
}

// ---------------------------------------------------------------------------------------------
// Slots
// ---------------------------------------------------------------------------------------------

/** All slots are busy and the queue is full: llama.cpp's "no slot available". */
export class QueueFullError extends Error {
  override name = 'QueueFullError';
  readonly code = 'queue_full';
}

export interface SlotTask {
  idTask: number;
  params: Record<string, unknown>;
  promptTokens: number;
  completionTokens: number;
  nPredict: number;
  /** performance.now() when the slot started on the task. */
  startedAt: number;
  prefillMs: number;
  decodeMs: number;
}

interface SlotState {
  id: number;
  busy: boolean;
  task: SlotTask | undefined;
  /** The last task, kept for /slots after it finished (llama.cpp shows the last params). */
  lastTask: SlotTask | undefined;
}

/**
 * llama-server's slots: `size` generations at once (--parallel), further requests wait in FIFO
 * order, at most `maxQueue` of them (0: none wait); beyond that acquire() rejects at once with
 * QueueFullError. Aborting a waiting request removes it from the queue.
 */
export class LlmSlots {
  readonly size: number;
  readonly maxQueue: number;
  private readonly slots: SlotState[];
  private readonly waiters = new WaitQueue<number>();

  constructor(size: number, maxQueue: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError('slot count must be a positive integer');
    if (!Number.isInteger(maxQueue) || maxQueue < 0) throw new RangeError('queue bound must be a non-negative integer');
    this.size = size;
    this.maxQueue = maxQueue;
    this.slots = Array.from({ length: size }, (_, id) => ({ id, busy: false, task: undefined, lastTask: undefined }));
  }

  get inUse(): number {
    return this.slots.filter((s) => s.busy).length;
  }

  get queued(): number {
    return this.waiters.length;
  }

  /** Resolves with a slot id once one is free; rejects with QueueFullError or AbortedError. */
  acquire(signal?: AbortSignal): Promise<number> {
    if (signal?.aborted) return Promise.reject(new AbortedError('aborted'));
    const free = this.slots.find((s) => !s.busy);
    if (free !== undefined && this.waiters.length === 0) {
      free.busy = true;
      return Promise.resolve(free.id);
    }
    if (this.waiters.length >= this.maxQueue) {
      return Promise.reject(new QueueFullError(`no slot available: all ${this.size} slot(s) busy and ${this.waiters.length} request(s) queued (EMULATOR_MAX_QUEUE=${this.maxQueue})`));
    }
    return this.waiters.wait(signal);
  }

  /** Records what a slot works on (for /slots). */
  start(slotId: number, task: SlotTask): void {
    const slot = this.slots[slotId];
    if (slot === undefined) return;
    slot.task = task;
    slot.lastTask = task;
  }

  /** Frees the slot, or hands it straight to the first waiter. Releasing an idle slot is ignored. */
  release(slotId: number): void {
    const slot = this.slots[slotId];
    if (slot === undefined || !slot.busy) return;
    slot.task = undefined;
    if (!this.waiters.grantNext(slotId)) slot.busy = false;
  }

  snapshot(): readonly { id: number; busy: boolean; task: SlotTask | undefined; lastTask: SlotTask | undefined }[] {
    return this.slots.map((s) => ({ ...s }));
  }
}
