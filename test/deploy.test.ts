/**
 * Deployment files, checked without Docker or a cluster: docker-compose.yml against the Compose
 * specification's schema, the kustomize-assembled k8s/ manifests against the Kubernetes, KEDA and
 * prometheus-operator schemas, and every environment variable they set against src/config.ts.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'fs';
import { dirname, join, resolve } from 'path';
import Ajv, { type ValidateFunction } from 'ajv';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { ConfigSchema } from '../src/config';
import { planBuild } from '../src/producer/spec';
import { parseArgs } from '../src/cli/args';
import type { Command } from '../src/cli/command';
import { REPO_ROOT } from './helpers/cli';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const read = (rel: string) => readFileSync(join(REPO_ROOT, rel), 'utf8');

// ---------------------------------------------------------------------------------------------
// Environment variables: what the config schema knows, and the few it deliberately does not.
// ---------------------------------------------------------------------------------------------

const CONFIG_KEYS = new Set(Object.keys(ConfigSchema.shape));
/** Read by the AWS SDK's default credential chain, not by src/config.ts (see its header). */
const SDK_CREDENTIAL_VARS = new Set(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']);
/** The Secrets operators create out of band (docs/operations.md), and their keys. */
const SECRETS: Record<string, string[]> = { 'zcbench-redis': ['REDIS_URL'], 'zcbench-s3': ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] };
const SECRET_KEYS = Object.values(SECRETS).flat();
/** Settings that are S3 credentials: only roles that read or write the store may get them. */
const S3_CREDENTIALS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'];
/** Roles that never touch S3 (workers compute from the payload and write rows to Redis). */
const NO_S3_ROLES = ['dashboard', 'worker-light', 'worker-heavy'];
/** Settings without a default: every zcbench container must set them. */
const REQUIRED_KEYS = [...CONFIG_KEYS].filter(
  (k) => !(ConfigSchema.shape as Record<string, { safeParse(v: unknown): { success: boolean } }>)[k]!.safeParse(undefined).success,
);
/** Required in a deployment although the schema has a default: 127.0.0.1 is never Redis inside a container. */
const DEPLOYMENT_REQUIRED = ['REDIS_URL'];

function expectKnownEnv(where: string, names: Iterable<string>): void {
  const unknown = [...names].filter((n) => !CONFIG_KEYS.has(n) && !SDK_CREDENTIAL_VARS.has(n));
  expect({ where, unknown }).toEqual({ where, unknown: [] });
}

function expectRequiredEnv(where: string, names: Iterable<string>): void {
  const set = new Set(names);
  const missing = [...REQUIRED_KEYS, ...DEPLOYMENT_REQUIRED].filter((k) => !set.has(k));
  expect({ where, missing }).toEqual({ where, missing: [] });
}

/** Values of a container's environment must also pass the schema (e.g. DASHBOARD_READ_ONLY: "true"). */
function expectValidValues(where: string, env: Record<string, string>): void {
  const known = Object.fromEntries(Object.entries(env).filter(([k]) => CONFIG_KEYS.has(k)));
  const parsed = ConfigSchema.safeParse(known);
  expect({ where, issues: parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) }).toEqual({ where, issues: [] });
}

// ---------------------------------------------------------------------------------------------
// The sizing rule for worker memory (docs/operations.md, "Sizing").
// ---------------------------------------------------------------------------------------------

const CHILD_OVERHEAD_MIB = 512;
const PROCESS_OVERHEAD_MIB = 512;
const workerMemoryMiB = (concurrency: number, budgetMiB: number) => concurrency * (budgetMiB + CHILD_OVERHEAD_MIB) + PROCESS_OVERHEAD_MIB;

function quantityBytes(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T|m|b|kb|mb|gb)?$/i.exec(q.trim());
  if (!m) throw new Error(`not a memory quantity: ${q}`);
  const unit = m[2] ?? '';
  const factor: Record<string, number> = {
    '': 1,
    b: 1,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    // Compose: binary units written in lower case (docker's "m" = MiB).
    m: 2 ** 20,
    kb: 2 ** 10,
    mb: 2 ** 20,
    gb: 2 ** 30,
  };
  // Kubernetes' "m" is milli; it never appears in memory quantities here, so "m" means Compose's MiB.
  return Number(m[1]) * factor[unit]!;
}

function cpuCores(q: string | number): number {
  if (typeof q === 'number') return q;
  return q.endsWith('m') ? Number(q.slice(0, -1)) / 1000 : Number(q);
}

function flagValue(args: readonly string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  if (i >= 0) return args[i + 1];
  return args.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);
}

// ---------------------------------------------------------------------------------------------
// CLI commands the deployment runs must exist, with the options they are given.
// ---------------------------------------------------------------------------------------------

function registeredCommands(): Map<string, string> {
  const src = read('src/cli/main.ts');
  const map = new Map<string, string>();
  for (const m of src.matchAll(/^\s*'?([a-z][a-z-]*)'?: \(\) => require\('\.\/commands\/([a-z-]+)'\)\.command,/gm)) map.set(m[1]!, m[2]!);
  return map;
}

function expectCliInvocation(where: string, args: readonly string[]): void {
  const [name, ...rest] = args;
  const file = registeredCommands().get(name!);
  expect({ where, command: name, registered: file !== undefined }).toEqual({ where, command: name, registered: true });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const command = (require(join(REPO_ROOT, 'src', 'cli', 'commands', file!)) as { command: Command }).command;
  // The command's own parser: an option it does not declare, or one missing its value, throws.
  const parsed = parseArgs(rest, command.options);
  expect({ where, positionals: parsed.positionals }).toEqual({ where, positionals: [] });
}

// ---------------------------------------------------------------------------------------------
// docker-compose.yml
// ---------------------------------------------------------------------------------------------

function parseEnvFile(text: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(t);
    if (!m) throw new Error(`.env.example: not KEY=value: ${line}`);
    env.set(m[1]!, m[2]!);
  }
  return env;
}

