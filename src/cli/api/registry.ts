// Every `api RESOURCE ACTION` command; a new one is a file under commands/ and a line here.
import { ACCOUNT_ACTIONS } from './commands/account.js';
import { GROUP_ACTIONS } from './commands/groups.js';
import { MESSAGE_ACTIONS } from './commands/messages.js';
import { POLICY_ACTIONS } from './commands/policies.js';
import { REPORT_ACTIONS } from './commands/reports.js';
import { TTP_ACTIONS } from './commands/ttp.js';
import { USER_ACTIONS } from './commands/users.js';
import type { ApiAction } from './spec.js';

export const API_ACTIONS: readonly ApiAction[] = [
  ...ACCOUNT_ACTIONS,
  ...MESSAGE_ACTIONS,
  ...TTP_ACTIONS,
  ...USER_ACTIONS,
  ...GROUP_ACTIONS,
  ...POLICY_ACTIONS,
  ...REPORT_ACTIONS,
];
