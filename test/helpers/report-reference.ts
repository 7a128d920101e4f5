/**
 * Reference statistics for the report tests, written independently of src/report/stats.ts:
 * ranks by counting (O(n²), no sorting), Pearson by the textbook formula.
 */

/** Average rank of x[i]: 1 + #{x_j < x_i} + (#{x_j = x_i} − 1) / 2. */
export function referenceRanks(x: number[]): number[] {
  return x.map((v) => {
    let less = 0;
    let equal = 0;
    for (const w of x) {
      if (w < v) less++;
      else if (w === v) equal++;
    }
    return 1 + less + (equal - 1) / 2;
  });
}

export function referencePearson(x: number[], y: number[]): number {
  const n = x.length;
  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  const mx = mean(x);
  const my = mean(y);
  let num = 0;
  let dx2 = 0;
  let dy2 = 0;
  for (let i = 0; i < n; i++) {
    num += (x[i]! - mx) * (y[i]! - my);
    dx2 += (x[i]! - mx) ** 2;
    dy2 += (y[i]! - my) ** 2;
  }
  return num / Math.sqrt(dx2) / Math.sqrt(dy2);
}

/** Drop pairs with a missing (null, undefined, NaN) side; ±Infinity counts as ±1e9 (NASLib's runner). */
export function referencePairs(x: (number | null | undefined)[], y: (number | null | undefined)[]): [number[], number[]] {
  const present = (v: number | null | undefined): v is number => typeof v === 'number' && !Number.isNaN(v);
  const value = (v: number) => (v === Infinity ? 1e9 : v === -Infinity ? -1e9 : v);
  const xs: number[] = [];
  const ys: number[] = [];
  x.forEach((v, i) => {
    const w = y[i];
    if (present(v) && present(w)) {
      xs.push(value(v));
      ys.push(value(w));
    }
  });
  return [xs, ys];
}

export function referenceSpearman(x: (number | null | undefined)[], y: (number | null | undefined)[]): { value: number; n: number } {
  const [xs, ys] = referencePairs(x, y);
  return { value: referencePearson(referenceRanks(xs), referenceRanks(ys)), n: xs.length };
}
