#!/usr/bin/env node
'use strict';
// The compiled CLI (built by `npm ci` through the `prepare` script), or the TypeScript sources
// through tsx: without a build, with ZC_FROM_SOURCE set, or when src/ changed since the build.
const path = require('path');
const { chooseEntry } = require('./choose-entry');

function tsxAvailable() {
  try {
    require.resolve('tsx/cjs');
    return true;
  } catch {
    return false;
  }
}

const entry = chooseEntry({ root: path.join(__dirname, '..'), fromSource: Boolean(process.env.ZC_FROM_SOURCE), tsxAvailable: tsxAvailable() });
if (entry.warning) process.stderr.write(entry.warning + '\n');
if (entry.tsx) require('tsx/cjs');
require(entry.module).runCli();
