import { fork, type ChildProcess, type ForkOptions } from 'child_process';

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
    execArgv: [...(fromSource ? ['--import', 'tsx'] : []), ...nodeOptions],
  });
}
