// The http sink through a real forward proxy (src/testkit/forward-proxy.ts): proxy_url for http and https receivers,
// credentials, a 407, HTTPS_PROXY / HTTP_PROXY / NO_PROXY from the environment, mutual TLS through the tunnel.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { validateCommand } from '../../cli/validate.js';
import { StoredEvent, type OutEvent, type Sink } from '../../core/contracts.js';
import { silentLogger, type Logger } from '../../telemetry/logger.js';
import { startForwardProxy, type ForwardProxy, type ForwardProxyOptions } from '../../testkit/forward-proxy.js';
import { startNdjsonReceiver, type NdjsonReceiver } from '../../testkit/ndjson-receiver.js';
import { testCa } from '../../testkit/tls.js';
import { httpSinkSchema } from './config.js';
import { httpSink } from './index.js';
import { sinkFailure } from '../../testkit/sink-failure.js';

/** A name only the proxy resolves (to 127.0.0.1): a request that reaches the receiver by it went through the proxy. */
const HIDDEN = 'receiver.invalid';
const PROXY_ENV = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy'] as const;

const signal = new AbortController().signal;
let cleanups: (() => Promise<unknown>)[] = [];
const savedEnv = new Map(PROXY_ENV.map((k) => [k, process.env[k]]));

afterEach(async () => {
  for (const [k, v] of savedEnv) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await Promise.all(cleanups.map((c) => c()));
  cleanups = [];
});

function clearProxyEnv(): void {
  for (const k of PROXY_ENV) delete process.env[k];
}

async function proxy(opts: ForwardProxyOptions = {}): Promise<ForwardProxy> {
  const p = await startForwardProxy({ hosts: { [HIDDEN]: '127.0.0.1' }, ...opts });
  cleanups.push(() => p.close());
  return p;
}

async function receiver(): Promise<NdjsonReceiver> {
  const r = await startNdjsonReceiver();
  cleanups.push(() => r.close());
  return r;
}

function sink(cfg: Record<string, unknown>, logger: Logger = silentLogger()): Sink {
  const parsed = httpSinkSchema.parse({ name: 'out', type: 'http', preset: 'ndjson', ...cfg });
  const s = httpSink.create(parsed, { logger });
  cleanups.push(() => s.close());
  return s;
}

function events(n: number, prefix = 'e'): OutEvent[] {
  return Array.from({ length: n }, (_, i) => new StoredEvent(i + 1, `${prefix}${i + 1}`, 'audit', 'corp', '2026-12-01T00:00:00.000Z', Buffer.from(JSON.stringify({ event: { id: `${prefix}${i + 1}` } })), 'audit'));
}

const failure = sinkFailure;

/** An https receiver for HIDDEN with a certificate from `ca`; with `clientCa`, it demands a client certificate signed by it. */
async function httpsReceiver(ca: ReturnType<typeof testCa>, clientCa?: ReturnType<typeof testCa>): Promise<{ url: string; bodies: string[] }> {
  const bodies: string[] = [];
  const cert = ca.issue(HIDDEN, 'server');
  const server = createHttps(
    { cert: cert.cert, key: cert.key, ...(clientCa === undefined ? {} : { ca: clientCa.cert, requestCert: true, rejectUnauthorized: true }) },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        bodies.push(Buffer.concat(chunks).toString('utf8'));
        res.writeHead(200).end('{}');
      });
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => server.close(r)));
  return { url: `https://${HIDDEN}:${(server.address() as AddressInfo).port}/in`, bodies };
}

function ids(r: NdjsonReceiver): string[] {
  return r.docs.map((d) => String((d['event'] as { id: string }).id));
}

