import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseOrThrow } from '../../harness/config/validation.ts';
import { ConfigError } from '../../harness/errors.ts';

/**
 * Jaeger's remote-sampling strategies file (served on 5778 by the remote_sampling extension):
 *
 *     {"service_strategies": [{"service", "type": "probabilistic"|"ratelimiting", "param",
 *                              "operation_strategies": [{"operation", "type": "probabilistic", "param"}]}],
 *      "default_strategy": {"type", "param", "operation_strategies": [...]}}
 *
 * Resolution for (service, operation), as Jaeger documents it: the service's own operation
 * strategy; else the default strategy's operation strategy (shared by every service unless it
 * overrides that operation); else the service's strategy; else the default strategy; else
 * Jaeger's built-in default (probabilistic 0.001). Operation strategies are probabilistic only
 * (Jaeger ignores others), so this schema rejects other types there.
 */

const probabilisticParam = z.number().min(0, { error: 'a probabilistic param is a rate in [0, 1]' }).max(1, { error: 'a probabilistic param is a rate in [0, 1]' });

export const OperationStrategySchema = z
  .object({
    operation: z.string().min(1),
    type: z.literal('probabilistic', { error: 'operation strategies must be "probabilistic" (Jaeger supports no other type per operation)' }),
    param: probabilisticParam,
  })
  .strict();

const strategyFields = {
  type: z.enum(['probabilistic', 'ratelimiting'], { error: 'type must be "probabilistic" or "ratelimiting"' }),
  param: z.number().min(0),
  operation_strategies: z.array(OperationStrategySchema).optional(),
};

function paramFitsType(s: { type: 'probabilistic' | 'ratelimiting'; param: number }, ctx: z.RefinementCtx): void {
  if (s.type === 'probabilistic' && s.param > 1) ctx.addIssue({ code: 'custom', path: ['param'], message: 'a probabilistic param is a rate in [0, 1]' });
}

export const ServiceStrategySchema = z
  .object({ service: z.string().min(1), ...strategyFields })
  .strict()
  .superRefine(paramFitsType);

export const DefaultStrategySchema = z.object(strategyFields).strict().superRefine(paramFitsType);

export const SamplingStrategiesSchema = z
  .object({
    service_strategies: z.array(ServiceStrategySchema).optional(),
    default_strategy: DefaultStrategySchema.optional(),
  })
  .strict();

export type SamplingStrategies = z.infer<typeof SamplingStrategiesSchema>;

export function parseSamplingStrategies(value: unknown, source = 'sampling strategies'): SamplingStrategies {
  return parseOrThrow(SamplingStrategiesSchema, value, source);
}

export function loadSamplingStrategies(path: string): SamplingStrategies {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`${path}: cannot read the sampling strategies file: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text) as unknown;
  } catch (error) {
    throw new ConfigError(`${path}: not JSON: ${(error as Error).message}`);
  }
  return parseSamplingStrategies(json, path);
}

/** Jaeger's built-in default when the file has no default_strategy. */
export const JAEGER_BUILTIN_DEFAULT_RATE = 0.001;

export type StrategySource = 'service-operation' | 'default-operation' | 'service' | 'default' | 'builtin';

export type ExpectedSampling =
  | { type: 'probabilistic'; rate: number; source: StrategySource }
  | { type: 'ratelimiting'; tracesPerSecond: number; source: StrategySource };

export function expectedSampling(strategies: SamplingStrategies, service: string, operation?: string): ExpectedSampling {
  const serviceStrategy = strategies.service_strategies?.find((s) => s.service === service);
  const defaults = strategies.default_strategy;
  if (operation !== undefined) {
    const own = serviceStrategy?.operation_strategies?.find((o) => o.operation === operation);
    if (own) return { type: 'probabilistic', rate: own.param, source: 'service-operation' };
    const shared = defaults?.operation_strategies?.find((o) => o.operation === operation);
    if (shared) return { type: 'probabilistic', rate: shared.param, source: 'default-operation' };
  }
  const chosen = serviceStrategy ?? defaults;
  if (!chosen) return { type: 'probabilistic', rate: JAEGER_BUILTIN_DEFAULT_RATE, source: 'builtin' };
  const source: StrategySource = serviceStrategy ? 'service' : 'default';
  return chosen.type === 'probabilistic' ? { type: 'probabilistic', rate: chosen.param, source } : { type: 'ratelimiting', tracesPerSecond: chosen.param, source };
}

/** The configured probabilistic rate for a root operation; undefined when it is rate-limited. */
export function expectedRate(strategies: SamplingStrategies, service: string, operation?: string): number | undefined {
  const e = expectedSampling(strategies, service, operation);
  return e.type === 'probabilistic' ? e.rate : undefined;
}