/** Compose interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, $VAR, and $$. */
function interpolate(value: unknown, env: Map<string, string>, used: Set<string>): unknown {
  if (typeof value === 'string') {
    return value.replace(
      /\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g,
      (_all, dollar: string, name?: string, op?: string, arg?: string, bare?: string) => {
        if (dollar === '$') return '$';
        const key = (name ?? bare)!;
        used.add(key);
        const v = env.get(key);
        const unsetOrEmpty = v === undefined || (op?.startsWith(':') && v === '');
        if (op?.endsWith('-')) return unsetOrEmpty ? arg! : v!;
        if (op?.endsWith('?') && unsetOrEmpty) throw new Error(`compose would stop: ${key}: ${arg}`);
        return v ?? '';
      },
    );
  }
  if (Array.isArray(value)) return value.map((v) => interpolate(v, env, used));
  if (isObj(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env, used)]));
  return value;
}

function loadCompose(env: Map<string, string>) {
  const raw = parseYaml(read('docker-compose.yml'), { merge: true }) as Obj;
  const used = new Set<string>();
  const interpolated = interpolate(raw, env, used) as Obj;
  return { raw, interpolated, used };
}

/** The vendored Compose schema (draft-07, Ajv's default dialect; its `$schema` names the https alias Ajv does not register). */
function composeSchema(): Obj {
  const schema = JSON.parse(read('test/fixtures/schemas/compose-spec.json')) as Obj;
  expect(schema.$schema).toBe('https://json-schema.org/draft-07/schema');
  delete schema.$schema;
  return schema;
}

function composeEnv(service: Obj): Record<string, string> {
  const env = service.environment;
  if (env === undefined) return {};
  if (Array.isArray(env)) return Object.fromEntries(env.map((e: string) => [e.split('=')[0]!, e.split('=').slice(1).join('=')]));
  return Object.fromEntries(Object.entries(env as Obj).map(([k, v]) => [k, String(v)]));
}

