package enforce_test

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/opa-sts/opa-sts/policies"
	"github.com/opa-sts/opa-sts/test/e2e/opasts"
)

// Enforcement cannot verify a single session without the session
// authority: a process with s3_iam and no plugins.sts_sessions, or one
// whose key files are missing, refuses to start and says why, instead of
// serving versitygw with nothing to verify against.
func TestEnforcementRefusesToStartWithoutTheSessionAuthority(t *testing.T) {
	for name, c := range map[string]struct {
		sessions map[string]any
		want     string
	}{
		"no session authority": {nil, "configure plugins.sts_sessions"},
		"no key files": {map[string]any{"issuer": stsIssuer, "store": map[string]any{"type": "memory"}},
			"no STS keys in"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			policyDir := filepath.Join(dir, "policy")
			must(t, policies.WriteDefault(policyDir))
			plugins := map[string]any{"s3_iam": map[string]any{
				"socket": filepath.Join(dir, "iam.sock"), "access_key": gwAK, "secret_key_file": gatewaySecretFile(t, dir),
			}}
			if c.sessions != nil {
				plugins["sts_sessions"] = c.sessions
			}
			cfg := filepath.Join(dir, "config.json")
			writeJSON(t, cfg, map[string]any{"persistence_directory": dir, "plugins": plugins})
			res := opasts.Run(t, dir, "run", "--server", "--addr", "127.0.0.1:"+strconv.Itoa(opasts.FreePort(t)), "-c", cfg, policyDir)
			if res.Exit == 0 || !strings.Contains(res.Stdout+res.Stderr, c.want) {
				t.Fatalf("exit %d, want a refusal naming %q:\n%s%s", res.Exit, c.want, res.Stdout, res.Stderr)
			}
		})
	}
}
