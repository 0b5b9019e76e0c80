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
