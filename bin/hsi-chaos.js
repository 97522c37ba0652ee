#!/usr/bin/env node
// Entry point of the hsi-chaos CLI. The harness is TypeScript run by Node's own type
// stripping, which needs Node >= 24 (npm scripts put the project's Node 24 first on PATH).
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `hsi-chaos: needs Node 24 or newer (this is ${process.version}); run it through npm (npm run chaos) ` +
      `or with node_modules/.bin/node after npm install\n`,
  );
  process.exit(2);
}
// The assertion families live outside the harness (they use its types, not the reverse):
// they are wired in here.
const { main } = await import('../harness/cli/main.ts');
const { hsiExperimentEvaluator } = await import('../assertions/hsi/experiment-evaluator.ts');
const { runConform } = await import('../assertions/hsi/conform/conform-runner.ts');
const code = await main(process.argv.slice(2), { evaluator: hsiExperimentEvaluator(), conform: runConform });
process.exitCode = code;
// The command is done: a handle still open (a container's log stream, a keep-alive socket, a
// child that has not exited after a failed stack start) must not keep the process alive.
setTimeout(() => process.exit(code), 1_000).unref();
