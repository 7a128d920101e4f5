import { spawn } from 'child_process';
import { randomUUID } from 'crypto';
import { networkInterfaces } from 'os';
import { join } from 'path';
import { Queue } from 'bullmq';
import { startDashboard, type Dashboard } from '../src/dashboard';
import { InputError, ServiceError } from '../src/errors';
import { QUEUE_NAMES } from '../src/queue/names';
import { REPO_ROOT, runCli } from './helpers/cli';

jest.setTimeout(60_000);

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const QUEUE_LIST = Object.values(QUEUE_NAMES);

interface QueuesResponse {
  queues: { name: string; readOnlyMode: boolean; counts: Record<string, number> }[];
}

describe('dashboard', () => {
  const prefix = `zctest-dash-${randomUUID()}`;
  let dashboard: Dashboard | undefined;
  let light: Queue;

  beforeAll(async () => {
    const u = new URL(REDIS_URL);
    light = new Queue('zc-light', { connection: { host: u.hostname, port: Number(u.port || 6379) }, prefix });
    await light.add('compute', { buildId: 'b1' }, { jobId: 'job-1' });
  });
  afterEach(async () => {
    await dashboard?.close();
    dashboard = undefined;
  });
  afterAll(async () => {
    await light.obliterate({ force: true });
    await light.close();
  });

  test('serves the Bull Board page and the queues over HTTP, read-only by default', async () => {
    dashboard = await startDashboard({ redisUrl: REDIS_URL, prefix, queueNames: QUEUE_LIST, port: 0, host: '127.0.0.1', readOnly: true });
    const base = `http://127.0.0.1:${dashboard.port}`;

    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const html = await page.text();
    expect(html).toContain('<title>zcbench</title>');
    expect(html).toContain('<div id="root">');

    const api = (await (await fetch(`${base}/api/queues`)).json()) as QueuesResponse;
    expect(api.queues.map((q) => q.name).sort()).toEqual(['zc-heavy', 'zc-light']);
    const lightView = api.queues.find((q) => q.name === 'zc-light')!;
    expect(lightView.readOnlyMode).toBe(true);
    expect(lightView.counts.waiting).toBe(1);

    // Read-only is enforced by the server, not only hidden in the UI.
    const empty = await fetch(`${base}/api/queues/zc-light/empty`, { method: 'PUT' });
    expect(empty.status).toBe(405);
    expect(await light.getJobCounts('waiting')).toEqual({ waiting: 1 });

    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  test('read-write mode lets an operator act on jobs', async () => {
    dashboard = await startDashboard({ redisUrl: REDIS_URL, prefix, queueNames: QUEUE_LIST, port: 0, host: '127.0.0.1', readOnly: false });
    const api = (await (await fetch(`http://127.0.0.1:${dashboard.port}/api/queues`)).json()) as QueuesResponse;
    expect(api.queues.every((q) => !q.readOnlyMode)).toBe(true);
  });

  test('an unreachable Redis is a clear error that does not print the password', async () => {
    const err = await startDashboard({
      redisUrl: 'redis://:hunter2@127.0.0.1:1',
      prefix,
      queueNames: QUEUE_LIST,
      port: 0,
      readOnly: true,
      connectTimeoutMs: 2000,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceError);
    expect((err as Error).message).toMatch(/^cannot reach Redis at 127\.0\.0\.1:1 /);
    expect((err as Error).message).not.toContain('hunter2');
  });

  test('`zcbench dashboard` serves the page and the queue metrics, and stops cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'zcbench.js'), 'dashboard'], {
      cwd: REPO_ROOT,
      env: { ...process.env, ZC_FROM_SOURCE: '1', LOG_LEVEL: 'warn', DASHBOARD_PORT: '0', METRICS_PORT: '0', ZC_QUEUE_PREFIX: prefix, REDIS_URL },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      const line = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
          if (stdout.includes('\n')) resolve(stdout);
        });
        child.on('close', () => reject(new Error(`dashboard exited early: ${stderr}`)));
      });
      // Loopback unless configured otherwise.
      const m = /^dashboard: http:\/\/127\.0\.0\.1:(\d+)\/ \(read-only\); metrics: http:\/\/localhost:(\d+)\/metrics$/m.exec(line);
      expect(m).not.toBeNull();
      const page = await fetch(`http://127.0.0.1:${m![1]}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<title>zcbench</title>');
      const metrics = await (await fetch(`http://127.0.0.1:${m![2]}/metrics`)).text();
      expect(metrics).toMatch(/^zcbench_queue_jobs\{queue="zc-light",state="waiting"\} 1$/m);
      expect(metrics).toMatch(/^zcbench_queue_jobs\{queue="zc-heavy",state="waiting"\} 0$/m);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  test("binds loopback by default: the port does not answer on this machine's other addresses", async () => {
    dashboard = await startDashboard({ redisUrl: REDIS_URL, prefix, queueNames: QUEUE_LIST, port: 0, readOnly: true });
    expect(dashboard.host).toBe('127.0.0.1');
    expect((await fetch(`http://127.0.0.1:${dashboard.port}/healthz`)).status).toBe(200);
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal);
    if (external) {
      const err = await fetch(`http://${external.address}:${dashboard.port}/healthz`).catch((e: unknown) => e);
      expect((err as Error & { cause?: { code?: string } }).cause?.code).toBe('ECONNREFUSED');
    }
  });

  test('a non-loopback address without a token is refused, naming DASHBOARD_TOKEN', async () => {
    const err = await startDashboard({ redisUrl: REDIS_URL, prefix, queueNames: QUEUE_LIST, port: 0, host: '0.0.0.0', readOnly: true }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toBe(
      'invalid DASHBOARD_TOKEN: undefined (required when the dashboard binds a non-loopback address (DASHBOARD_HOST=0.0.0.0): set a token of ≥ 16 characters, or bind 127.0.0.1)',
    );
    const r = await runCli(['dashboard'], { env: { DASHBOARD_HOST: '0.0.0.0', DASHBOARD_PORT: '0', METRICS_PORT: '0', REDIS_URL, DASHBOARD_TOKEN: '' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^zcbench dashboard: invalid environment variable DASHBOARD_TOKEN: "\(0 characters, hidden\)"/);
    const unset = await runCli(['dashboard'], { env: { DASHBOARD_HOST: '0.0.0.0', DASHBOARD_PORT: '0', METRICS_PORT: '0', REDIS_URL } });
    expect(unset.code).toBe(2);
    expect(unset.stderr).toMatch(/^zcbench dashboard: invalid DASHBOARD_TOKEN: undefined \(required when the dashboard binds a non-loopback address/);
  });

  test('with a token every page needs it (bearer or basic auth), except /healthz; a short token is refused without being printed', async () => {
    const token = 'tok-' + randomUUID();
    dashboard = await startDashboard({ redisUrl: REDIS_URL, prefix, queueNames: QUEUE_LIST, port: 0, host: '0.0.0.0', token, readOnly: true });
    const base = `http://127.0.0.1:${dashboard.port}`;
    const get = (path: string, authorization?: string) => fetch(`${base}${path}`, { headers: authorization ? { authorization } : {} });
    const denied = await get('/api/queues');
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    expect((await get('/', `Bearer ${token}x`)).status).toBe(401);
    expect((await get('/api/queues', `Basic ${Buffer.from(`admin:${token.slice(1)}`).toString('base64')}`)).status).toBe(401);
    expect((await get('/api/queues', `Bearer ${token}`)).status).toBe(200);
    expect((await get('/', `Basic ${Buffer.from(`anyone:${token}`).toString('base64')}`)).status).toBe(200);
    expect((await get('/healthz')).status).toBe(200);
    const short = await runCli(['dashboard'], { env: { DASHBOARD_TOKEN: 'hunter2hunter2', REDIS_URL } });
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/^zcbench dashboard: invalid environment variable DASHBOARD_TOKEN: "\(14 characters, hidden\)" /);
    expect(short.stderr).not.toContain('hunter2');
  });

  test('bad configuration: one line naming the variable, exit code 2', async () => {
    const r = await runCli(['dashboard'], { env: { DASHBOARD_READ_ONLY: 'maybe' } });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      'zcbench dashboard: invalid environment variable DASHBOARD_READ_ONLY: "maybe" (Invalid option: expected one of "true"|"false")',
    ]);
    const port = await runCli(['dashboard'], { env: { DASHBOARD_PORT: 'http' } });
    expect(port.code).toBe(2);
    expect(port.stderr).toMatch(/^zcbench dashboard: invalid environment variable DASHBOARD_PORT: "http" /);
  });
});
