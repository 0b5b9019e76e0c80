package minio_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/test/e2e/opasts"
)

// BenchmarkIdentityPlugin: MinIO's identity-plugin call, as MinIO makes it
// for every AssumeRoleWithCustomToken (POST /minio/identity?token=<JWT>,
// Authorization: Bearer <the plugin's token>, an empty body), to
// opa-sts's plugins.minio_identity over HTTP from one client, the same
// hydra token every time (its verification cached after the first).
// Reports p50 and p99 with decision logs on the console (as the e2e
// deployment in test/e2e/minio runs it) and off.
func BenchmarkIdentityPlugin(b *testing.B) {
	e := startEnv(b)
	outsiderToken := e.hydra.Token(b, outsider, clientSecret, []string{audience}, nil)
	for _, logs := range []string{"console", "off"} {
		b.Run("decision-logs="+logs, func(b *testing.B) {
			endpoint, auth := e.startIdentityPlugin(b, "identity-"+logs, logs == "console")
			c := newHTTPClient()
			call := func(token string) (int, map[string]any, error) {
				req, err := http.NewRequest(http.MethodPost, endpoint+"?token="+url.QueryEscape(token), http.NoBody)
				if err != nil {
					return 0, nil, err
				}
				req.Header.Set("Authorization", auth)
				resp, err := c.Do(req)
				if err != nil {
					return 0, nil, err
				}
				defer resp.Body.Close()
				raw, err := io.ReadAll(resp.Body)
				if err != nil {
					return resp.StatusCode, nil, err
				}
				var out map[string]any
				if err := json.Unmarshal(raw, &out); err != nil {
					return resp.StatusCode, nil, fmt.Errorf("%d %q: %v", resp.StatusCode, raw, err)
				}
				return resp.StatusCode, out, nil
			}
			// The answer is the contract's: who the workload is, for how
			// long, with its claims; an unbound client is refused.
			status, out, err := call(e.token)
			must(b, err)
			claims, _ := out["claims"].(map[string]any)
			if status != http.StatusOK || out["user"] == "" || out["maxValiditySeconds"] == nil || claims["client_id"] != workload {
				b.Fatalf("identity plugin, bound workload: %d %v", status, out)
			}
			status, out, err = call(outsiderToken)
			must(b, err)
			if status != http.StatusForbidden || out["reason"] == nil {
				b.Fatalf("identity plugin, unbound client: %d %v (want 403 with a reason)", status, out)
			}
			measure(b, 1, "req/s", func() error {
				status, _, err := call(e.token)
				if err == nil && status != http.StatusOK {
					err = fmt.Errorf("identity plugin: %d", status)
				}
				return err
			})
		})
	}
}

// startIdentityPlugin starts opa-sts with plugins.minio_identity on its
// own listener and returns the URL MinIO would be given
// (MINIO_IDENTITY_PLUGIN_URL) and the Authorization it would send.
func (e *env) startIdentityPlugin(b *testing.B, name string, decisionLogs bool) (string, string) {
	b.Helper()
	dir := filepath.Join(e.dir, name)
	policyDir := e.policyDir(b, filepath.Join(name, "policy"))
	const token = "bench-identity-plugin-token-0123456789"
	tokenFile := filepath.Join(dir, "identity.token")
	must(b, os.WriteFile(tokenFile, []byte(token+"\n"), 0o600))
	addr := "127.0.0.1:" + strconv.Itoa(opasts.FreePort(b))
	config := map[string]any{
		"persistence_directory": dir,
		"plugins": map[string]any{
			"minio_identity": map[string]any{"addr": addr, "auth_token_file": tokenFile},
		},
	}
	if decisionLogs {
		config["decision_logs"] = map[string]any{"console": true}
	}
	writeJSON(b, filepath.Join(dir, "config.json"), config)
	srv := opasts.Start(b, dir, "-c", filepath.Join(dir, "config.json"), policyDir)
	endpoint := "http://" + addr + "/minio/identity"
	// The listener comes up with the plugin: wait for its health check.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		req, _ := http.NewRequest(http.MethodHead, endpoint, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("identity plugin %s not up:\n%s", addr, srv.Logs())
		}
	}
	return endpoint, "Bearer " + token
}
