// Prints the plain closing line CI reads ("N passed, N failed, N skipped") from vitest's JUnit file.
import { existsSync, readFileSync } from 'node:fs';

const file = process.argv[2] ?? 'results/test-junit.xml';
if (!existsSync(file)) {
  process.stdout.write(`no JUnit file at ${file}: the test run did not finish\n`);
  process.exit(1);
}
const xml = readFileSync(file, 'utf8');
const cases = xml.match(/<testcase\b[\s\S]*?(?:\/>|<\/testcase>)/g) ?? [];
let failed = 0;
let skipped = 0;
for (const c of cases) {
  if (/<(failure|error)\b/.test(c)) failed += 1;
  else if (/<skipped\b/.test(c)) skipped += 1;
}
const passed = cases.length - failed - skipped;
process.stdout.write(`${passed} passed, ${failed} failed, ${skipped} skipped\n`);
process.exit(failed > 0 || cases.length === 0 ? 1 : 0);
