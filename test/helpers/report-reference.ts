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

type Sample = (number | null | undefined)[];
const isNumber = (v: number | null | undefined): v is number => typeof v === 'number' && !Number.isNaN(v);

/** The pairs where both sides pass `keep`. */
export function referencePairs(x: Sample, y: Sample, keep: (v: number) => boolean): [number[], number[]] {
  const xs: number[] = [];
  const ys: number[] = [];
  x.forEach((v, i) => {
    const w = y[i];
    if (isNumber(v) && isNumber(w) && keep(v) && keep(w)) {
      xs.push(v);
      ys.push(w);
    }
  });
  return [xs, ys];
}

/** scipy's spearmanr after NASLib's runner: missing (null, NaN) dropped, ±inf kept as the extremes. */
export function referenceSpearman(x: Sample, y: Sample): { value: number; n: number } {
  const [xs, ys] = referencePairs(x, y, () => true);
  return { value: referencePearson(referenceRanks(xs), referenceRanks(ys)), n: xs.length };
}

/** pandas' corr: pairs with a non-finite side dropped. */
export function referencePandasPearson(x: Sample, y: Sample): { value: number; n: number } {
  const [xs, ys] = referencePairs(x, y, Number.isFinite);
  return { value: referencePearson(xs, ys), n: xs.length };
}

/**
 * Heatmap geometry as documented in src/report/heatmap.ts (margin 12, text scale 2 with 6 px glyph
 * advance, title line 14 + gap 12, label gaps 6 and 8, cells 68 × 24, legend 204 wide), recomputed
 * here from the labels.
 */
export function expectedHeatmapGeometry(m: { title: string; rowLabels: string[]; colLabels: string[] }) {
  const w = (s: string) => (s.length * 6 - 1) * 2;
  const rowLabelW = Math.max(...m.rowLabels.map(w));
  const colLabelH = Math.max(...m.colLabels.map(w));
  const gridX = 12 + rowLabelW + 8;
  const gridY = 12 + 14 + 12 + colLabelH + 6;
  const width = Math.max(gridX + 68 * m.colLabels.length, gridX + 204, 12 + w(m.title)) + 12;
  const height = gridY + 24 * m.rowLabels.length + 14 + 12 + 4 + 14 + 12;
  return { gridX, gridY, width, height, cellWidth: 68, cellHeight: 24 };
}
