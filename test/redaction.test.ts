import { redactUrl } from '../src/log';

/** Credentials in REDIS_URL and S3 endpoints never reach output or logs (the commands: test/pipeline-cli.redis.test.ts). */
const SECRET = 's3cret-do-not-print';

test('redactUrl hides user and password, also in text that is not a URL', () => {
  expect(redactUrl(`redis://:${SECRET}@127.0.0.1:6379/0`)).toBe('redis://***@127.0.0.1:6379/0');
  expect(redactUrl(`https://user:${SECRET}@minio:9000`)).toBe('https://***@minio:9000/');
  expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
  expect(redactUrl(`redis://:${SECRET}@[not-a-host`)).toBe('redis://***@[not-a-host');
  expect(redactUrl(`rediss://u:${SECRET} with space@host`)).not.toContain(SECRET);
});
