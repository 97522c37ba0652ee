import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The Debian mirror this machine's apt uses, read from its sources (deb822 `.sources` files and
 * one-line `.list` files): the first `deb` entry for a release suite (not -security, -updates,
 * -backports). HSI_CHAOS_DEBIAN_MIRROR overrides it. The mirror is never written in our code.
 */

const AUX_SUITE = /-(security|updates|backports|proposed-updates)$|\/updates$/;

export interface AptSourceEntry {
  uri: string;
  suites: string[];
}

/** Entries of one deb822 file's text (stanzas separated by blank lines; `Types` must include deb). */
export function parseDeb822Sources(text: string): AptSourceEntry[] {
  const out: AptSourceEntry[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of stanza.split('\n')) {
      if (line.startsWith('#')) continue;
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
      if (m?.[1] !== undefined && m[2] !== undefined) fields.set(m[1].toLowerCase(), m[2].trim());
    }
    if (fields.get('enabled') === 'no') continue;
    if (!(fields.get('types') ?? '').split(/\s+/).includes('deb')) continue;
    const suites = (fields.get('suites') ?? '').split(/\s+/).filter((x) => x !== '');
    for (const uri of (fields.get('uris') ?? '').split(/\s+/).filter((x) => x !== '')) out.push({ uri, suites });
  }
  return out;
}

/** Entries of a one-line-style file: `deb [options] URI suite component...`. */
export function parseOneLineSources(text: string): AptSourceEntry[] {
  const out: AptSourceEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) out.push({ uri: m[1], suites: [m[2]] });
  }
  return out;
}

export function pickDebianMirror(entries: readonly AptSourceEntry[]): string | undefined {
  const entry = entries.find((e) => e.suites.some((s) => !AUX_SUITE.test(s)) && !/security/.test(e.uri));
  return entry?.uri.replace(/\/+$/, '');
}

export function aptSourceEntries(etcApt = '/etc/apt'): AptSourceEntry[] {
  const entries: AptSourceEntry[] = [];
  const main = join(etcApt, 'sources.list');
  if (existsSync(main)) entries.push(...parseOneLineSources(readFileSync(main, 'utf8')));
  const dir = join(etcApt, 'sources.list.d');
  if (existsSync(dir)) {
    for (const name of readdirSync(dir).sort()) {
      const text = readFileSync(join(dir, name), 'utf8');
      if (name.endsWith('.sources')) entries.push(...parseDeb822Sources(text));
      else if (name.endsWith('.list')) entries.push(...parseOneLineSources(text));
    }
  }
  return entries;
}

/** The mirror for debootstrap: HSI_CHAOS_DEBIAN_MIRROR, else this machine's apt sources. */
export function debianMirror(env: NodeJS.ProcessEnv = process.env, etcApt = '/etc/apt'): string {
  const fromEnv = env['HSI_CHAOS_DEBIAN_MIRROR'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const mirror = pickDebianMirror(aptSourceEntries(etcApt));
  if (mirror === undefined) throw new Error(`no Debian mirror in ${etcApt}/sources.list(.d); set HSI_CHAOS_DEBIAN_MIRROR to one`);
  return mirror;
}