describe('docker-compose.yml', () => {
  const envExample = parseEnvFile(read('.env.example'));
  const { raw, interpolated, used } = loadCompose(envExample);
  const services = interpolated.services as Record<string, Obj>;
  const rawServices = raw.services as Record<string, Obj>;
  const zcbenchServices = Object.entries(services).filter(([, s]) => String(s.image).includes('zcbench'));

  test('is valid against the Compose specification schema (after interpolation with .env.example)', () => {
    const ajv = new Ajv({ allErrors: true, strict: false });
    const validate = ajv.compile(composeSchema());
    const ok = validate(interpolated);
    expect(ajv.errorsText(validate.errors, { separator: '\n' })).toBe('No errors');
    expect(ok).toBe(true);
  });

  test('the schema rejects a broken file (the check can fail)', () => {
    const validate = new Ajv({ strict: false }).compile(composeSchema());
    const broken = structuredClone(interpolated) as { services: Record<string, Obj> };
    broken.services.redis!.restart_policy = 'always'; // not a service key
    expect(validate(broken)).toBe(false);
  });

  test('has every role: redis, minio with its bucket, a producer run, light and heavy workers, one aggregator, the dashboard', () => {
    expect(Object.keys(services).sort()).toEqual(['aggregator', 'dashboard', 'minio', 'minio-bucket', 'producer', 'redis', 'worker-heavy', 'worker-light']);
    expect(zcbenchServices.map(([n]) => n).sort()).toEqual(['aggregator', 'dashboard', 'producer', 'worker-heavy', 'worker-light']);
    for (const [name, s] of zcbenchServices) expectCliInvocation(`compose ${name}`, s.command as string[]);
    expect(services.producer!.restart).toBe('no');
    const specPath = flagValue(services.producer!.command as string[], '--spec')!;
    expect(services.producer!.volumes).toContain('./infra/specs:/specs:ro');
    expect(existsSync(join(REPO_ROOT, 'infra', 'specs', specPath.replace(/^\/specs\//, '')))).toBe(true);
    expect((services.producer!.healthcheck as Obj).disable).toBe(true);
    expect((services.aggregator!.deploy as Obj).replicas).toBe(1);
    expect(String((services['minio-bucket']!.entrypoint as string[]).join(' '))).toMatch(/mc mb --ignore-existing "zc\/\$S3_BUCKET"/);
    // Everything that uses S3 waits for the bucket; everything that uses Redis for a healthy Redis.
    for (const [name, s] of zcbenchServices) {
      const deps = s.depends_on as Record<string, { condition: string }>;
      expect({ name, redis: deps.redis?.condition, bucket: deps['minio-bucket']?.condition }).toEqual({
        name,
        redis: 'service_healthy',
        bucket: 'service_completed_successfully',
      });
    }
  });

  test("S3 keys reach only the producer and the aggregator, and are never MinIO's root user; the dashboard requires a token", () => {
    const rootUser = composeEnv(services.minio!).MINIO_ROOT_USER!;
    for (const [name, s] of zcbenchServices) {
      const env = composeEnv(s);
      const raw = composeEnv(rawServices[name]!);
      expect({ name, root: Object.entries(raw).filter(([, v]) => v.includes('MINIO_ROOT')) }).toEqual({ name, root: [] });
      const s3 = Object.keys(env).filter((k) => S3_CREDENTIALS.includes(k));
      expect({ name, s3 }).toEqual({ name, s3: NO_S3_ROLES.includes(name) ? [] : ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] });
      if (env.AWS_ACCESS_KEY_ID !== undefined) expect(env.AWS_ACCESS_KEY_ID).not.toBe(rootUser);
    }
    // The setup service signs in as root, creates the bucket-scoped user and attaches its policy.
    const setup = composeEnv(services['minio-bucket']!);
    expect(setup.ZC_S3_ACCESS_KEY).toBe(composeEnv(services.producer!).AWS_ACCESS_KEY_ID);
    const script = (services['minio-bucket']!.entrypoint as string[]).join(' ');
    expect(script).toMatch(/mc alias set zc http:\/\/minio:9000 "\$MINIO_ROOT_USER" "\$MINIO_ROOT_PASSWORD"/);
    expect(script).toMatch(/mc admin user add zc "\$ZC_S3_ACCESS_KEY" "\$ZC_S3_SECRET_KEY"/);
    expect(script).toMatch(/mc admin policy attach zc zcbench-app --user "\$ZC_S3_ACCESS_KEY"/);
    expect(script).toContain('arn:aws:s3:::%s/*');
    // Bound to every interface of its container, the dashboard must have a token, from .env only.
    const dash = composeEnv(rawServices.dashboard!);
    expect(dash.DASHBOARD_HOST).toBe('0.0.0.0');
    expect(dash.DASHBOARD_TOKEN).toMatch(/^\$\{DASHBOARD_TOKEN:\?/);
    expect((services.dashboard!.ports as string[]).every((p) => p.startsWith('127.0.0.1:'))).toBe(true);
  });

  test('Redis persists (append-only) and never evicts BullMQ keys', () => {
    const cmd = (services.redis!.command as string[]).map(String);
    expect(flagValue(cmd, '--appendonly')).toBe('yes');
    // At most a second of acknowledged writes lost on a crash (docs/operations.md: what survives what).
    expect(flagValue(cmd, '--appendfsync')).toBe('everysec');
    expect(flagValue(cmd, '--maxmemory-policy')).toBe('noeviction');
    expect((services.redis!.volumes as string[]).some((v) => v.endsWith(':/data'))).toBe(true);
  });

  test('workers: heavy has concurrency 1 and more memory; limits follow the sizing rule', () => {
    const sizing = (name: string, budgetVar: string) => {
      const s = services[name]!;
      const args = s.command as string[];
      const concurrency = Number(flagValue(args, '--concurrency'));
      const budget = Number(composeEnv(s)[budgetVar]);
      const resources = (s.deploy as Obj).resources as { limits: { memory: string; cpus: string }; reservations: { memory: string } };
      expect({ name, rule: workerMemoryMiB(concurrency, budget) * 2 ** 20 }).toEqual({ name, rule: quantityBytes(resources.limits.memory) });
      // A heavy job (the hybrid backend's) convolves on as many threads as the container has cores.
      if (name === 'worker-heavy') expect(Number(composeEnv(s).ZC_HYBRID_THREADS)).toBe(cpuCores(resources.limits.cpus));
      expect(quantityBytes(resources.reservations.memory)).toBe(quantityBytes(resources.limits.memory));
      return { concurrency, memory: quantityBytes(resources.limits.memory), pool: flagValue(args, '--pool') };
    };
    const light = sizing('worker-light', 'ZC_WORKER_MEMORY_MB');
    const heavy = sizing('worker-heavy', 'ZC_HEAVY_MEMORY_MB');
    expect([light.pool, heavy.pool]).toEqual(['light', 'heavy']);
    expect(heavy.concurrency).toBe(1);
    expect(heavy.memory).toBeGreaterThan(light.memory);
    // A stopped worker gets time to finish its jobs; heavy jobs are the longest.
    const grace = (n: string) => durationSeconds(String(services[n]!.stop_grace_period));
    expect(grace('worker-light')).toBeGreaterThanOrEqual(600);
    expect(grace('worker-heavy')).toBeGreaterThan(grace('worker-light'));
  });

  test('every variable a zcbench container gets is one src/config.ts knows, and the required ones are set', () => {
    for (const [name, s] of zcbenchServices) {
      const env = composeEnv(s);
      expectKnownEnv(`compose ${name}`, Object.keys(env));
      expectRequiredEnv(`compose ${name}`, Object.keys(env));
      expectValidValues(`compose ${name}`, env);
    }
  });

  test('.env.example is the one env file: it defines every ${VAR} compose uses, each of its keys is used, secrets come only from it', () => {
    expect([...used].filter((v) => !envExample.has(v))).toEqual([]);
    expect([...envExample.keys()].filter((k) => !used.has(k))).toEqual([]);
    // Keys it marks [zcbench] are config settings.
    const text = read('.env.example');
    const marked = [...text.matchAll(/^# \[zcbench\][^\n]*\n([A-Z0-9_]+)=/gm)].map((m) => m[1]!);
    expect(marked.length).toBeGreaterThan(0);
    expectKnownEnv('.env.example [zcbench]', marked);
    // No literal credential in the compose file.
    for (const [name, s] of Object.entries(rawServices)) {
      for (const [k, v] of Object.entries(composeEnv(s))) {
        if (/SECRET|PASSWORD|TOKEN|ACCESS_KEY/.test(k)) expect({ name, k, v: v.startsWith('${') }).toEqual({ name, k, v: true });
      }
    }
  });
});

function durationSeconds(d: string): number {
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(h|m|s|ms|us)/g;
  let matched = '';
  for (const m of d.matchAll(re)) {
    matched += m[0];
    total += Number(m[1]) * { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6 }[m[2] as 'h']!;
  }
  if (matched !== d) throw new Error(`not a compose duration: ${d}`);
  return total;
}

// ---------------------------------------------------------------------------------------------
// infra/Dockerfile and .dockerignore
// ---------------------------------------------------------------------------------------------

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listFiles(join(dir, e.name)) : [join(dir, e.name)]));
}

interface Instruction {
  op: string;
  args: string;
}

function parseDockerfile(text: string): Instruction[][] {
  const logical = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: Instruction[][] = [];
  for (const line of logical) {
    const m = /^([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`Dockerfile: cannot parse ${line}`);
    const ins = { op: m[1]!.toUpperCase(), args: m[2]! };
    if (ins.op === 'FROM') stages.push([]);
    // Only ARGs may come before the first FROM; they are global, not part of a stage.
    if (stages.length === 0) {
      if (ins.op !== 'ARG') throw new Error(`Dockerfile: ${ins.op} before FROM`);
      continue;
    }
    stages.at(-1)!.push(ins);
  }
  return stages;
}

describe('infra/Dockerfile', () => {
  const text = read('infra/Dockerfile');
  const stages = parseDockerfile(text);
  const runtime = stages.at(-1)!;
  const all = stages.flat();

  test('multi-stage on Node 20, npm ci (prepare builds dist/), tfjs-node required, dev dependencies pruned', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(text).toMatch(/^ARG NODE_IMAGE=node:20-/m);
    for (const s of stages) expect(s[0]!.args).toMatch(/^\$\{NODE_IMAGE\}( AS \w+)?$/);
    const build = stages[0]!;
    expect(build.some((i) => i.op === 'RUN' && /\bnpm ci\b/.test(i.args))).toBe(true);
    expect(build.some((i) => i.op === 'RUN' && /require\('@tensorflow\/tfjs-node'\)/.test(i.args))).toBe(true);
    expect(build.some((i) => i.op === 'RUN' && /npm prune --omit=dev/.test(i.args))).toBe(true);
    // Files src/ ships besides TypeScript (Lua scripts...) reach dist/, which tsc alone would not do.
    const assets = listFiles(join(REPO_ROOT, 'src')).filter((f) => !f.endsWith('.ts'));
    if (assets.length > 0)
      expect(build.some((i) => i.op === 'RUN' && i.args.includes("cd src && find . -type f ! -name '*.ts' -exec cp --parents {} ../dist/"))).toBe(true);
    // The compiled CLI is started once in the build, after pruning.
    const pruneAt = build.findIndex((i) => /npm prune/.test(i.args));
    expect(build.findIndex((i) => i.op === 'RUN' && /node bin\/zcbench\.js --help/.test(i.args))).toBeGreaterThan(pruneAt);
    // The native backend is checked against the golden fixtures before pruning, on the files it reads.
    const nodeCheckAt = build.findIndex((i) => i.op === 'RUN' && /require\('@tensorflow\/tfjs-node'\)/.test(i.args));
    const conformanceAt = build.findIndex((i) => i.op === 'RUN' && /npm run conformance -- --backend node/.test(i.args));
    expect(conformanceAt).toBeGreaterThan(nodeCheckAt);
    expect(conformanceAt).toBeLessThan(pruneAt);
    const copied = build
      .slice(0, conformanceAt)
      .filter((i) => i.op === 'COPY')
      .map((i) => i.args.split(/\s+/)[0]);
    for (const needed of ['scripts', 'test/helpers/fixtures.ts', 'test/fixtures/nb201', 'test/fixtures/conformance']) expect(copied).toContain(needed);
    // The optional dependency is the one the image must get.
    const pkg = JSON.parse(read('package.json')) as { optionalDependencies?: Record<string, string> };
    expect(pkg.optionalDependencies?.['@tensorflow/tfjs-node']).toBeDefined();
  });

  test('runs as a non-root user, one entrypoint for every role, with a healthcheck', () => {
    const user = runtime.filter((i) => i.op === 'USER').at(-1)?.args;
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    const entry = JSON.parse(runtime.find((i) => i.op === 'ENTRYPOINT')!.args) as string[];
    expect(entry.slice(-2)).toEqual(['node', '/app/bin/zcbench.js']);
    expect(runtime.some((i) => i.op === 'COPY' && /\/app\/dist \.\/dist/.test(i.args))).toBe(true);
    const health = runtime.find((i) => i.op === 'HEALTHCHECK');
    expect(health?.args).toMatch(/CMD .*\/healthz/);
    expect(health?.args).toMatch(/METRICS_PORT/);
  });

  test('bakes in no secret, and every ENV it sets is a config setting', () => {
    const envNames = all.filter((i) => i.op === 'ENV').flatMap((i) => [...i.args.matchAll(/([A-Z_][A-Z0-9_]*)=/g)].map((m) => m[1]!));
    expect(envNames.length).toBeGreaterThan(0);
    expectKnownEnv('Dockerfile ENV', envNames);
    const declared = all.filter((i) => i.op === 'ENV' || i.op === 'ARG').map((i) => i.args);
    expect(declared.filter((a) => /SECRET|PASSWORD|TOKEN|ACCESS_KEY|REDIS_URL/i.test(a))).toEqual([]);
    expect(all.filter((i) => (i.op === 'COPY' || i.op === 'ADD') && /\.env\b/.test(i.args))).toEqual([]);
  });

  test('.dockerignore keeps secrets, local state and build output out of the context', () => {
    const lines = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const entry of ['**/.env', '**/.env.*', '.git', 'node_modules', 'dist', '.zcbench']) expect(lines).toContain(entry);
    // What the build stage copies is not ignored.
    for (const needed of ['src', 'bin', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json']) expect(lines).not.toContain(needed);
    // The conformance check's inputs are excluded with test/ and let back in.
    for (const needed of ['!test/helpers/fixtures.ts', '!test/fixtures/nb201', '!test/fixtures/conformance']) expect(lines).toContain(needed);
    expect(lines).not.toContain('scripts');
  });
});

// ---------------------------------------------------------------------------------------------
// k8s/: a small kustomize (resources, namespace, images, strategic-merge patches), then validation.
// ---------------------------------------------------------------------------------------------

interface Resource extends Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
}

const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PriorityClass', 'StorageClass']);
const CRD_GROUPS = ['keda.sh', 'monitoring.coreos.com'];
const SUPPORTED_KUSTOMIZATION_KEYS = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'images', 'patches']);

function loadYamlDocs(file: string): Obj[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => {
      if (d.errors.length) throw new Error(`${file}: ${d.errors[0]!.message}`);
      return d.toJS() as Obj;
    })
    .filter((d) => d !== null);
}

