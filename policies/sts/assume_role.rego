# METADATA
# title: AssumeRole and GetCallerIdentity
# description: |
#   The decision of SigV4-signed STS calls. The STS verified the signature
#   before asking; input.caller is who signed:
#
#     {"type": "principal", "access_key_id": "AKIA..."}      a long-term principal
#     {"type": "session", "access_key_id": "ASIA...",        credentials this STS issued
#      "session": {"subject", "session_id", "expiration", "grant": {...}}}
#
#   and the AssumeRole parameters are role_arn, role_session_name,
#   duration_seconds (0: not given), policy_document, policy_arns, tags
#   {key: value}, transitive_tag_keys, external_id, source_identity.
#
#   Data:
#     principals  {"<access key id>": {"name": "polaris", "disabled": false}}
#                 (opa-sts principals new prints the entry)
#     roles.<name>.trust  who may assume the role, any entry matching:
#                 {"principals": [names], "roles": [roles of a calling session],
#                  "subjects": [subjects of a calling session],
#                  "external_id": "<required ExternalId>"}
#     roles.<name>.max_duration_seconds  (default 3600, as AWS; at most 43200)
#     account_id  the account in ARNs (default 000000000000)
#
#   As with AWS: a session assuming a role (role chaining) gets at most one
#   hour; its transitive tags carry over and a request cannot override
#   them; its SourceIdentity cannot change; at most 50 tags in all. The
#   grant is the role's statements, narrowed by the session policy, with
#   the tags as aws:PrincipalTag/<key>.
package sts.assume_role

import data.sts as issuance

default account := "000000000000"

account := data.opa_sts.account_id

default principals := {}

principals := data.opa_sts.principals

caller := input.caller

principal := p if {
	caller.type == "principal"
	p := principals[caller.access_key_id]
	not p.disabled
}

calling_session := caller.session if caller.type == "session"

# The caller's name: a principal's, or the calling session's subject.
caller_name := principal.name

caller_name := calling_session.subject

role_name := name if {
	contains(input.role_arn, ":role/")
	parts := split(input.role_arn, "/")
	name := parts[count(parts) - 1]
}

role := data.opa_sts.roles[role_name]

chained if calling_session

default max_duration := 3600

max_duration := min([role.max_duration_seconds, 43200]) if role.max_duration_seconds

duration := d if {
	d := requested_duration
	d >= 900
	d <= limit
}

requested_duration := input.duration_seconds if input.duration_seconds > 0

else := min([3600, limit])

limit := min([max_duration, 3600]) if chained

else := max_duration

# The requested duration within [900, upper], or the default (an hour, or
# upper if lower); undefined outside.
requested_or_default(upper) := d if {
	input.duration_seconds > 0
	d := input.duration_seconds
	d >= 900
	d <= upper
} else := min([3600, upper]) if {
	input.duration_seconds == 0
}

# Trust: an entry whose every named criterion holds.
trusted(t) if {
	every_criterion(t)
	count(object.keys(object.remove(t, ["external_id"]))) > 0
	external_id_ok(t)
}

every_criterion(t) if {
	principal_ok(t)
	roles_ok(t)
	subjects_ok(t)
}

principal_ok(t) if not t.principals

principal_ok(t) if principal.name in t.principals

roles_ok(t) if not t.roles

roles_ok(t) if {
	some r in object.get(calling_session.grant, "roles", [])
	r in t.roles
}

subjects_ok(t) if not t.subjects

subjects_ok(t) if calling_session.subject in t.subjects

external_id_ok(t) if not t.external_id

external_id_ok(t) if input.external_id == t.external_id

assumable if {
	some t in object.get(role, "trust", [])
	trusted(t)
}

# Tags: the calling session's transitive tags, then the request's, which
# cannot override them.
inherited_keys := object.get(calling_session.grant, "transitive_tag_keys", [])

inherited_tags := {k: v |
	some k in inherited_keys
	v := calling_session.grant.tags[k]
}

request_tags := object.get(input, "tags", {})

overridden contains k if {
	some k, _ in request_tags
	some i in inherited_keys
	lower(k) == lower(i)
}

tags := object.union(inherited_tags, request_tags)

transitive_keys := sort({k | some k in array.concat(inherited_keys, object.get(input, "transitive_tag_keys", []))})

default source_identity_ok := true

source_identity_ok := false if {
	calling_session.grant.source_identity
	input.source_identity
	input.source_identity != calling_session.grant.source_identity
}

source_identity := calling_session.grant.source_identity

source_identity := input.source_identity if not calling_session.grant.source_identity

role_id := concat("", ["AROA", upper(substring(crypto.sha256(concat(":", [account, role_name])), 0, 17))])

assumed_arn := sprintf("arn:aws:sts::%s:assumed-role/%s/%s", [account, role_name, input.role_session_name])

permissions := object.get(role, "statements", [])

grant := object.union(object.union(issuance.session_policy, issuance.tags_grant({"tags": tags, "transitive_tag_keys": transitive_keys})), object.union(source_identity_grant, {
	"subject": caller_name,
	"duration_seconds": duration,
	"roles": [role_name],
	"permissions": permissions,
	"source": source,
	"assumed_role": {"arn": assumed_arn, "id": concat(":", [role_id, input.role_session_name]), "session_name": input.role_session_name},
	"variables": sts.iam_variables(object.union(identity_variables, issuance.tag_variables(tags)), [permissions, object.get(input, "policy_document", null)]),
}))

source_identity_grant := {"source_identity": source_identity} if source_identity

else := {}

identity_variables := {"aws:username": principal.name} if principal

