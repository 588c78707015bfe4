// The route table endpoint modules register into; the core dispatches on it and never imports an endpoint file.
import type { IncomingMessage } from 'node:http';
import type { HttpReply } from '../http.js';
import type { RequestCounterName } from '../types.js';
import type { SimContext } from './context.js';

export type Handler = (ctx: SimContext, req: IncomingMessage, url: URL) => Promise<HttpReply>;

export interface Route {
  method: 'GET' | 'POST';
  path: string;
  counter: RequestCounterName;
  /** Error shape for a wrong method: 1.0 functions answer with the 1.0 envelope. */
  v1?: boolean;
  handler: Handler;
}

/** Every path under `prefix` (a pre-signed download, say): the handler sees any method and answers it itself. */
export interface PrefixRoute {
  prefix: string;
  counter: RequestCounterName;
  handler: (ctx: SimContext, req: IncomingMessage, url: URL) => Promise<HttpReply> | HttpReply;
}

export class RouteTable {
  private readonly exact = new Map<string, Route>();
  private readonly prefixes: PrefixRoute[] = [];
  private fallback: PrefixRoute | undefined;

  add(...routes: readonly Route[]): void {
    for (const r of routes) {
      if (this.exact.has(r.path)) throw new Error(`simulator route registered twice: ${r.path}`);
      this.exact.set(r.path, r);
    }
  }

  addPrefix(route: PrefixRoute): void {
    this.prefixes.push(route);
  }

  /** What answers a path no route has (one per table; the core answers a plain 404 without one). */
  setFallback(route: PrefixRoute): void {
    this.fallback = route;
  }

  find(path: string): Route | undefined {
    return this.exact.get(path);
  }

  findPrefix(path: string): PrefixRoute | undefined {
    return this.prefixes.find((p) => path.startsWith(p.prefix)) ?? (this.fallback !== undefined && path.startsWith(this.fallback.prefix) ? this.fallback : undefined);
  }
}
