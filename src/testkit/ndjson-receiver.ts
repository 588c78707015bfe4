// A generic NDJSON receiver for the http sink's `ndjson` preset: keeps every document it took, answers faults on a script.
import { jsonReply, readBody, ReceiverServer, type Reply } from './receiver-server.js';

export interface NdjsonReceiver {
  readonly url: string;
  /** Every document taken, in order (a resend shows up twice). */
  readonly docs: Record<string, unknown>[];
  /** Requests answered so far, by status. */
  readonly statuses: Map<number, number>;
  /** Answers request number n (1-based) with this reply instead of taking it, when it returns one. */
  setFault(fn: ((n: number) => Reply | undefined) | undefined): void;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startNdjsonReceiver(): Promise<NdjsonReceiver> {
  const docs: Record<string, unknown>[] = [];
  const statuses = new Map<number, number>();
  let fault: ((n: number) => Reply | undefined) | undefined;
  let n = 0;
  const count = (r: Reply): Reply => {
    if (r.kind === 'reply') statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    return r;
  };
  const server = new ReceiverServer(async (req) => {
    const body = await readBody(req, 64 * 1024 * 1024);
    if (req.method === 'GET') return count(jsonReply(200, { ok: true }));
    n += 1;
    const scripted = fault?.(n);
    if (scripted !== undefined) return count(scripted);
    if (body.kind !== 'ok') return count(jsonReply(body.kind === 'too_large' ? 413 : 400, { error: body.kind }));
    for (const line of body.text.split('\n')) if (line.trim() !== '') docs.push(JSON.parse(line) as Record<string, unknown>);
    return count(jsonReply(200, { accepted: true }));
  });
  await server.start(0);
  return {
    get url() {
      return server.url;
    },
    docs,
    statuses,
    setFault(fn) {
      fault = fn;
    },
    stop: () => server.stop(),
    start: () => server.start(),
    close: () => server.stop(),
  };
}
