// The `ndjson` preset: events as JSON lines (or one JSON array) to any URL; 2xx delivered, the rest by the shared
// classification (408/429/5xx retried honouring Retry-After, 413 split, 401/403 stop the sink, other 4xx dead-lettered).
import type { OutEvent, Sink } from '../../core/contracts.js';
import type { NdjsonConfig } from './config.js';
import { replyError, type HttpTarget } from './client.js';

/** True when the sink's format renders JSON documents (ecs, raw), false for text lines (cef, leef). */
export function rendersJson(format: string): boolean {
  return format === 'ecs' || format === 'raw';
}

export class NdjsonHttpSink implements Sink {
  readonly name: string;
  private readonly path: string;
  private readonly json: boolean;

  constructor(
    private readonly cfg: NdjsonConfig,
    private readonly target: HttpTarget,
  ) {
    this.name = cfg.name;
    const url = new URL(cfg.url);
    this.path = `${url.pathname}${url.search}`;
    this.json = rendersJson(cfg.format);
  }

  /** The request body in one buffer: a copy of the documents, so nothing of the journal's buffers is held past the send. */
  private body(events: readonly OutEvent[]): Buffer {
    const array = this.cfg.body === 'array';
    // CEF and LEEF lines are text: sent as JSON strings so every line (or array item) stays JSON.
    const texts = this.json ? undefined : events.map((e) => JSON.stringify(e.json));
    let total = array ? 2 : 0;
    events.forEach((e, i) => {
      total += (texts === undefined ? e.size : Buffer.byteLength(texts[i] as string, 'utf8')) + 1;
    });
    const out = this.target.bodyBuffer(total);
    let at = 0;
    if (array) out[at++] = 0x5b; // [
    events.forEach((e, i) => {
      if (array && i > 0) out[at++] = 0x2c; // ,
      at += texts === undefined ? e.writeTo(out, at) : out.write(texts[i] as string, at, 'utf8');
      if (!array) out[at++] = 0x0a;
    });
    if (array) out[at++] = 0x5d; // ]
    return out.subarray(0, at);
  }

  async send(events: readonly OutEvent[], signal: AbortSignal): Promise<void> {
    if (events.length === 0) return;
    const reply = await this.target.call({
      method: this.cfg.method,
      path: this.path,
      headers: { 'content-type': this.cfg.body === 'array' ? 'application/json' : 'application/x-ndjson' },
      body: this.body(events),
      gzip: this.cfg.compression === 'gzip',
      signal,
    });
    if (reply.status >= 200 && reply.status < 300) return;
    throw replyError(this.name, this.target.describe(this.cfg.method, this.path), reply);
  }

  /** Any HTTP answer from the receiver means it is there again. */
  async probe(signal: AbortSignal): Promise<boolean> {
    try {
      await this.target.call({ method: 'GET', path: this.path, signal });
      return true;
    } catch {
      return false;
    }
  }

  close(): Promise<void> {
    return this.target.close();
  }
}
