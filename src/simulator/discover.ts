// `POST /api/login/discover-authentication`: no auth, answers the region's API host for an email address.
import type { IncomingMessage } from 'node:http';
import type { RouteTable } from './core/routes.js';
import { json, parseV1Body, readBody, v1Fail, type HttpReply } from './http.js';

export function registerDiscover(routes: RouteTable): void {
  routes.add({ method: 'POST', path: '/api/login/discover-authentication', counter: 'discover', v1: true, handler: (ctx, req) => discoverAuthentication(req, ctx.regionUrl(req)) });
}

async function discoverAuthentication(req: IncomingMessage, apiUrl: string): Promise<HttpReply> {
  const raw = await readBody(req, 64 * 1024);
  const body = raw === undefined ? undefined : parseV1Body(raw);
  if (body === undefined) return v1Fail(400, 'err_request_malformed', 'The request body is not valid JSON', { httpStatus: 400 });
  const email = body.item?.['emailAddress'];
  if (typeof email !== 'string' || email.trim() === '') {
    return v1Fail(200, 'err_validation_blank', 'emailAddress must not be blank', { key: body.item ?? {}, field: 'emailAddress' });
  }
  if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) {
    return v1Fail(200, 'err_validation_invalid_email_address', 'emailAddress is not a valid email address', { key: body.item ?? {}, field: 'emailAddress' });
  }
  return json(200, {
    meta: { status: 200 },
    data: [{ emailAddress: email, authenticate: ['password', 'cloud'], region: { code: 'sim', api: apiUrl } }],
    fail: [],
  });
}
