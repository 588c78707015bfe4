// Every `api RESOURCE ACTION` command; a new one is a file under commands/ and a line here.
import { GROUP_ACTIONS } from './commands/groups.js';
import { REPORT_ACTIONS } from './commands/reports.js';
import { TTP_ACTIONS } from './commands/ttp.js';
import { USER_ACTIONS } from './commands/users.js';
import type { ApiAction } from './spec.js';

export const API_ACTIONS: readonly ApiAction[] = [
  ...TTP_ACTIONS,
  ...REPORT_ACTIONS,
  ...USER_ACTIONS,
  ...GROUP_ACTIONS,
];
