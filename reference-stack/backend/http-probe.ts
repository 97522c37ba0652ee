import { request, type Dispatcher } from 'undici';

export interface ProbeResult {
  ok: boolean;
  status?: number;
  body?: unknown;
  error?: string;
}

/** GET a URL, bounded in time; never throws. The body is JSON when it parses, else text. */
export async function probeJson(url: string, dispatcher: Dispatcher, timeoutMs: number): Promise<ProbeResult> {
  try {
    const res = await request(new URL(url), { method: 'GET', dispatcher, signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.body.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // keep the text
    }
    return { ok: res.statusCode === 200, status: res.statusCode, body };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}
