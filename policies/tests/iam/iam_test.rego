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
