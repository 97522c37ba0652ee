import { run } from '../../util/exec.ts';

/**
 * What a container last said, in one line: its state (exited with which code, killed for
 * memory, or still running) and the log line most likely to say why (its last error, else its
 * last line). Read through the docker CLI, bounded in time, so a wait that needs it always ends.
 */

const DOCKER_TIMEOUT_MS = 10_000;
const REASON = /error|fail|unable|cannot|not found|does not exist|out of memory/i;

/** The line of a log most likely to say why a program stopped (its last error), else its last line. */
export function meaningfulLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.replace(/\x1b\[[0-9;]*m/g, '').trim())
    .filter((l) => l !== '');
  return ([...lines].reverse().find((l) => REASON.test(l)) ?? lines[lines.length - 1] ?? '').slice(0, 300);
}

/** `docker inspect`'s "status exitCode oomKilled" as words: "exited with code 1", "still running". */
export function describeState(inspectLine: string): string {
  const [status, code, oom] = inspectLine.trim().split(' ');
  return status === 'exited' ? `exited with code ${code}${oom === 'true' ? ' (killed: out of memory)' : ''}` : `still ${status !== undefined && status !== '' ? status : 'unknown'}`;
}

/** The container's state and its most telling log line, e.g. "exited with code 1: error: failed to load model". */
export async function lastWordsOf(containerId: string): Promise<string> {
  const state = await run('docker', ['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}}', containerId], { timeoutMs: DOCKER_TIMEOUT_MS }).catch(() => undefined);
  const logs = await run('docker', ['logs', '--tail', '40', containerId], { timeoutMs: DOCKER_TIMEOUT_MS }).catch(() => undefined);
  const reason = meaningfulLine(`${logs?.stdout ?? ''}\n${logs?.stderr ?? ''}`);
  return `${describeState(state?.stdout ?? '')}${reason !== '' ? `: ${reason}` : ''}`;
}
