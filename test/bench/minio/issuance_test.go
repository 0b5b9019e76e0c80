package minio_test

import (
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/test/e2e/minioserver"
	"github.com/opa-sts/opa-sts/test/e2e/opasts"
)

// BenchmarkIssuance: AssumeRoleWithWebIdentity with the same hydra token,
// over HTTP, against MinIO's STS (identity_openid on hydra, role policy
// readwrite: MinIO verifies the token, writes the temporary user to its
// IAM store and signs the session token) and against opa-sts's STS
// (plugins.sts with the shipped default policy, the role "bench" chosen
// by RoleArn: verify, decide, mint, register in the bolt session store).
// opa-sts runs as `make run` (opa-sts dev) does: log level info, decision
// logs on the console (each entry masked by the shipped
// policies/system/log/mask.rego), the bolt store; opa-sts-no-decision-logs
// is the same without decision logs, what they cost. It reports
// issuances/s, p50 and p99, and each server's RSS after the run
// ("rss-MB", MiB).
func BenchmarkIssuance(b *testing.B) {
	e := startEnv(b)
	for _, v := range []struct {
		name string
		// start returns the STS endpoint, the RoleArn to send and the
		// server's process id.
		start func(b *testing.B) (endpoint, roleARN string, pid int)
	}{
		{"minio-sts", func(b *testing.B) (string, string, int) {
			srv := minioserver.Start(b, e.dir, e.minioOpenIDEnv()...)
			return srv.URL, minioRoleARN(), srv.PID()
		}},
		{"opa-sts", func(b *testing.B) (string, string, int) { return e.startCheckedSTS(b, "opa-sts-sts", true) }},
		{"opa-sts-no-decision-logs", func(b *testing.B) (string, string, int) {
			return e.startCheckedSTS(b, "opa-sts-sts-nolog", false)
		}},
	} {
		b.Run(v.name, func(b *testing.B) {
			endpoint, roleARN, pid := v.start(b)
			getCreds(b, endpoint, e.token, roleARN)
			form := stsForm(e.token, roleARN)
			c := newHTTPClient()
			for _, clients := range clientCounts {
				b.Run("clients="+strconv.Itoa(clients), func(b *testing.B) {
					measure(b, clients, "issuances/s", func() error {
						_, err := assumeRole(c, endpoint, form)
						return err
					})
					b.ReportMetric(rssMB(b, pid), "rss-MB")
				})
			}
		})
	}
}

// startCheckedSTS starts opa-sts's STS and checks that its policy
// decides: a client bound to no role is refused. It returns the endpoint,
// the RoleArn of the role "bench" and the process id.
func (e *env) startCheckedSTS(b *testing.B, name string, decisionLogs bool) (string, string, int) {
	b.Helper()
	srv, endpoint := e.startSTS(b, name, decisionLogs)
	const roleARN = "arn:aws:iam::000000000000:role/bench"
	outsider := e.hydra.Token(b, outsider, clientSecret, []string{audience}, nil)
	if _, err := assumeRole(newHTTPClient(), endpoint, stsForm(outsider, roleARN)); err == nil ||
		!strings.Contains(err.Error(), "AccessDenied") {
		b.Fatalf("opa-sts issued credentials to a client bound to no role: %v", err)
	}
	return endpoint, roleARN, srv.PID()
}

// startSTS starts opa-sts configured as `opa-sts dev` configures itself
// (decision logs on the console unless decisionLogs is false, log level
// info, bolt session store, generated keys), with hydra as the identity
// provider and the STS listener plugins.sts, and waits for the listener.
func (e *env) startSTS(b *testing.B, name string, decisionLogs bool) (*opasts.Server, string) {
	b.Helper()
	dir := filepath.Join(e.dir, name)
	policyDir := e.policyDir(b, filepath.Join(name, "policy"))
	stsAddr := "127.0.0.1:" + strconv.Itoa(opasts.FreePort(b))
	config := filepath.Join(dir, "config.json")
	cfg := map[string]any{
		"persistence_directory": dir,
		"plugins": map[string]any{
			"sts_sessions": map[string]any{
				"issuer": "http://" + stsAddr,
				"keys":   map[string]any{"dir": filepath.Join(dir, "keys"), "generate": true},
				"store":  map[string]any{"type": "bolt", "path": filepath.Join(dir, "sessions.db")},
			},
			"sts": map[string]any{"addr": stsAddr},
		},
	}
	if decisionLogs {
		cfg["decision_logs"] = map[string]any{"console": true}
	}
	writeJSON(b, config, cfg)
	srv := opasts.Start(b, dir, "-c", config, policyDir)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + stsAddr + "/.well-known/jwks.json")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return srv, "http://" + stsAddr
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("STS listener %s not up:\n%s", stsAddr, srv.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
