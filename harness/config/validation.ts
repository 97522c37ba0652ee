import type { z } from 'zod';
import { ConfigError } from '../errors.ts';

/**
 * Turns the first zod issue into one line that names the source and the field,
 * e.g. `hsi-chaos.config.json: imageMode: expected one of "local"|"registry", got "foo"`.
 */
export function describeIssue(source: string, error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return `${source}: invalid`;
  const field = issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)';
  const more = error.issues.length > 1 ? ` (+${error.issues.length - 1} more)` : '';
  return `${source}: ${field}: ${issue.message}${more}`;
}

export function parseOrThrow<T extends z.ZodType>(schema: T, value: unknown, source: string): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw new ConfigError(describeIssue(source, result.error));
  return result.data;
}
