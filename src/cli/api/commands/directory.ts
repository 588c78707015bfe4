// What the `api users` and `api groups` commands share: reading a function's reply items, finding a group by id or name, walking members.
import { UsageError } from '../../../core/errors.js';
import type { ApiContext } from '../spec.js';
import { isRecord } from '../../../core/util.js';

/** The `data[]` records of a 1.0-style reply (empty for a --dry-run, which sends nothing). */
export function replyItems(reply: unknown): Record<string, unknown>[] {
  if (!isRecord(reply) || !Array.isArray(reply['data'])) return [];
  return reply['data'].filter(isRecord);
}

export function text(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** Mimecast's addresses are case-insensitive; the directory keys them lower-cased. */
export function normalAddress(a: string): string {
  return a.trim().toLowerCase();
}

/** An address as the command line gives it: one `@`, something either side (Mimecast checks the rest). */
export function addressOption(option: string, value: string | undefined): string {
  const v = normalAddress(value ?? '');
  if (!/^[^@\s]+@[^@\s]+$/.test(v)) throw new UsageError(`--${option} "${value ?? ''}" is not an email address`);
  return v;
}

export const FIND_GROUPS = '/api/directory/find-groups';
export const GROUP_MEMBERS = '/api/directory/get-group-members';

export interface GroupRef {
  id: string;
  description: string;
}

/** Every group of the account (find-groups, all pages, whatever --limit says). */
export async function allGroups(ctx: ApiContext): Promise<Record<string, unknown>[]> {
  return ctx.list(FIND_GROUPS, [{}], { recordsKey: 'folders', unlimited: true });
}

/**
 * The group `--group` names: its id as `groups list` shows it, or its description (exactly, any case). Unknown, or a
 * description several groups share, is a usage error naming what exists.
 */
export async function resolveGroup(ctx: ApiContext, value: string): Promise<GroupRef> {
  const groups = (await allGroups(ctx)).map((g) => ({ id: text(g['id']), description: text(g['description']) }));
  const byId = groups.find((g) => g.id === value);
  if (byId !== undefined) return byId;
  const byName = groups.filter((g) => g.description.toLowerCase() === value.trim().toLowerCase());
  if (byName.length === 1 && byName[0] !== undefined) return byName[0];
  if (byName.length > 1) {
    throw new UsageError(`--group "${value}": ${byName.length} groups have this description; give one of their ids: ${byName.map((g) => g.id).join(', ')}`);
  }
  throw new UsageError(`--group "${value}": account ${ctx.account.name} has no group with this id or description (\`api groups list\` shows them)`);
}

/** The members of one group (get-group-members, all pages). */
export function groupMembers(ctx: ApiContext, id: string): Promise<Record<string, unknown>[]> {
  return ctx.list(GROUP_MEMBERS, [{ id }], { recordsKey: 'groupMembers', unlimited: true });
}
