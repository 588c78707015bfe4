// `api groups list|create|add-member|remove-member`: profile groups through find-groups, create-group, add- and remove-group-member.
import { field, str, type ApiAction, type Column } from '../spec.js';
import { FIND_GROUPS, addressOption, replyItems, resolveGroup } from './directory.js';

const GROUP_COLUMNS: readonly Column[] = [field('id'), field('description'), field('source'), field('folderCount')];

const GROUP_OPTION = { flags: '--group <group>', description: 'the group: its id (as `groups list` shows it) or its description', required: true } as const;
const EMAIL_OPTION = { flags: '--email <address>', description: 'the member\'s email address', required: true } as const;
const MEMBER_COLUMNS: readonly Column[] = [field('group'), field('emailAddress'), field('internal'), field('folderId', 'groupId')];

export const GROUP_ACTIONS: readonly ApiAction[] = [
  {
    resource: 'groups',
    action: 'list',
    description: `every profile group of the account (${FIND_GROUPS}, all pages)`,
    options: [],
    kind: 'read',
    async run(ctx) {
      return { columns: GROUP_COLUMNS, rows: await ctx.list(FIND_GROUPS, [{}], { recordsKey: 'folders' }) };
    },
  },
  {
    resource: 'groups',
    action: 'create',
    description: 'create a profile group at the top level (/api/directory/create-group)',
    options: [{ flags: '--description <text>', description: 'the group\'s name', required: true }],
    kind: 'write',
    async run(ctx, opts) {
      const description = str(opts, 'description') ?? '';
      const reply = await ctx.write({ what: `create group "${description}"`, path: '/api/directory/create-group', data: [{ description }] });
      return { columns: GROUP_COLUMNS, rows: replyItems(reply) };
    },
  },
  {
    resource: 'groups',
    action: 'add-member',
    description: 'add an address to a group (/api/directory/add-group-member)',
    options: [GROUP_OPTION, EMAIL_OPTION],
    kind: 'write',
    async run(ctx, opts) {
      const email = addressOption('email', str(opts, 'email'));
      const group = await resolveGroup(ctx, str(opts, 'group') ?? '');
      const reply = await ctx.write({ what: `add ${email} to group "${group.description}"`, path: '/api/directory/add-group-member', data: [{ id: group.id, emailAddress: email }] });
      return { columns: MEMBER_COLUMNS, rows: replyItems(reply).map((r) => ({ group: group.description, ...r })) };
    },
  },
  {
    resource: 'groups',
    action: 'remove-member',
    description: 'remove an address from a group (/api/directory/remove-group-member); asks first unless --yes',
    options: [GROUP_OPTION, EMAIL_OPTION],
    kind: 'destructive',
    async run(ctx, opts) {
      const email = addressOption('email', str(opts, 'email'));
      const group = await resolveGroup(ctx, str(opts, 'group') ?? '');
      const reply = await ctx.write({
        what: `remove ${email} from group "${group.description}"`,
        path: '/api/directory/remove-group-member',
        data: [{ id: group.id, emailAddress: email }],
        destructive: true,
      });
      return { columns: MEMBER_COLUMNS, rows: replyItems(reply).map((r) => ({ group: group.description, ...r })) };
    },
  },
];
