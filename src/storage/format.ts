import type { CoverageEntry } from './manifest';

/** Human-readable sizes for command output (1 kB = 1000 B). */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  do {
    v /= 1000;
    u++;
  } while (v >= 1000 && u < units.length - 1);
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

export interface CoverageSummary {
  expected: number;
  ok: number;
  failed: number;
  /** Expected triples with no row at all. */
  missing: number;
}

export function summarizeCoverage(entries: readonly CoverageEntry[]): CoverageSummary {
  const s = { expected: 0, ok: 0, failed: 0, missing: 0 };
  for (const c of entries) {
    s.expected += c.expected;
    s.ok += c.ok;
    s.failed += c.failed;
    s.missing += Math.max(0, c.expected - c.ok - c.failed);
  }
  return s;
}

export function formatCoverage(s: CoverageSummary): string {
  const pct = s.expected > 0 ? ` (${((100 * s.ok) / s.expected).toFixed(1)}%)` : '';
  return `${s.ok}/${s.expected} ok${pct}, ${s.failed} failed${s.missing > 0 ? `, ${s.missing} missing` : ''}`;
}

/** Left-aligned text table. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

/**
 * A number for people: `digits` significant digits, integers as they are, exponent form for very
 * large or small magnitudes (−1e8 sentinels stay recognisable). `--json` output keeps exact values.
 */
export function formatNumber(x: number, digits = 6): string {
  if (!Number.isFinite(x)) return String(x);
  if (Number.isInteger(x) && Math.abs(x) < 1e6) return String(x);
  const abs = Math.abs(x);
  if (abs !== 0 && (abs >= 1e6 || abs < 1e-4)) return x.toExponential(digits - 1).replace(/\.?0+e/, 'e');
  return String(Number(x.toPrecision(digits)));
}
