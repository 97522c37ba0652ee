import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { EnvironmentError, errorMessage } from '../../errors.ts';
import { commandExists, run, runChecked } from '../../util/exec.ts';
import { debianMirror } from '../images/apt-mirror.ts';
import { BuildLock } from '../images/build-lock.ts';

/**
 * Docker Compose v2 as a Docker CLI plugin. Debian's bookworm only has the old Python
 * docker-compose (v1); Debian testing ships v2 (a Go program linked against libc alone), so
 * the bootstrap fetches testing's `docker-compose` package with the host's own apt, pointed
 * at the machine's mirror with a private state folder in the cache dir (the host's apt lists
 * and sources are not touched), unpacks the plugin binary into the cache and copies it where
 * the docker CLI looks for plugins. The binary must answer `version` on this host before it
 * is installed. An engine whose CLI already has `docker compose` v2 is left alone.
 */

/** Debian suite that serves Compose v2 (the real-AI images use the same testing suite). */
export const COMPOSE_SUITE = 'forky';
export const COMPOSE_PACKAGE = 'docker-compose';
/** The oldest Compose that reads the override's `!reset` / `!override` tags. */
export const MIN_COMPOSE_VERSION: readonly [number, number] = [2, 24];

export interface ComposeStatus {
  version: string;
  /** Where the plugin binary is; undefined when the CLI found it on its own. */
  installedAt?: string;
  action: 'present' | 'installed' | 'installed-from-cache';
  seconds: number;
}

