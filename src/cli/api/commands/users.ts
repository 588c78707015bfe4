// `api users list|create|update|delete`: internal users through the real functions (get-internal-users per domain, or API 2.0's users list; create-user, update-user, update-alias), and `delete` as the nearest thing Mimecast allows.
import { UsageError } from '../../../core/errors.js';
import { field, str, type ApiAction, type ApiContext, type Column } from '../spec.js';
import { addressOption, allGroups, groupMembers, normalAddress, replyItems, text } from './directory.js';

const INTERNAL_DOMAINS = '/api/domain/get-internal-domain';
const INTERNAL_USERS = '/api/user/get-internal-users';
/** API 2.0's own users list: unlike get-internal-users it returns `internal` and `createdDateTime`. */
const NATIVE_USERS = '/user/cloud-gateway/v1/users';
const UPDATE_USER = '/api/user/update-user';

/** `-` (cellText's empty) where the generation's reply has no such field: get-internal-users returns neither `internal` nor a creation time. */
const USER_COLUMNS: readonly Column[] = [
  field('emailAddress'),
  field('name'),
  field('domain'),
  field('internal'),
  { header: 'created', value: (r) => r['createdDateTime'] },
];

async function internalDomains(ctx: ApiContext): Promise<string[]> {
  const rows = await ctx.list(INTERNAL_DOMAINS, [], { unlimited: true });
  return rows.map((d) => normalAddress(text(d['domain']))).filter((d) => d !== '');
}

async function listUsers(ctx: ApiContext, domain: string | undefined): Promise<Record<string, unknown>[]> {
  const domains = await internalDomains(ctx);
  let wanted = domains;
  if (domain !== undefined) {
    const d = normalAddress(domain);
    if (!domains.includes(d)) {
      throw new UsageError(`--domain "${domain}" is not an internal domain of account ${ctx.account.name} (its internal domains: ${domains.join(', ') || 'none'})`);
    }
    wanted = [d];
  }
  if (ctx.account.api === 'v2') {
    const keep = new Set(wanted);
    return ctx.listGet(NATIVE_USERS, {}, 'users', { keep: (u) => keep.has(normalAddress(text(u['domain']))) });
  }
  // API 1.0 lists one domain per call: each internal domain in turn.
  const out: Record<string, unknown>[] = [];
  for (const d of wanted) {
    if (ctx.limit !== undefined && out.length >= ctx.limit) break;
    out.push(...(await ctx.list(INTERNAL_USERS, [{ domain: d }], { recordsKey: 'users' })));
  }
  return ctx.limit === undefined ? out : out.slice(0, ctx.limit);
}

/** The address `--email` (and `--domain`) name for a new user: `--email new.hire --domain corp.example` also works. */
function newAddress(email: string | undefined, domain: string | undefined): string {
  const d = domain === undefined ? undefined : normalAddress(domain);
  const raw = email ?? '';
  const address = addressOption('email', raw.includes('@') || d === undefined ? raw : `${raw}@${d}`);
  if (d !== undefined && address.slice(address.indexOf('@') + 1) !== d) {
    throw new UsageError(`--email "${raw}" is not in --domain "${domain ?? ''}"`);
  }
  return address;
}

const NOT_DELETED =
  "Mimecast's API has no call that deletes a user: `users delete` disables the account (update-user accountDisabled: true), removes its aliases and its group memberships, and with --purge adds the address to the purge list";

const STEP_COLUMNS: readonly Column[] = [field('step'), field('target'), field('call')];

interface Step {
  step: string;
  target: string;
  call: string;
  data: Record<string, unknown>;
}

