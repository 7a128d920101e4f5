'use strict';
// Which entry point bin/zcbench.js runs: the compiled CLI (dist/), or the TypeScript sources
// through tsx. Kept apart from bin/zcbench.js so that it can be tested on scratch directories.
const fs = require('fs');
const path = require('path');

/** The first file under `dir` modified after `sinceMs` (a path relative to `dir`), else undefined. */
function fileNewerThan(dir, sinceMs) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      const inner = fileNewerThan(full, sinceMs);
      if (inner !== undefined) return path.join(entry.name, inner);
    } else if (fs.statSync(full).mtimeMs > sinceMs) {
      return entry.name;
    }
  }
  return undefined;
}

/**
 * `root` holds `src/cli/main.ts` and, once built, `dist/cli/main.js`. The build runs unless it is
 * missing, `fromSource` is set (ZC_FROM_SOURCE), or a file under src/ is newer than it (an edit
 * since `npm run build`): then the sources run, with a warning in the last case. Without tsx (a
 * production image holds no src/ and no dev dependencies) a stale build still runs, with a warning.
 * Returns the module to load, whether it needs tsx, and the warning (one line) if any.
 */
function chooseEntry({ root, fromSource = false, tsxAvailable = true }) {
  const compiled = path.join(root, 'dist', 'cli', 'main.js');
  const sources = path.join(root, 'src', 'cli', 'main.ts');
  const source = { module: sources, tsx: true };
  if (!fs.existsSync(compiled) || fromSource) return source;
  if (!fs.existsSync(path.join(root, 'src'))) return { module: compiled, tsx: false };
  const newer = fileNewerThan(path.join(root, 'src'), fs.statSync(compiled).mtimeMs);
  if (newer === undefined) return { module: compiled, tsx: false };
  const stale = `zcbench: src/${newer.split(path.sep).join('/')} is newer than dist/`;
  if (!tsxAvailable) return { module: compiled, tsx: false, warning: `${stale}; tsx is not installed, running the stale build (npm run build)` };
  return { ...source, warning: `${stale}; running the sources through tsx (npm run build to use a build again)` };
}

module.exports = { chooseEntry, fileNewerThan };
