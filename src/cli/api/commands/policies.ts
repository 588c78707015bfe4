// `api policies list|block-sender|permit-sender|definitions`: the per-type policy reads, a blocked-senders policy, managed senders, address-alteration definitions.
import { ApiError, UsageError, type ErrorCode } from '../../../core/errors.js';
import { postPages } from '../../../mimecast/pages.js';
import { DEFAULT_PAGE_SIZE } from '../context.js';
import { field, str, type ApiAction, type ApiContext, type Column } from '../spec.js';
import { at, limited, note, replyRows, type Row } from './read.js';

/**
 * The policy types with a function that lists them (1.0-style, both generations): Mimecast has no "all policies"
 * function, and permitted-sender policies are not readable at all (their paths answer app_forbidden).
 */
export const POLICY_TYPES = [
  { type: 'blocked_senders', path: '/api/policy/blockedsenders/get-policy' },
  { type: 'anti_spoofing_bypass', path: '/api/policy/antispoofing-bypass/get-policy' },
  { type: 'address_alteration', path: '/api/policy/address-alteration/get-policy' },
] as const;

const CREATE_BLOCKED = '/api/policy/blockedsenders/create-policy';
const MANAGED_SENDER = '/api/managedsender/permit-or-block-sender';
const DEFINITIONS = '/api/policy/address-alteration/get-definition';
/** Most entries permit-or-block-sender takes in one call. */
const MANAGED_SENDER_BATCH = 100;

/** `fromType:fromValue` (or `to...`) from the flat fields, or the nested `from{type, emailAddress|emailDomain|groupId}`. */
function side(row: Row, which: 'from' | 'to'): string | undefined {
  const policy = at(row, 'policy');
  if (typeof policy !== 'object' || policy === null) return undefined;
  const p = policy as Row;
  const type = p[`${which}Type`] ?? at(p, which, 'type');
  if (typeof type !== 'string') return undefined;
  const value = p[`${which}Value`] ?? at(p, which, 'emailAddress') ?? at(p, which, 'emailDomain') ?? at(p, which, 'groupId');
  return typeof value === 'string' && value !== '' ? `${type}:${value}` : type;
}

const POLICY_COLUMNS: readonly Column[] = [
  field('type'),
  field('option'),
  { header: 'description', value: (r) => at(r, 'policy', 'description') },
  { header: 'from', value: (r) => side(r, 'from') },
  { header: 'to', value: (r) => side(r, 'to') },
  { header: 'enabled', value: (r) => at(r, 'policy', 'enabled') },
  field('id'),
];

/**
 * What leaves one policy type out of `policies list` instead of failing it: the application lacks the product or
 * permission (app_forbidden), or the tenant refuses to enumerate the type (a live one wanted an id for anti-spoofing
 * bypass). Auth, network and server errors still fail the command.
 */
const TYPE_LEFT_OUT: readonly ErrorCode[] = ['API_PERMISSION_DENIED', 'API_FAIL', 'API_BAD_REQUEST', 'API_NOT_FOUND'];

const SENDER_COLUMNS: readonly Column[] = [field('sender'), field('to'), field('type'), field('id')];

/** Every primary internal address (aliases left out): each internal domain's users, every page. */
async function internalUsers(ctx: ApiContext): Promise<string[]> {
  const out: string[] = [];
  const domains: string[] = [];
  for await (const page of postPages(ctx.api, '/api/domain/get-internal-domain', [], DEFAULT_PAGE_SIZE, ctx.signal)) {
    for (const d of page.data) if (typeof at(d as Row, 'domain') === 'string') domains.push(String(at(d as Row, 'domain')));
  }
  for (const domain of domains) {
    for await (const page of postPages(ctx.api, '/api/user/get-internal-users', [{ domain }], DEFAULT_PAGE_SIZE, ctx.signal)) {
      for (const item of page.data) {
        const users = at(item as Row, 'users');
        if (!Array.isArray(users)) continue;
        for (const u of users as Row[]) {
          const address = at(u, 'emailAddress');
          if (typeof address === 'string' && at(u, 'alias') !== true && at(u, 'isAlias') !== true) out.push(address);
        }
      }
    }
  }
  return out;
}

