#!/usr/bin/env node
'use strict';
// The compiled CLI (built by `npm ci` through the `prepare` script). From a source checkout
// without a build, fall back to running the TypeScript sources through tsx.
const path = require('path');
const fs = require('fs');
const compiled = path.join(__dirname, '..', 'dist', 'cli', 'main.js');
if (fs.existsSync(compiled) && !process.env.ZC_FROM_SOURCE) {
  require(compiled).runCli();
} else {
  require('tsx/cjs');
  require(path.join(__dirname, '..', 'src', 'cli', 'main.ts')).runCli();
}
