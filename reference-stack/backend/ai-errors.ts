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

/** Transport error codes that are transient by nature (network failures and timeouts). */
export const RETRYABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

/**
 * A thrown transport error as the service's call error: retryable for the codes above and for
 * anything unknown, not for a TypeError (a bug, not the network).
 */
export function transportError<E extends AiCallError>(error: unknown, ErrorClass: new (message: string, code: string, retryable: boolean, status?: number, options?: { cause?: unknown }) => E): E {
  if (error instanceof ErrorClass) return error;
  const err = error instanceof Error ? error : new Error(String(error));
  const code = (err as { code?: unknown }).code;
  const codeText = typeof code === 'string' ? code : err.name;
  // Network failures and timeouts are transient by nature; anything unknown is treated the same.
  const retryable = RETRYABLE_CODES.has(codeText) || !(err instanceof TypeError);
  return new ErrorClass(`${codeText}: ${err.message}`, codeText, retryable, undefined, { cause: err });
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
