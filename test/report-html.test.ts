import { execFileSync, spawnSync } from 'child_process';
import { readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { createReport, writeReport } from '../src/report/report';
import { ScoreTableBuilder } from '../src/report/table';
import { row, tempDir } from './helpers/s3';

/**
 * `index.html` of a report, rendered by headless Chromium (Debian's `chromium`; .ci/run installs
 * it): a harness page loads it in an iframe and writes what it sees into its own DOM, which
 * `--dump-dom` prints. The page must hold its text and tables, its inline SVG heatmaps must lay
 * out, and every <img> must have decoded; nothing may come from the network.
 */
const ARCHS = ['(0, 2, 3, 2, 3, 1)', '(1, 1, 1, 1, 1, 1)', '(3, 3, 3, 3, 3, 3)', '(2, 4, 2, 4, 0, 4)', '(4, 4, 4, 4, 4, 4)'];
const ACC = [86.1, 40.2, 91.3, 70.4, 10.0];

function chromiumPath(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

const HARNESS = `<!DOCTYPE html><html><body><pre id="result">pending</pre>
<iframe id="page" src="index.html" width="1200" height="800"></iframe>
<script>
// The window's load event waits for the iframe and its images (data: URIs, decoded by then); the
// handler is synchronous, because --dump-dom may print the page as soon as load handlers return
// (an await here, or an iframe listener that missed its event, left 'pending' on a loaded machine).
window.addEventListener('load', () => {
  const doc = document.getElementById('page').contentDocument;
  const imgs = [...doc.images];
  const svgs = [...doc.querySelectorAll('svg')];
  document.getElementById('result').textContent = JSON.stringify({
    text: doc.body.innerText,
    images: imgs.map((i) => ({ complete: i.complete, width: i.naturalWidth })),
    svgs: svgs.map((s) => { const b = s.getBBox(); return { width: b.width, height: b.height, texts: s.querySelectorAll('text').length }; }),
    tables: doc.querySelectorAll('table').length,
    sections: [...doc.querySelectorAll('h2[id]')].map((h) => h.id),
  });
});
</script></body></html>`;

describe('report index.html in headless Chromium', () => {
  const chromium = chromiumPath();
  if (!chromium) {
    // Where Chromium cannot be installed (`apt-get install chromium`, done by .ci/run), say so.
    console.log('report-html: skipped, no chromium on PATH (apt-get install -y chromium)');
    test.skip('renders (needs chromium)', () => undefined);
    return;
  }

  test('the page renders its text, tables, heatmaps and images, offline', async () => {
    const tmp = tempDir('report-html');
    try {
      const builder = new ScoreTableBuilder();
      ARCHS.forEach((arch, i) => {
        builder.addGroundTruth({ space: 'nasbench201', task: 'cifar10', arch, valAccuracy: ACC[i]!, origin: 'test' });
        builder.addResult(row({ arch, proxy: 'params', score: ACC[i]! / 100 + (i === 1 ? 0.5 : 0) }));
        builder.addResult(row({ arch, proxy: 'synflow', score: i === 4 ? -1e8 : 40 + i }));
      });
      const { tasks, counts } = builder.build();
      const report = createReport(tasks, counts, { dataset: 'htmlset', version: 'v3' });
      const written = await writeReport(report, tmp.dir, [
        ['code fingerprints', ['fp-html-test']],
        ['seeds', ['0']],
      ]);
      expect(written.map((p) => p.slice(tmp.dir.length + 1))).toContain('index.html');
      const html = readFileSync(join(tmp.dir, 'index.html'), 'utf8');
      // Self-contained: every src/href is a data: URI or a fragment, and no URL but SVG's namespace.
      for (const m of html.matchAll(/\b(?:src|href)="([^"]*)"/g)) expect(m[1]).toMatch(/^(data:|#)/);
      expect(html.replace(/xmlns="http:\/\/www\.w3\.org\/2000\/svg"/g, '')).not.toMatch(/https?:\/\//);

      writeFileSync(join(tmp.dir, 'harness.html'), HARNESS);
      const dom = execFileSync(
        chromium,
        [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          `--user-data-dir=${join(tmp.dir, 'profile')}`,
          '--allow-file-access-from-files',
          '--virtual-time-budget=10000',
          '--dump-dom',
          `file://${join(tmp.dir, 'harness.html')}`,
        ],
        { encoding: 'utf8', timeout: 120_000, stdio: ['ignore', 'pipe', 'ignore'] },
      );
      const json = /<pre id="result">([\s\S]*?)<\/pre>/.exec(dom)?.[1];
      expect(json).toBeDefined();
      expect(json).not.toBe('pending');
      const seen = JSON.parse(
        json!
          .replace(/&lt;/g, '<')
          .replace(/&gt;/g, '>')
          .replace(/&quot;/g, '"')
          .replace(/&amp;/g, '&'),
      ) as {
        text: string;
        images: { complete: boolean; width: number }[];
        svgs: { width: number; height: number; texts: number }[];
        tables: number;
        sections: string[];
      };
      for (const text of [
        'Zero-cost proxy report: htmlset@v3',
        'Best proxy per task',
        'NB201-CF10 (nasbench201/cifar10)',
        'synflow',
        'Seed-to-seed rank stability',
        'fp-html-test',
        'Architecture bias',
      ]) {
        expect(seen.text).toContain(text);
      }
      expect(seen.sections).toEqual(['best', 'spearman-heading', 'seed-stability', 'task-correlation-heading', 'bias', 'provenance']);
      expect(seen.images).toHaveLength(2);
      for (const img of seen.images) {
        expect(img.complete).toBe(true);
        expect(img.width).toBeGreaterThan(0);
      }
      expect(seen.svgs).toHaveLength(2);
      for (const s of seen.svgs) {
        expect(s.width).toBeGreaterThan(100);
        expect(s.height).toBeGreaterThan(50);
        expect(s.texts).toBeGreaterThan(3);
      }
      expect(seen.tables).toBeGreaterThanOrEqual(4);
    } finally {
      tmp.remove();
    }
  }, 180_000);
});