/** `Docker Compose version v2.40.3` / `2.40.3-3` → [2, 40, 3]; undefined when not a version line. */
export function parseComposeVersion(text: string): [number, number, number] | undefined {
  const m = /version\s+v?(\d+)\.(\d+)\.(\d+)/i.exec(text);
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

export function isUsableCompose(version: readonly number[] | undefined): boolean {
  if (version === undefined) return false;
  const [major = 0, minor = 0] = version;
  return major > MIN_COMPOSE_VERSION[0] || (major === MIN_COMPOSE_VERSION[0] && minor >= MIN_COMPOSE_VERSION[1]);
}

/** The docker CLI's plugin folder we install into: the system one as root, else the user's. */
export function pluginDir(env: NodeJS.ProcessEnv = process.env, isRoot = typeof process.getuid === 'function' && process.getuid() === 0): string {
  if (isRoot) return '/usr/local/lib/docker/cli-plugins';
  const config = env['DOCKER_CONFIG'];
  return join(config !== undefined && config !== '' ? config : join(homedir(), '.docker'), 'cli-plugins');
}

/** What `docker compose version` says, or undefined when the CLI has no usable compose. */
export async function composeVersion(): Promise<string | undefined> {
  const res = await run('docker', ['compose', 'version'], { timeoutMs: 20_000 }).catch(() => undefined);
  if (res === undefined || res.code !== 0) return undefined;
  return isUsableCompose(parseComposeVersion(res.stdout)) ? res.stdout.trim() : undefined;
}

/** For the harness (not the edge): compose must already be there. */
export async function requireCompose(): Promise<string> {
  const version = await composeVersion();
  if (version === undefined) {
    throw new EnvironmentError(`docker compose v${MIN_COMPOSE_VERSION.join('.')}+ is not installed; run "hsi-chaos docker ensure" (installs Debian testing's Compose v2 plugin as root on Debian)`);
  }
  return version;
}

export interface EnsureComposeOptions {
  cacheDir: string;
  log?: (line: string) => void;
  /** Debian archive; default: HSI_CHAOS_DEBIAN_MIRROR, else the machine's apt sources. */
  debianMirror?: string;
}

/**
 * The edge's step (`docker ensure`, `images build`, `stack up --compose`): installs the plugin
 * when the CLI has no usable compose. One install at a time per cache dir (build lock).
 */
export async function ensureComposePlugin(options: EnsureComposeOptions): Promise<ComposeStatus> {
  const started = Date.now();
  const seconds = () => Math.round((Date.now() - started) / 100) / 10;
  const present = await composeVersion();
  if (present !== undefined) return { version: present, action: 'present', seconds: seconds() };
  const log = options.log ?? (() => {});
  const lock = await BuildLock.acquire(join(options.cacheDir, 'locks'), 'docker-compose', { onWait: (owner) => log(`docker compose: waiting for ${owner}, which is installing it`) });
  try {
    const again = await composeVersion();
    if (again !== undefined) return { version: again, action: 'present', seconds: seconds() };
    const cached = join(options.cacheDir, 'bin', 'docker-compose');
    const fromCache = existsSync(cached) && isUsableCompose(await binaryVersion(cached));
    if (!fromCache) {
      log(`docker compose: fetching Debian ${COMPOSE_SUITE}'s ${COMPOSE_PACKAGE} (Compose v2)…`);
      await fetchDebianCompose(options, cached);
    }
    const target = installPlugin(cached, pluginDir());
    const version = await composeVersion();
    if (version === undefined) throw new EnvironmentError(`installed ${target}, but "docker compose version" still does not answer; check that the docker CLI reads ${pluginDir()}`);
    return { version, installedAt: target, action: fromCache ? 'installed-from-cache' : 'installed', seconds: seconds() };
  } finally {
    lock.release();
  }
}

async function binaryVersion(file: string): Promise<[number, number, number] | undefined> {
  const res = await run(file, ['version'], { timeoutMs: 20_000 }).catch(() => undefined);
  return res?.code === 0 ? parseComposeVersion(res.stdout) : undefined;
}

/** Copy, then rename: a docker CLI reading the folder never sees half a binary. */
function installPlugin(binary: string, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const target = join(dir, 'docker-compose');
  const partial = `${target}.partial-${process.pid}`;
  copyFileSync(binary, partial);
  chmodSync(partial, 0o755);
  renameSync(partial, target);
  return target;
}

/** apt options that keep every file of this download inside `root`. */
export function privateAptOptions(root: string): string[] {
  const o = (k: string, v: string) => ['-o', `${k}=${v}`];
  return [
    ...o('Dir::Etc::SourceList', join(root, 'sources.list')),
    ...o('Dir::Etc::SourceParts', join(root, 'sources.list.d')),
    ...o('Dir::State::Lists', join(root, 'lists')),
    ...o('Dir::Cache', join(root, 'cache')),
    ...o('Dir::State::status', join(root, 'status')),
    // Mirrors may serve a testing Release file past its Valid-Until (as for the forky images).
    ...o('Acquire::Check-Valid-Until', 'false'),
    ...o('Acquire::Languages', 'none'),
    // Only the package index is needed: no AppStream metadata (5 MB) if the host's apt asks for it.
    ...o('Acquire::IndexTargets::deb::DEP-11::DefaultEnabled', 'false'),
    ...o('Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled', 'false'),
    ...o('Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled', 'false'),
    ...o('APT::Sandbox::User', 'root'),
  ];
}

async function fetchDebianCompose(options: EnsureComposeOptions, out: string): Promise<void> {
  if (!existsSync('/etc/debian_version') || !(await commandExists('apt-get')) || !(await commandExists('dpkg-deb'))) {
    throw new EnvironmentError(`docker compose v2 is missing and this is not Debian (no apt-get/dpkg-deb), so hsi-chaos cannot install it; install the Docker Compose v2 plugin (docker compose version), then run again`);
  }
  const root = join(options.cacheDir, 'compose-apt');
  for (const dir of ['lists/partial', 'cache/archives/partial', 'sources.list.d', 'download']) mkdirSync(join(root, dir), { recursive: true });
  let mirror: string;
  try {
    mirror = options.debianMirror ?? debianMirror();
  } catch (error) {
    throw new EnvironmentError(`docker compose: ${errorMessage(error)}, or "debianMirror" in hsi-chaos.config.json`);
  }
  writeFileSync(join(root, 'sources.list'), `deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror} ${COMPOSE_SUITE} main\n`);
  writeFileSync(join(root, 'status'), '');
  const apt = privateAptOptions(root);
  const download = join(root, 'download');
  for (const f of readdirSync(download)) rmSync(join(download, f), { recursive: true, force: true });
  try {
    await runChecked('apt-get', [...apt, '-qq', 'update'], { timeoutMs: 300_000 });
    await runChecked('apt-get', [...apt, '-qq', 'download', COMPOSE_PACKAGE], { cwd: download, timeoutMs: 300_000 });
    const deb = readdirSync(download).find((f) => f.startsWith(`${COMPOSE_PACKAGE}_`) && f.endsWith('.deb'));
    if (deb === undefined) throw new Error(`apt-get download left no ${COMPOSE_PACKAGE} .deb`);
    const unpacked = join(download, 'root');
    await runChecked('dpkg-deb', ['-x', join(download, deb), unpacked]);
    const binary = join(unpacked, 'usr', 'libexec', 'docker', 'cli-plugins', 'docker-compose');
    if (!existsSync(binary)) throw new Error(`${deb} has no usr/libexec/docker/cli-plugins/docker-compose`);
    const version = await binaryVersion(binary);
    if (!isUsableCompose(version)) throw new Error(`${deb}'s binary answers version ${version?.join('.') ?? '(none)'} on this host; need ${MIN_COMPOSE_VERSION.join('.')}+`);
    mkdirSync(join(out, '..'), { recursive: true });
    copyFileSync(binary, `${out}.partial`);
    chmodSync(`${out}.partial`, 0o755);
    renameSync(`${out}.partial`, out);
  } catch (error) {
    throw new EnvironmentError(`docker compose: installing Debian ${COMPOSE_SUITE}'s ${COMPOSE_PACKAGE} failed: ${errorMessage(error).split('\n').slice(0, 2).join(' ')}`);
  } finally {
    rmSync(download, { recursive: true, force: true });
  }
}

export function composeStatusLine(s: ComposeStatus): string {
  if (s.action === 'present') return `docker compose: ${s.version}`;
  return `docker compose: ${s.version}, ${s.action === 'installed' ? 'fetched and installed' : 'installed from the cache'} at ${s.installedAt ?? '?'} in ${s.seconds} s`;
}
