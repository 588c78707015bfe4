// Sender policies: blocked-sender policies (get/create/delete), managed senders (permit-or-block-sender), address-alteration definitions.
import type { RouteTable } from '../core/routes.js';
import { HttpReply, isObject } from '../http.js';
import { audit, blockedPolicy, directoryOf } from './directory.js';
import { email, failure, isEmail, type Item, ItemFailure, itemFunction, ok, optionalString, perItem, readAdmin, required, SIM_ONLY } from './envelope.js';

const FROM_TYPES = ['everyone', 'internal_addresses', 'external_addresses', 'email_domain', 'profile_group', 'individual_email_address'] as const;
const NEEDS_VALUE = ['email_domain', 'profile_group', 'individual_email_address'];

/** fromType/fromValue from the flat form, or the nested `from{type,emailAddress|emailDomain|groupId}` form. */
function fromOf(policy: Item): { type: string; value: string | undefined } | ItemFailure {
  const nested = policy['from'];
  let type = policy['fromType'];
  let value = policy['fromValue'];
  if (isObject(nested)) {
    type ??= nested['type'];
    value ??= nested['emailAddress'] ?? nested['emailDomain'] ?? nested['groupId'];
  }
  if (type === undefined || type === null) return failure('err_validation_null', 'fromType is required', 'fromType');
  if (typeof type !== 'string' || !(FROM_TYPES as readonly string[]).includes(type)) return failure('err_validation_invalid_value', `fromType must be one of ${FROM_TYPES.join(', ')}`, 'fromType');
  if (!NEEDS_VALUE.includes(type)) return { type, value: undefined };
  if (value === undefined || value === null) return failure('err_validation_null', `fromValue is required for fromType ${type}`, 'fromValue');
  if (typeof value !== 'string' || value.trim() === '') return failure('err_validation_blank', 'fromValue must not be blank', 'fromValue');
  if (type === 'individual_email_address' && !isEmail(value)) return failure('err_validation_invalid_email_address', 'Email address is not valid', 'fromValue');
  return { type, value: value.trim().toLowerCase() };
}

export function registerPolicies(routes: RouteTable): void {
  routes.add(
    {
      method: 'POST',
      path: '/api/policy/blockedsenders/get-policy',
      counter: 'api',
      v1: true,
      handler: async (ctx, req, url) => {
        const r = await readAdmin(ctx, req, url.pathname, 500);
        if (r instanceof HttpReply) return r;
        const dir = directoryOf(ctx);
        if (r.items.length === 0) return ok([...dir.blockedSenders], [], r.headers);
        return perItem(r, (item) => {
          const id = required(item, 'id');
          if (id instanceof ItemFailure) return id;
          return dir.blockedSenders.find((p) => p.id === id) ?? failure('err_policy_not_found', `${SIM_ONLY} No blocked-sender policy with this id`, 'id');
        });
      },
    },
    itemFunction('/api/policy/blockedsenders/create-policy', 1, async (item, dir, ctx, r) => {
      const option = required(item, 'option');
      if (option instanceof ItemFailure) return option;
      if (option !== 'block_sender' && option !== 'no_action') return failure('err_validation_invalid_value', 'option must be block_sender or no_action', 'option');
      const policy = item['policy'];
      if (!isObject(policy)) return failure('err_validation_null', 'policy is required', 'policy');
      const description = required(policy, 'description');
      if (description instanceof ItemFailure) return description;
      const from = fromOf(policy);
      if (from instanceof ItemFailure) return from;
      const p = blockedPolicy(dir.newId(), option, description, from.type, from.value, Date.now());
      dir.blockedSenders.push(p);
      await audit(ctx, r.owner, 'New Policy', 'policy_logs', `blocked senders policy "${description}"`);
      return p;
    }),
    itemFunction('/api/policy/blockedsenders/delete-policy', 100, async (item, dir, ctx, r) => {
      const id = required(item, 'id');
      if (id instanceof ItemFailure) return id;
      const at = dir.blockedSenders.findIndex((p) => p.id === id);
      if (at < 0) return failure('err_policy_not_found', `${SIM_ONLY} No blocked-sender policy with this id`, 'id');
      const [p] = dir.blockedSenders.splice(at, 1);
      await audit(ctx, r.owner, 'Policy Deleted', 'policy_logs', `blocked senders policy "${String(p?.policy['description'])}"`);
      return { id };
    }),
    itemFunction('/api/managedsender/permit-or-block-sender', 100, async (item, dir, ctx, r) => {
      const sender = email(item, 'sender');
      if (sender instanceof ItemFailure) return sender;
      const to = email(item, 'to');
      if (to instanceof ItemFailure) return to;
      const action = required(item, 'action');
      if (action instanceof ItemFailure) return action;
      if (action !== 'permit' && action !== 'block') return failure('err_validation_invalid_value', 'action must be permit or block', 'action');
      const type = action === 'permit' ? 'Permit' : 'Block';
      // One entry per (sender, to): a second call changes its type.
      let entry = dir.managedSenders.find((m) => m.sender === sender && m.to === to);
      if (entry === undefined) {
        entry = { id: dir.newId(), sender, to, type };
        dir.managedSenders.push(entry);
      } else entry.type = type;
      await audit(ctx, r.owner, 'Managed Sender Changed', 'policy_logs', `${type.toLowerCase()} ${sender} for ${to}`);
      return { ...entry };
    }),
    {
      method: 'POST',
      path: '/api/policy/address-alteration/get-definition',
      counter: 'api',
      v1: true,
      handler: async (ctx, req, url) => {
        const r = await readAdmin(ctx, req, url.pathname, 1);
        if (r instanceof HttpReply) return r;
        const item: Item = r.items[0] ?? {};
        const routing = optionalString(item, 'routing');
        if (routing instanceof ItemFailure) return ok([], [{ key: item, errors: [{ code: routing.error.code, message: routing.error.message, retryable: false, field: 'routing' }] }], r.headers);
        const defs = directoryOf(ctx).definitions.filter((d) => routing === undefined || routing === 'all' || d.routing === routing || d.routing === 'all');
        return ok([{ items: defs.map((d) => ({ ...d })) }], [], r.headers);
      },
    },
  );
}
