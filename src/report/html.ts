/**
 * The report as one self-contained web page (`index.html`): the heatmaps inline as SVG (the PNGs
 * as data: URIs beside them), the best proxy per task, the tables, the seed-stability section and
 * the version's provenance. Nothing is fetched: no scripts, fonts or styles from the network.
 */
import type { CorrelationMatrix, TaskRef } from './analyses';
import { renderHeatmapPng, renderHeatmapSvg } from './heatmap';
import type { Report } from './report';
import type { SeedStability } from './seed-stability';

/** What the page says about where the version came from, as label → values. */
export type ReportProvenance = [label: string, values: string[]][];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  const s = v.toFixed(3);
  return /^-0\.0+$/.test(s) ? s.slice(1) : s;
}

function table(header: string[], rows: string[][]): string {
  const head = `<tr>${header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>`;
  return `<table>\n<thead>${head}</thead>\n<tbody>\n${rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('\n')}\n</tbody>\n</table>`;
}

function matrixTable(m: CorrelationMatrix): string {
  return table(
    ['', ...m.colLabels],
    m.values.map((row, i) => [m.rowLabels[i]!, ...row.map((c) => fmt(c.value))]),
  );
}

function figure(id: string, m: CorrelationMatrix): string {
  const png = renderHeatmapPng(m).toString('base64');
  return [
    `<figure id="${id}">`,
    renderHeatmapSvg(m).trim(),
    `<figcaption>${esc(m.title)}. Files: <code>${id}.svg</code>, <code>${id}.png</code>, <code>${id}.csv</code>.</figcaption>`,
    `<details><summary>PNG</summary><img alt="${esc(m.title)} (PNG)" src="data:image/png;base64,${png}"></details>`,
    '</figure>',
  ].join('\n');
}

const taskName = (t: TaskRef) => `${t.label} (${t.space}/${t.task})`;

const STYLE = `body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}th,td{border:1px solid #ccc;padding:.2rem .5rem;text-align:right}
th:first-child,td:first-child{text-align:left}figure{margin:1rem 0;overflow-x:auto}code{font-size:.9em}`;

/** The page. `seedStability` is the section's HTML when the version has several seeds (else a note says so). */
export function reportHtml(r: Report, provenance: ReportProvenance = [], seedStability?: string): string {
  const a = r.analyses;
  const title = `Zero-cost proxy report: ${r.source.dataset}@${r.source.version}`;
  const parts = [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">`,
    `<title>${esc(title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    `<h1>${esc(title)}</h1>`,
    '<p>The analyses of NAS-Bench-Suite-Zero (Krishnakumar et al., NeurIPS 2022 Datasets &amp; Benchmarks): rank correlation of each proxy with validation accuracy (Figure 2), correlation between tasks (Figure 3) and architecture biases (Table 3). <code>report.md</code> states the method.</p>',
    '<h2 id="best">Best proxy per task</h2>',
    table(
      ['task', 'best proxy', 'Spearman', 'architectures'],
      a.best.map((b) => [taskName(b.task), b.proxy ?? 'n/a', fmt(b.spearman.value), String(b.spearman.n)]),
    ),
    '<h2 id="spearman-heading">Spearman rank correlation with val_accuracy (Figure 2)</h2>',
    figure('spearman', a.spearmanMatrix),
    matrixTable(a.spearmanMatrix),
    '<h2 id="seed-stability">Seed-to-seed rank stability</h2>',
    seedStability ?? '<p>This version has one seed per architecture and proxy, so there is no seed-to-seed stability to show.</p>',
    '<h2 id="task-correlation-heading">Correlation between tasks (Figure 3)</h2>',
    figure('task_correlation', a.taskCorrelation),
    matrixTable(a.taskCorrelation),
  ];
  if (a.bias.length > 0) {
    parts.push(
      '<h2 id="bias">Architecture bias (Table 3)</h2>',
      '<p>Pearson correlation with architecture features; <code>bias.csv</code> also gives each value without the −1e8 sentinels.</p>',
    );
    for (const b of a.bias) {
      parts.push(
        `<h3>${esc(taskName(b.task))}</h3>`,
        table(
          ['', ...b.features, 'sentinels'],
          b.rows.map((row, i) => [row, ...b.values[i]!.map((v) => fmt(v.value)), String(b.sentinels[i])]),
        ),
      );
    }
  }
  const c = r.counts;
  parts.push(
    '<h2 id="provenance">Provenance</h2>',
    `<p>Rows read: ${c.resultRows} proxy rows (${c.failedRows} failed), ${c.groundTruthRows} ground-truth rows.</p>`,
    provenance.length === 0
      ? '<p>No provenance recorded.</p>'
      : `<dl>\n${provenance.map(([k, vs]) => `<dt>${esc(k)}</dt><dd>${vs.map((v) => `<code>${esc(v)}</code>`).join(', ') || 'none'}</dd>`).join('\n')}\n</dl>`,
    '</body>',
    '</html>',
    '',
  );
  return parts.join('\n');
}

/** The seed-stability section's body: one row per (space, task, proxy) with several seeds. */
export function seedStabilityHtml(rows: readonly SeedStability[]): string {
  const body = rows.map((r) => [r.space, r.task, r.proxy, r.seeds.join(', '), String(r.archs), fmt(r.spearman)]);
  return `<p>Spearman between two seeds\u2019 scores over the architectures both hold, averaged over seed pairs.</p>\n${table(['space', 'task', 'proxy', 'seeds', 'architectures', 'mean Spearman'], body)}`;
}
