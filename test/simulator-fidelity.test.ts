// The simulator as a client written for the real API sees it: exact Content-Type, a discovered region that is a host name.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../src/simulator/index.js';
import { v1Headers } from '../src/simulator/v1auth.js';
import { runCli, writeConfig } from './helpers/harness.js';

const SIEM = '/api/audit/get-siem-logs';
const DISCOVER = '/api/login/discover-authentication';

let sim: RunningSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

/** One POST through node:http, headers as they came off the wire (no Fetch API normalisation). */
function rawPost(url: string, path: string, body: unknown, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, url), { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe('API 1.0 get-siem-logs', () => {
  it('answers "no more logs" with Content-Type exactly application/json, and a file as application/octet-stream', async () => {
    sim = await startSimulator({ seed: 'fidelity', backlogRecords: 0, streamRecords: { siem_v1: 40 }, siemV1RecordsPerFile: 20, publishIntervalMs: 0 });
    const s = sim;
    const ask = (token?: string): ReturnType<typeof rawPost> =>
      rawPost(s.url, SIEM, { data: [{ type: 'MTA', fileFormat: 'json', compress: false, ...(token === undefined ? {} : { token }) }] }, v1Headers(s, SIEM));
    let reply = await ask();
    let files = 0;
    while (reply.headers['content-type'] === 'application/octet-stream') {
      files += 1;
      expect(files).toBeLessThan(100);
      reply = await ask(String(reply.headers['mc-siem-token']));
    }
    expect(files).toBeGreaterThan(0);
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/json');
    expect(JSON.parse(reply.body)).toMatchObject({ meta: { isLastToken: true }, data: [] });
  });
});

describe('discover-authentication', () => {
  const discover = async (url: string, host?: string): Promise<string> => {
    const r = await rawPost(url, DISCOVER, { data: [{ emailAddress: 'svc@corp.example' }] }, host === undefined ? {} : { Host: host });
    return ((JSON.parse(r.body) as { data: { region: { api: string } }[] }).data[0]?.region.api) ?? '';
  };

  it('answers a host name, never a bare loopback address: localhost, the name the client used, or --public-host', async () => {
    sim = await startSimulator({ seed: 'fidelity', backlogRecords: 0, publishIntervalMs: 0 });
    const port = new URL(sim.url).port;
    expect(sim.url).toMatch(/^http:\/\/127\.0\.0\.1:/);
    expect(await discover(sim.url)).toBe(`http://localhost:${port}`);
    expect(await discover(sim.url, `mimecast-sim.internal:${port}`)).toBe(`http://mimecast-sim.internal:${port}`);
    await sim.close();
    sim = await startSimulator({ seed: 'fidelity', backlogRecords: 0, publishIntervalMs: 0, publicHost: 'eu-api.sim.example' });
    expect(await discover(sim.url)).toBe(`http://eu-api.sim.example:${new URL(sim.url).port}`);
  });

  it('lets a collector discover its region over TLS with a certificate that names only the host (as against Mimecast)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-fidelity-'));
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { stdio: 'ignore' });
    sim = await startSimulator({ seed: 'fidelity', backlogRecords: 0, streamRecords: { siem_v1: 60 }, siemV1RecordsPerFile: 20, publishIntervalMs: 0, tls: { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') } });
    const port = new URL(sim.url).port;
    const config = writeConfig(
      join(dir, 'collector.yaml'),
      [
        `data_dir: ${JSON.stringify(join(dir, 'data'))}`,
        'accounts:',
        '  - name: legacy',
        '    api: v1',
        '    discover_email: svc@corp.example',
        `    discover_url: https://localhost:${port}`,
        `    app_id: ${JSON.stringify(sim.appId)}`,
        `    app_key: ${JSON.stringify(sim.appKey)}`,
        `    access_key: ${JSON.stringify(sim.accessKey)}`,
        `    secret_key: ${JSON.stringify(sim.secretKey)}`,
        `    tls: { ca_file: ${JSON.stringify(cert)} }`,
        '    streams: { siem: {} }',
        'sinks:',
        '  - { name: out, type: stdout }',
        '',
      ].join('\n'),
    );
    const r = await runCli(['fetch', 'siem', '--config', config, '--since', '7d']);
    expect(r.stderr).not.toMatch(/certificate|ERR_TLS|altname/i);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').filter((l) => l.trim() !== '').length).toBe(sim.publishedCount('siem_v1'));
  }, 60_000);
});
