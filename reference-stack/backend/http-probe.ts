import { request, type Dispatcher } from 'undici';

export interface ProbeResult {
  ok: boolean;
  status?: number;
  body?: unknown;
  error?: string;
}

/** GET (or POST `body` as JSON) a URL, bounded in time; never throws. The body is JSON when it parses, else text. */
export async function probeJson(url: string, dispatcher: Dispatcher, timeoutMs: number, body?: unknown): Promise<ProbeResult> {
  try {
    const res = await request(
      new URL(url),
      body === undefined
        ? { method: 'GET', dispatcher, signal: AbortSignal.timeout(timeoutMs) }
        : { method: 'POST', dispatcher, signal: AbortSignal.timeout(timeoutMs), headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) },
    );
    const text = await res.body.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // keep the text
    }
    return { ok: res.statusCode === 200, status: res.statusCode, body: parsed };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}
