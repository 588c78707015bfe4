// Internal domains and users: get-internal-domain, get-internal-users, create-user, update-user, aliases, and the 2.0 users list.
import type { IncomingMessage } from 'node:http';
import type { SimContext } from '../core/context.js';
import type { RouteTable } from '../core/routes.js';
import { HttpReply, failReply, json } from '../http.js';
import { INTERNAL_DOMAINS, audit, directoryOf, type User } from './directory.js';
import { email, failOne, failure, type Item, ItemFailure, itemFunction, ok, optionalBool, optionalString, paginate, readAdmin, required, SIM_ONLY } from './envelope.js';

const FLAGS = ['accountDisabled', 'accountLocked', 'allowPop', 'allowSmtp', 'forcePasswordChange', 'passwordNeverExpires'] as const;

/** A row of get-internal-users: the fields a real tenant returns (no `internal`, no `created`). */
function v1Row(u: User): Record<string, unknown> {
  return { name: u.name, emailAddress: u.emailAddress, domain: u.domain, alias: u.aliasFor !== undefined, addressType: u.addressType, source: u.source };
}

function v2Row(u: User): Record<string, unknown> {
  return {
    id: u.id,
    emailAddress: u.emailAddress,
    name: u.name,
    domain: u.domain,
    type: 'internal',
    internal: true,
    disabled: u.accountDisabled,
    createdDateTime: new Date(u.created).toISOString(),
    updatedDateTime: new Date(u.updated).toISOString(),
    addressType: u.addressType,
    isAlias: u.aliasFor !== undefined,
    source: u.source,
  };
}

function settings(u: User): Record<string, unknown> {
  const out: Record<string, unknown> = { emailAddress: u.emailAddress, name: u.name };
  for (const f of FLAGS) out[f] = u[f];
  return out;
}

function notFound(address: string): ItemFailure {
  return failure('err_user_not_found', `${SIM_ONLY} No internal user ${address}`, 'emailAddress');
}

async function listUsers(ctx: SimContext, req: IncomingMessage, path: string): Promise<HttpReply> {
  const r = await readAdmin(ctx, req, path, 1);
  if (r instanceof HttpReply) return r;
  const item: Item = r.items[0] ?? {};
  const domain = required(item, 'domain');
  if (domain instanceof ItemFailure) return failOne(r, item, domain);
  const dir = directoryOf(ctx);
  if (!dir.isInternalDomain(domain)) {
    return failOne(r, item, failure('err_user_domain_not_internal', `${SIM_ONLY} ${domain} is not an internal domain of this account`, 'domain'));
  }
  const users = [...dir.users.values()].filter((u) => u.domain === domain.toLowerCase());
  const p = paginate(ctx, r, `users:${domain.toLowerCase()}`, users);
  if (p instanceof ItemFailure) return failOne(r, item, p);
  return ok([{ users: p.page.map(v1Row), userCount: users.length }], [], r.headers, p.pagination);
}

/** API 2.0 `GET /user/cloud-gateway/v1/users?pageSize&pageToken`: every internal user, with `internal`, `disabled`, created/updated times. */
function nativeUsers(ctx: SimContext, req: IncomingMessage, url: URL): HttpReply {
  const auth = ctx.auth.bearer(req, 'users');
  if (!auth.ok) return auth.reply;
  const all = [...directoryOf(ctx).users.values()];
  const sizeRaw = url.searchParams.get('pageSize');
  const size = sizeRaw === null ? 100 : Number(sizeRaw);
  if (!Number.isInteger(size) || size < 1 || size > 500) return failReply(400, 'validation_error', 'pageSize must be between 1 and 500', auth.headers);
  const tokenRaw = url.searchParams.get('pageToken');
  let at = 0;
  if (tokenRaw !== null && tokenRaw !== '') {
    const v = ctx.signer.parse('adm:v2users', tokenRaw);
    const pos = v?.[0];
    if (typeof pos !== 'number' || !Number.isInteger(pos) || pos < 0) return failReply(400, 'validation_error', 'pageToken is invalid', auth.headers);
    at = pos;
  }
  const page = all.slice(at, at + size);
  const pagination: Record<string, unknown> = { pageSize: page.length, totalCount: all.length };
  if (at + size < all.length) pagination['next'] = ctx.signer.sign('adm:v2users', [at + size]);
  return json(200, { users: page.map(v2Row), meta: { pagination } }, auth.headers);
}

