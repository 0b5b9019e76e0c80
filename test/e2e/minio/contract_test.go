// MinIO's access-management plugin contract (POST
// /v1/data/httpapi/authz/allow) on a running opa-sts server, with data
// changed through OPA's REST API while it serves.
package minio_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/policies"
	"github.com/opa-sts/opa-sts/test/e2e/opasts"
)

const iss = "https://kc.example/realms/demo"

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func do(t *testing.T, method, url string, body any) *http.Response {
	t.Helper()
	b, err := json.Marshal(body)
	must(t, err)
	req, err := http.NewRequest(method, url, bytes.NewReader(b))
	must(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	return resp
}

// allowed asks the contract what MinIO asks for a GetObject by alice.
func allowed(t *testing.T, s *opasts.Server) bool {
	t.Helper()
	resp := do(t, http.MethodPost, s.URL+"/v1/data/httpapi/authz/allow", map[string]any{"input": map[string]any{
		"account": "ABCDEFGHIJKLMNOPQRST", "groups": nil, "action": "s3:GetObject", "originalAction": "s3:GetObject",
		"bucket": "data", "object": "home/alice/notes.txt", "owner": false, "denyOnly": false,
		"claims": map[string]any{"iss": iss, "sub": "0f3c", "azp": "minio", "preferred_username": "alice",
			"groups": []string{"/team-a"}, "exp": 4102444800, "accessKey": "ABCDEFGHIJKLMNOPQRST"},
		"conditions": map[string]any{"SourceIp": []string{"10.1.2.3"}, "username": []string{"ABCDEFGHIJKLMNOPQRST"}},
	}})
	defer resp.Body.Close()
	var out struct {
		Result *bool `json:"result"`
	}
	must(t, json.NewDecoder(resp.Body).Decode(&out))
	if resp.StatusCode != http.StatusOK || out.Result == nil {
		t.Fatalf("contract answered %d without a boolean result", resp.StatusCode)
	}
	return *out.Result
}

// OPA's in-memory store changes data in place on a REST write. A change
// that keeps every object's hash (two values swapped between keys) must
// still reach the compiled mapping rules the built-ins cache.
func TestDataWrittenThroughTheAPIChangesDecisions(t *testing.T) {
	dir := t.TempDir()
	must(t, policies.WriteDefault(filepath.Join(dir, "policy")))
	data, _ := json.Marshal(map[string]any{"opa_sts": map[string]any{
		"providers": []any{map[string]any{"issuer": iss, "audiences": []string{"sts"}, "jwks": map[string]any{"keys": []any{}}}},
		"bindings":  []any{map[string]any{"role": "home", "issuer": iss, "groups": []string{"/team-a"}, "clients": []string{"minio"}}},
		"roles": map[string]any{"home": map[string]any{"statements": []any{map[string]any{
			"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/home/${jwt:preferred_username}/*"}}}},
	}})
	must(t, os.WriteFile(filepath.Join(dir, "policy", "data.json"), data, 0o600))
	s := opasts.Start(t, dir, "policy")

	for range 3 {
		if !allowed(t, s) {
			t.Fatal("alice (group /team-a, client minio) is not allowed her home")
		}
	}
	// Swap the two criteria: the binding now wants group "minio" and
	// client "/team-a", which alice's claims do not have.
	resp := do(t, http.MethodPatch, s.URL+"/v1/data/opa_sts/bindings/0", []map[string]any{
		{"op": "replace", "path": "groups", "value": []string{"minio"}},
		{"op": "replace", "path": "clients", "value": []string{"/team-a"}},
	})
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: %d", resp.StatusCode)
	}
	if allowed(t, s) {
		t.Fatal("still allowed after the binding changed: the built-ins used a stale compiled mapping")
	}
	// And back.
	resp = do(t, http.MethodPut, s.URL+"/v1/data/opa_sts/bindings/0", map[string]any{"role": "home", "issuer": iss, "groups": []string{"/team-a"}, "clients": []string{"minio"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT: %d", resp.StatusCode)
	}
	if !allowed(t, s) {
		t.Fatal("not allowed after the binding was restored")
	}
}

// MinIO puts every request header and query parameter into
// input.conditions, its session token and SSE-C keys among them. None of
// them reaches the decision log.
func TestDecisionLogsEraseMinIOSecrets(t *testing.T) {
	dir := t.TempDir()
	must(t, policies.WriteDefault(filepath.Join(dir, "policy")))
	cfg := filepath.Join(dir, "config.json")
	raw, _ := json.Marshal(map[string]any{"decision_logs": map[string]any{"console": true}})
	must(t, os.WriteFile(cfg, raw, 0o600))
	s := opasts.Start(t, dir, "-c", cfg, "policy")

	secrets := map[string]string{
		"X-Amz-Security-Token":                      "eyJhbGciOiJIUzUxMiJ9.minio-session-token.c2ln",
		"Authorization":                             "AWS4-HMAC-SHA256 Credential=ABCDEFGHIJKLMNOPQRST/20261129/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
		"X-Amz-Server-Side-Encryption-Customer-Key": "c3NlLWMta2V5LW9mLTMyLWJ5dGVzLWZvci10aGUtdGVzdA==",
		"X-Amz-Signature":                           "8f0a6c3bdbd17c5b6f2e4fd7b3a1e0c9d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3",
	}
	const refSecret = "referer-session-token-0123456789"
	conditions := map[string]any{"SourceIp": []string{"10.1.2.3"},
		"Referer": []string{"https://console.example/browse?X-Amz-Security-Token=" + refSecret}}
	for k, v := range secrets {
		conditions[k] = []string{v}
	}
	resp := do(t, http.MethodPost, s.URL+"/v1/data/httpapi/authz/allow", map[string]any{"input": map[string]any{
		"account": "ABCDEFGHIJKLMNOPQRST", "action": "s3:GetObject", "bucket": "data", "object": "x",
		"owner": false, "denyOnly": false, "claims": map[string]any{"iss": iss}, "conditions": conditions,
	}})
	resp.Body.Close()
	var logged bool
	deadline := time.Now().Add(10 * time.Second)
	for !logged && time.Now().Before(deadline) {
		logged = strings.Contains(s.Logs(), `"msg":"Decision Log"`)
		time.Sleep(100 * time.Millisecond)
	}
	logs := s.Logs()
	if !logged || !strings.Contains(logs, "/input/conditions/X-Amz-Security-Token") {
		t.Fatalf("no decision log entry with the erased conditions:\n%s", logs)
	}
	for name, secret := range secrets {
		if strings.Contains(logs, secret) {
			t.Errorf("the decision log contains the %s condition", name)
		}
	}
	if strings.Contains(logs, refSecret) || !strings.Contains(logs, `"https://console.example/browse"`) {
		t.Error("the Referer is not logged without its query")
	}
}

// MinIO copies request headers and query parameters into the conditions,
// so a client can add "Sourceip" (a header SourceIp) or "aws:SourceIp" (a
// query parameter) next to the SourceIp MinIO computed. Neither lets a
// client outside the allowed network in.
func TestSourceIPCannotBeSpoofed(t *testing.T) {
	dir := t.TempDir()
	must(t, policies.WriteDefault(filepath.Join(dir, "policy")))
	data, _ := json.Marshal(map[string]any{"opa_sts": map[string]any{
		"providers": []any{map[string]any{"issuer": iss, "audiences": []string{"sts"}, "jwks": map[string]any{"keys": []any{}}}},
		"bindings":  []any{map[string]any{"role": "office", "issuer": iss, "groups": []string{"/team-a"}}},
		"roles": map[string]any{"office": map[string]any{"statements": []any{map[string]any{
			"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/*",
			"Condition": map[string]any{"IpAddress": map[string]any{"aws:SourceIp": "10.0.0.0/8"}}}}}},
	}})
	must(t, os.WriteFile(filepath.Join(dir, "policy", "data.json"), data, 0o600))
	s := opasts.Start(t, dir, "policy")
	ask := func(conditions map[string]any) bool {
		t.Helper()
		resp := do(t, http.MethodPost, s.URL+"/v1/data/httpapi/authz/allow", map[string]any{"input": map[string]any{
			"account": "ABCDEFGHIJKLMNOPQRST", "action": "s3:GetObject", "bucket": "data", "object": "x",
			"owner": false, "denyOnly": false, "conditions": conditions,
			"claims": map[string]any{"iss": iss, "sub": "u", "azp": "minio", "groups": []string{"/team-a"}},
		}})
		defer resp.Body.Close()
		var out struct{ Result bool }
		must(t, json.NewDecoder(resp.Body).Decode(&out))
		return out.Result
	}
	if !ask(map[string]any{"SourceIp": []string{"10.1.2.3"}}) {
		t.Fatal("a client inside 10.0.0.0/8 is not allowed")
	}
	for name, extra := range map[string]string{"header": "Sourceip", "query parameter": "aws:SourceIp"} {
		if ask(map[string]any{"SourceIp": []string{"192.0.2.1"}, extra: []string{"10.1.2.3"}}) {
			t.Errorf("a %s %s=10.1.2.3 let a client from 192.0.2.1 in", name, extra)
		}
	}
}
