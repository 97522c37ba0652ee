/**
 * Redis MONITOR output, parsed (pure). Each line is a RESP simple string:
 * `<unix seconds.micros> [<db> <source>] "<arg>" "<arg>" …`, where source is `ip:port`,
 * `unix:<path>` or `lua` (a command a script ran). Redis writes every argument through
 * `sdscatrepr`: `\\` and `\"` escaped, `\n \r \t \a \b` by name, any other byte that is not
 * printable ASCII as `\xNN`; so a line is ASCII and never holds a raw CR or LF.
 */
export interface MonitorLine {
  /** Seconds since the epoch (Redis's clock). */
  timestamp: number;
  db: number;
  source: string;
  /** The command and its arguments, as bytes. */
  args: Buffer[];
}

const NAMED_ESCAPES: Readonly<Record<string, number>> = { n: 0x0a, r: 0x0d, t: 0x09, a: 0x07, b: 0x08, '\\': 0x5c, '"': 0x22 };

/** One quoted argument from `at` (on its opening quote); undefined if it is not well formed. */
function readQuoted(line: string, at: number): { bytes: Buffer; end: number } | undefined {
  if (line[at] !== '"') return undefined;
  const out: number[] = [];
  let i = at + 1;
  while (i < line.length) {
    const c = line[i]!;
    if (c === '"') return { bytes: Buffer.from(out), end: i + 1 };
    if (c !== '\\') {
      out.push(line.charCodeAt(i) & 0xff);
      i += 1;
      continue;
    }
    const e = line[i + 1];
    if (e === 'x' && /^[0-9a-fA-F]{2}$/.test(line.slice(i + 2, i + 4))) {
      out.push(Number.parseInt(line.slice(i + 2, i + 4), 16));
      i += 4;
    } else if (e !== undefined && NAMED_ESCAPES[e] !== undefined) {
      out.push(NAMED_ESCAPES[e]);
      i += 2;
    } else return undefined;
  }
  return undefined;
}

/** A monitor line without its leading `+`; undefined for anything else (e.g. the +OK replies). */
export function parseMonitorLine(line: string): MonitorLine | undefined {
  const m = /^(\d+(?:\.\d+)?) \[(\d+) ([^\]]*)\] /.exec(line);
  if (!m) return undefined;
  const args: Buffer[] = [];
  let at = m[0].length;
  while (at < line.length) {
    const arg = readQuoted(line, at);
    if (!arg) return undefined;
    args.push(arg.bytes);
    at = arg.end;
    if (at < line.length) {
      if (line[at] !== ' ') return undefined;
      at += 1;
    }
  }
  if (args.length === 0) return undefined;
  return { timestamp: Number(m[1]), db: Number(m[2]), source: m[3]!, args };
}

/** RESP replies of a connection that only ever gets simple strings and errors (AUTH, SELECT, MONITOR and its lines). */
export type SimpleReply = { kind: 'status'; text: string } | { kind: 'error'; text: string } | { kind: 'unexpected'; text: string };

/** Splits a byte stream into CRLF-terminated replies; keeps a partial line for the next chunk. */
export class SimpleReplyReader {
  private pending = '';

  push(chunk: Buffer): SimpleReply[] {
    // latin1 keeps every byte as one char; a monitor line is ASCII (see above).
    this.pending += chunk.toString('latin1');
    const out: SimpleReply[] = [];
    let end = this.pending.indexOf('\r\n');
    while (end >= 0) {
      const line = this.pending.slice(0, end);
      this.pending = this.pending.slice(end + 2);
      if (line.startsWith('+')) out.push({ kind: 'status', text: line.slice(1) });
      else if (line.startsWith('-')) out.push({ kind: 'error', text: line.slice(1) });
      else out.push({ kind: 'unexpected', text: line });
      end = this.pending.indexOf('\r\n');
    }
    return out;
  }
}

/** A command as RESP (an array of bulk strings). */
export function respCommand(args: readonly string[]): Buffer {
  const parts = [`*${args.length}\r\n`];
  for (const a of args) parts.push(`$${Buffer.byteLength(a)}\r\n${a}\r\n`);
  return Buffer.from(parts.join(''));
}
