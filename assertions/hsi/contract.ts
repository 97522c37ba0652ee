/**
 * The one door from assertions/ to the HSI's facts (harness/contract/) and the HSI dialect
 * adapters (harness/dialect/): an assertion module outside assertions/hsi/ that needs one imports
 * it from here (test/unit/layering.test.ts keeps it so), so what the generic families depend on
 * of the HSI is listed in one place.
 */
export { dlqName, HSI_QUEUE_NAMES, HSI_QUEUE_ROLES, OPEN_BATCH_KEY_PATTERN, REFERENCE_DIALECT, type HsiDialect } from '../../harness/contract/dialects.ts';
export { parseStoredDlqEntry } from '../../harness/contract/dlq-entry.ts';
export { HSI_ROUTES } from '../../harness/contract/hsi-api.ts';
export { HSI_OTEL_ENABLED_VARIABLE, HSI_OTLP_VARIABLES } from '../../harness/contract/hsi-environment.ts';
export type { BroadcastEvent } from '../../harness/contract/hsi-ws-events.ts';
export { HsiHttpClient } from '../../harness/dialect/hsi-http.ts';
export { readDeadLetters, scanCount, type StoredDlqEntry } from '../../harness/dialect/redis-dialect.ts';
export { resolveStackDialect } from '../../harness/dialect/target-dialect.ts';
