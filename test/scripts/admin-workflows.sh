#!/usr/bin/env bash
# Onboarding, a bulk export and offboarding with `mimecast-collector api`, as README.md shows them (test/api-cli-directory.test.ts runs it).
# Environment: PROFILE (the account), NEW_USER (the address), EXPORT (the export file), and the config in
# MIMECAST_COLLECTOR_CONFIG; CLI: the built CLI (default dist/cli/main.js, from the repository root).
set -euo pipefail
CLI=${CLI:-dist/cli/main.js}
api() { node "$CLI" api "$@" --profile "$PROFILE"; }

# Onboarding: create the user, add it to two groups.
api users create --email "$NEW_USER" --name "New Hire"
api groups add-member --group "Sales Team" --email "$NEW_USER"
api groups add-member --group "Engineering" --email "$NEW_USER"

# Bulk export: every user of the new user's domain, as JSON.
api users list --domain "${NEW_USER#*@}" --output json > "$EXPORT"

# Offboarding: out of its groups, then `users delete` (Mimecast's API cannot delete a user: it is disabled).
api groups remove-member --group "Sales Team" --email "$NEW_USER" --yes
api groups remove-member --group "Engineering" --email "$NEW_USER" --yes
api users delete --email "$NEW_USER" --yes
