// Tests for the OAuth token provider against a scripted token endpoint on 127.0.0.1.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError } from '../core/errors.js';
import { createHttpAgent } from './http.js';
import { TokenProvider } from './oauth.js';

interface TokenServer {
  url: string;
  forms: URLSearchParams[];
  close: () => Promise<void>;
}

type Reply = (n: number, res: http.ServerResponse) => void | Promise<void>;

async function tokenServer(reply: Reply): Promise<TokenServer> {
  const forms: URLSearchParams[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/oauth/token' || req.headers['content-type'] !== 'application/x-www-form-urlencoded') {
        res.writeHead(400).end('unexpected request');
        return;
      }
      forms.push(new URLSearchParams(body));
      void reply(forms.length, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    forms,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const json = (res: http.ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
};

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function setup(reply: Reply): Promise<{ srv: TokenServer; tp: TokenProvider; clock: { now: number } }> {
  const srv = await tokenServer(reply);
  const agent = createHttpAgent();
  cleanups.push(() => srv.close(), () => agent.close());
  const clock = { now: 1_000_000 };
  const tp = new TokenProvider({ baseUrl: `${srv.url}/`, clientId: 'abc', clientSecret: 's3cr3t-value', agent, now: () => clock.now });
  return { srv, tp, clock };
}

describe('TokenProvider', () => {
  it('posts the client-credentials form and caches the token', async () => {
    const { srv, tp } = await setup((n, res) => json(res, 200, { access_token: `tok-${n}`, token_type: 'Bearer', expires_in: 1799 }));
    expect(await tp.getToken()).toBe('tok-1');
    expect(await tp.getToken()).toBe('tok-1');
    expect(srv.forms).toHaveLength(1);
    const form = srv.forms[0];
    expect(form?.get('client_id')).toBe('abc');
    expect(form?.get('client_secret')).toBe('s3cr3t-value');
    expect(form?.get('grant_type')).toBe('client_credentials');
  });

  it('refreshes a few minutes before a long lifetime ends, and at ~80 % of a short one', async () => {
    let lifetime = 1799;
    const { srv, tp, clock } = await setup((n, res) => json(res, 200, { access_token: `tok-${n}`, expires_in: lifetime }));
    expect(await tp.getToken()).toBe('tok-1');
    clock.now += 1_500_000; // 1500 s: still more than 3 min left
    expect(await tp.getToken()).toBe('tok-1');
    clock.now += 130_000; // 1630 s: inside the last 3 minutes
    expect(await tp.getToken()).toBe('tok-2');
    expect(srv.forms).toHaveLength(2);

    lifetime = 60;
    clock.now += 1_800_000;
    expect(await tp.getToken()).toBe('tok-3');
    clock.now += 47_000;
    expect(await tp.getToken()).toBe('tok-3');
    clock.now += 2_000; // 49 s of 60: past 80 %
    expect(await tp.getToken()).toBe('tok-4');
  });

  it('sends one token request for 20 concurrent callers', async () => {
    const { srv, tp } = await setup(async (n, res) => {
      await new Promise((r) => setTimeout(r, 50));
      json(res, 200, { access_token: `tok-${n}`, expires_in: 1799 });
    });
    const tokens = await Promise.all(Array.from({ length: 20 }, () => tp.getToken()));
    expect(new Set(tokens)).toEqual(new Set(['tok-1']));
    expect(srv.forms).toHaveLength(1);
    expect(tp.requests).toBe(1);
  });

  it('invalidate(token) forces a new token, but only for the token that failed', async () => {
    const { srv, tp } = await setup((n, res) => json(res, 200, { access_token: `tok-${n}`, expires_in: 1799 }));
    expect(await tp.getToken()).toBe('tok-1');
    tp.invalidate('tok-1');
    expect(await tp.getToken()).toBe('tok-2');
    tp.invalidate('tok-1'); // stale 401 from a request that used the old token
    expect(await tp.getToken()).toBe('tok-2');
    expect(srv.forms).toHaveLength(2);
  });

  it('maps 401 on the token call to API_AUTH_FAILED naming client_id and URL but never the secret', async () => {
    const { srv, tp } = await setup((_n, res) =>
      json(res, 401, { error: 'invalid_client', error_description: 'Client authentication failed' }),
    );
    const err = await tp.getToken().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    const e = err as ApiError;
    expect(e.code).toBe('API_AUTH_FAILED');
    expect(e.retryable).toBe(false);
    expect(e.status).toBe(401);
    expect(e.apiCode).toBe('invalid_client');
    expect(e.message).toContain('client_id abc');
    expect(e.message).toContain(`${srv.url}/oauth/token`);
    expect(e.message).toContain('invalid_client');
    expect(e.message).not.toContain('s3cr3t');
  });

  it('maps 5xx to a retryable error, and keeps serving a still-valid token when a refresh fails', async () => {
    let fail = true;
    const { tp, clock } = await setup((n, res) => {
      if (n > 1 && fail) {
        json(res, 503, { fail: [{ code: 'unavailable', message: 'try later' }] });
        return;
      }
      json(res, 200, { access_token: `tok-${n}`, expires_in: 1799 });
    });
    expect(await tp.getToken()).toBe('tok-1');
    clock.now += 1_700_000; // refresh due, 99 s of life left
    expect(await tp.getToken()).toBe('tok-1');
    clock.now += 95_000; // within the grace: the stale token is no longer offered
    const err = await tp.getToken().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'API_SERVER_ERROR', retryable: true, status: 503 });
    fail = false;
    expect(await tp.getToken()).toBe('tok-4');
  });

  it('maps a connection failure to a retryable API_NETWORK error', async () => {
    const srv = await tokenServer((_n, res) => json(res, 200, {}));
    await srv.close();
    const tp = new TokenProvider({ baseUrl: srv.url, clientId: 'abc', clientSecret: 'x' });
    await expect(tp.getToken()).rejects.toMatchObject({ code: 'API_NETWORK', retryable: true });
  });

  it('rejects a 200 without access_token as API_BAD_RESPONSE', async () => {
    const { tp } = await setup((_n, res) => json(res, 200, { token_type: 'Bearer' }));
    await expect(tp.getToken()).rejects.toMatchObject({ code: 'API_BAD_RESPONSE' });
  });
});
