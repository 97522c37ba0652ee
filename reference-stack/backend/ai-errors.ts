/**
 * Errors of the backend's AI clients (detector, LLM): one attempt's failure, classified
 * for retries and the circuit breaker, and the give-up after the last attempt, which
 * carries the attempt count into the DLQ entry or the fallback event.
 */
export class AiCallError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly status: number | undefined;
  constructor(message: string, code: string, retryable: boolean, status?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.retryable = retryable;
    this.status = status;
  }
}

export class AiUnavailableError<E extends AiCallError> extends Error {
  readonly attempts: number;
  readonly last: E;
  constructor(service: string, attempts: number, last: E) {
    super(`${service} failed after ${attempts} attempt(s): ${last.message}`, { cause: last });
    this.attempts = attempts;
    this.last = last;
  }
}
