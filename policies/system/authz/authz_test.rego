package system.authz_test

import data.system.authz

admin := "admin-token-0123456789"

metrics := "metrics-token-0123456789"

api := {"admin_token_sha256": [crypto.sha256(admin)], "metrics_token_sha256": [crypto.sha256(metrics)]}

allowed(req) if authz.allow with input as req with data.opa_sts.api as api

test_health_is_open if {
	allowed({"method": "GET", "path": ["health"]})
	allowed({"method": "GET", "path": ["health", "ready"]})
	not allowed({"method": "POST", "path": ["health"]})
}

test_decision_paths_are_open_for_post_only if {
	allowed({"method": "POST", "path": ["v1", "data", "httpapi", "authz", "allow"]})
	allowed({"method": "POST", "path": ["v1", "data", "s3", "decision"]})
	not allowed({"method": "PUT", "path": ["v1", "data", "s3", "decision"]})
	not allowed({"method": "PATCH", "path": ["v1", "data", "opa_sts", "bindings"]})
	not allowed({"method": "POST", "path": ["v1", "data", "opa_sts"]})
	not allowed({"method": "POST", "path": ["v1", "data"]})
}

test_everything_else_needs_the_admin_token if {
	every req in [
		{"method": "POST", "path": ["v1", "query"]},
		{"method": "GET", "path": ["v1", "config"]},
		{"method": "PUT", "path": ["v1", "policies", "x"]},
		{"method": "POST", "path": ["v1", "sts", "revocations"]},
		{"method": "GET", "path": ["v1", "data", "opa_sts"]},
		{"method": "GET", "path": ["metrics"]},
	] {
		not allowed(req)
		not allowed(object.union(req, {"identity": "wrong"}))
		allowed(object.union(req, {"identity": admin}))
	}
}

test_metrics_token_reads_metrics_only if {
	allowed({"method": "GET", "path": ["metrics"], "identity": metrics})
	not allowed({"method": "GET", "path": ["v1", "config"], "identity": metrics})
}

test_decision_paths_are_configurable if {
	authz.allow with input as {"method": "POST", "path": ["v1", "data", "custom", "allow"]}
		with data.opa_sts.api as {"decision_paths": ["/v1/data/custom/allow"]}
	not authz.allow with input as {"method": "POST", "path": ["v1", "data", "s3", "decision"]}
		with data.opa_sts.api as {"decision_paths": ["/v1/data/custom/allow"]}
}

test_no_api_data_means_no_tokens if {
	not authz.allow with input as {"method": "GET", "path": ["v1", "config"], "identity": admin}
		with data.opa_sts as {}
}
