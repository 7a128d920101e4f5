import { createHash } from 'crypto';
import { existsSync } from 'fs';
import { resolve } from 'path';
import { COLUMN_PROXIES, MODULE_NAME_PATTERN } from '../core/names';
import { PASSES } from '../core/passes';
import type { ProxyDefinition } from '../core/proxies';
import { InputError } from '../errors';
import * as pluginApi from '../plugin-api';

export { MODULE_NAME_PATTERN };

/** A loaded user proxy module: its definition, its source file, and its bundle with the bundle's sha256. */
export interface LoadedProxyModule {
  definition: ProxyDefinition;
  file: string;
  /** The module bundled into one CommonJS file (what a build stores as `plugins/<sha256>.js`). */
  bundle: string;
  sha256: string;
}

/** How a module imports the public API (docs/writing-a-proxy.md); any path ending in `plugin-api` means it. */
export const PLUGIN_API_SPECIFIER = 'zcbench/plugin-api';

/**
 * Bundle a user proxy module (TypeScript or JavaScript) with esbuild into one CommonJS file, its
 * imports of the public API left to the host (one TensorFlow.js, the worker's own).
 */
export async function bundleProxyModule(path: string, field = '--proxy-module'): Promise<{ file: string; bundle: string; sha256: string }> {
  const file = resolve(path);
  if (!existsSync(file)) throw new InputError(field, path, 'a readable file');
  const { build } = await import('esbuild');
  const out = await build({
    entryPoints: [file],
    bundle: true,
    write: false,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    logLevel: 'silent',
    plugins: [
      { name: 'zcbench-plugin-api', setup: (b) => b.onResolve({ filter: /(^|\/)plugin-api(\.ts)?$/ }, () => ({ path: PLUGIN_API_SPECIFIER, external: true })) },
    ],
  }).catch((err: Error) => {
    throw new InputError(field, path, `a module esbuild can bundle (${err.message.split('\n')[0]})`);
  });
  const bundle = out.outputFiles[0]!.text;
  return { file, bundle, sha256: createHash('sha256').update(bundle).digest('hex') };
}

/** Evaluate a bundle and check what it exports; `where` names it in errors. */
export function evaluateProxyBundle(bundle: string, where: string): ProxyDefinition {
  const module = { exports: {} as Record<string, unknown> };
  const requireFor = (id: string): unknown => {
    if (id === PLUGIN_API_SPECIFIER) return pluginApi;
    throw new InputError(where, id, `a module may import only ${PLUGIN_API_SPECIFIER} and what it bundles`);
  };
  new Function('module', 'exports', 'require', bundle)(module, module.exports, requireFor);
  const exported = module.exports;
  return checkDefinition(exported.default ?? exported.proxy, where);
}

/**
 * Load a user proxy module (docs/writing-a-proxy.md): a file whose default export, or export `proxy`,
 * is a ProxyDefinition. A module is code run with this process's rights.
 */
export async function loadProxyModule(path: string, field = '--proxy-module'): Promise<LoadedProxyModule> {
  const bundled = await bundleProxyModule(path, field);
  return { ...bundled, definition: evaluateProxyBundle(bundled.bundle, `${field} ${path}`) };
}

/** A module's export checked field by field; InputError names what is wrong. */
export function checkDefinition(value: unknown, where: string): ProxyDefinition {
  if (typeof value !== 'object' || value === null) throw new InputError(where, value, 'a module whose default export (or `proxy`) is a ProxyDefinition');
  const d = value as Partial<ProxyDefinition>;
  if (typeof d.name !== 'string' || !MODULE_NAME_PATTERN.test(d.name)) throw new InputError(`${where}: name`, d.name, `matching ${MODULE_NAME_PATTERN}`);
  if ((COLUMN_PROXIES as readonly string[]).includes(d.name)) throw new InputError(`${where}: name`, d.name, 'not a built-in proxy name');
  if (!Array.isArray(d.passes) || d.passes.some((p) => !(p in PASSES)))
    throw new InputError(`${where}: passes`, d.passes, `a list of: ${Object.keys(PASSES).join(', ')}`);
  if (d.reads !== 'shapes' && d.reads !== 'weights' && d.reads !== 'data') throw new InputError(`${where}: reads`, d.reads, "'shapes', 'weights' or 'data'");
  if (typeof d.raw !== 'function') throw new InputError(`${where}: raw`, d.raw, 'a function (ctx) => number');
  if (d.score !== undefined && typeof d.score !== 'function') throw new InputError(`${where}: score`, d.score, 'a function (ctx) => number, or absent');
  return d as ProxyDefinition;
}

/** Modules of one run: two different files under one name are an error; `field` names the i-th module's origin. */
export function checkModuleNames(modules: readonly LoadedProxyModule[], field: (i: number) => string = () => 'proxy module'): void {
  const byName = new Map<string, LoadedProxyModule>();
  for (const [i, m] of modules.entries()) {
    const other = byName.get(m.definition.name);
    if (other && other.sha256 !== m.sha256) {
      throw new InputError(
        field(i),
        m.file,
        `its name "${m.definition.name}" is already that of ${other.file} (sha256 ${other.sha256.slice(0, 12)}…, another module)`,
      );
    }
    byName.set(m.definition.name, m);
  }
}
