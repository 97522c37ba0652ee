import { ConfigError } from '../harness/errors.ts';
import type { ScenarioExpectation } from './expectations.ts';
import { hsiNames } from './hsi/names.ts';

/**
 * Expectation mistakes that are knowable from the scenario alone, refused before a stack
 * starts: an `errors` requirement for a fault window the scenario does not have, and a latency
 * budget for a span name the stack never emits (the contract's span names; a budget on
 * another span must say `optional: true`, or use a pattern).
 */
export interface PreflightContext {
  /** Names of the scenario's planned faults (the windows an `errors` requirement can name). */
  faultNames: readonly string[];
}

export function preflightExpectations(expectations: readonly ScenarioExpectation[], source: string, context: PreflightContext): void {
  expectations.forEach((e, i) => {
    if (e.family === 'errors') {
      (e.require ?? []).forEach((r, j) => {
        if (context.faultNames.includes(r.window)) return;
        const known = context.faultNames.length > 0 ? `the scenario's faults: ${context.faultNames.join(', ')}` : 'the scenario has no faults';
        throw new ConfigError(`${source}: expectations.${i}.require.${j}.window: "${r.window}" names no fault (${known}); use a fault's name`);
      });
    }
    if (e.family === 'latency') {
      const spans = Object.values(hsiNames(e.hsi ?? {}).spans);
      (e.budgets ?? []).forEach((b, j) => {
        const name = b.operation?.name;
        if (typeof name !== 'string' || b.optional === true || spans.includes(name)) return;
        throw new ConfigError(`${source}: expectations.${i}.budgets.${j}.operation.name: "${name}" is not a span the stack emits (the contract's spans: ${spans.join(', ')}); fix the name, or mark the budget optional: true`);
      });
    }
  });
}