const resourceKey = (r: { apiVersion: unknown; kind: unknown; metadata: { name: string } }) => `${String(r.apiVersion)}/${String(r.kind)}/${r.metadata.name}`;

/** Strategic merge for built-in kinds (lists of named objects merge by name), JSON merge patch for CRDs. */
function mergePatch(target: unknown, patch: unknown, strategic: boolean): unknown {
  if (!isObj(patch)) return patch;
  const out: Obj = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (strategic && Array.isArray(v) && Array.isArray(out[k]) && [...v, ...(out[k] as unknown[])].every((e) => isObj(e) && typeof e.name === 'string')) {
      const merged = [...(out[k] as Obj[])];
      for (const item of v as Obj[]) {
        const i = merged.findIndex((e) => e.name === item.name);
        if (i >= 0) merged[i] = mergePatch(merged[i], item, strategic) as Obj;
        else merged.push(item);
      }
      out[k] = merged;
    } else out[k] = isObj(v) ? mergePatch(out[k], v, strategic) : v;
  }
  return out;
}

function imageName(image: string): string {
  return image.replace(/@.*$/, '').replace(/:[^/:]+$/, '');
}

function forEachPodSpec(r: Resource, f: (spec: Obj) => void): void {
  const spec = r.spec as Obj | undefined;
  if (!spec) return;
  if (r.kind === 'Pod') f(spec);
  const template = (spec.template as Obj | undefined)?.spec as Obj | undefined;
  if (template) f(template);
  const jobTemplate = ((spec.jobTemplate as Obj | undefined)?.spec as Obj | undefined)?.template as Obj | undefined;
  if (jobTemplate?.spec) f(jobTemplate.spec as Obj);
}

