package sts_test

import (
	"net/url"
	"strings"
	"testing"
)

// A grant too large for a session token (S3 clients send the token in a
// header on every request) is refused at issuance: PackedPolicyTooLarge
// when the client's session policy is part of it, otherwise an
// InternalError for the client and the reason in the operator's log.
func TestGrantTooLargeForASessionToken(t *testing.T) {
	e := startEnv(t)
	e.extraStatements = 400
	srv, stsURL := startSTS(t, e, "big-role")
	tok := e.hydra.Token(t, boundClient, clientSecret, []string{stsAudience}, nil)

	form := url.Values{"Action": {"AssumeRoleWithClientGrants"}, "Version": {"2011-06-15"}, "Token": {tok}}
	status, body, _ := post(t, stsURL+"/", "application/x-www-form-urlencoded", form.Encode())
	if status != 500 || !strings.Contains(body, "<Code>InternalError</Code>") || strings.Contains(body, "statements") {
		t.Fatalf("a role too large for a session token: %d %s", status, body)
	}
	if !strings.Contains(srv.Logs(), "does not fit in a session token") {
		t.Fatalf("the reason is not in the log:\n%s", srv.Logs())
	}

	form.Set("Policy", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`)
	status, body, _ = post(t, stsURL+"/", "application/x-www-form-urlencoded", form.Encode())
	if status != 400 || !strings.Contains(body, "<Code>PackedPolicyTooLarge</Code>") {
		t.Fatalf("with a session policy: %d %s", status, body)
	}
}