export function registerUsers(routes: RouteTable): void {
  routes.add(
    {
      method: 'POST',
      path: '/api/domain/get-internal-domain',
      counter: 'api',
      v1: true,
      handler: async (ctx, req, url) => {
        const r = await readAdmin(ctx, req, url.pathname, 1);
        if (r instanceof HttpReply) return r;
        const dir = directoryOf(ctx);
        const data = INTERNAL_DOMAINS.map((d) => ({ id: dir.domainIds.get(d) ?? '', domain: d, local: false, sendOnly: false, inboundType: 'accept' }));
        return ok(data, [], r.headers);
      },
    },
    { method: 'POST', path: '/api/user/get-internal-users', counter: 'api', v1: true, handler: (ctx, req, url) => listUsers(ctx, req, url.pathname) },
    { method: 'GET', path: '/user/cloud-gateway/v1/users', counter: 'api', handler: (ctx, req, url) => Promise.resolve(nativeUsers(ctx, req, url)) },
    itemFunction('/api/user/create-user', 100, async (item, dir, ctx, r) => {
      const address = email(item, 'emailAddress');
      if (address instanceof ItemFailure) return address;
      const name = optionalString(item, 'name');
      if (name instanceof ItemFailure) return name;
      const domain = address.slice(address.indexOf('@') + 1);
      if (!dir.isInternalDomain(domain)) {
        return failure('err_user_domain_not_internal', `${SIM_ONLY} ${domain} is not an internal domain of this account`, 'emailAddress');
      }
      if (dir.users.has(address)) return failure('err_user_already_exists', `${SIM_ONLY} ${address} already exists`, 'emailAddress');
      const u = dir.newUser(address, name ?? '', Date.now());
      for (const f of ['forcePasswordChange', 'passwordNeverExpires'] as const) {
        const v = optionalBool(item, f);
        if (v instanceof ItemFailure) return v;
        if (v !== undefined) u[f] = v;
      }
      dir.users.set(address, u);
      await audit(ctx, r.owner, 'User Created', 'account_logs', `created user ${address}`);
      return { id: u.id, emailAddress: u.emailAddress };
    }),
    itemFunction('/api/user/update-user', 100, async (item, dir, ctx, r) => {
      const address = email(item, 'emailAddress');
      if (address instanceof ItemFailure) return address;
      const u = dir.users.get(address);
      if (u === undefined || u.aliasFor !== undefined) return notFound(address);
      const name = optionalString(item, 'name');
      if (name instanceof ItemFailure) return name;
      const flags: Partial<Record<(typeof FLAGS)[number], boolean>> = {};
      for (const f of FLAGS) {
        const v = optionalBool(item, f);
        if (v instanceof ItemFailure) return v;
        if (v !== undefined) flags[f] = v;
      }
      if (name !== undefined) u.name = name;
      Object.assign(u, flags);
      u.updated = Date.now();
      const changed = [...(name !== undefined ? ['name'] : []), ...Object.entries(flags).map(([k, v]) => `${k}=${String(v)}`)];
      await audit(ctx, r.owner, 'User Updated', 'account_logs', `updated user ${address} (${changed.join(', ') || 'no change'})`);
      return settings(u);
    }),
    itemFunction('/api/user/update-alias', 100, async (item, dir, ctx, r) => {
      const primary = email(item, 'aliasFor');
      if (primary instanceof ItemFailure) return primary;
      const alias = email(item, 'alias');
      if (alias instanceof ItemFailure) return alias;
      const owner = dir.users.get(primary);
      if (owner === undefined || owner.aliasFor !== undefined) return failure('err_user_not_found', `${SIM_ONLY} No internal user ${primary}`, 'aliasFor');
      const domain = alias.slice(alias.indexOf('@') + 1);
      if (!dir.isInternalDomain(domain)) return failure('err_user_domain_not_internal', `${SIM_ONLY} ${domain} is not an internal domain of this account`, 'alias');
      if (dir.users.has(alias)) return failure('err_user_already_exists', `${SIM_ONLY} ${alias} already exists`, 'alias');
      const a = dir.newUser(alias, owner.name, Date.now());
      a.aliasFor = primary;
      dir.users.set(alias, a);
      await audit(ctx, r.owner, 'User Updated', 'account_logs', `added alias ${alias} for ${primary}`);
      return { domain, isInternal: true, alias, aliasDisplayName: owner.name, aliasFor: primary, type: 'alias' };
    }),
    itemFunction('/api/user/get-aliases', 100, (item, dir) => {
      const address = email(item, 'emailAddress');
      if (address instanceof ItemFailure) return address;
      const u = dir.users.get(address);
      if (u === undefined || u.aliasFor !== undefined) return notFound(address);
      const aliases = [...dir.users.values()].filter((a) => a.aliasFor === address).map((a) => ({ alias: a.emailAddress, aliasDisplayName: a.name, domain: a.domain }));
      return { emailAddress: address, aliases };
    }),
    itemFunction('/api/user/remove-alias', 100, async (item, dir, ctx, r) => {
      const alias = email(item, 'alias');
      if (alias instanceof ItemFailure) return alias;
      const a = dir.users.get(alias);
      if (a?.aliasFor === undefined) return failure('err_alias_not_found', `${SIM_ONLY} ${alias} is not an alias`, 'alias');
      dir.users.delete(alias);
      await audit(ctx, r.owner, 'User Updated', 'account_logs', `removed alias ${alias} of ${a.aliasFor}`);
      return { alias, aliasFor: a.aliasFor, removed: true };
    }),
    itemFunction('/api/user/add-to-purge-list', 100, async (item, dir, ctx, r) => {
      const address = email(item, 'emailAddress');
      if (address instanceof ItemFailure) return address;
      dir.purgeList.add(address);
      await audit(ctx, r.owner, 'Purge Address Added', 'account_logs', `added ${address} to the purge list`);
      // The real reply's fields are not documented: the simulator echoes the address.
      return { emailAddress: address };
    }),
  );
}
