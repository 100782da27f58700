/** Seeded random counts for tests (with prng from src/backtest/trace.ts). */

/** A Poisson count with mean m (Knuth's product method; a large mean as the sum of two halves, exactly Poisson). */
export function poissonCount(m: number, rnd: () => number): number {
  if (m > 500) return poissonCount(m / 2, rnd) + poissonCount(m / 2, rnd);
  const limit = Math.exp(-m);
  let k = 0;
  for (let p = rnd(); p > limit; p *= rnd()) k++;
  return k;
}
