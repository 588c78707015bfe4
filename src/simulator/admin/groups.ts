// Groups (profile groups, "folders" in 1.0): find-groups, get-group-members, create-group, add-group-member, remove-group-member.
import type { IncomingMessage } from 'node:http';
import type { SimContext } from '../core/context.js';
import type { RouteTable } from '../core/routes.js';
import { HttpReply } from '../http.js';
import { audit, directoryOf, type Group, type Member } from './directory.js';
import { ItemFailure, SIM_ONLY, email, failOne, failure, isEmail, ok, optionalString, paginate, perItem, readAdmin, required, type AdminRequest, type Item } from './envelope.js';

/** A group id as Mimecast hands them out; anything else is "truncated or corrupt", which a tenant answers with HTTP 400 and no body. */
const GROUP_ID = /^eNo[A-Za-z0-9_-]{20,}$/;

function groupRow(g: Group): Record<string, unknown> {
  return { id: g.id, description: g.description, source: g.source, parentId: g.parentId, userCount: g.members.length, folderCount: g.folderCount };
}

function memberRow(m: Member): Record<string, unknown> {
  return { emailAddress: m.emailAddress, domain: m.domain, internal: m.internal, type: m.type, name: m.name, notes: m.notes };
}

/** Any malformed group id in the batch: the whole call is HTTP 400 with an empty body (as a tenant answers). */
function malformedId(r: AdminRequest): boolean {
  return r.items.some((i) => typeof i['id'] === 'string' && i['id'] !== '' && !GROUP_ID.test(i['id']));
}

const EMPTY_400 = new HttpReply(400, '', {});

function groupOf(ctx: SimContext, item: Item): Group | ItemFailure {
  const id = required(item, 'id');
  if (id instanceof ItemFailure) return id;
  return directoryOf(ctx).group(id) ?? failure('err_folder_not_found', `${SIM_ONLY} No group with this id`, 'id');
}

/** The member an item names: exactly one of `emailAddress` or `domain`. */
function target(item: Item): { emailAddress: string; domain: string } | ItemFailure {
  const hasAddress = item['emailAddress'] !== undefined && item['emailAddress'] !== null;
  const hasDomain = item['domain'] !== undefined && item['domain'] !== null;
  if (hasAddress === hasDomain) {
    return failure(hasAddress ? 'err_validation_invalid_value' : 'err_validation_null', 'exactly one of emailAddress or domain is required', 'emailAddress');
  }
  if (hasAddress) {
    const a = email(item, 'emailAddress');
    return a instanceof ItemFailure ? a : { emailAddress: a, domain: '' };
  }
  const d = required(item, 'domain');
  if (d instanceof ItemFailure) return d;
  if (!isEmail(`x@${d}`)) return failure('err_validation_invalid_value', 'domain is not a valid domain name', 'domain');
  return { emailAddress: '', domain: d.toLowerCase() };
}

function sameMember(m: Member, t: { emailAddress: string; domain: string }): boolean {
  return t.emailAddress !== '' ? m.emailAddress === t.emailAddress : m.emailAddress === '' && m.domain === t.domain;
}

async function findGroups(ctx: SimContext, req: IncomingMessage, path: string): Promise<HttpReply> {
  const r = await readAdmin(ctx, req, path, 1);
  if (r instanceof HttpReply) return r;
  const item: Item = r.items[0] ?? {};
  const query = optionalString(item, 'query');
  if (query instanceof ItemFailure) return failOne(r, item, query);
  const source = optionalString(item, 'source');
  if (source instanceof ItemFailure) return failOne(r, item, source);
  if (source !== undefined && source !== 'cloud' && source !== 'ldap') return failOne(r, item, failure('err_validation_invalid_value', 'source must be cloud or ldap', 'source'));
  const q = (query ?? '').toLowerCase();
  const groups = directoryOf(ctx).groups.filter((g) => g.description.toLowerCase().includes(q) && (source === undefined || g.source === source));
  const p = paginate(ctx, r, `groups:${q}:${source ?? ''}`, groups);
  if (p instanceof ItemFailure) return failOne(r, item, p);
  return ok([{ source: source ?? 'cloud', query: query ?? '', folders: p.page.map(groupRow) }], [], r.headers, p.pagination);
}

async function groupMembers(ctx: SimContext, req: IncomingMessage, path: string): Promise<HttpReply> {
  const r = await readAdmin(ctx, req, path, 1);
  if (r instanceof HttpReply) return r;
  if (malformedId(r)) return EMPTY_400;
  const item: Item = r.items[0] ?? {};
  const g = groupOf(ctx, item);
  if (g instanceof ItemFailure) return failOne(r, item, g);
  const p = paginate(ctx, r, `members:${g.id}`, g.members);
  if (p instanceof ItemFailure) return failOne(r, item, p);
  return ok([{ groupMembers: p.page.map(memberRow) }], [], r.headers, p.pagination);
}

