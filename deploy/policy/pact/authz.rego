# pact authorization for OPA: the same rules as the journal's built-in RBAC
# (journal/policy/rbac.ts), plus the rules only OPA knows (site roles from
# data, change freezes, command rules). The journal asks
#   POST /v1/data/pact/authz   {"input": {identity, action, scope, command, policy}}
# and reads {"result": {"allow": bool, "reasons": [...]}}.
#
# Input contract (one for every decision):
#   identity: {principal, role, principal_type}   principal_type: human, agent or service
#   action:   status diff log watch cap | commit rollback exec shell service_start
#             service_stop service_restart delegation blacklist | emergency_start
#             emergency_end approve policy_update record enroll
#   scope:    {kind: global|vcluster|node, id, vcluster}   vcluster "" when none
#   command:  the exec/shell command line, "" otherwise
#   policy:   the vCluster's effective policy flags {policy_id, regulated,
#             two_person_approval, emergency_allowed, ai_exec_allowed, exec_whitelist}
#
# Site data (PUT /v1/data/pact/<name>, or data.json beside this file):
#   data.pact.roles:  {"<custom role>": [{"vcluster": "ml", "actions": ["commit"]}]}
#   data.pact.freeze: {"<vcluster>": "<why>"}   state changes refused while set
package pact.authz

import rego.v1

default allow := false

read_actions := {"status", "diff", "log", "watch", "cap"}

write_actions := {
	"commit", "rollback", "exec", "shell", "service_start", "service_stop",
	"service_restart", "delegation", "blacklist",
}

emergency_actions := {"emergency_start", "emergency_end"}

admin_only_actions := {"policy_update", "enroll"}

role := input.identity.role

vc := input.scope.vcluster

# The vCluster a `<prefix><vcluster>` role is for.
scoped(prefix) := v if {
	startswith(role, prefix)
	v := substring(role, count(prefix), -1)
	v != ""
}

allow if {
	granted
	count(reasons) == 0
}

granted if role == "pact-platform-admin"

granted if {
	scoped("pact-ops-") == vc
	not input.action in admin_only_actions
}

granted if {
	scoped("pact-regulated-") == vc
	not input.action in admin_only_actions
	not input.action in emergency_actions
}

granted if {
	scoped("pact-viewer-") == vc
	input.action in read_actions
}

granted if {
	role == "pact-service-agent"
	input.action in read_actions
}

granted if {
	role == "pact-service-agent"
	input.action == "record"
	input.scope.kind == "node"
}

granted if {
	role == "pact-service-ai"
	input.action in read_actions
}

granted if {
	role == "pact-service-ai"
	input.action == "exec"
	input.policy.ai_exec_allowed
}

# Site roles (roles.json) may read; what else they may do is decided only
# here. Never emergency.
granted if {
	data.pact.roles[role]
	input.action in read_actions
}

granted if {
	some binding in data.pact.roles[role]
	binding.vcluster == vc
	input.action in binding.actions
	not input.action in emergency_actions
}

reasons contains "the AI service role may never start or end emergency mode" if {
	role == "pact-service-ai"
	input.action in emergency_actions
}

reasons contains "emergency mode needs a human principal" if {
	input.action in emergency_actions
	input.identity.principal_type != "human"
}

reasons contains msg if {
	input.action == "emergency_start"
	input.policy.emergency_allowed == false
	msg := sprintf("emergency mode is not allowed on vCluster %s", [vc])
}

reasons contains "sysctl -w is not allowed on regulated vClusters" if {
	input.action == "exec"
	input.policy.regulated
	startswith(input.command, "sysctl -w")
}

reasons contains msg if {
	input.action in (write_actions | {"emergency_start"})
	why := data.pact.freeze[vc]
	msg := sprintf("vCluster %s is in a change freeze: %s", [vc, why])
}
