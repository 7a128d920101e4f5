/**
 * Correlation statistics of the paper's analyses, with NASLib's (branch zerocost) handling of
 * special values:
 * - Spearman (Figure 2; naslib/evaluators/zc_evaluator.py → scipy.stats.spearmanr) = Pearson of
 *   average ranks (ties share the mean of the ranks they span). A missing score (NaN) drops its
 *   pair; ±Infinity (the early NASLib files store a singular nwot as -inf) is kept and ranks as
 *   the extreme value (the runner maps it to ±1e9 before ranking: same ranks).
 * - Pearson (Table 3 and Figure 3; pandas `DataFrame.corr`) drops every pair with a non-finite
 *   side: pandas masks with np.isfinite.
 * - The −1e8 sentinels of NASLib's post-processing (NaN/inf → −1e8) are ordinary finite values in
 *   both: kept, as the paper's code keeps them.
 */

/** A correlation and the number of complete pairs it was computed from. NaN when undefined. */
export interface Correlation {
  value: number;
  n: number;
}

/** 1-based ranks of `values` (no NaN); tied values get the average of the ranks they span. */
export function averageRanks(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  // A native numeric sort of the values, then binary search: value v occupies the sorted
  // positions lo..hi−1 (0-based), i.e. ranks lo+1..hi, whose mean is (lo + 1 + hi) / 2.
  const sorted = Float64Array.from(values).sort();
  const ranks = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sorted[mid]! < v) lo = mid + 1;
      else hi = mid;
    }
    let end = lo;
    hi = n;
    while (end < hi) {
      const mid = (end + hi) >>> 1;
      if (sorted[mid]! <= v) end = mid + 1;
      else hi = mid;
    }
    ranks[i] = (lo + 1 + end) / 2;
  }
  return ranks;
}

/** Pearson correlation of two equally long, complete samples; NaN if n < 2 or a sample is constant. */
export function pearsonComplete(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  if (n !== y.length) throw new RangeError(`pearson needs equal lengths, got ${n} and ${y.length}`);
  if (n < 2) return NaN;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i]!;
    my += y[i]!;
  }
  mx /= n;
  my /= n;
  // Two passes (centre first): the −1e8 sentinels next to O(1) scores would ruin one-pass sums.
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx;
    const dy = y[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return NaN;
  const r = sxy / Math.sqrt(sxx * syy);
  return Math.max(-1, Math.min(1, r));
}

/** The pairs of x and y where `keep` accepts both sides, as two new arrays. */
export function keptPairs(x: ArrayLike<number>, y: ArrayLike<number>, keep: (v: number) => boolean): [Float64Array, Float64Array] {
  if (x.length !== y.length) throw new RangeError(`paired samples need equal lengths, got ${x.length} and ${y.length}`);
  let n = 0;
  for (let i = 0; i < x.length; i++) if (keep(x[i]!) && keep(y[i]!)) n++;
  const xs = new Float64Array(n);
  const ys = new Float64Array(n);
  let k = 0;
  for (let i = 0; i < x.length; i++) {
    if (keep(x[i]!) && keep(y[i]!)) {
      xs[k] = x[i]!;
      ys[k] = y[i]!;
      k++;
    }
  }
  return [xs, ys];
}

const notNaN = (v: number) => !Number.isNaN(v);

/** Pearson correlation over the pairs of x and y with both sides finite (pandas' rule). */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): Correlation {
  const [xs, ys] = keptPairs(x, y, Number.isFinite);
  return { value: pearsonComplete(xs, ys), n: xs.length };
}

/** Spearman rank correlation (Pearson of average ranks) over the pairs with no NaN side. */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): Correlation {
  const [xs, ys] = keptPairs(x, y, notNaN);
  if (xs.length < 2) return { value: NaN, n: xs.length };
  return { value: pearsonComplete(averageRanks(xs), averageRanks(ys)), n: xs.length };
}

/** Mean of the finite values; NaN if there are none. */
export function finiteMean(values: ArrayLike<number>): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isFinite(v)) {
      sum += v;
      n++;
    }
  }
  return n === 0 ? NaN : sum / n;
}

/**
 * Kendall's tau-b (scipy.stats.kendalltau's default) over the pairs with no NaN side; ±Infinity
 * ranks as the extreme value, as in `spearman`. Knight's O(n log n) algorithm: sort by (x, y),
 * count the discordant pairs as the inversions of y (strict) by merge sort;
 * tau = (n0 − n1 − n2 + n3 − 2·discordant) / √((n0 − n1)(n0 − n2)) with n0 all pairs, n1 / n2 the
 * pairs tied in x / in y, n3 the pairs tied in both.
 */
export function kendall(x: ArrayLike<number>, y: ArrayLike<number>): Correlation {
  const [xs, ys] = keptPairs(x, y, notNaN);
  const n = xs.length;
  if (n < 2) return { value: NaN, n };
  // Comparisons, not differences: Infinity − Infinity would be NaN.
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => cmp(xs[a]!, xs[b]!) || cmp(ys[a]!, ys[b]!));
  const pairs = (t: number) => (t * (t - 1)) / 2;
  let n1 = 0;
  let n3 = 0;
  for (let i = 0; i < n;) {
    let j = i + 1;
    while (j < n && xs[order[j]!] === xs[order[i]!]) j++;
    n1 += pairs(j - i);
    for (let k = i; k < j;) {
      let m = k + 1;
      while (m < j && ys[order[m]!] === ys[order[k]!]) m++;
      n3 += pairs(m - k);
      k = m;
    }
    i = j;
  }
  const seq = Float64Array.from(order, (i) => ys[i]!);
  const discordant = countInversions(seq, new Float64Array(n), 0, n);
  // seq is now sorted: count the ties in y.
  let n2 = 0;
  for (let i = 0; i < n;) {
    let j = i + 1;
    while (j < n && seq[j] === seq[i]) j++;
    n2 += pairs(j - i);
    i = j;
  }
  const n0 = pairs(n);
  const denom = Math.sqrt((n0 - n1) * (n0 - n2));
  if (denom === 0) return { value: NaN, n };
  const tau = (n0 - n1 - n2 + n3 - 2 * discordant) / denom;
  return { value: Math.max(-1, Math.min(1, tau)), n };
}

function cmp(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Pairs i < j of a[lo, hi) with a[i] > a[j]; sorts a[lo, hi) ascending (tmp: scratch space). */
function countInversions(a: Float64Array, tmp: Float64Array, lo: number, hi: number): number {
  if (hi - lo < 2) return 0;
  const mid = (lo + hi) >>> 1;
  let count = countInversions(a, tmp, lo, mid) + countInversions(a, tmp, mid, hi);
  let i = lo;
  let j = mid;
  let k = lo;
  while (i < mid && j < hi) {
    if (a[j]! < a[i]!) {
      count += mid - i;
      tmp[k++] = a[j++]!;
    } else {
      tmp[k++] = a[i++]!;
    }
  }
  while (i < mid) tmp[k++] = a[i++]!;
  while (j < hi) tmp[k++] = a[j++]!;
  a.set(tmp.subarray(lo, hi), lo);
  return count;
}
