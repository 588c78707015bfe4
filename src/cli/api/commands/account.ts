// `api account info`: the account's settings (/api/account/get-account), as one record in json and field/value rows in a table.
import { field, type ApiAction } from '../spec.js';
import { readOnce } from './read.js';

/** A field's value for the table: lists (packages) joined, everything else as it is. */
function shown(v: unknown): unknown {
  return Array.isArray(v) ? v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(', ') : v;
}

export const ACCOUNT_ACTIONS: readonly ApiAction[] = [
  {
    resource: 'account',
    action: 'info',
    description: 'the account: code, name, region, user count, retention, packages (/api/account/get-account)',
    options: [],
    kind: 'read',
    async run(ctx) {
      const accounts = await readOnce(ctx, '/api/account/get-account', []);
      const rows = accounts.flatMap((a) => Object.entries(a).map(([k, v]) => ({ field: k, value: shown(v) })));
      return { columns: [field('field'), field('value')], rows, json: accounts };
    },
  },
];
