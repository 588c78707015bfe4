// Who may call: API 2.0 bearer tokens (issued by the token endpoint) and API 1.0 HMAC signatures, then the quota gate.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpReply, failReply, siemError, v1Fail, type Headers } from '../http.js';
import { verifyV1, type V1Credentials } from '../v1auth.js';
import type { Faults } from './faults.js';
import type { Quota } from './quota.js';

export type AuthResult = { ok: true; owner: string; headers: Headers } | { ok: false; reply: HttpReply };

export interface AuthOptions extends V1Credentials {
  /** Products the account is not licensed for (stream names). */
  unlicensed: ReadonlySet<string>;
  /** Set: every correctly signed 1.0 call answers that the account lives in this other region. */
  wrongRegion: string | undefined;
}

export class Auth {
  private readonly tokens = new Map<string, { owner: string; expiresAt: number }>();
  private issued = 0;

  constructor(
    private readonly opts: AuthOptions,
    private readonly quota: Quota,
    private readonly faults: Faults,
  ) {}

  get tokensIssued(): number {
    return this.issued;
  }

  issueToken(owner: string, expiresAt: number): string {
    const accessToken = randomBytes(24).toString('base64url');
    const now = Date.now();
    if (this.tokens.size >= 10_000) {
      for (const [k, v] of this.tokens) if (v.expiresAt < now - 3_600_000) this.tokens.delete(k);
    }
    this.tokens.set(accessToken, { owner, expiresAt });
    this.issued++;
    return accessToken;
  }

  private checkBearer(token: string): { owner: string } | HttpReply {
    const tok = this.tokens.get(token);
    if (tok === undefined) return failReply(401, 'unauthorized', 'unknown or invalid access token');
    if (Date.now() >= tok.expiresAt) return failReply(401, 'token_expired', 'the access token has expired');
    return { owner: tok.owner };
  }

  /** Auth for the /siem/v1 endpoints: a 2.0 bearer token only; then licence, quota and the injected 429/500. */
  bearer(req: IncomingMessage, stream: string): AuthResult {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
    if (bearer === undefined) return { ok: false, reply: failReply(401, 'unauthorized', 'missing Authorization: Bearer token') };
    const who = this.checkBearer(bearer);
    if (who instanceof HttpReply) return { ok: false, reply: who };
    const gate = this.quota.gate(who.owner);
    if (gate.reply !== undefined) return { ok: false, reply: gate.reply };
    if (this.opts.unlicensed.has(stream)) {
      this.faults.count('unlicensed');
      return { ok: false, reply: siemError(403, 'not_licensed', `the account is not licensed for ${stream}`) };
    }
    return { ok: true, owner: who.owner, headers: gate.headers };
  }

  /** Who is calling an /api/* function, before the quota: a 2.0 bearer token or a 1.0 HMAC signature over the path. */
  identify(req: IncomingMessage, path: string): { ok: true; owner: string } | { ok: false; reply: HttpReply } {
    const auth = (req.headers.authorization ?? '').trim();
    if (/^Bearer\s/i.test(auth)) {
      const who = this.checkBearer(auth.slice(7).trim());
      if (who instanceof HttpReply) return { ok: false, reply: who };
      return { ok: true, owner: who.owner };
    }
    if (auth.startsWith('MC ')) {
      const expired = this.faults.roll(this.faults.current().bindingExpired);
      const v = verifyV1(req, path, this.opts, { bindingExpired: expired });
      if (!v.ok) {
        if (expired && v.reply.status === 418) this.faults.count('bindingExpired');
        return v;
      }
      if (this.opts.wrongRegion !== undefined) {
        this.faults.count('wrongRegion');
        return {
          ok: false,
          reply: v1Fail(401, 'err_audit_log_incorrect_region', `This account is hosted in another region; use ${this.opts.wrongRegion}`),
        };
      }
      return { ok: true, owner: v.owner };
    }
    return { ok: false, reply: v1Fail(401, 'err_xdk_authorization_missing', 'The Authorization header is missing or not supported') };
  }

  /** Auth for /api/* functions: the caller (either generation), then quota and the licences of `streams`. */
  api(req: IncomingMessage, path: string, streams: readonly string[]): AuthResult {
    const who = this.identify(req, path);
    if (!who.ok) return who;
    const gate = this.quota.gate(who.owner);
    if (gate.reply !== undefined) return { ok: false, reply: gate.reply };
    const denied = streams.find((s) => this.opts.unlicensed.has(s));
    if (denied !== undefined) {
      this.faults.count('unlicensed');
      return { ok: false, reply: v1Fail(403, 'err_ttp_not_licensed', `The account is not licensed for this product (${denied})`, { headers: gate.headers }) };
    }
    return { ok: true, owner: who.owner, headers: gate.headers };
  }
}