export const POLICY_ACTIONS: readonly ApiAction[] = [
  {
    resource: 'policies',
    action: 'list',
    description:
      `every policy of the types Mimecast lists (${POLICY_TYPES.map((t) => t.type).join(', ')}), the type in a column. ` +
      'Mimecast has no function listing all policies, and permitted-sender policies cannot be read through the API; ' +
      'a type the account will not list (app_forbidden, a refusal in fail[]) is left out with a note naming Mimecast\'s code',
    options: [],
    kind: 'read',
    async run(ctx) {
      const rows: Row[] = [];
      const left: ApiError[] = [];
      for (const t of POLICY_TYPES) {
        try {
          for (const p of await ctx.list(t.path, [])) rows.push({ type: t.type, ...p });
        } catch (err) {
          if (!(err instanceof ApiError) || err.retryable || !TYPE_LEFT_OUT.includes(err.code)) throw err;
          left.push(err);
          note(ctx, `${t.type} policies not read: ${err.apiCode ?? err.code}: ${err.message}`);
        }
      }
      if (left.length === POLICY_TYPES.length && left[0] !== undefined) throw left[0];
      return { columns: POLICY_COLUMNS, rows: limited(ctx, rows) };
    },
  },
  {
    resource: 'policies',
    action: 'block-sender',
    description: `block a sender for everyone: a blocked-senders policy on the envelope sender (${CREATE_BLOCKED}); asks first unless --yes`,
    options: [
      { flags: '--email <address>', description: 'the sender to block', required: true },
      { flags: '--description <text>', description: 'the policy description (default: "Block ADDRESS")' },
    ],
    kind: 'destructive',
    async run(ctx, opts) {
      const email = (str(opts, 'email') ?? '').trim();
      if (email === '') throw new UsageError('--email must not be empty');
      const description = str(opts, 'description') ?? `Block ${email}`;
      const item = { option: 'block_sender', policy: { description, fromPart: 'envelope_from', fromType: 'individual_email_address', fromValue: email, toType: 'everyone' } };
      const reply = await ctx.write({ what: `block sender ${email}`, path: CREATE_BLOCKED, data: [item], destructive: true });
      return { columns: POLICY_COLUMNS, rows: replyRows(reply, CREATE_BLOCKED).map((p) => ({ type: 'blocked_senders', ...p })) };
    },
  },
  {
    resource: 'policies',
    action: 'permit-sender',
    description:
      `permit a sender, bypassing spam checks (${MANAGED_SENDER}, action permit). Mimecast permits a sender per recipient ` +
      'and has no permitted-senders policy in its API: with --to, for that recipient; without it, one entry for every internal user',
    options: [
      { flags: '--email <address>', description: 'the (external) sender to permit', required: true },
      { flags: '--to <address>', description: 'the internal recipient (default: every internal user)' },
    ],
    kind: 'write',
    async run(ctx, opts) {
      const sender = (str(opts, 'email') ?? '').trim();
      if (sender === '') throw new UsageError('--email must not be empty');
      const to = str(opts, 'to');
      const recipients = to === undefined ? await internalUsers(ctx) : [to];
      const rows: Row[] = [];
      let sent = false;
      const batches = Math.ceil(recipients.length / MANAGED_SENDER_BATCH);
      for (let b = 0; b < batches; b++) {
        const part = recipients.slice(b * MANAGED_SENDER_BATCH, (b + 1) * MANAGED_SENDER_BATCH);
        const what = to === undefined ? `permit sender ${sender} for ${part.length} internal users (call ${b + 1} of ${batches})` : `permit sender ${sender} for ${to}`;
        const reply = await ctx.write({ what, path: MANAGED_SENDER, data: part.map((r) => ({ sender, to: r, action: 'permit' })) });
        sent ||= reply !== undefined;
        rows.push(...replyRows(reply, MANAGED_SENDER));
      }
      if (to === undefined && sent) {
        note(ctx, `Mimecast permits a sender per recipient: ${sender} is now permitted for each of the ${recipients.length} internal users (one managed-sender entry each; --to permits for one)`);
      }
      return { columns: SENDER_COLUMNS, rows: limited(ctx, rows) };
    },
  },
  {
    resource: 'policies',
    action: 'definitions',
    description:
      `the address alteration definitions (${DEFINITIONS}): the only policy definitions Mimecast's API reads on both generations ` +
      '(impersonation, attachment and URL protection definitions cannot be read)',
    options: [{ flags: '--routing <routing>', description: 'which definitions', choices: ['all', 'inbound', 'outbound'], default: 'all' }],
    kind: 'read',
    async run(ctx, opts) {
      const rows = await ctx.list(DEFINITIONS, [{ routing: str(opts, 'routing') ?? 'all' }], { recordsKey: 'items' });
      note(ctx, 'these are address alteration definitions, the only policy definitions the API can read');
      return {
        columns: [field('originalAddress', 'original'), field('newAddress', 'new'), field('addressType'), field('routing'), field('id')],
        rows,
      };
    },
  },
];