else := {}

# A chained session's source: its caller's, with the sessions it comes
# from in "chain" (revoking any of them revokes it).
source := {"principal": principal.name, "access_key_id": caller.access_key_id} if principal

else := object.union(caller_source, {"chain": array.concat(object.get(caller_source, "chain", []), [calling_session.session_id])})

caller_source := object.get(calling_session.grant, "source", {})

default decision := {"allow": false, "reason": "access denied", "rule": "default"}

decision := caller_identity_decision if {
	input.action == "GetCallerIdentity"
} else := {"allow": true, "reason": concat("", [p.name, " assumed role ", role_name]), "rule": "trust", "grant": g} if {
	# The common case, a principal (a catalog), in one body: every rule
	# and function call costs on the issuance path. Sessions (chaining)
	# and every refusal take the general rules below.
	caller.type == "principal"
	p := principals[caller.access_key_id]
	not p.disabled
	count(input.policy_arns) == 0
	r := data.opa_sts.roles[role_name]
	some t in r.trust
	object.keys(t) & {"roles", "subjects"} == set()
	p.name in t.principals
	external_id_ok(t)
	max_d := object.get(r, "max_duration_seconds", 3600)
	d := requested_or_default(min([max_d, 43200]))
	count(input.tags) <= 50
	perms := object.get(r, "statements", [])
	tg := {"tags": input.tags, "transitive_tag_keys": sort({k | some k in input.transitive_tag_keys})}
	session_name := input.role_session_name
	g := object.union(object.union(issuance.session_policy, issuance.tags_grant(tg)), object.union(source_identity_grant, {
		"subject": p.name,
		"duration_seconds": d,
		"roles": [role_name],
		"permissions": perms,
		"source": {"principal": p.name, "access_key_id": caller.access_key_id},
		"assumed_role": {
			"arn": concat("", ["arn:aws:sts::", account, ":assumed-role/", role_name, "/", session_name]),
			"id": concat(":", [role_id, session_name]),
			"session_name": session_name,
		},
		"variables": sts.iam_variables(object.union({"aws:username": p.name}, issuance.tag_variables(input.tags)), [perms, object.get(input, "policy_document", null)]),
	}))
} else := {
	"allow": false, "reason": "the access key is not a known principal (never added to data.opa_sts.principals, or removed or disabled)",
	"error_code": "InvalidClientTokenId", "rule": "principal",
} if {
	caller.type == "principal"
	not principal
} else := {"allow": false, "reason": "PolicyArns are not supported: pass the session policy in the Policy parameter", "error_code": "InvalidParameterValue", "rule": "policy_arns"} if {
	count(object.get(input, "policy_arns", [])) > 0
} else := {"allow": false, "reason": sprintf("%s is not authorized to perform sts:AssumeRole on %s", [caller_label, input.role_arn]), "rule": "trust"} if {
	not assumable
} else := {
	"allow": false,
	"reason": "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
	"error_code": "ValidationError", "rule": "chaining",
} if {
	chained
	input.duration_seconds > 3600
} else := {
	"allow": false,
	"reason": sprintf("The requested DurationSeconds exceeds the MaxSessionDuration set for this role (%d).", [max_duration]),
	"error_code": "ValidationError", "rule": "duration",
} if {
	not duration
} else := {
	"allow": false,
	"reason": sprintf("the session tags %v cannot override the calling session's transitive tags", [sort(overridden)]),
	"error_code": "InvalidParameterValue", "rule": "tags",
} if {
	count(overridden) > 0
} else := {"allow": false, "reason": "at most 50 session tags, inherited ones included", "error_code": "PackedPolicyTooLarge", "rule": "tags"} if {
	count(tags) > 50
} else := {"allow": false, "reason": "the SourceIdentity of a chained session cannot change", "rule": "source_identity"} if {
	not source_identity_ok
} else := {"allow": true, "reason": sprintf("%s assumed role %s", [caller_name, role_name]), "rule": "trust", "grant": grant}

caller_label := sprintf("principal %s", [principal.name]) if principal

else := sprintf("session %s of %s", [caller.access_key_id, calling_session.subject]) if calling_session

else := caller.access_key_id

# GetCallerIdentity answers for every credential opa-sts issued or knows,
# with the shapes AWS gives them.
caller_identity_decision := {"allow": true, "rule": "caller_identity", "caller_identity": {
	"arn": sprintf("arn:aws:iam::%s:user/%s", [account, principal.name]),
	"user_id": caller.access_key_id,
	"account": account,
}} if {
	principal
} else := {"allow": true, "rule": "caller_identity", "caller_identity": {
	"arn": calling_session.grant.assumed_role.arn,
	"user_id": calling_session.grant.assumed_role.id,
	"account": account,
}} if {
	calling_session.grant.assumed_role
} else := {"allow": true, "rule": "caller_identity", "caller_identity": {
	"arn": sprintf("arn:aws:sts::%s:assumed-role/%s/%s", [account, web_role, calling_session.subject]),
	"user_id": sprintf("%s:%s", [concat("", ["AROA", upper(substring(crypto.sha256(concat(":", [account, web_role])), 0, 17))]), calling_session.subject]),
	"account": account,
}} if {
	calling_session
} else := {
	"allow": false, "reason": "the access key is not a known principal (never added to data.opa_sts.principals, or removed or disabled)",
	"error_code": "InvalidClientTokenId", "rule": "principal",
}

# A web-identity session's role in its ARN: its first role.
web_role := r if {
	r := calling_session.grant.roles[0]
} else := "opa-sts"
