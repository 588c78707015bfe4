// The other per-type policy reads `policies list` walks: anti-spoofing SPF bypass and address-alteration policies (get-policy; all, or one by id).
import type { SimContext } from '../core/context.js';
import type { Route, RouteTable } from '../core/routes.js';
import { HttpReply } from '../http.js';
import { Rng, mix } from '../prng.js';
import { blockedPolicy, INTERNAL_DOMAINS } from './directory.js';
import { appForbidden, failure, type Item, ItemFailure, ok, perItem, readAdmin, required, SIM_ONLY } from './envelope.js';

const DAY = 86_400_000;

/** One policy as get-policy returns it: `id`, the type's own top-level keys, and the shared `policy{...}` body. */
type PolicyItem = Record<string, unknown> & { id: string };

interface PolicyLists {
  antispoofingBypass: PolicyItem[];
  addressAlteration: PolicyItem[];
}

/**
 * Seeded once per simulated account. Nothing in the CLI writes these, so they live here rather than in the directory.
 * The anti-spoofing `option` values (enable_bypass/disable_bypass) follow the create-policy page; PM2 says get-policy
 * without an id lists them all, NOTES that a live tenant wanted an id: the simulator follows PM2.
 */
const lists = new WeakMap<SimContext['account'], PolicyLists>();

function listsOf(ctx: SimContext): PolicyLists {
  let l = lists.get(ctx.account);
  if (l === undefined) {
    const r = new Rng(mix(ctx.opts.seedH, 0xad5b));
    const id = (): string => `eNo${r.token(60)}`;
    const t = ctx.opts.startTime;
    const [main, sub] = INTERNAL_DOMAINS;
    const body = (description: string, fromType: string, fromValue: string | undefined, since: number): Record<string, unknown> =>
      blockedPolicy('', 'block_sender', description, fromType, fromValue, since).policy;
    l = {
      antispoofingBypass: [
        { id: id(), option: 'disable_bypass', policy: { ...body('SPF bypass for partner relay', 'email_domain', 'partner.example', t - 60 * DAY), conditions: { sourceIPs: ['198.51.100.0/24'] } } },
        { id: id(), option: 'enable_bypass', policy: body('Newsletter platform', 'individual_email_address', 'news@list.example', t - 10 * DAY) },
      ],
      addressAlteration: [{ id: id(), addressAlterationSetId: id(), policy: body(`Rewrite ${String(sub)} to ${String(main)}`, 'internal_addresses', undefined, t - 45 * DAY) }],
    };
    lists.set(ctx.account, l);
  }
  return l;
}

/**
 * `path` with `{data: []}` lists every policy of the type; `{data: [{id}]}` reads those ids (an unknown one to
 * `fail[]`). With `product` among the simulator's `unlicensed` names the function answers as the gateway does for a
 * product the application was not given.
 */
function getPolicy(path: string, product: string, pick: (l: PolicyLists) => PolicyItem[]): Route {
  return {
    method: 'POST',
    path,
    counter: 'api',
    v1: true,
    handler: async (ctx, req, url) => {
      const r = await readAdmin(ctx, req, url.pathname, 500);
      if (r instanceof HttpReply) return r;
      if (ctx.opts.unlicensed.has(product)) return appForbidden(r.headers);
      const all = pick(listsOf(ctx));
      if (r.items.length === 0) return ok(all.map((p) => ({ ...p })), [], r.headers);
      return perItem(r, (item: Item) => {
        const id = required(item, 'id');
        if (id instanceof ItemFailure) return id;
        return all.find((p) => p.id === id) ?? failure('err_policy_not_found', `${SIM_ONLY} No policy of this type with this id`, 'id');
      });
    },
  };
}

export function registerPolicyLists(routes: RouteTable): void {
  routes.add(
    getPolicy('/api/policy/antispoofing-bypass/get-policy', 'anti_spoofing_bypass', (l) => l.antispoofingBypass),
    getPolicy('/api/policy/address-alteration/get-policy', 'address_alteration', (l) => l.addressAlteration),
  );
}
