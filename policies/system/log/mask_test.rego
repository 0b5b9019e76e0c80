package system.log_test

import data.system.log

test_tokens_and_secrets_are_masked if {
	every path in ["/input/token", "/input/access_token", "/input/session_token", "/input/secret_access_key", "/result/secret_access_key"] {
		path in log.mask
	}
}

# A MinIO access-management request as OPA's decision logger sees it.
minio_event := {"input": {
	"account": "ABCDEFGHIJKLMNOPQRST",
	"action": "s3:GetObject",
	"conditions": {
		"Authorization": ["AWS4-HMAC-SHA256 Credential=ABCDEFGHIJKLMNOPQRST/20261129/us-east-1/s3/aws4_request, Signature=abc"],
		"X-Amz-Security-Token": ["eyJhbGciOi.minio-session-token"],
		"x-amz-signature": ["0123abcd"],
		"X-Amz-Server-Side-Encryption-Customer-Key": ["MzJieXRlc2VjcmV0a2V5MzJieXRlc2VjcmV0a2V5"],
		"SourceIp": ["10.1.2.3"],
		"UserAgent": ["MinIO (linux; amd64) minio-go/v7.0.90"],
	},
}}

test_minio_secret_conditions_are_masked if {
	masked := log.mask with input as minio_event
	every path in [
		"/input/conditions/Authorization",
		"/input/conditions/X-Amz-Security-Token",
		"/input/conditions/x-amz-signature",
		"/input/conditions/X-Amz-Server-Side-Encryption-Customer-Key",
	] {
		path in masked
	}
	not "/input/conditions/SourceIp" in masked
	not "/input/conditions/UserAgent" in masked
}

test_masking_without_conditions if {
	masked := log.mask with input as {"input": {"token": "x"}}
	"/input/token" in masked
}

test_minio_referer_is_logged_without_its_query if {
	event := {"input": {"conditions": {"Referer": ["https://app.example/view?X-Amz-Security-Token=secret#x"]}}}
	masked := log.mask with input as event
	{"op": "upsert", "path": "/input/conditions/Referer", "value": ["https://app.example/view"]} in masked
}

test_proxy_authorization_and_customer_keys_by_class if {
	event := {"input": {"conditions": {
		"Proxy-Authorization": ["Basic dXNlcjpwYXNz"],
		"X-Custom-Authorization": ["secret"],
		"x-amz-server-side-encryption-customer-key-md5": ["abc"],
		"Content-Type": ["text/plain"],
	}}}
	masked := log.mask with input as event
	"/input/conditions/Proxy-Authorization" in masked
	"/input/conditions/X-Custom-Authorization" in masked
	"/input/conditions/x-amz-server-side-encryption-customer-key-md5" in masked
	not "/input/conditions/Content-Type" in masked
}

# An ad-hoc /v1/query that mints returns the credentials in its bindings:
# the secret members are masked where they are.
test_secrets_masked_at_any_depth if {
	event := {
		"input": {"nested": {"deeper": [{"Session_Token": "t"}]}},
		"result": [{"x": {"access_key_id": "ASIA", "secret_access_key": "s", "session_token": "t"}}],
	}
	masked := log.mask with input as event
	"/input/nested/deeper/0/Session_Token" in masked
	"/result/0/x/secret_access_key" in masked
	"/result/0/x/session_token" in masked
	not "/result/0/x/access_key_id" in masked
}

test_pointer_escaping if {
	event := {"input": {"a/b": {"c~d": {"token": "t"}}}}
	masked := log.mask with input as event
	"/input/a~1b/c~0d/token" in masked
}
