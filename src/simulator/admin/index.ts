// The admin functions the `api` CLI calls, on both API generations, and how the gateway answers an /api path it does not know.
import type { RouteTable } from '../core/routes.js';
import { registerAccount } from './account.js';
import { appForbidden } from './envelope.js';
import { registerGroups } from './groups.js';
import { registerHeld } from './held.js';
import { registerPolicies } from './policies.js';
import { registerPolicyLists } from './policy-lists.js';
import { registerSearch } from './search.js';
import { registerUsers } from './users.js';

export { INTERNAL_DOMAINS } from './directory.js';
export { SIM_ONLY } from './envelope.js';

export function registerAdmin(routes: RouteTable): void {
  registerAccount(routes);
  registerUsers(routes);
  registerGroups(routes);
  registerHeld(routes);
  registerPolicies(routes);
  registerPolicyLists(routes);
  registerSearch(routes);
  // A function no product grants (including the paths the old CLI's docs invent) answers as the 2.0 gateway does.
  routes.setFallback({
    prefix: '/api/',
    counter: 'api',
    handler: (ctx, req, url) => {
      // The gateway knows the caller before it looks for the function: bad credentials are still a 401.
      const who = ctx.auth.identify(req, url.pathname);
      if (!who.ok) return who.reply;
      return appForbidden();
    },
  });
}
