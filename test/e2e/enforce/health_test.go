package enforce_test

import (
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/internal/keyring"
	"github.com/opa-sts/opa-sts/policies"
	"github.com/opa-sts/opa-sts/test/e2e/opasts"
)

// The s3_iam plugin cannot verify a single session without the STS keys:
// until they load, /health?plugins says so; once the key files appear
// (created by an operator, or by the STS plugin), it turns healthy
// without a restart.
func TestIAMPluginIsReadyOnlyWithTheKeys(t *testing.T) {
	dir := t.TempDir()
	policyDir := filepath.Join(dir, "policy")
	must(t, policies.WriteDefault(policyDir))
	keysDir := filepath.Join(dir, "keys")
	cfg := filepath.Join(dir, "config.json")
	writeJSON(t, cfg, map[string]any{
		"persistence_directory": dir,
		"plugins": map[string]any{"s3_iam": map[string]any{
			"socket": filepath.Join(dir, "iam.sock"), "access_key": gwAK, "secret_key": gwSK,
			"issuer": stsIssuer, "keys": map[string]any{"dir": keysDir},
		}},
	})
	srv := opasts.Start(t, dir, "-c", cfg, policyDir)
	health := func() int {
		resp, err := http.Get(srv.URL + "/health?plugins")
		must(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	time.Sleep(time.Second)
	if code := health(); code == http.StatusOK {
		t.Fatal("healthy without the STS keys")
	}
	_, err := keyring.EnsureFiles(keysDir)
	must(t, err)
	waitFor(t, func() bool { return health() == http.StatusOK })
}
