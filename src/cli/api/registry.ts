// Every `api RESOURCE ACTION` command; a new one is a file under commands/ and a line here.
import { REPORT_ACTIONS } from './commands/reports.js';
import { TTP_ACTIONS } from './commands/ttp.js';
import type { ApiAction } from './spec.js';

export const API_ACTIONS: readonly ApiAction[] = [...TTP_ACTIONS, ...REPORT_ACTIONS];
