import { spawn, type ChildProcess } from 'child_process';
import { join } from 'path';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export const REPO_ROOT = join(__dirname, '..', '..');

/** Run `zcbench ...args` from the current sources (tsx), as a user would from a shell. */
export function runCli(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number; onSpawn?: (child: ChildProcess) => void } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'zcbench.js'), ...args], {
      cwd: opts.cwd ?? REPO_ROOT,
      env: { ...process.env, ZC_FROM_SOURCE: '1', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    opts.onSpawn?.(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}
