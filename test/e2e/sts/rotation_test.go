package sts_test

import (
	"path/filepath"
	"testing"

	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/opa-sts/opa-sts/internal/keyring"
	"github.com/opa-sts/opa-sts/test/e2e/opasts"
)

// TestSigningKeyRotation follows docs/deployment.md: add the new key second
// everywhere, then first, then drop the old one. No replica refuses a
// valid credential at any step, even in the middle of the second roll-out
// (one replica signing with the new key, another not updated yet).
func TestSigningKeyRotation(t *testing.T) {
	e := startEnv(t)
	dir := t.TempDir()
	oldFiles, newFiles := keyring.DefaultFiles(filepath.Join(dir, "old")), keyring.DefaultFiles(filepath.Join(dir, "new"))
	for _, d := range []string{"old", "new"} {
		_, err := keyring.EnsureFiles(filepath.Join(dir, d))
		must(t, err)
	}
	oldKey, newKey, secret := oldFiles.SigningKeys[0], newFiles.SigningKeys[0], oldFiles.DerivationSecret
	replica := func(name string, signing ...string) (*opasts.Server, string) {
		return startSTSWithKeys(t, e, name, map[string]any{"signing_key_files": signing, "derivation_secret_file": secret})
	}
	issue := func(stsURL string) *miniocreds.Value {
		t.Helper()
		tok := e.hydra.Token(t, boundClient, clientSecret, []string{stsAudience}, nil)
		creds, _ := miniocreds.NewSTSClientGrants(stsURL, func() (*miniocreds.ClientGrantsToken, error) {
			return &miniocreds.ClientGrantsToken{Token: tok}, nil
		})
		v, err := creds.GetWithContext(nil)
		must(t, err)
		return &v
	}
	valid := func(srv *opasts.Server, v *miniocreds.Value) bool {
		return opasts.VerifySession(t, srv.URL, v.AccessKeyID, v.SessionToken)["valid"] == true
	}

	before, beforeSTS := replica("rotation-before", oldKey)
	old := issue(beforeSTS)

	// 1. The new key second, everywhere: verified, not used yet.
	a, aSTS := replica("rotation-a1", oldKey, newKey)
	b, _ := replica("rotation-b1", oldKey, newKey)
	fromA := issue(aSTS)
	for _, srv := range []*opasts.Server{a, b, before} {
		if !valid(srv, old) || !valid(srv, fromA) {
			t.Fatalf("step 1: a credential signed with the old key refused on %s", srv)
		}
	}

	// 2. The new key first, rolled out to replica a only so far: what a
	// signs with the new key verifies on b, which is not updated yet.
	a2, a2STS := replica("rotation-a2", newKey, oldKey)
	fresh := issue(a2STS)
	if !valid(b, fresh) || !valid(a2, fresh) || !valid(a2, old) {
		t.Fatal("step 2: a credential refused in the middle of the roll-out")
	}
	// (A replica that never got the new key would refuse it: the reason
	// for step 1.)
	if valid(before, fresh) {
		t.Fatal("a replica without the new key accepted a credential it signed")
	}

	// 3. After the longest credential lifetime the old key goes; its
	// credentials would have expired by then, here they are refused.
	a3, _ := replica("rotation-a3", newKey)
	if !valid(a3, fresh) {
		t.Fatal("step 3: a credential signed with the new key refused")
	}
	if valid(a3, old) {
		t.Fatal("step 3: a credential signed with the removed key still verifies")
	}
}