export function registerGroups(routes: RouteTable): void {
  routes.add(
    { method: 'POST', path: '/api/directory/find-groups', counter: 'api', v1: true, handler: (ctx, req, url) => findGroups(ctx, req, url.pathname) },
    { method: 'POST', path: '/api/directory/get-group-members', counter: 'api', v1: true, handler: (ctx, req, url) => groupMembers(ctx, req, url.pathname) },
    {
      method: 'POST',
      path: '/api/directory/create-group',
      counter: 'api',
      v1: true,
      handler: async (ctx, req, url) => {
        const r = await readAdmin(ctx, req, url.pathname, 100);
        if (r instanceof HttpReply) return r;
        if (malformedId({ ...r, items: r.items.map((i) => ({ id: i['parentId'] })) })) return EMPTY_400;
        const dir = directoryOf(ctx);
        return perItem(r, async (item) => {
          const description = required(item, 'description');
          if (description instanceof ItemFailure) return description;
          const parentId = optionalString(item, 'parentId');
          if (parentId instanceof ItemFailure) return parentId;
          const root = dir.groups[0]?.parentId ?? '';
          const parent = parentId === undefined || parentId === '' || parentId === root ? undefined : dir.group(parentId);
          if (parentId !== undefined && parentId !== '' && parentId !== root && parent === undefined) {
            return failure('err_folder_not_found', `${SIM_ONLY} No group with this parentId`, 'parentId');
          }
          const g: Group = { id: dir.newId(), description, source: 'cloud', parentId: parent?.id ?? root, folderCount: 0, members: [] };
          if (parent !== undefined) parent.folderCount++;
          dir.groups.push(g);
          await audit(ctx, r.owner, 'Profile Group Created', 'account_logs', `created group "${description}"`);
          return groupRow(g);
        });
      },
    },
    {
      method: 'POST',
      path: '/api/directory/add-group-member',
      counter: 'api',
      v1: true,
      handler: async (ctx, req, url) => {
        const r = await readAdmin(ctx, req, url.pathname, 100);
        if (r instanceof HttpReply) return r;
        if (malformedId(r)) return EMPTY_400;
        const dir = directoryOf(ctx);
        return perItem(r, async (item) => {
          const g = groupOf(ctx, item);
          if (g instanceof ItemFailure) return g;
          const t = target(item);
          if (t instanceof ItemFailure) return t;
          const notes = optionalString(item, 'notes');
          if (notes instanceof ItemFailure) return notes;
          if (notes !== undefined && notes.length > 100) return failure('err_validation_invalid_value', 'notes must be at most 100 characters', 'notes');
          if (g.members.some((m) => sameMember(m, t))) return failure('err_folder_group_member_already_exists', 'Group member already exists');
          const m = dir.newMember(t.emailAddress, t.domain, notes ?? '');
          g.members.push(m);
          await audit(ctx, r.owner, 'Profile Group Log Entry', 'account_logs', `added ${t.emailAddress || t.domain} to group "${g.description}"`);
          return t.emailAddress !== '' ? { id: m.id, folderId: g.id, emailAddress: m.emailAddress, internal: m.internal } : { id: m.id, folderId: g.id, domain: m.domain, internal: m.internal };
        });
      },
    },
    {
      method: 'POST',
      path: '/api/directory/remove-group-member',
      counter: 'api',
      v1: true,
      handler: async (ctx, req, url) => {
        const r = await readAdmin(ctx, req, url.pathname, 10);
        if (r instanceof HttpReply) return r;
        if (malformedId(r)) return EMPTY_400;
        return perItem(r, async (item) => {
          const g = groupOf(ctx, item);
          if (g instanceof ItemFailure) return g;
          const t = target(item);
          if (t instanceof ItemFailure) return t;
          const at = g.members.findIndex((m) => sameMember(m, t));
          if (at < 0) return failure('err_folder_email_address_not_found', 'Error email address not found');
          const [m] = g.members.splice(at, 1) as [Member];
          await audit(ctx, r.owner, 'Profile Group (unlink) Log Entry', 'account_logs', `removed ${t.emailAddress || t.domain} from group "${g.description}"`);
          return t.emailAddress !== '' ? { folderId: g.id, emailAddress: m.emailAddress, id: m.id, internal: m.internal } : { folderId: g.id, domain: m.domain, id: m.id, internal: m.internal };
        });
      },
    },
  );
}