describe('http sink through a forward proxy (proxy_url)', () => {
  it('an http receiver only the proxy can reach gets the events; the proxy forwarded them', async () => {
    clearProxyEnv();
    const p = await proxy();
    const r = await receiver();
    const url = r.url.replace('127.0.0.1', HIDDEN);
    // Without the proxy the name does not resolve: the events can only have come through it.
    const direct = await failure(sink({ url }).send(events(1), signal));
    expect(direct.code).toBe('SINK_RETRYABLE');
    expect(direct.message).toMatch(/ENOTFOUND|EAI_AGAIN/);
    await expect(sink({ url, proxy_url: p.url }).send(events(3), signal)).resolves.toBeUndefined();
    expect(ids(r)).toEqual(['e1', 'e2', 'e3']);
    // Plain http goes as an absolute-URI request (not a CONNECT tunnel, which proxies commonly refuse to ports other than 443).
    expect(p.requests).toEqual([{ method: 'POST', target: `${url}/`, proxyAuthorization: undefined, status: 200 }]);
  });

  it('an https receiver: one CONNECT to its host:port, TLS verified end to end inside the tunnel (tls.ca_file)', async () => {
    clearProxyEnv();
    const ca = testCa();
    const caFile = ca.certFile;
    const p = await proxy();
    const rx = await httpsReceiver(ca);
    const hostPort = new URL(rx.url).host;
    // The receiver's certificate is from a CA the collector does not trust yet: TLS inside the tunnel says so.
    const untrusted = await failure(sink({ url: rx.url, proxy_url: p.url }).send(events(1), signal));
    expect(untrusted.code).toBe('SINK_CONFIG');
    expect(untrusted.message).toMatch(/TLS verification failed .*tls\.ca_file/);
    expect(p.requests).toHaveLength(1);
    const s = sink({ url: rx.url, proxy_url: p.url, tls: { ca_file: caFile }, compression: 'none' });
    await expect(s.send(events(2), signal)).resolves.toBeUndefined();
    await expect(s.send(events(2, 'f'), signal)).resolves.toBeUndefined();
    expect(rx.bodies.join('')).toBe('{"event":{"id":"e1"}}\n{"event":{"id":"e2"}}\n{"event":{"id":"f1"}}\n{"event":{"id":"f2"}}\n');
    // The proxy saw only tunnels to the target's host:port, nothing of the requests inside.
    expect(p.requests.length).toBeGreaterThan(1);
    expect(p.requests.every((q) => q.method === 'CONNECT' && q.target === hostPort && q.status === 200)).toBe(true);
  });

  it('credentials in proxy_url go out as Proxy-Authorization (Basic), and validate masks them', async () => {
    clearProxyEnv();
    const password = 'pr0xy-s3cret/with:odd@chars';
    const p = await proxy({ auth: { user: 'collector', password } });
    const r = await receiver();
    await expect(sink({ url: r.url.replace('127.0.0.1', HIDDEN), proxy_url: p.urlWith('collector', password) }).send(events(2), signal)).resolves.toBeUndefined();
    expect(ids(r)).toEqual(['e1', 'e2']);
    const auth = `Basic ${Buffer.from(`collector:${password}`).toString('base64')}`;
    expect(p.requests.filter((q) => q.status === 200).map((q) => q.proxyAuthorization)).toEqual(p.requests.filter((q) => q.status === 200).map(() => auth));

    // The config loader knows the password in proxy_url is a secret: validate prints the config without it.
    const dir = mkdtempSync(join(tmpdir(), 'mc-proxy-cfg-'));
    const file = join(dir, 'config.yaml');
    writeFileSync(file, ['accounts:', '  - { name: corp, client_id: abc, client_secret: not-a-real-one, streams: { siem: {} } }', 'sinks:', '  - name: out', '    type: http', '    preset: ndjson', `    url: ${r.url}`, `    proxy_url: ${p.urlWith('collector', password)}`].join('\n'));
    const out: string[] = [];
    const err: string[] = [];
    const code = validateCommand(file, { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) }, env: {} } as unknown as Parameters<typeof validateCommand>[1]);
    expect(err.join('')).toBe('');
    expect(code).toBe(0);
    expect(out.join('')).toContain('proxy_url: http://collector:***@127.0.0.1:');
    expect(out.join('')).not.toContain(encodeURIComponent(password));
    expect(out.join('')).not.toContain('pr0xy-s3cret');
  });

  it('a 407 from the proxy (wrong password) stops the sink with SINK_CONFIG naming proxy_url, never the password', async () => {
    clearProxyEnv();
    const p = await proxy({ auth: { user: 'collector', password: 'right-one' } });
    const r = await receiver();
    const ca = testCa();
    const rx = await httpsReceiver(ca);
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) });
    const wrong = p.urlWith('collector', 'wr0ng-pa55word');
    for (const url of [r.url.replace('127.0.0.1', HIDDEN), rx.url]) {
      const e = await failure(sink({ url, proxy_url: wrong, tls: { ca_file: ca.certFile } }, logger).send(events(1), signal));
      expect(e.code).toBe('SINK_CONFIG');
      expect(e.message).toMatch(/proxy_url .*answered 407 Proxy Authentication Required: check the user and password in proxy_url/);
      expect(`${e.message} ${JSON.stringify(e.details ?? {})} ${String((e.cause as Error | undefined)?.message)}`).not.toContain('wr0ng-pa55word');
    }
    expect(p.requests.map((q) => q.status)).toEqual([407, 407]);
    expect(r.docs).toEqual([]);
    expect(rx.bodies).toEqual([]);
    expect(lines.join('')).not.toContain('wr0ng-pa55word');
  });
});

