/** A figure for a stats answer: rounded to one decimal (12.3 ms). */
export const r1 = (n: number): number => Math.round(n * 10) / 10;
