import { existsSync, readdirSync, readFileSync, statSync } from 'fs';
import { join, relative } from 'path';

/**
 * Every pointer into docs/ resolves. The reference syntax (code, tests, benches, the docs themselves):
 * - `docs/<file>.md §<n>[.<m>]`, further sections of the same file as `, §<n>` (or `and §<n>`);
 * - `docs/<file>.md, "<Heading>"` for the unnumbered documents (architecture, operations);
 * - inside docs/<file>.md a bare `§<n>` is a section of that same file.
 * A section number must be a heading's number (`## 3. Title`, `### 3.4 title`); a quoted name must
 * be a heading's text (a trailing parenthesis such as "(contract)" may be left out). A `§` outside
 * these forms is an error, and every docs/<file>.md named must exist.
 */
const REPO = join(__dirname, '..');
const S = '\u00a7'; // the section sign

function filesUnder(dir: string, ext: RegExp): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === 'node_modules') return [];
    if (statSync(path).isDirectory()) return filesUnder(path, ext);
    return ext.test(name) ? [path] : [];
  });
}

interface Heading {
  number: string | null;
  text: string;
}

function headings(markdown: string): Heading[] {
  return markdown
    .split('\n')
    .filter((line) => /^#{1,6}\s/.test(line))
    .map((line) => {
      const text = line.replace(/^#{1,6}\s+/, '').trim();
      const numbered = /^(\d+(?:\.\d+)*)\.?\s+(.*)$/.exec(text);
      return numbered ? { number: numbered[1]!, text: numbered[2]! } : { number: null, text };
    });
}

const docCache = new Map<string, Heading[] | null>();
function docHeadings(file: string): Heading[] | null {
  if (!docCache.has(file)) {
    const path = join(REPO, 'docs', `${file}.md`);
    docCache.set(file, existsSync(path) ? headings(readFileSync(path, 'utf8')) : null);
  }
  return docCache.get(file)!;
}

const SECTION = `${S}\\s?(\\d+(?:\\.\\d+)*)`;
const NUMBERED = new RegExp(`docs/([\\w-]+)\\.md\`?\\s*((?:(?:,\\s*|\\s+and\\s+|\\s*)${SECTION})+)`, 'g');
const NAMED = /docs\/([\w-]+)\.md`?,\s+"([^"]+)"/g;
const MENTION = /docs\/([\w-]+)\.md/g;

/** Problems of one text; `self` is the docs file the text is (bare sections resolve there). */
function brokenReferences(text: string, where: string, self: string | null): string[] {
  const problems: string[] = [];
  const covered = new Set<number>();
  const checkSection = (file: string, section: string) => {
    const hs = docHeadings(file);
    if (hs && !hs.some((h) => h.number === section)) problems.push(`${where}: docs/${file}.md has no section ${S}${section}`);
  };
  for (const m of text.matchAll(MENTION)) {
    if (docHeadings(m[1]!) === null) problems.push(`${where}: docs/${m[1]}.md does not exist`);
  }
  for (const m of text.matchAll(NUMBERED)) {
    for (const s of m[2]!.matchAll(new RegExp(SECTION, 'g'))) {
      covered.add(m.index! + m[0].length - m[2]!.length + s.index!);
      checkSection(m[1]!, s[1]!);
    }
  }
  for (const m of text.matchAll(NAMED)) {
    const hs = docHeadings(m[1]!);
    const name = m[2]!;
    const found = hs?.some((h) => h.text === name || h.text.replace(/\s*\([^)]*\)$/, '') === name);
    if (hs && !found) problems.push(`${where}: docs/${m[1]}.md has no heading "${name}"`);
  }
  for (const s of text.matchAll(new RegExp(SECTION, 'g'))) {
    if (covered.has(s.index!)) continue;
    if (self) checkSection(self, s[1]!);
    else problems.push(`${where}: ${S}${s[1]} does not say which document (write docs/<file>.md ${S}${s[1]})`);
  }
  for (const i of [...text.matchAll(new RegExp(S, 'g'))].map((m) => m.index!)) {
    const rest = text.slice(i);
    if (!new RegExp(`^${SECTION}`).test(rest)) problems.push(`${where}: a ${S} without a section number`);
    else if (new RegExp(`^${SECTION}\\s?[–-]`).test(rest)) problems.push(`${where}: a range of sections (name each: ${S}a, ${S}b)`);
  }
  return problems;
}

describe('references into docs/ resolve', () => {
  const sources = [...['src', 'test', 'bench'].flatMap((d) => filesUnder(join(REPO, d), /\.(ts|md)$/)), join(REPO, 'README.md')].filter(
    (f) => f !== __filename,
  ); // this file's examples are broken on purpose
  const docs = filesUnder(join(REPO, 'docs'), /\.md$/);

  test('the numbered documents exist and number their sections', () => {
    for (const file of ['proxies', 'search-spaces', 'tasks']) {
      expect(docHeadings(file)?.filter((h) => h.number !== null).length).toBeGreaterThanOrEqual(5);
    }
  });

  test(`every docs/<file>.md, ${S} and quoted section in src, test, bench and README.md exists`, () => {
    const problems = sources.flatMap((f) => brokenReferences(readFileSync(f, 'utf8'), relative(REPO, f), null));
    expect(problems).toEqual([]);
  });

  test(`every reference inside docs/ exists (a bare ${S} is a section of the same document)`, () => {
    const problems = docs.flatMap((f) => brokenReferences(readFileSync(f, 'utf8'), relative(REPO, f), relative(join(REPO, 'docs'), f).replace(/\.md$/, '')));
    expect(problems).toEqual([]);
  });

  // The checker itself.
  test.each([
    [`see docs/proxies.md ${S}3.4`, []],
    [`docs/search-spaces.md ${S}4.1, ${S}6`, []],
    [`\`docs/search-spaces.md\` ${S}1.2`, []],
    [`(docs/architecture.md, "Queues and Redis keys")`, []],
    [`docs/architecture.md, "TensorFlow.js backend and kernels"`, []],
    [`docs/proxies.md ${S}42`, [/docs\/proxies\.md has no section/]],
    [`docs/search-spaces.md ${S}4.2–4.3`, [/a range of sections/]],
    [`docs/proxies.md ${S}`, [new RegExp(`a ${S} without a section number`)]],
    [`(docs ${S}6)`, [/does not say which document/]],
    [`docs/nowhere.md ${S}1`, [/docs\/nowhere\.md does not exist/]],
    [`docs/architecture.md, "No such heading"`, [/has no heading "No such heading"/]],
  ])('%s', (text, expected) => {
    const problems = brokenReferences(text as string, 'example.ts', null);
    expect(problems).toHaveLength((expected as RegExp[]).length);
    (expected as RegExp[]).forEach((re, i) => expect(problems[i]).toMatch(re));
  });
});