/** What `users delete` will do for `email`: read its aliases, then walk every group's members for it and its aliases. */
async function deletionPlan(ctx: ApiContext, email: string, purge: boolean): Promise<Step[]> {
  // get-aliases also tells an unknown address (or an alias given instead of the user) apart: it fails for both.
  const info = replyItems(await ctx.api.postJson('/api/user/get-aliases', { data: [{ emailAddress: email }] }, ctx.signal))[0];
  const aliasList = info?.['aliases'];
  const aliases = (Array.isArray(aliasList) ? aliasList : []).map((a) => normalAddress(typeof a === 'string' ? a : text((a as Record<string, unknown>)['alias']))).filter((a) => a !== '');
  const addresses = new Set([email, ...aliases]);
  const steps: Step[] = [{ step: 'disable account', target: email, call: UPDATE_USER, data: { emailAddress: email, accountDisabled: true } }];
  for (const g of await allGroups(ctx)) {
    const id = text(g['id']);
    for (const m of await groupMembers(ctx, id)) {
      const address = normalAddress(text(m['emailAddress']));
      if (!addresses.has(address)) continue;
      steps.push({ step: `remove from group "${text(g['description'])}"`, target: address, call: '/api/directory/remove-group-member', data: { id, emailAddress: address } });
    }
  }
  for (const alias of aliases) steps.push({ step: 'remove alias', target: alias, call: '/api/user/remove-alias', data: { alias } });
  if (purge) steps.push({ step: 'add to purge list', target: email, call: '/api/user/add-to-purge-list', data: { emailAddress: email } });
  return steps;
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

export const USER_ACTIONS: readonly ApiAction[] = [
  {
    resource: 'users',
    action: 'list',
    description: `internal users: API 2.0 reads ${NATIVE_USERS}, API 1.0 ${INTERNAL_USERS} per domain (no internal/created columns there: shown as -); without --domain every internal domain`,
    options: [{ flags: '--domain <domain>', description: 'only this internal domain (default: every internal domain of the account)' }],
    kind: 'read',
    async run(ctx, opts) {
      return { columns: USER_COLUMNS, rows: await listUsers(ctx, str(opts, 'domain')) };
    },
  },
  {
    resource: 'users',
    action: 'create',
    description: 'create an internal user (/api/user/create-user); its domain must be an internal domain of the account',
    options: [
      { flags: '--email <address>', description: 'the new user\'s address (or its local part, with --domain)', required: true },
      { flags: '--name <name>', description: 'display name' },
      { flags: '--domain <domain>', description: 'the internal domain: checked against --email, or completes a bare local part' },
    ],
    kind: 'write',
    async run(ctx, opts) {
      const email = newAddress(str(opts, 'email'), str(opts, 'domain'));
      const name = str(opts, 'name');
      const reply = await ctx.write({ what: `create user ${email}`, path: '/api/user/create-user', data: [{ emailAddress: email, ...(name === undefined ? {} : { name }) }] });
      return { columns: [field('emailAddress'), field('id')], rows: replyItems(reply) };
    },
  },
  {
    resource: 'users',
    action: 'update',
    description: 'rename a user (/api/user/update-user) and/or add an alias address for it (/api/user/update-alias)',
    options: [
      { flags: '--email <address>', description: 'the user', required: true },
      { flags: '--name <name>', description: 'new display name' },
      { flags: '--alias <address>', description: 'an alias address to add for the user' },
    ],
    kind: 'write',
    async run(ctx, opts) {
      const email = addressOption('email', str(opts, 'email'));
      const name = str(opts, 'name');
      const aliasRaw = str(opts, 'alias');
      if (name === undefined && aliasRaw === undefined) throw new UsageError('nothing to update: give --name and/or --alias');
      const alias = aliasRaw === undefined ? undefined : addressOption('alias', aliasRaw);
      const rows: Record<string, unknown>[] = [];
      if (name !== undefined) {
        const reply = await ctx.write({ what: `rename user ${email} to "${name}"`, path: UPDATE_USER, data: [{ emailAddress: email, name }] });
        rows.push({ emailAddress: email, change: 'name', value: name, result: replyItems(reply)[0] });
      }
      if (alias !== undefined) {
        const reply = await ctx.write({ what: `add alias ${alias} for user ${email}`, path: '/api/user/update-alias', data: [{ aliasFor: email, alias }] });
        rows.push({ emailAddress: email, change: 'alias', value: alias, result: replyItems(reply)[0] });
      }
      return { columns: [field('emailAddress'), field('change'), field('value')], rows };
    },
  },
  {
    resource: 'users',
    action: 'delete',
    description: `disable a user, since ${NOT_DELETED}; asks first unless --yes`,
    options: [
      { flags: '--email <address>', description: 'the user', required: true },
      { flags: '--purge', description: 'also add the address to the purge list (/api/user/add-to-purge-list): its data is purged; part of the one confirmation' },
    ],
    kind: 'destructive',
    async run(ctx, opts) {
      const email = addressOption('email', str(opts, 'email'));
      const purge = opts['purge'] === true;
      const steps = await deletionPlan(ctx, email, purge);
      const groups = steps.filter((s) => s.call.endsWith('/remove-group-member')).length;
      const aliases = steps.filter((s) => s.call.endsWith('/remove-alias')).length;
      const what = `disable user ${email} (Mimecast cannot delete it), remove its ${plural(aliases, 'alias', 'aliases')} and ${plural(groups, 'group membership', 'group memberships')}${purge ? ', and add it to the purge list' : ''}`;
      // One question for the whole change: the first write asks it, the rest follow once it is answered.
      const [first, ...rest] = steps;
      if (first === undefined) return { columns: STEP_COLUMNS, rows: [] };
      const dryRun = (await ctx.write({ what, path: first.call, data: [first.data], destructive: true })) === undefined;
      for (const s of rest) await ctx.write({ what: `users delete ${email}: ${s.step}: ${s.target}`, path: s.call, data: [s.data] });
      if (!dryRun) ctx.stderr.write(`${email} was not deleted: ${NOT_DELETED}.\n`);
      return { columns: STEP_COLUMNS, rows: steps.map(({ step, target, call }) => ({ step, target, call })) };
    },
  },
];
