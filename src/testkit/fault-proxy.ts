// An HTTP proxy in front of a real receiver (a search engine) that injects faults on a script: answer for it
// (busy), or forward and then lose the reply. It can stop and come back on the same port, as an outage would.
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'undici';
import { jsonReply, readBody, ReceiverServer, type Reply } from './receiver-server.js';

/** What the proxy does with one request: pass it on, answer it itself, or pass it on and then cut the connection. */
export type ProxyFault = { kind: 'pass' } | { kind: 'answer'; reply: Reply } | { kind: 'lose_reply' };

export interface FaultProxy {
  readonly url: string;
  /** Requests seen, and those forwarded to the receiver behind. */
  readonly counts: { seen: number; forwarded: number };
  /** Decides per request (1-based number, method, path); default: pass everything. */
  setFault(fn: ((n: number, method: string, path: string) => ProxyFault) | undefined): void;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['host', 'connection', 'content-length', 'content-encoding', 'transfer-encoding', 'keep-alive']);

function forwardHeaders(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || HOP_BY_HOP.has(k)) continue;
    out[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const counts = { seen: 0, forwarded: 0 };
  let fault: ((n: number, method: string, path: string) => ProxyFault) | undefined;
  const server = new ReceiverServer(async (req, url) => {
    counts.seen += 1;
    const n = counts.seen;
    const method = req.method ?? 'GET';
    const body = await readBody(req, 64 * 1024 * 1024);
    if (body.kind !== 'ok') return jsonReply(400, { error: `proxy could not read the body (${body.kind})` });
    const plan = fault?.(n, method, url.pathname) ?? { kind: 'pass' };
    if (plan.kind === 'answer') return plan.reply;
    counts.forwarded += 1;
    const res = await request(`${upstream}${url.pathname}${url.search}`, {
      method: method as 'GET',
      headers: forwardHeaders(req.headers),
      ...(method === 'GET' || method === 'HEAD' ? {} : { body: body.text }),
    });
    const text = await res.body.text();
    if (plan.kind === 'lose_reply') return { kind: 'drop' };
    const type = res.headers['content-type'];
    return { kind: 'reply', status: res.statusCode, body: text, headers: typeof type === 'string' ? { 'Content-Type': type } : {} };
  });
  await server.start(0);
  return {
    get url() {
      return server.url;
    },
    counts,
    setFault(fn) {
      fault = fn;
    },
    stop: () => server.stop(),
    start: () => server.start(),
    close: () => server.stop(),
  };
}
