import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { request, type RequestOptions } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvironmentError } from '../errors.ts';
import { commandExists, run } from '../util/exec.ts';

/**
 * Makes sure a Docker engine answers. Order of preference:
 *  1. whatever DOCKER_HOST or /var/run/docker.sock already serves (never touched);
 *  2. on Debian as root, Debian's `docker.io` installed and `dockerd` started by us;
 *  3. otherwise a one-line error saying how to provide Docker.
 */
export interface DockerEngineStatus {
  endpoint: string;
  startedByUs: boolean;
  installedByUs: boolean;
  logFile?: string;
}

export interface EnsureDockerOptions {
  /** false = never install or start anything, only check. */
  bootstrap: boolean;
  log?: (line: string) => void;
  /** Where dockerd writes its log when we start it. */
  logDir?: string;
}

const DEFAULT_SOCKET = '/var/run/docker.sock';

function socketPath(): string | undefined {
  const host = process.env['DOCKER_HOST'];
  if (host === undefined || host === '') return DEFAULT_SOCKET;
  if (host.startsWith('unix://')) return host.slice('unix://'.length);
  return undefined;
}

/** GET /_ping on the engine's unix socket (or TCP DOCKER_HOST); true if it answers OK. */
export function pingDocker(timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = socketPath();
    const host = process.env['DOCKER_HOST'];
    let options: RequestOptions;
    if (socket !== undefined) {
      if (!existsSync(socket)) return resolve(false);
      options = { socketPath: socket, path: '/_ping', method: 'GET', timeout: timeoutMs };
    } else {
      const url = new URL((host ?? '').replace(/^tcp:/, 'http:'));
      options = { host: url.hostname, port: url.port, path: '/_ping', method: 'GET', timeout: timeoutMs };
    }
    const req = request(options, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

async function waitForDocker(deadlineMs: number): Promise<boolean> {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (await pingDocker()) return true;
    await new Promise((r) => setTimeout(r, 500));
  }
  return false;
}

function isDebian(): boolean {
  return existsSync('/etc/debian_version');
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const HOW_TO = 'start Docker (or Docker Desktop / colima), or set DOCKER_HOST to a reachable engine, then run again';

export async function ensureDockerEngine(options: EnsureDockerOptions): Promise<DockerEngineStatus> {
  const log = options.log ?? (() => {});
  const endpoint = process.env['DOCKER_HOST'] ?? `unix://${DEFAULT_SOCKET}`;
  if (await pingDocker()) return { endpoint, startedByUs: false, installedByUs: false };
  if (!options.bootstrap) {
    throw new EnvironmentError(`no Docker engine answers at ${endpoint}; ${HOW_TO}`);
  }
  if (process.env['DOCKER_HOST'] !== undefined && process.env['DOCKER_HOST'] !== '' && !process.env['DOCKER_HOST'].startsWith(`unix://${DEFAULT_SOCKET}`)) {
    // The user pointed us at a specific engine: starting a local one would not help.
    throw new EnvironmentError(`no Docker engine answers at DOCKER_HOST=${process.env['DOCKER_HOST']}; ${HOW_TO}`);
  }
  if (!isRoot() || !isDebian()) {
    throw new EnvironmentError(
      `no Docker engine answers at ${endpoint} and this is not root on Debian, so hsi-chaos cannot install one; ${HOW_TO}`,
    );
  }
  let installedByUs = false;
  if (!(await commandExists('dockerd'))) {
    log('installing Debian docker.io (no Docker engine found)…');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const update = await run('apt-get', ['update', '-qq'], { env });
    const install = update.code === 0 ? await run('apt-get', ['install', '-y', '-qq', 'docker.io'], { env }) : update;
    if (install.code !== 0) {
      const tail = (install.stderr || install.stdout).trim().split('\n').slice(-1)[0] ?? '';
      throw new EnvironmentError(`could not install docker.io with apt-get (${tail}); ${HOW_TO}`);
    }
    installedByUs = true;
  }
  // A dockerd that died leaves its pid file behind, and a new one refuses to start.
  const pidFile = '/var/run/docker.pid';
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pidAlive(pid)) {
      throw new EnvironmentError(`a dockerd (pid ${pid}) is running but does not answer at ${endpoint}; fix or stop it, then run again`);
    }
    rmSync(pidFile, { force: true });
  }
  const logDir = options.logDir ?? join(tmpdir(), 'hsi-chaos');
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, 'dockerd.log');
  log(`starting dockerd (log: ${logFile})…`);
  const fd = openSync(logFile, 'a');
  // Detached so the engine outlives this process: later runs and CI steps reuse it.
  const child = spawn('dockerd', [], { detached: true, stdio: ['ignore', fd, fd] });
  child.unref();
  closeSync(fd);
  if (!(await waitForDocker(60_000))) {
    throw new EnvironmentError(`started dockerd but it did not answer within 60 s; see ${logFile}`);
  }
  return { endpoint, startedByUs: true, installedByUs, logFile };
}