function containersOf(r: Resource): Obj[] {
  const out: Obj[] = [];
  forEachPodSpec(r, (spec) => out.push(...((spec.initContainers as Obj[]) ?? []), ...((spec.containers as Obj[]) ?? [])));
  return out;
}

function kustomize(dir: string): Resource[] {
  const file = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'].map((f) => join(dir, f)).find(existsSync);
  if (!file) throw new Error(`${dir}: no kustomization.yaml`);
  const k = parseYaml(readFileSync(file, 'utf8')) as Obj;
  const unsupported = Object.keys(k).filter((key) => !SUPPORTED_KUSTOMIZATION_KEYS.has(key));
  if (unsupported.length) throw new Error(`${file}: the test's assembler does not implement ${unsupported.join(', ')}`);

  let resources: Resource[] = [];
  for (const entry of (k.resources as string[]) ?? []) {
    const path = resolve(dir, entry);
    const added = statSync(path).isDirectory() ? kustomize(path) : (loadYamlDocs(path) as Resource[]);
    for (const r of added) {
      if (resources.some((x) => resourceKey(x) === resourceKey(r))) throw new Error(`${file}: ${resourceKey(r)} defined twice`);
      resources.push(r);
    }
  }
  for (const p of (k.patches as { path?: string; patch?: string; target?: unknown }[]) ?? []) {
    if (!p.path || p.target !== undefined || p.patch !== undefined) throw new Error(`${file}: only file patches naming their target are implemented`);
    for (const patch of loadYamlDocs(resolve(dir, p.path)) as Resource[]) {
      const i = resources.findIndex((r) => r.kind === patch.kind && r.metadata.name === patch.metadata.name && r.apiVersion === patch.apiVersion);
      if (i < 0) throw new Error(`${p.path}: patch target ${resourceKey(patch)} not found`);
      const strategic = !CRD_GROUPS.some((g) => patch.apiVersion.startsWith(`${g}/`));
      resources[i] = mergePatch(resources[i], patch, strategic) as Resource;
    }
  }
  for (const img of (k.images as { name: string; newName?: string; newTag?: string; digest?: string }[]) ?? []) {
    for (const r of resources) {
      for (const c of containersOf(r)) {
        if (typeof c.image !== 'string' || imageName(c.image) !== img.name) continue;
        const name = img.newName ?? img.name;
        c.image = img.digest ? `${name}@${img.digest}` : img.newTag ? `${name}:${img.newTag}` : name;
      }
    }
  }
  if (typeof k.namespace === 'string') {
    const ns = k.namespace;
    resources = resources.map((r) => {
      if (r.kind === 'Namespace') return { ...r, metadata: { ...r.metadata, name: ns } };
      if (CLUSTER_SCOPED.has(r.kind)) return r;
      return { ...r, metadata: { ...r.metadata, namespace: ns } };
    });
  }
  return resources;
}

/** Kubernetes and KEDA models from kubernetes-models; prometheus-operator CRDs from the vendored CRD schema. */
const crdValidators = new Map<string, ValidateFunction>();
function crdValidator(file: string): ValidateFunction {
  let v = crdValidators.get(file);
  if (!v) {
    const crd = parseYaml(readFileSync(join(REPO_ROOT, 'test', 'fixtures', 'schemas', file), 'utf8')) as {
      spec: { versions: { name: string; schema: { openAPIV3Schema: Obj } }[] };
    };
    const schema = closeObjects(structuredClone(crd.spec.versions.find((x) => x.name === 'v1')!.schema.openAPIV3Schema));
    v = new Ajv({ allErrors: true, strict: false, validateFormats: false }).compile(schema);
    crdValidators.set(file, v);
  }
  return v;
}

/** The API server drops (kubectl --validate=strict rejects) fields a structural schema does not declare: make them errors. */
function closeObjects(schema: Obj): Obj {
  if (isObj(schema.properties) && schema.additionalProperties === undefined && schema['x-kubernetes-preserve-unknown-fields'] !== true) {
    schema.additionalProperties = false;
  }
  for (const v of Object.values(schema)) {
    if (isObj(v)) closeObjects(v);
    if (Array.isArray(v)) v.filter(isObj).forEach(closeObjects);
  }
  if (isObj(schema.properties)) Object.values(schema.properties).filter(isObj).forEach(closeObjects);
  return schema;
}

