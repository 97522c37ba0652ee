import { describe, expect, it } from 'vitest';
import { longFunctions, longFunctionsIn } from '../style/long-functions.ts';

/**
 * The brief: functions fit on a screen (< 80 lines). Issue 15 split the ones in harness/,
 * assertions/, reference-stack/ and bin/ (21 → 10, `node_modules/.bin/node test/style/long-functions.ts`);
 * what is left lives in files other work owned at the time. A new long function elsewhere fails here.
 */
const NOT_YET = [
  // owned by the load driver, trace fetching, replay, capacity and calibration work
  /^harness\/(load|traces|replay|capacity|calibrate)\//,
  // the emulators' request handlers and the stack's start sequence (still to split)
  /^reference-stack\/(llm-emulator|detector-emulator)\/app\.ts$/,
  /^harness\/stack\/hsi-stack\.ts$/,
];

describe('function length', () => {
  it('counts a function from its first line to its last, nested ones included', () => {
    const body = (n: number) => Array.from({ length: n }, (_, i) => `  const x${i} = ${i};`).join('\n');
    const text = `export function short() {\n${body(10)}\n}\nexport const long = () => {\n${body(79)}\n  function inner() {\n${body(3)}\n  }\n};\n`;
    expect(longFunctionsIn('x.ts', text, 80)).toEqual([{ file: 'x.ts', line: 13, name: 'long', lines: 86 }]);
  });

  it('no function over 80 lines in harness/, assertions/, reference-stack/ or bin/ outside the files not yet split', () => {
    const offenders = longFunctions(['harness', 'assertions', 'reference-stack', 'bin'], 80)
      .filter((f) => !NOT_YET.some((re) => re.test(f.file)))
      .map((f) => `${f.file}:${f.line} ${f.name}: ${f.lines} lines; split it (functions fit on a screen, < 80 lines)`);
    expect(offenders).toEqual([]);
  });
});
