import type { AiModes } from '../config/real-ai-config.ts';
import { errorMessage } from '../errors.ts';
import { AI_SERVICE_NAMES } from '../stack/hsi-stack.ts';
import { aiEnginesView, aiSpanSamples, fetchAiSpans } from './ai-engine-figures.ts';
import type { RunContext, RunObserver } from './run-session.ts';

export const AI_SAMPLES_FILE = 'ai-samples.json';

/**
 * Adds the report's `aiEngines` (llama.cpp timings, the detector's inference time) from the
 * spans of the run's loads, read from Jaeger before the stack stops. Never fails the run.
 */
export class AiEngineObserver implements RunObserver {
  readonly name = 'ai-engines';
  private readonly modes: AiModes;
  private firstLoadStart: number | undefined;
  private lastLoadEnd: number | undefined;

  constructor(modes: AiModes) {
    this.modes = { ...modes };
  }

  onLoadStart(_ctx: RunContext, startEpochMs: number): void {
    this.firstLoadStart ??= startEpochMs;
  }

  onLoadEnd(_ctx: RunContext, endEpochMs: number): void {
    this.lastLoadEnd = endEpochMs;
  }

  async onFinish(ctx: Omit<RunContext, 'target'> & { target?: RunContext['target'] }): Promise<void> {
    const jaegerUrl = ctx.target?.endpoints.jaegerUrl;
    if (jaegerUrl === undefined || this.firstLoadStart === undefined) return;
    // The pipeline drains after the load: its spans start up to the end of evaluation.
    const window = { startEpochMs: this.firstLoadStart, endEpochMs: Math.max(Date.now(), (this.lastLoadEnd ?? 0) + 1) };
    try {
      const spans = await fetchAiSpans(jaegerUrl, AI_SERVICE_NAMES.detector, window);
      const samples = aiSpanSamples(spans, window.startEpochMs);
      ctx.model.aiEngines = aiEnginesView(samples, this.modes);
      // The raw samples: `hsi-chaos calibrate --from RUN` fits the emulators to them.
      ctx.results.writeJson(AI_SAMPLES_FILE, { modes: this.modes, samples });
    } catch (error) {
      ctx.log(`AI engine figures not collected: ${errorMessage(error)}`);
    }
  }
}
