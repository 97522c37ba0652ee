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
const { main } = await import('../harness/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
