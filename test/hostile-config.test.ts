// Hostile config and echoing APIs from the user's side: `validate` and `run` as child processes.
import { execFileSync } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Journal } from '../src/journal/journal.js';
import { eventId, outputLineCount, readOutput, sleepMs, spawnCli, waitFor } from './helpers/harness.js';

/** Runs `validate` on `yaml`; the exit code, what it printed and how long it took. */
async function validate(yaml: string): Promise<{ code: number | null; out: string; ms: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'mc-hostile-'));
  const file = join(dir, 'c.yaml');
  writeFileSync(file, yaml.replaceAll('DIR', dir));
  const log = join(dir, 'out.log');
  const started = Date.now();
  const child = spawnCli(['validate', '--config', file], log, dir);
  const timer = setTimeout(() => child.proc.kill('SIGKILL'), 10_000);
  const { code } = await child.exited;
  clearTimeout(timer);
  return { code, out: readFileSync(log, 'utf8'), ms: Date.now() - started };
}

const account = (secretLine: string): string => `
accounts:
  - name: corp
    client_id: abc
${secretLine}
    streams: { siem: {} }
sinks:
  - { name: out, type: stdout }
`;

describe('validate on hostile input: a clear problem naming the key, exit 1, promptly', () => {
  it('a secret file that is a FIFO (nothing ever writes to it)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-fifo-'));
    const fifo = join(dir, 'secret.fifo');
    execFileSync('mkfifo', [fifo]);
    const r = await validate(account(`    client_secret_file: ${fifo}`));
    expect(r.code).toBe(1);
    expect(r.ms).toBeLessThan(8_000);
    expect(r.out).toMatch(/^ {2}accounts\[0\]\.client_secret_file: secret file .*secret\.fifo is not a regular file \(a FIFO\)/m);
  }, 15_000);

  it('a secret file that is /dev/zero', async () => {
    const r = await validate(account('    client_secret_file: /dev/zero'));
    expect(r.code).toBe(1);
    expect(r.ms).toBeLessThan(8_000);
    expect(r.out).toMatch(/^ {2}accounts\[0\]\.client_secret_file: secret file \/dev\/zero is not a regular file \(a character device\)/m);
  }, 15_000);

  it('a YAML alias bomb, out-of-range values and a malformed ${...}', async () => {
    const bomb = ['x0: &a0 [y, y, y, y, y, y, y, y, y, y]'];
    for (let i = 1; i < 10; i++) bomb.push(`x${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]`);
    const b = await validate(bomb.join('\n') + '\n' + account('    client_secret: x'));
    expect(b.code).toBe(1);
    expect(b.out).toMatch(/^ {2}\(yaml\): the YAML expands too many aliases/m);
    expect(b.out).not.toMatch(/^\s+at /m);
    const ranges = await validate(
      'http: { listen: "127.0.0.1:99999" }\njournal: { max_bytes: 99999999999999GB }\n' + account('    client_secret: "${SECRET"\n    poll_interval: 0s'),
    );
    expect(ranges.code).toBe(1);
    expect(ranges.out).toMatch(/^ {2}http\.listen: port must be 0-65535$/m);
    expect(ranges.out).toMatch(/^ {2}journal\.max_bytes: "99999999999999GB" is too large$/m);
    expect(ranges.out).toMatch(/^ {2}accounts\[0\]\.poll_interval: must be between 1s and 1d$/m);
    expect(ranges.out).toMatch(/^ {2}accounts\[0\]\.client_secret: malformed \$\{\.\.\.\} reference/m);
  }, 30_000);
});

/** A fake Mimecast whose token endpoint quotes the request it got, as some gateways do in their errors. */
async function echoingMimecast(status: number): Promise<{ url: string; server: Server; tokenCalls: () => number }> {
  let calls = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (req.method === 'POST' && req.url === '/oauth/token') {
        calls++;
        const secret = new URLSearchParams(body).get('client_secret') ?? '';
        const reply = JSON.stringify({ error: 'invalid_client', error_description: `bad client for request ${body}; client_secret=${secret}` });
        res.writeHead(status, { 'content-type': 'application/json' }).end(reply);
        return;
      }
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, tokenCalls: () => calls };
}

const SECRET = 'Zq9/echo+Secret=value-1234';

function runYaml(url: string, dir: string, extra = ''): string {
  return [
    `data_dir: ${JSON.stringify(join(dir, 'data'))}`,
    extra,
    'accounts:',
    '  - name: corp',
    `    base_url: ${url}`,
    '    client_id: client-abc',
    `    client_secret: ${JSON.stringify(SECRET)}`,
    '    poll_interval: 1s',
    '    streams: { siem: { types: [receipt] } }',
    'sinks:',
    `  - { name: out, type: file, path: ${JSON.stringify(join(dir, 'out.ndjson'))} }`,
    '',
  ].join('\n');
}

/** Every form the secret could leak in. */
function expectNoSecret(text: string): void {
  for (const form of [SECRET, encodeURIComponent(SECRET), new URLSearchParams({ s: SECRET }).toString().slice(2), SECRET.slice(0, 12)]) {
    expect(text).not.toContain(form);
  }
}

