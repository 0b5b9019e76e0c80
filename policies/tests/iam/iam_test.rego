# opa test suites for sts.iam_evaluate.
package tests.iam

statements := [
	{"Sid": "home", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::data/home/${jwt:sub}/*"},
	{"Sid": "list", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::data", "Condition": {"StringLike": {"s3:prefix": "home/${jwt:sub}/*"}}},
	{"Sid": "deny-tmp", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::data/home/*/tmp/*"},
]

request(action, resource, context) := {
	"action": action,
	"resource": resource,
	"context": context,
	"variables": {"jwt:sub": "alice"},
}

test_allow_own_home if {
	r := sts.iam_evaluate(statements, request("s3:GetObject", "arn:aws:s3:::data/home/alice/x", {}))
	r.decision == "allow"
	r.sid == "home"
}

test_no_match_elsewhere if {
	r := sts.iam_evaluate(statements, request("s3:GetObject", "arn:aws:s3:::data/home/bob/x", {}))
	r.decision == "no_match"
	r.statement == -1
}

test_explicit_deny_wins if {
	sts.iam_evaluate(statements, request("s3:GetObject", "arn:aws:s3:::data/home/alice/tmp/x", {})).decision == "deny"
}

test_condition_with_variable if {
	sts.iam_evaluate(statements, request("s3:ListBucket", "arn:aws:s3:::data", {"s3:prefix": "home/alice/docs"})).decision == "allow"
	sts.iam_evaluate(statements, request("s3:ListBucket", "arn:aws:s3:::data", {"s3:prefix": ["home/bob/"]})).decision == "no_match"
}

test_policy_document_form if {
	doc := {"Version": "2012-10-17", "Statement": statements[0]}
	sts.iam_evaluate(doc, request("s3:PutObject", "arn:aws:s3:::data/home/alice/y", {})).decision == "allow"
}

test_malformed_statements_fail_closed if {
	not sts.iam_evaluate([{"Effect": "Permit", "Action": "s3:*", "Resource": "*"}], request("s3:GetObject", "arn:aws:s3:::x", {}))
	not sts.iam_evaluate([{"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"Whatever": {"k": "v"}}}], request("s3:GetObject", "arn:aws:s3:::x", {}))
}

test_request_needs_action_and_resource if {
	not sts.iam_evaluate(statements, {"action": "s3:GetObject"})
}

# sts.iam_evaluate_roles: the statements of several roles as one set.

roles := {
	"home": {"statements": statements, "max_duration_seconds": 900},
	"shared": {"statements": [{"Sid": "shared", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/*"}]},
	"no-tmp": {"statements": [{"Sid": "no-tmp-anywhere", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::*/tmp/*"}]},
	"broken": {"statements": [{"Effect": "Maybe", "Action": "s3:*", "Resource": "*"}]},
	"empty": {},
}

test_roles_allow_from_any_role if {
	r := sts.iam_evaluate_roles(roles, ["home", "shared"], request("s3:GetObject", "arn:aws:s3:::data/home/bob/x", {}))
	r.decision == "allow"
	r.role == "shared"
	r.sid == "shared"
}

test_roles_deny_in_one_role_wins if {
	r := sts.iam_evaluate_roles(roles, {"shared", "no-tmp"}, request("s3:GetObject", "arn:aws:s3:::data/x/tmp/y", {}))
	r.decision == "deny"
	r.role == "no-tmp"
	sts.iam_evaluate_roles(roles, ["no-tmp", "shared"], request("s3:GetObject", "arn:aws:s3:::data/x/tmp/y", {})).decision == "deny"
}

test_roles_same_as_one_list if {
	every action in ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"] {
		every resource in ["arn:aws:s3:::data/home/alice/x", "arn:aws:s3:::data/home/alice/tmp/x", "arn:aws:s3:::other/x"] {
			req := request(action, resource, {})
			sts.iam_evaluate_roles(roles, ["home", "shared", "no-tmp"], req).decision == sts.iam_evaluate(array.concat(array.concat(statements, roles.shared.statements), roles["no-tmp"].statements), req).decision
		}
	}
}

test_roles_unknown_or_empty_roles_contribute_nothing if {
	r := sts.iam_evaluate_roles(roles, ["nobody", "empty"], request("s3:GetObject", "arn:aws:s3:::data/x", {}))
	r.decision == "no_match"
	not r.role
	sts.iam_evaluate_roles(roles, [], request("s3:GetObject", "arn:aws:s3:::data/x", {})).decision == "no_match"
}

test_roles_malformed_statements_fail_closed if {
	not sts.iam_evaluate_roles(roles, ["shared", "broken"], request("s3:GetObject", "arn:aws:s3:::data/x", {}))
}

test_roles_names_must_be_strings if {
	names := json.unmarshal(`["shared", 7]`) # not typed statically
	not sts.iam_evaluate_roles(roles, names, request("s3:GetObject", "arn:aws:s3:::data/x", {}))
}
