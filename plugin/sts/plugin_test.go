package sts

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/internal/audit"
	"github.com/opa-sts/opa-sts/internal/stswire"
)

func TestConfigDefaultsAndValidation(t *testing.T) {
	c, err := parseConfig(nil, "/var/lib/opa")
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != DefaultAddr || c.decisionQuery != "data.sts.decision" || c.Issuer != "http://"+DefaultAddr ||
		c.Store.Type != "bolt" || c.Store.Path != "/var/lib/opa/sts-sessions.db" || c.Keys.Dir != "/var/lib/opa/sts-keys" ||
		c.Limits.MaxBodyBytes != 256<<10 || c.Limits.requestTimeout() != 10*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
	c, err = parseConfig([]byte(`{"decision": "data.authz.sts.decide", "tls": {"cert_file": "c", "key_file": "k"}}`), "/d")
	if err != nil || c.decisionQuery != "data.authz.sts.decide" || !strings.HasPrefix(c.Issuer, "https://") {
		t.Fatalf("decision path / tls issuer: %+v %v", c, err)
	}
	for name, raw := range map[string]string{
		"unknown setting":   `{"adress": "127.0.0.1:1"}`,
		"bad addr":          `{"addr": "nonsense"}`,
		"tls without key":   `{"tls": {"cert_file": "c"}}`,
		"tls version":       `{"tls": {"cert_file": "c", "key_file": "k", "min_version": "1.0"}}`,
		"half keys":         `{"keys": {"signing_key_files": ["a.pem"]}}`,
		"store type":        `{"store": {"type": "redis"}}`,
		"negative limit":    `{"limits": {"max_body_bytes": -1}}`,
		"empty decision":    `{"decision": "data"}`,
		"dev without users": `{"dev_issuer": {"enabled": true}}`,
		"dev weak secret":   `{"dev_issuer": {"enabled": true, "clients": [{"id": "a", "secret": "short"}]}}`,
		"not an object":     `[1]`,
	} {
		if _, err := parseConfig([]byte(raw), "/d"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func decisionDoc(s string) map[string]any {
	var d map[string]any
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	_ = dec.Decode(&d)
	return d
}

func TestDecisionMapping(t *testing.T) {
	for name, tc := range map[string]struct {
		decision string
		code     string
		status   int
	}{
		"expired":          {`{"allow": false, "token_error": {"code": "expired", "message": "m"}}`, "ExpiredTokenException", 400},
		"idp down":         {`{"allow": false, "token_error": {"code": "idp_unreachable"}}`, "IDPCommunicationError", 400},
		"bad signature":    {`{"allow": false, "token_error": {"code": "bad_signature"}}`, "InvalidIdentityToken", 400},
		"our config":       {`{"allow": false, "token_error": {"code": "invalid_provider"}}`, "InternalError", 500},
		"denied":           {`{"allow": false, "reason": "no"}`, "AccessDenied", 403},
		"rejected claim":   {`{"allow": false, "error_code": "IDPRejectedClaim"}`, "IDPRejectedClaim", 403},
		"session policy":   {`{"allow": false, "error_code": "MalformedPolicyDocument"}`, "MalformedPolicyDocument", 400},
		"unknown code":     {`{"allow": false, "error_code": "Whatever"}`, "AccessDenied", 403},
		"no allow at all":  {`{}`, "AccessDenied", 403},
		"no grant":         {`{"allow": true}`, "InternalError", 500},
		"no subject":       {`{"allow": true, "grant": {"duration_seconds": 3600}}`, "InternalError", 500},
		"string duration":  {`{"allow": true, "grant": {"subject": "a", "duration_seconds": "3600"}}`, "InternalError", 500},
		"duration too low": {`{"allow": true, "grant": {"subject": "a", "duration_seconds": 10}}`, "InvalidParameterValue", 400},
	} {
		_, err := grantFromDecision(decisionDoc(tc.decision))
		if err == nil || err.Code != tc.code || err.Status != tc.status {
			t.Errorf("%s: want %s/%d, got %v", name, tc.code, tc.status, err)
		}
	}
	g, err := grantFromDecision(decisionDoc(`{"allow": true, "grant": {"subject": "alice", "duration_seconds": 3600,
		"source": {"iss": "https://idp", "sub": "u1", "client_id": "app"}, "roles": ["r"]}}`))
	if err != nil || g.Subject != "alice" || g.Duration != time.Hour || g.Source.ClientID != "app" || !strings.Contains(string(g.Details), `"roles":["r"]`) {
		t.Fatalf("grant: %+v %v", g, err)
	}
}

func TestAssumedRoleArn(t *testing.T) {
	r := &stswire.Request{RoleArn: "arn:aws:iam::123456789012:role/path/reader", RoleSessionName: "s1"}
	if got := assumedRoleArn(r, "alice"); got != "arn:aws:sts::123456789012:assumed-role/reader/s1" {
		t.Fatal(got)
	}
	if got := assumedRoleArn(&stswire.Request{}, "alice"); got != "arn:aws:sts:::assumed-role/opa-sts/alice" {
		t.Fatal(got)
	}
}

func TestScrubAndRedact(t *testing.T) {
	const tok = "eyJhbGciOiJSUzI1NiJ9.payload.signature"
	got := scrub(map[string]any{"a": []any{tok, "x"}, "b": tok, "c": 1}, tok)
	b, _ := json.Marshal(got)
	if strings.Contains(string(b), tok) || !strings.Contains(string(b), "redacted:sha256:") {
		t.Fatalf("scrub: %s", b)
	}
	if audit.Fingerprint("") != "" || audit.Fingerprint(tok) == audit.Fingerprint(tok+"x") {
		t.Fatal("redacted")
	}
	if err := scrubError(errTest(tok+" failed"), tok); strings.Contains(err.Error(), tok) {
		t.Fatal("scrubError")
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }

func TestSessionPolicyValidation(t *testing.T) {
	if doc, err := checkSessionPolicy(""); err != nil || doc != nil {
		t.Fatal(err)
	}
	if doc, err := checkSessionPolicy(`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}`); err != nil || doc == nil {
		t.Fatal(err)
	}
	for _, bad := range []string{`{`, `{"Statement": [{"Effect": "Permit", "Action": "s3:*", "Resource": "*"}]}`, `{"Foo": 1}`} {
		if _, err := checkSessionPolicy(bad); err == nil || err.Code != "MalformedPolicyDocument" {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// A decision the STS cannot turn into credentials is an InternalError for
// the client, with the reason only in the detail for the operator's log.
func TestGrantFromDecisionFaultsCarryADetailForTheLog(t *testing.T) {
	for name, c := range map[string]struct {
		decision map[string]any
		detail   string
	}{
		"allow without grant":    {map[string]any{"allow": true}, "no grant object"},
		"grant without subject":  {map[string]any{"allow": true, "grant": map[string]any{"duration_seconds": 900}}, "no subject"},
		"grant without duration": {map[string]any{"allow": true, "grant": map[string]any{"subject": "s"}}, "duration_seconds"},
		"misconfigured provider": {map[string]any{"allow": false, "token_error": map[string]any{
			"code": "invalid_provider", "message": `the provider of issuer "https://kc" is misconfigured: jwks: empty`}}, "https://kc"},
	} {
		t.Run(name, func(t *testing.T) {
			_, werr := grantFromDecision(c.decision)
			if werr == nil || werr.Code != "InternalError" || werr.Status != 500 {
				t.Fatalf("got %v", werr)
			}
			if !strings.Contains(werr.Detail, c.detail) || strings.Contains(werr.Message, c.detail) {
				t.Fatalf("detail %q, client message %q", werr.Detail, werr.Message)
			}
		})
	}
}

func TestSourceIPTrustsForwardedForOnlyFromTrustedProxies(t *testing.T) {
	cfg, err := parseConfig([]byte(`{"trusted_proxies": ["10.0.0.0/8", "192.0.2.7"]}`), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"no proxy configured for this peer", "203.0.113.9:5000", []string{"198.51.100.1"}, "203.0.113.9"},
		{"one trusted proxy", "10.1.2.3:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"spoofed entries before the real client", "10.1.2.3:5000", []string{"1.1.1.1, 198.51.100.1"}, "198.51.100.1"},
		{"two trusted proxies", "10.1.2.3:5000", []string{"198.51.100.1, 192.0.2.7"}, "198.51.100.1"},
		{"header split over lines", "10.1.2.3:5000", []string{"198.51.100.1", "10.9.9.9"}, "198.51.100.1"},
		{"malformed hop", "10.1.2.3:5000", []string{"198.51.100.1, not-an-ip"}, "10.1.2.3"},
		{"no header", "10.1.2.3:5000", nil, "10.1.2.3"},
		{"IPv4-mapped IPv6 peer", "[::ffff:10.1.2.3]:5000", []string{"2001:db8::1"}, "2001:db8::1"},
	} {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.RemoteAddr = c.remote
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := sourceIP(r, cfg.trustedProxies); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	if _, err := parseConfig([]byte(`{"trusted_proxies": ["example.com"]}`), t.TempDir()); err == nil {
		t.Fatal("a host name was accepted as a trusted proxy")
	}
}
