package sts_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/opa-sts/opa-sts/test/e2e/opasts"
)

// TestRevokeIssuedBefore: a revocation of everything issued before a past
// moment (an incident's start) refuses the sessions issued until then and
// leaves the later ones alone; a time in the future or not in RFC 3339 is
// refused.
func TestRevokeIssuedBefore(t *testing.T) {
	e := startEnv(t)
	issue := func() miniocreds.Value {
		t.Helper()
		tok := e.hydra.Token(t, boundClient, clientSecret, []string{stsAudience}, nil)
		creds, _ := miniocreds.NewSTSClientGrants(e.stsURL, func() (*miniocreds.ClientGrantsToken, error) {
			return &miniocreds.ClientGrantsToken{Token: tok}, nil
		})
		v, err := creds.GetWithContext(nil)
		must(t, err)
		return v
	}
	revoke := func(body map[string]any) (int, string) {
		t.Helper()
		b, _ := json.Marshal(body)
		resp, err := http.Post(e.srv.URL+"/v1/sts/revocations", "application/json", bytes.NewReader(b))
		must(t, err)
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	// Session times are whole seconds (the token's iat): keep clear of the
	// boundary.
	before := issue()
	time.Sleep(1500 * time.Millisecond)
	incident := time.Now()
	time.Sleep(1500 * time.Millisecond)
	after := issue()

	if status, body := revoke(map[string]any{"kind": "all", "issued_before": incident.Format(time.RFC3339Nano), "reason": "incident"}); status != 200 {
		t.Fatalf("revoke issued_before: %d %s", status, body)
	}
	r := opasts.VerifySession(t, e.srv.URL, before.AccessKeyID, before.SessionToken)
	if errObj, _ := r["error"].(map[string]any); r["valid"] != false || errObj["code"] != "revoked" {
		t.Fatalf("a session issued before the incident: %v", r)
	}
	if r := opasts.VerifySession(t, e.srv.URL, after.AccessKeyID, after.SessionToken); r["valid"] != true {
		t.Fatalf("a session issued after the incident was refused: %v", r)
	}

	for name, when := range map[string]string{
		"future":     time.Now().Add(time.Hour).Format(time.RFC3339),
		"not a time": "yesterday",
	} {
		if status, _ := revoke(map[string]any{"kind": "all", "issued_before": when}); status != http.StatusBadRequest {
			t.Errorf("issued_before %s: status %d, want 400", name, status)
		}
	}
}
