/** llama.cpp's error bodies and the error the LLM emulator throws to answer with one. */

const ERROR_TYPES: Readonly<Record<number, string>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  501: 'not_supported_error',
  503: 'unavailable_error',
};

/** llama.cpp's error `type` for a status: its own names, `server_error` for other 5xx. */
export function llamaErrorType(status: number): string {
  return ERROR_TYPES[status] ?? (status >= 500 ? 'server_error' : 'invalid_request_error');
}

/** llama.cpp's error body: `{error: {code, message, type}}`. */
export function llamaErrorBody(status: number, message: string, type: string = llamaErrorType(status), extra: Record<string, unknown> = {}): unknown {
  return { error: { code: status, message, type, ...extra } };
}

export class LlamaError extends Error {
  override name = 'LlamaError';
  readonly status: number;
  readonly type: string;
  readonly extra: Record<string, unknown>;
  constructor(status: number, message: string, type: string = llamaErrorType(status), extra: Record<string, unknown> = {}) {
    super(message);
    this.status = status;
    this.type = type;
    this.extra = extra;
  }
}
