package sts

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/internal/stswire"
)

func TestConfigDefaultsAndValidation(t *testing.T) {
	c, err := parseConfig(nil, "/var/lib/opa")
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != DefaultAddr || c.decisionQuery != "data.sts.decision" || c.URL() != "http://"+DefaultAddr ||
		c.Limits.MaxBodyBytes != 256<<10 || c.Limits.requestTimeout() != 10*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
	c, err = parseConfig([]byte(`{"decision": "data.authz.sts.decide", "tls": {"cert_file": "c", "key_file": "k"}}`), "/d")
	if err != nil || c.decisionQuery != "data.authz.sts.decide" || !strings.HasPrefix(c.URL(), "https://") {
		t.Fatalf("decision path / tls URL: %+v %v", c, err)
	}
	if c, err := parseConfig([]byte(`{"region": "eu-west-1"}`), "/d"); err != nil || c.Region != "eu-west-1" {
		t.Fatalf("region: %+v %v", c, err)
	}
	// The session authority's settings are one section for the process:
	// here they are refused with the advice where they went.
	for _, moved := range []string{`{"issuer": "https://sts"}`, `{"keys": {"dir": "/k"}}`, `{"store": {"type": "memory"}}`} {
		if _, err := parseConfig([]byte(moved), "/d"); err == nil || !strings.Contains(err.Error(), "plugins.sts_sessions") {
			t.Errorf("%s: %v", moved, err)
		}
	}
	for name, raw := range map[string]string{
		"unknown setting":   `{"adress": "127.0.0.1:1"}`,
		"bad addr":          `{"addr": "nonsense"}`,
		"tls without key":   `{"tls": {"cert_file": "c"}}`,
		"tls version":       `{"tls": {"cert_file": "c", "key_file": "k", "min_version": "1.0"}}`,
		"negative limit":    `{"limits": {"max_body_bytes": -1}}`,
		"empty decision":    `{"decision": "data"}`,
		"dev without users": `{"dev_issuer": {"enabled": true}}`,
		"dev weak secret":   `{"dev_issuer": {"enabled": true, "clients": [{"id": "a", "secret": "short"}]}}`,
		"not an object":     `[1]`,
		"region upper case": `{"region": "US-EAST-1"}`,
		"region with /":     `{"region": "us-east-1/sts"}`,
	} {
		if _, err := parseConfig([]byte(raw), "/d"); err == nil {
			t.Errorf("%s: accepted", name)
		}
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

func TestSessionPolicyValidation(t *testing.T) {
	if doc, err := checkSessionPolicy(""); err != nil || doc != nil {
		t.Fatal(err)
	}
	if doc, err := checkSessionPolicy(`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}`); err != nil || doc == nil {
		t.Fatal(err)
	}
	deep := `{"Statement": [{"Sid": ` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `, "Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}`
	for _, bad := range []string{`{`, `{"Statement": [{"Effect": "Permit", "Action": "s3:*", "Resource": "*"}]}`, `{"Foo": 1}`,
		// Two Statements: the last would silently win.
		`{"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::a/*"}], "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}`,
		`{"Statement": [{"Effect": "Allow", "Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}`,
		`{"Statement": [{"Sid": 7, "Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}`,
		`{"Version": "2099-01-01", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}`,
		`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]} trailing`,
		"{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": \"\xff\"}]}",
		deep,
	} {
		if _, err := checkSessionPolicy(bad); err == nil || err.Code != "MalformedPolicyDocument" {
			t.Errorf("%s: %v", bad, err)
		}
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
