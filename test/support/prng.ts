/** A seeded pseudo-random generator for property tests: the same cases for the same seed, on every machine. */

/** The generator and the few ways tests draw from it. */
export interface Prng {
  /** A number in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  pick<T>(xs: readonly T[]): T;
  /** Each element with probability `p`, shuffled, now and then with one repeated. */
  subset<T>(xs: readonly T[], p?: number): T[];
}

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export function prng(seed: number): Prng {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return {
    next, int,
    pick: <T>(xs: readonly T[]): T => xs[int(xs.length)]!,
    /** Each element with probability p, in a shuffled order, sometimes with a repeat. */
    subset: <T>(xs: readonly T[], p = 0.5): T[] => {
      const out = xs.filter(() => next() < p);
      for (let i = out.length - 1; i > 0; i--) {
        const j = int(i + 1);
        [out[i], out[j]] = [out[j]!, out[i]!];
      }
      if (out.length > 0 && next() < 0.15) out.push(out[int(out.length)]!);
      return out;
    },
  };
}

