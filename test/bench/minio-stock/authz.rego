# A straightforward IAM-in-Rego policy for MinIO's access-management plugin
# contract, written with stock OPA built-ins only: the baseline that
# scripts/loadtest-minio.sh measures opa-sts's policies/httpapi/authz
# against. Roles are found from group bindings, statements are matched
# with glob.match after substituting ${jwt:...} variables.
package httpapi.authz

default allow := false

claims := object.get(input, "claims", {})

roles contains b.role if {
	some b in data.opa_sts.bindings
	b.issuer == claims.iss
	some g in b.groups
	g in claims.groups
}

statements contains s if {
	some r in roles
	some s in data.opa_sts.roles[r].statements
}

resource := concat("", ["arn:aws:s3:::", input.bucket, "/", input.object]) if input.object != ""

else := concat("", ["arn:aws:s3:::", input.bucket])

vars := {concat("", ["${jwt:", k, "}"]): v | some k, v in claims; is_string(v)}

as_list(x) := x if is_array(x)

else := [x]

matches(s) if {
	some a in as_list(s.Action)
	glob.match(lower(a), null, lower(input.action))
	some r in as_list(s.Resource)
	glob.match(strings.replace_n(vars, r), null, resource)
	conditions_hold(s)
}

conditions_hold(s) if not s.Condition

conditions_hold(s) if {
	every key, cidrs in object.get(s.Condition, "IpAddress", {}) {
		some ip in input.conditions[trim_prefix(key, "aws:")]
		some cidr in as_list(cidrs)
		net.cidr_contains(cidr, ip)
	}
}

deny if {
	some s in statements
	s.Effect == "Deny"
	matches(s)
}

allow if input.owner

allow if {
	not deny
	some s in statements
	s.Effect == "Allow"
	matches(s)
}