function validateResource(r: Resource): void {
  if (r.apiVersion === 'monitoring.coreos.com/v1' && r.kind === 'ServiceMonitor') {
    const v = crdValidator('monitoring.coreos.com_servicemonitors.yaml');
    if (!v(r)) throw new Error(`${resourceKey(r)}: ${new Ajv().errorsText(v.errors)}`);
    return;
  }
  const modulePath: Record<string, string> = {
    v1: 'kubernetes-models/v1',
    'apps/v1': 'kubernetes-models/apps/v1',
    'batch/v1': 'kubernetes-models/batch/v1',
    'policy/v1': 'kubernetes-models/policy/v1',
    'networking.k8s.io/v1': 'kubernetes-models/networking.k8s.io/v1',
    'keda.sh/v1alpha1': '@kubernetes-models/keda/keda.sh/v1alpha1',
  };
  const mod = modulePath[r.apiVersion];
  if (!mod) throw new Error(`${resourceKey(r)}: no schema for apiVersion ${r.apiVersion}`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Model = (require(mod) as Record<string, new (data: Obj) => { validate(): void }>)[r.kind];
  if (!Model) throw new Error(`${resourceKey(r)}: no model for kind ${r.kind}`);
  try {
    new Model(r).validate();
  } catch (err) {
    throw new Error(`${resourceKey(r)}: ${(err as Error).message}`);
  }
}

interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

interface NetworkPolicySpec {
  podSelector: LabelSelector;
  policyTypes: string[];
  ingress?: { from?: Obj[]; ports?: { port?: string | number }[] }[];
}

/** Whether a Kubernetes label selector matches `labels` (an empty selector matches everything). */
function selects(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  const byLabel = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpression = (selector.matchExpressions ?? []).every((e) => {
    if (e.operator === 'In') return e.values!.includes(labels[e.key]!);
    if (e.operator === 'NotIn') return !e.values!.includes(labels[e.key]!);
    return (labels[e.key] !== undefined) === (e.operator === 'Exists');
  });
  return byLabel && byExpression;
}

/** Names of the settings a container takes from Secrets (whole Secrets by envFrom, single keys by secretKeyRef). */
function secretEnvNames(c: Obj): string[] {
  const fromSecrets = ((c.envFrom as Obj[]) ?? []).flatMap((f) => (f.secretRef ? (SECRETS[(f.secretRef as { name: string }).name] ?? []) : []));
  const single = ((c.env as { name: string; valueFrom?: { secretKeyRef?: unknown } }[]) ?? []).filter((e) => e.valueFrom?.secretKeyRef).map((e) => e.name);
  return [
    ...fromSecrets,
    ...single,
    ...((c.env as { name: string }[]) ?? []).map((e) => e.name).filter((n) => S3_CREDENTIALS.includes(n) && !single.includes(n)),
  ];
}

const K8S_DIRS = ['k8s/base', ...readdirSync(join(REPO_ROOT, 'k8s', 'overlays')).map((o) => `k8s/overlays/${o}`)];

describe.each(K8S_DIRS)('%s (assembled)', (dir) => {
  const resources = kustomize(join(REPO_ROOT, dir));
  const byKind = (kind: string) => resources.filter((r) => r.kind === kind);
  const get = (kind: string, name: string) => {
    const r = resources.find((x) => x.kind === kind && x.metadata.name === name);
    if (!r) throw new Error(`${dir}: no ${kind} ${name}`);
    return r;
  };
  const namespace = byKind('Namespace')[0]!.metadata.name;
  const workloads = resources.filter((r) => ['Deployment', 'Job', 'StatefulSet', 'DaemonSet', 'CronJob'].includes(r.kind));

  test('every manifest is valid against its Kubernetes / KEDA / prometheus-operator schema', () => {
    expect(resources.length).toBeGreaterThan(10);
    for (const r of resources) validateResource(r);
  });

  test('the validators reject broken manifests (the check can fail)', () => {
    const badDeployment = structuredClone(get('Deployment', 'zcbench-worker-heavy'));
    ((badDeployment.spec as Obj).template as { spec: { containers: Obj[] } }).spec.containers[0]!.resources = { limits: { memory: { gb: 16 } } };
    expect(() => validateResource(badDeployment)).toThrow(/memory/);
    const badScaler = structuredClone(get('ScaledObject', 'zcbench-worker-light'));
    delete ((badScaler.spec as Obj).triggers as Obj[])[0]!.type;
    expect(() => validateResource(badScaler)).toThrow(/type/);
    const badMonitor = structuredClone(get('ServiceMonitor', 'zcbench'));
    ((badMonitor.spec as Obj).endpoints as Obj[])[0]!.intervall = '15s';
    expect(() => validateResource(badMonitor)).toThrow(/additional properties/);
  });

  test('one namespace holds everything, and every workload runs the one image', () => {
    expect(byKind('Namespace')).toHaveLength(1);
    for (const r of resources.filter((x) => !CLUSTER_SCOPED.has(x.kind)))
      expect({ r: resourceKey(r), ns: r.metadata.namespace }).toEqual({ r: resourceKey(r), ns: namespace });
    const images = new Set(workloads.flatMap(containersOf).map((c) => String(c.image)));
    expect(images.size).toBe(1);
    for (const w of workloads) {
      forEachPodSpec(w, (spec) => {
        const sc = spec.securityContext as Obj;
        expect({ w: w.metadata.name, runAsNonRoot: sc?.runAsNonRoot }).toEqual({ w: w.metadata.name, runAsNonRoot: true });
      });
      for (const c of containersOf(w)) expectCliInvocation(`${dir} ${w.metadata.name}`, c.args as string[]);
    }
  });

  test('environment: ConfigMap keys and env entries are config settings; Secrets are the documented external one; required ones are set', () => {
    const configMaps = new Map(byKind('ConfigMap').map((c) => [c.metadata.name, (c.data ?? {}) as Record<string, string>]));
    for (const w of workloads) {
      for (const c of containersOf(w)) {
        const where = `${dir} ${w.metadata.name}/${String(c.name)}`;
        const env: Record<string, string> = {};
        const names: string[] = [];
        for (const from of (c.envFrom as Obj[]) ?? []) {
          if (from.configMapRef) {
            const data = configMaps.get((from.configMapRef as { name: string }).name);
            expect({ where, configMap: (from.configMapRef as { name: string }).name, exists: data !== undefined }).toEqual({
              where,
              configMap: (from.configMapRef as { name: string }).name,
              exists: true,
            });
            Object.assign(env, data);
            names.push(...Object.keys(data!));
          } else if (from.secretRef) {
            const name = (from.secretRef as { name: string }).name;
            expect({ where, secret: name, documented: name in SECRETS }).toEqual({ where, secret: name, documented: true });
            names.push(...SECRETS[name]!);
          } else throw new Error(`${where}: unknown envFrom`);
        }
        for (const e of (c.env as { name: string; value?: string }[]) ?? []) {
          names.push(e.name);
          if (e.value !== undefined) env[e.name] = e.value;
        }
        expectKnownEnv(where, names);
        expectRequiredEnv(where, names);
        expectValidValues(where, env);
      }
    }
    // The Secret's keys are what operations.md tells operators to create.
    const ops = read('docs/operations.md');
    for (const [name, keys] of Object.entries(SECRETS)) {
      expect(ops).toContain(name);
      for (const key of keys) expect(ops).toContain(key);
    }
    expectKnownEnv('zcbench secrets', SECRET_KEYS);
  });

  test('S3 keys reach only the producer and the aggregator; the dashboard listens on loopback and has no Service', () => {
    for (const w of workloads) {
      const role = w.metadata.labels?.['app.kubernetes.io/component'] ?? w.metadata.name;
      const keys = containersOf(w).flatMap(secretEnvNames);
      const s3 = keys.filter((k) => S3_CREDENTIALS.includes(k));
      expect({ role, s3 }).toEqual({ role, s3: NO_S3_ROLES.includes(role) ? [] : ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] });
    }
    const dashboard = containersOf(get('Deployment', 'zcbench-dashboard'))[0]!;
    expect(((dashboard.env as { name: string }[]) ?? []).map((e) => e.name)).not.toContain('DASHBOARD_HOST');
    expect(byKind('Service').filter((x) => x.metadata.name === 'zcbench-dashboard')).toEqual([]);
  });

  test('NetworkPolicies: ingress denied by default; metrics from the monitoring namespace only; Redis from zcbench pods; S3 from the producer and aggregator', () => {
    const policies = byKind('NetworkPolicy').map((p) => p.spec as NetworkPolicySpec);
    expect(policies.length).toBeGreaterThanOrEqual(3);
    for (const p of byKind('NetworkPolicy')) validateResource(p);
    expect(policies.some((p) => Object.keys(p.podSelector).length === 0 && p.policyTypes.includes('Ingress') && (p.ingress ?? []).length === 0)).toBe(true);
    const templateLabels = (name: string, kind = 'Deployment') =>
      (get(kind, name).spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
    /** What may reach pods with `labels`: each allowed (source, port), the union of every policy selecting them. */
    const allowed = (labels: Record<string, string>) =>
      policies
        .filter((p) => selects(p.podSelector, labels))
        .flatMap((p) =>
          (p.ingress ?? []).flatMap((rule) => (rule.from ?? [{}]).flatMap((from) => (rule.ports ?? [{}]).map((port) => ({ from, port: port.port })))),
        );
    for (const name of ['zcbench-dashboard', 'zcbench-worker-light', 'zcbench-worker-heavy', 'zcbench-aggregator']) {
      const rules = allowed(templateLabels(name));
      expect({ name, ports: [...new Set(rules.map((r) => r.port))] }).toEqual({ name, ports: ['metrics'] });
      for (const r of rules)
        expect({ name, from: r.from }).toEqual({ name, from: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } } });
    }
    expect(allowed(templateLabels('zcbench-produce', 'Job'))).toEqual([]);
    const sources = (labels: Record<string, string>) => allowed(labels).map((r) => r.from);
    const redis = sources({ 'app.kubernetes.io/name': 'redis' });
    const s3 = sources({ 'app.kubernetes.io/name': 'minio' });
    for (const from of [...redis, ...s3]) expect(Object.keys(from)).toEqual(['podSelector']);
    const reaches = (froms: Obj[], labels: Record<string, string>) => froms.some((f) => selects(f.podSelector as LabelSelector, labels));
    for (const name of ['zcbench-dashboard', 'zcbench-worker-light', 'zcbench-worker-heavy', 'zcbench-aggregator']) {
      expect({ name, redis: reaches(redis, templateLabels(name)) }).toEqual({ name, redis: true });
      expect({ name, s3: reaches(s3, templateLabels(name)) }).toEqual({ name, s3: name === 'zcbench-aggregator' });
    }
    expect(reaches(redis, templateLabels('zcbench-produce', 'Job')) && reaches(s3, templateLabels('zcbench-produce', 'Job'))).toBe(true);
    expect(reaches(redis, { 'app.kubernetes.io/name': 'something-else' })).toBe(false);
  });

  test('workers: requests = limits (Guaranteed QoS), memory by the sizing rule, grace period longer than a job, a PodDisruptionBudget', () => {
    const worker = (pool: 'light' | 'heavy', budgetVar: string) => {
      const d = get('Deployment', `zcbench-worker-${pool}`);
      expect((d.spec as Obj).replicas).toBeUndefined(); // KEDA owns it
      const c = containersOf(d)[0]!;
      const args = c.args as string[];
      expect(flagValue(args, '--pool')).toBe(pool);
      const concurrency = Number(flagValue(args, '--concurrency'));
      const res = c.resources as { requests: Record<string, string>; limits: Record<string, string> };
      for (const r of containersOf(d)) {
        const rr = r.resources as { requests: Record<string, string>; limits: Record<string, string> };
        expect(quantityBytes(rr.requests.memory!)).toBe(quantityBytes(rr.limits.memory!));
        expect(cpuCores(rr.requests.cpu!)).toBe(cpuCores(rr.limits.cpu!));
      }
      const env = c.env as { name: string; value: string }[];
      const budget = Number(env.find((e) => e.name === budgetVar)!.value);
      expect(quantityBytes(res.limits.memory!)).toBe(workerMemoryMiB(concurrency, budget) * 2 ** 20);
      if (pool === 'heavy') expect(Number(env.find((e) => e.name === 'ZC_HYBRID_THREADS')?.value)).toBe(cpuCores(res.limits.cpu!));
      const template = (d.spec as { template: { metadata: { labels: Record<string, string> }; spec: Obj } }).template;
      const pdb = byKind('PodDisruptionBudget').find((p) => {
        const sel = ((p.spec as Obj).selector as { matchLabels: Record<string, string> }).matchLabels;
        return Object.entries(sel).every(([k, v]) => template.metadata.labels[k] === v);
      });
      expect(pdb).toBeDefined();
      return { concurrency, memory: quantityBytes(res.limits.memory!), grace: template.spec.terminationGracePeriodSeconds as number };
    };
    const light = worker('light', 'ZC_WORKER_MEMORY_MB');
    const heavy = worker('heavy', 'ZC_HEAVY_MEMORY_MB');
    expect(heavy.concurrency).toBe(1);
    expect(heavy.memory).toBeGreaterThan(light.memory);
    expect(light.grace).toBeGreaterThanOrEqual(600);
    expect(heavy.grace).toBeGreaterThan(light.grace);
  });

  test('KEDA scales each worker pool on waiting + active jobs, one job per concurrency slot', () => {
    for (const pool of ['light', 'heavy']) {
      const so = get('ScaledObject', `zcbench-worker-${pool}`);
      const spec = so.spec as {
        scaleTargetRef: { name: string; kind?: string };
        triggers: { type: string; metadata: Record<string, string> }[];
        minReplicaCount?: number;
      };
      const target = get('Deployment', spec.scaleTargetRef.name);
      const concurrency = Number(flagValue(containersOf(target)[0]!.args as string[], '--concurrency'));
      expect(spec.triggers).toHaveLength(1);
      const t = spec.triggers[0]!;
      expect(t.type).toBe('prometheus'); // redis-lists cannot see BullMQ's active list
      const q = t.metadata.query!;
      expect(q).toContain(`queue="zc-${pool}"`);
      const states = /state=~"([^"]+)"/.exec(q)![1]!.split('|');
      expect(states).toEqual(expect.arrayContaining(['waiting', 'prioritized', 'active']));
      expect(q).toContain(`namespace="${namespace}"`);
      expect(q).toMatch(/^sum\(max by \(state\) \(zcbench_queue_jobs\{/);
      expect(Number(t.metadata.threshold)).toBe(concurrency);
    }
  });

  test('the metric the scalers query is the one src/metrics serves, from the always-on dashboard', async () => {
    const { METRIC_NAMES } = await import('../src/metrics');
    for (const so of byKind('ScaledObject'))
      expect(((so.spec as Obj).triggers as { metadata: { query: string } }[])[0]!.metadata.query).toContain(`${METRIC_NAMES.queueJobs}{`);
    const dashboard = get('Deployment', 'zcbench-dashboard');
    expect((dashboard.spec as Obj).replicas).toBe(1);
    expect(containersOf(dashboard)[0]!.args).toEqual(['dashboard']);
  });

  test('the aggregator is a single replica, replaced by Recreate; the producer is a Job', () => {
    const agg = get('Deployment', 'zcbench-aggregator');
    expect((agg.spec as Obj).replicas).toBe(1);
    expect(((agg.spec as Obj).strategy as Obj).type).toBe('Recreate');
    const job = get('Job', 'zcbench-produce');
    expect((job.spec as { template: { spec: Obj } }).template.spec.restartPolicy).toBe('Never');
    const specPath = flagValue(containersOf(job)[0]!.args as string[], '--spec')!;
    const mount = (containersOf(job)[0]!.volumeMounts as { name: string; mountPath: string }[]).find((m) => specPath.startsWith(`${m.mountPath}/`))!;
    const volume = (job.spec as { template: { spec: { volumes: Obj[] } } }).template.spec.volumes.find((v) => v.name === mount.name)!;
    const spec = get('ConfigMap', (volume.configMap as { name: string }).name);
    expect(Object.keys(spec.data as Obj)).toContain(specPath.slice(mount.mountPath.length + 1));
  });

  test('the ServiceMonitor scrapes the metrics port of every worker, the aggregator and the dashboard', () => {
    const sm = get('ServiceMonitor', 'zcbench');
    const smSpec = sm.spec as { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string }[] };
    const services = byKind('Service').filter((s) => Object.entries(smSpec.selector.matchLabels).every(([k, v]) => s.metadata.labels?.[k] === v));
    expect(services).toHaveLength(1);
    const svc = services[0]!.spec as { selector: Record<string, string>; ports: { name: string; targetPort: string }[] };
    expect(smSpec.endpoints.map((e) => [e.port, e.path])).toEqual([['metrics', '/metrics']]);
    const port = svc.ports.find((p) => p.name === 'metrics')!;
    for (const name of ['zcbench-worker-light', 'zcbench-worker-heavy', 'zcbench-aggregator', 'zcbench-dashboard']) {
      const d = get('Deployment', name);
      const labels = (d.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
      expect({ name, selected: Object.entries(svc.selector).every(([k, v]) => labels[k] === v) }).toEqual({ name, selected: true });
      const ports = (containersOf(d)[0]!.ports as { name: string; containerPort: number }[]).map((p) => p.name);
      expect(ports).toContain(port.targetPort);
      const env = (containersOf(d)[0]!.env as { name: string; value: string }[] | undefined) ?? [];
      const metricsPort = Number(
        env.find((e) => e.name === 'METRICS_PORT')?.value ?? (get('ConfigMap', 'zcbench-config').data as Record<string, string>).METRICS_PORT,
      );
      expect((containersOf(d)[0]!.ports as { name: string; containerPort: number }[]).find((p) => p.name === 'metrics')!.containerPort).toBe(metricsPort);
    }
  });
});

