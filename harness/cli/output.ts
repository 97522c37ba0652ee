/** Terminal output: colours only on a TTY outside CI, and never with NO_COLOR. */
const useColour = Boolean(process.stdout.isTTY) && !process.env['CI'] && !process.env['NO_COLOR'];

const paint = (code: string) => (text: string) => (useColour ? `\u001b[${code}m${text}\u001b[0m` : text);
export const colour = { green: paint('32'), red: paint('31'), yellow: paint('33'), dim: paint('2'), bold: paint('1') };

const started = Date.now();
export function logLine(line: string): void {
  const t = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
  process.stdout.write(`${colour.dim(`[${t}s]`)} ${line}\n`);
}
