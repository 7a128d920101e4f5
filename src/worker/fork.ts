import { fork, type ChildProcess, type ForkOptions } from 'child_process';
import { dirname, join } from 'path';
import { pathToFileURL } from 'url';

/**
 * Fork a sibling module of the caller as a Node child process. Running from TypeScript sources
 * (jest, tsx), the child loads the `.ts` file through tsx; from the compiled build, the `.js` file.
 * `modulePath` has no extension; `callerFile` is the caller's `__filename`.
 */
export function forkModule(modulePath: string, callerFile: string, opts: ForkOptions & { nodeOptions?: string[] } = {}): ChildProcess {
  const fromSource = callerFile.endsWith('.ts');
  const { nodeOptions = [], ...forkOpts } = opts;
  return fork(`${modulePath}${fromSource ? '.ts' : '.js'}`, [], {
    ...forkOpts,
    // Only our own flags: a parent's --inspect or jest flags must not leak into the child.
    // tsx by absolute URL: a bare `tsx` resolves from the working directory, which need not be the repository's.
    execArgv: [...(fromSource ? ['--import', tsxLoader()] : []), ...nodeOptions],
  });
}

function tsxLoader(): string {
  return pathToFileURL(join(dirname(require.resolve('tsx/package.json')), 'dist', 'loader.mjs')).href;
}