test('the build specs the deployment ships are valid build specs', () => {
  const specs = readdirSync(join(REPO_ROOT, 'infra', 'specs')).filter((f) => /\.ya?ml$/.test(f));
  expect(specs).toContain('nb201-sample.yaml');
  for (const f of specs) planBuild(parseYaml(read(`infra/specs/${f}`)), join(REPO_ROOT, 'infra', 'specs'));
  for (const dir of K8S_DIRS) {
    const cm = kustomize(join(REPO_ROOT, dir)).find((r) => r.kind === 'ConfigMap' && r.metadata.name === 'zcbench-build-spec')!;
    for (const text of Object.values(cm.data as Record<string, string>)) planBuild(parseYaml(text), REPO_ROOT);
  }
  expect(() => planBuild({ ...(parseYaml(read('infra/specs/nb201-sample.yaml')) as Obj), spaces: ['nasbench999'] }, REPO_ROOT)).toThrow(/spaces/);
});

test('the overlay differs from the base where it says so (the assembler applies patches, images, namespace)', () => {
  const base = kustomize(join(REPO_ROOT, 'k8s/base'));
  const example = kustomize(join(REPO_ROOT, 'k8s/overlays/example'));
  const find = (rs: Resource[], kind: string, name: string) => rs.find((r) => r.kind === kind && r.metadata.name === name)!;
  expect(find(example, 'Namespace', 'zcbench-example')).toBeDefined();
  expect(containersOf(find(example, 'Deployment', 'zcbench-worker-light'))[0]!.image).toBe('registry.example.com/zcbench:0.1.0');
  expect(containersOf(find(base, 'Deployment', 'zcbench-worker-light'))[0]!.image).toBe('zcbench');
  const cm = find(example, 'ConfigMap', 'zcbench-config').data as Record<string, string>;
  expect(cm.S3_BUCKET).toBe('zcbench-example');
  expect(cm.LOG_LEVEL).toBe('info'); // kept from the base
  expect((find(example, 'ScaledObject', 'zcbench-worker-light').spec as Obj).maxReplicaCount).toBe(80);
  expect((find(example, 'ScaledObject', 'zcbench-worker-light').spec as Obj).fallback).toEqual(
    (find(base, 'ScaledObject', 'zcbench-worker-light').spec as Obj).fallback,
  );
  expect(find(example, 'ServiceMonitor', 'zcbench').metadata.labels).toEqual({ 'app.kubernetes.io/name': 'zcbench', release: 'prometheus' });
  expect(dirname('k8s/overlays/example')).toBe('k8s/overlays');
});
