// A minimal caller of the simulator's admin functions with either auth kind (API 1.0 HMAC or a 2.0 bearer token), for tests and ad-hoc use.
import type { RunningSimulator } from '../types.js';
import { v1Headers } from '../v1auth.js';

export type AuthKind = 'v1' | 'v2';

export interface Envelope {
  meta: { status: number; pagination?: { pageSize: number; totalCount?: number; next?: string; previous?: string } };
  data: Record<string, unknown>[];
  fail: { key?: Record<string, unknown>; errors: { code: string; message: string; retryable: boolean; field?: string }[] }[];
}

export class AdminCaller {
  private token: string | undefined;

  constructor(
    readonly sim: RunningSimulator,
    readonly kind: AuthKind,
  ) {}

  private async bearer(): Promise<string> {
    if (this.token !== undefined) return this.token;
    const res = await fetch(`${this.sim.url}/oauth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: this.sim.clientId, client_secret: this.sim.clientSecret, grant_type: 'client_credentials' }).toString(),
    });
    const body = (await res.json()) as { access_token?: unknown };
    if (typeof body.access_token !== 'string') throw new Error(`token endpoint answered ${res.status}`);
    this.token = body.access_token;
    return this.token;
  }

  async headers(path: string): Promise<Record<string, string>> {
    return this.kind === 'v1' ? v1Headers(this.sim, path) : { Authorization: `Bearer ${await this.bearer()}`, 'Content-Type': 'application/json' };
  }

  /** The raw response of `POST path` with `body`. */
  async raw(path: string, body: unknown): Promise<Response> {
    return fetch(`${this.sim.url}${path}`, { method: 'POST', headers: await this.headers(path), body: JSON.stringify(body) });
  }

  /** `POST path` expecting the JSON envelope in an HTTP 200. */
  async call(path: string, data: unknown[], pagination?: Record<string, unknown>): Promise<Envelope> {
    const res = await this.raw(path, pagination === undefined ? { data } : { meta: { pagination }, data });
    if (res.status !== 200) throw new Error(`${path} answered HTTP ${res.status}: ${await res.text()}`);
    return (await res.json()) as Envelope;
  }
}
