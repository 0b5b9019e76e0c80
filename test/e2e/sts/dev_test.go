package sts_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/test/e2e/opasts"
)

// TestDevMode follows the README: `opa-sts dev`, a token from the
// development issuer, credentials with a plain HTTP POST and with the AWS
// CLI, as the banner prints them.
func TestDevMode(t *testing.T) {
	dir := t.TempDir()
	api := "127.0.0.1:" + strconv.Itoa(opasts.FreePort(t))
	stsAddr := "127.0.0.1:" + strconv.Itoa(opasts.FreePort(t))
	s3Addr := "127.0.0.1:" + strconv.Itoa(opasts.FreePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, opasts.Binary(t), "dev", "--addr", api, "--sts-addr", stsAddr, "--s3-addr", s3Addr, "--data-dir", filepath.Join(dir, "state"))
	cmd.Dir = dir
	out := &opasts.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	must(t, cmd.Start())
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("opa-sts dev output:\n%s", out.String())
		}
	}()
	stsURL := "http://" + stsAddr
	waitFor(t, stsURL+"/dev/.well-known/openid-configuration")
	banner := waitForBanner(t, out)
	for _, want := range []string{"DEVELOPMENT mode", "never use in production", "curl -s -u dev-client:", "aws sts assume-role-with-web-identity"} {
		if !strings.Contains(banner, want) {
			t.Fatalf("banner lacks %q:\n%s", want, banner)
		}
	}

	// 1. A token from the development issuer (client_credentials, basic auth).
	req, _ := http.NewRequest(http.MethodPost, stsURL+"/dev/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("dev-client", "dev-client-secret")
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	must(t, json.NewDecoder(resp.Body).Decode(&tok))
	resp.Body.Close()
	if tok.AccessToken == "" || tok.ExpiresIn != 300 {
		t.Fatalf("dev token: %+v", tok)
	}
	// A wrong secret gets nothing.
	req, _ = http.NewRequest(http.MethodPost, stsURL+"/dev/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("dev-client", "wrong")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %v %v", resp, err)
	}

	// A scope the client may not have is refused (RFC 6749 invalid_scope).
	req, _ = http.NewRequest(http.MethodPost, stsURL+"/dev/token", strings.NewReader("grant_type=client_credentials&scope=admin"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("dev-client", "dev-client-secret")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a scope the client may not have: %v %v", resp, err)
	}

	// 2. Credentials with a plain form POST, as the banner's curl does.
	form := url.Values{"Action": {"AssumeRoleWithClientGrants"}, "Version": {"2011-06-15"}, "DurationSeconds": {"3600"}, "Token": {tok.AccessToken}}
	status, body, _ := post(t, stsURL+"/", "application/x-www-form-urlencoded", form.Encode())
	if status != 200 || !strings.Contains(body, "<SecretAccessKey>") {
		t.Fatalf("curl-style request: %d %s", status, body)
	}

	// 3. The AWS CLI.
	stdout, stderr, err := assumeWithCLI(t, stsURL, tok.AccessToken)
	if err != nil || !strings.Contains(stdout, `"AccessKeyId"`) {
		t.Fatalf("aws cli: %v\n%s\n%s", err, stdout, stderr)
	}

	// OPA's API is protected as in production: health and decisions are
	// open, everything else needs the token the banner names.
	tokenBytes, err := os.ReadFile(filepath.Join(dir, "state", "api-token"))
	must(t, err)
	apiToken := strings.TrimSpace(string(tokenBytes))
	if !strings.Contains(banner, "api-token") || strings.Contains(out.String(), apiToken) {
		t.Fatal("the banner must name the token file, and no log the token")
	}
	apiCall := func(method, path, token, body string) int {
		req, _ := http.NewRequest(method, "http://"+api+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		method, path, token, body string
		want                      int
	}{
		{"GET", "/health", "", "", 200},
		{"POST", "/v1/data/s3/decision", "", `{"input": {"access_key_id": "x", "session_token": "y"}}`, 200},
		{"POST", "/v1/data/httpapi/authz/allow", "", `{"input": {}}`, 200},
		{"POST", "/v1/query", "", `{"query": "x := 1"}`, 401},
		{"GET", "/v1/config", "", "", 401},
		{"PUT", "/v1/data/opa_sts/bindings", "", `[]`, 401},
		{"GET", "/v1/sts/revocations", "", "", 401},
		{"GET", "/v1/config", "wrong-token", "", 401},
		{"GET", "/v1/config", apiToken, "", 200},
		{"GET", "/v1/sts/revocations", apiToken, "", 200},
	} {
		if got := apiCall(c.method, c.path, c.token, c.body); got != c.want {
			t.Errorf("%s %s (token %v): %d, want %d", c.method, c.path, c.token != "", got, c.want)
		}
	}
	// The configuration OPA serves holds no secret of the dev issuer.
	opasts.ExpectConfigWithoutAs(t, "http://"+api, apiToken, "dev-client-secret", apiToken)

	// Keys and sessions persist in the data directory.
	for _, f := range []string{"keys/sts-signing-key.pem", "keys/sts-derivation-secret", "sessions.db", "policy/sts/decision.rego", "config.json"} {
		if _, err := os.Stat(filepath.Join(dir, "state", f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestWatchConfigReload changes the configuration of a running
// `opa-sts run --watch-config`: the plugin restarts its listener with the
// new settings, metrics keep counting, nothing panics.
func TestWatchConfigReload(t *testing.T) {
	dir := t.TempDir()
	policyDir := filepath.Join(dir, "policy")
	must(t, os.MkdirAll(policyDir, 0o700))
	stsAddr := "127.0.0.1:" + strconv.Itoa(opasts.FreePort(t))
	writeConfig := func(maxBody int) {
		writeJSON(t, filepath.Join(dir, "config.json"), map[string]any{
			"persistence_directory": dir,
			"plugins": map[string]any{
				"sts_sessions": map[string]any{"issuer": "http://" + stsAddr, "store": map[string]any{"type": "memory"},
					"keys": map[string]any{"generate": true}},
				"sts": map[string]any{"addr": stsAddr, "limits": map[string]any{"max_body_bytes": maxBody}},
			},
		})
	}
	writeConfig(1 << 16)
	must(t, os.WriteFile(filepath.Join(policyDir, "p.rego"), []byte("package sts\n\ndecision := {\"allow\": false, \"reason\": \"closed\"}\n"), 0o600))
	srv := opasts.Start(t, dir, "-c", filepath.Join(dir, "config.json"), "--watch-config", policyDir)
	waitFor(t, "http://"+stsAddr+"/.well-known/jwks.json")
	form := "Action=AssumeRoleWithClientGrants&Version=2011-06-15&Token=" + strings.Repeat("a", 4000)
	if status, body, _ := post(t, "http://"+stsAddr+"/", "application/x-www-form-urlencoded", form); status != 403 {
		t.Fatalf("before reload: %d %s", status, body)
	}

	writeConfig(1024) // now the same request is too large
	deadline := time.Now().Add(20 * time.Second)
	for {
		// The STS restarts to apply the change: a request may meet the
		// listener closing, which is not a failure.
		status := 0
		if resp, err := http.Post("http://"+stsAddr+"/", "application/x-www-form-urlencoded", strings.NewReader(form)); err == nil {
			status = resp.StatusCode
			resp.Body.Close()
		}
		if status == http.StatusRequestEntityTooLarge {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("configuration change not applied (status %d):\n%s", status, srv.Logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
	metrics := get(t, srv.URL+"/metrics")
	// The denials before the restart are still counted after it.
	if !strings.Contains(metrics, `opa_sts_requests_denied_total{action="AssumeRoleWithClientGrants",code="AccessDenied"} `) ||
		!strings.Contains(metrics, `code="RequestEntityTooLarge"} `) {
		t.Fatalf("metrics after the reload:\n%s\n%s", grepLines(metrics, "opa_sts"), srv.Logs())
	}
	if strings.Contains(srv.Logs(), "panic") {
		t.Fatalf("panic in the log:\n%s", srv.Logs())
	}
}

func waitFor(t *testing.T, u string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(u)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not up after 30s", u)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func grepLines(text, substr string) string {
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if strings.Contains(sc.Text(), substr) {
			b.WriteString(sc.Text() + "\n")
		}
	}
	return b.String()
}

// waitForBanner waits for dev's banner, printed once the S3 endpoint is up.
func waitForBanner(t *testing.T, out *opasts.SyncBuffer) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if s := out.String(); strings.Count(s, "=====") >= 2 {
			return s
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no banner:\n%s", out.String())
	return ""
}

// The REST API and the STS cannot share an address: dev refuses before it
// starts anything, and says why.
func TestDevModeRefusesOneAddressForBoth(t *testing.T) {
	addr := "127.0.0.1:" + strconv.Itoa(opasts.FreePort(t))
	res := opasts.Run(t, t.TempDir(), "dev", "--addr", addr, "--sts-addr", addr)
	if res.Exit == 0 || !strings.Contains(res.Stderr, "must be different addresses") {
		t.Fatalf("exit %d, stderr %q", res.Exit, res.Stderr)
	}
}

// Development mode never listens where other machines reach it: its
// client secret is printed and fixed, its OPA API open.
func TestDevModeRefusesNonLoopbackAddresses(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"--sts-addr", "0.0.0.0:" + strconv.Itoa(opasts.FreePort(t))},
		{"--sts-addr", ":" + strconv.Itoa(opasts.FreePort(t))},
		{"--addr", "0.0.0.0:" + strconv.Itoa(opasts.FreePort(t))},
		{"--s3-addr", "0.0.0.0:" + strconv.Itoa(opasts.FreePort(t))},
	} {
		res := opasts.Run(t, dir, append([]string{"dev", "--data-dir", filepath.Join(dir, "state")}, args...)...)
		if res.Exit == 0 || !strings.Contains(res.Stderr, "loopback only") {
			t.Errorf("%v: exit %d\n%s", args, res.Exit, res.Stderr)
		}
	}
}