describe('http sink, proxy from the environment (no proxy_url)', () => {
  it('HTTP_PROXY carries http receivers, HTTPS_PROXY https ones', async () => {
    clearProxyEnv();
    const forHttp = await proxy();
    const forHttps = await proxy();
    process.env['HTTP_PROXY'] = forHttp.url;
    process.env['HTTPS_PROXY'] = forHttps.url;
    const r = await receiver();
    const ca = testCa();
    const rx = await httpsReceiver(ca);
    await expect(sink({ url: r.url.replace('127.0.0.1', HIDDEN) }).send(events(2), signal)).resolves.toBeUndefined();
    await expect(sink({ url: rx.url, tls: { ca_file: ca.certFile } }).send(events(1), signal)).resolves.toBeUndefined();
    expect(ids(r)).toEqual(['e1', 'e2']);
    expect(rx.bodies).toHaveLength(1);
    expect(forHttp.requests.length).toBeGreaterThan(0);
    expect(forHttp.requests.every((q) => q.target.includes(HIDDEN))).toBe(true);
    expect(forHttps.requests).toEqual([{ method: 'CONNECT', target: new URL(rx.url).host, proxyAuthorization: undefined, status: 200 }]);
  });

  it('NO_PROXY=127.0.0.1 goes direct; proxy_url wins over the environment', async () => {
    clearProxyEnv();
    const fromEnv = await proxy();
    const configured = await proxy();
    process.env['HTTP_PROXY'] = fromEnv.url;
    process.env['HTTPS_PROXY'] = fromEnv.url;
    process.env['NO_PROXY'] = '127.0.0.1';
    const r = await receiver();
    await expect(sink({ url: r.url }).send(events(1), signal)).resolves.toBeUndefined();
    expect(ids(r)).toEqual(['e1']);
    expect(fromEnv.requests).toEqual([]);
    await expect(sink({ url: r.url.replace('127.0.0.1', HIDDEN), proxy_url: configured.url }).send(events(1, 'p'), signal)).resolves.toBeUndefined();
    expect(ids(r)).toEqual(['e1', 'p1']);
    expect(fromEnv.requests).toEqual([]);
    expect(configured.requests.length).toBeGreaterThan(0);
  });
});

describe('mutual TLS through the proxy', () => {
  it('the client certificate (tls.cert_file / key_file) is presented inside the CONNECT tunnel', async () => {
    clearProxyEnv();
    const serverCa = testCa('server CA');
    const clientCa = testCa('client CA');
    const client = clientCa.issue('collector', 'client');
    const p = await proxy();
    const rx = await httpsReceiver(serverCa, clientCa);
    const tls = { ca_file: serverCa.certFile, cert_file: client.certFile, key_file: client.keyFile };
    await expect(sink({ url: rx.url, proxy_url: p.url, tls }).send(events(2), signal)).resolves.toBeUndefined();
    expect(rx.bodies).toHaveLength(1);
    const refused = await failure(sink({ url: rx.url, proxy_url: p.url, tls: { ca_file: serverCa.certFile } }).send(events(1), signal));
    expect(refused.code).toBe('SINK_CONFIG');
    expect(refused.message).toMatch(/ERR_SSL_.*ALERT_CERTIFICATE_REQUIRED.*set tls\.cert_file and tls\.key_file/);
    expect(rx.bodies).toHaveLength(1);
  });
});