describe('run: a configured secret never reaches the output, even when the API quotes it back', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
    server = undefined;
  });

  it('rejected credentials (401 quoting the request): exit 1, the failure explained, the secret redacted', async () => {
    const api = await echoingMimecast(401);
    server = api.server;
    const dir = mkdtempSync(join(tmpdir(), 'mc-echo-'));
    const file = join(dir, 'c.yaml');
    writeFileSync(file, runYaml(api.url, dir));
    const log = join(dir, 'run.log');
    const child = spawnCli(['run', '--config', file], log, dir);
    const timer = setTimeout(() => child.proc.kill('SIGKILL'), 20_000);
    const { code } = await child.exited;
    clearTimeout(timer);
    const out = readFileSync(log, 'utf8');
    expect(code).toBe(1);
    expect(api.tokenCalls()).toBeGreaterThan(0);
    expect(out).toMatch(/^error: account corp: Mimecast rejected the client credentials for client_id client-abc .*invalid_client: bad client for request client_id=client-abc&client_secret=\[redacted\]&grant_type=client_credentials; client_secret=\[redacted\] \(HTTP 401\)/m);
    expectNoSecret(out);
  }, 30_000);

  it('a token endpoint failing with 500 and quoting the request: logs and /status carry the error, never the secret', async () => {
    const api = await echoingMimecast(500);
    server = api.server;
    const dir = mkdtempSync(join(tmpdir(), 'mc-echo-'));
    const file = join(dir, 'c.yaml');
    writeFileSync(file, runYaml(api.url, dir, 'http: { listen: "127.0.0.1:0" }'));
    const log = join(dir, 'run.log');
    const child = spawnCli(['run', '--config', file], log, dir);
    try {
      const statusUrl = (): string | undefined => /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(readFileSync(log, 'utf8'))?.[1];
      await waitFor(() => statusUrl() !== undefined, 20_000, 'the status server');
      let status = '';
      const deadline = Date.now() + 20_000;
      while (!(status.includes('lastError') && status.includes('HTTP 500'))) {
        if (Date.now() > deadline) throw new Error(`no source error on /status after 20 s: ${status}`);
        await sleepMs(200);
        status = await fetch(`${statusUrl() ?? ''}/status`).then(
          (r) => r.text(),
          () => '',
        );
      }
      expect(status).toContain('client_secret=[redacted]');
      expectNoSecret(status);
    } finally {
      child.proc.kill('SIGTERM');
    }
    expect((await child.exited).code).toBe(0);
    const out = readFileSync(log, 'utf8');
    expect(out).toContain('could not check credentials at start-up');
    expect(out).toContain('[redacted]');
    expectNoSecret(out);
  }, 60_000);
});

describe('run: a Mimecast that never answers holds up neither the status endpoints nor the backlog', () => {
  it('with the token call hanging, /healthz answers and every journaled event reaches the file sink; SIGTERM ends it at once', async () => {
    const hanging: ServerResponse[] = [];
    let tokenCalls = 0;
    // Accepts the token request and never answers it (request_timeout is 10 minutes: the check stays pending).
    const api = createServer((req: IncomingMessage, res: ServerResponse) => {
      if (req.url === '/oauth/token') tokenCalls++;
      hanging.push(res);
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    const dir = mkdtempSync(join(tmpdir(), 'mc-silent-api-'));
    // What an earlier run journaled and had not delivered yet.
    const journal = Journal.open({ dir: join(dir, 'data'), checkpointWorker: false });
    const events = Array.from({ length: 500 }, (_, i) => ({
      id: `backlog-${i}`,
      stream: 'siem' as const,
      account: 'corp',
      time: new Date(Date.UTC(2026, 11, 1, 10, 0, i)).toISOString(),
      doc: { event: { id: `backlog-${i}` }, mimecast: { log_type: 'receipt' } },
      logType: 'receipt',
    }));
    journal.append('corp/siem/receipt', { events, cursor: '{"v":1}' });
    journal.close();
    const file = join(dir, 'c.yaml');
    const url = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
    writeFileSync(file, runYaml(url, dir, 'http: { listen: "127.0.0.1:0" }').replace('    poll_interval: 1s', '    poll_interval: 1s\n    request_timeout: 10m'));
    const log = join(dir, 'run.log');
    const child = spawnCli(['run', '--config', file], log, dir);
    try {
      const statusUrl = (): string | undefined => /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(readFileSync(log, 'utf8'))?.[1];
      await waitFor(() => statusUrl() !== undefined, 20_000, 'the status server');
      const out = join(dir, 'out.ndjson');
      await waitFor(() => outputLineCount(out) >= events.length, 20_000, 'the backlog in the file sink');
      const ids = readOutput(out).map(eventId);
      expect(ids).toHaveLength(events.length);
      expect(new Set(ids)).toEqual(new Set(events.map((e) => e.id)));
      expect((await fetch(`${statusUrl() ?? ''}/healthz`)).status).toBe(200);
      const status = (await (await fetch(`${statusUrl() ?? ''}/status`)).json()) as { accounts: { credentials: { state: string } }[] };
      // Still waiting for Mimecast: the check has neither passed nor failed, and no source has started.
      expect(tokenCalls).toBe(1);
      expect(status.accounts[0]?.credentials.state).toBe('unchecked');
      expect(readFileSync(log, 'utf8')).not.toContain('collector started');
    } finally {
      child.proc.kill('SIGTERM');
    }
    const stopping = Date.now();
    const { code } = await child.exited;
    // The hung token request is ended, not waited for until call_deadline (2 minutes).
    expect(Date.now() - stopping).toBeLessThan(20_000);
    for (const res of hanging) res.destroy();
    await new Promise<void>((resolve) => api.close(() => resolve()));
    expect(code).toBe(0);
  }, 60_000);
});
