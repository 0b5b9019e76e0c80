package credentials

import (
	"strings"
	"testing"
)

func TestPrincipalAccessKeysAndSecrets(t *testing.T) {
	id, err := NewPrincipalAccessKeyID()
	if err != nil {
		t.Fatal(err)
	}
	if !IsPrincipalAccessKeyID(id) || len(id) != 20 || !strings.HasPrefix(id, "AKIA") {
		t.Fatalf("principal access key id %q", id)
	}
	for _, bad := range []string{"", "AKIA", "ASIAAAAAAAAAAAAAAAAA", "AKIAaaaaaaaaaaaaaaaa", "AKIAAAAAAAAAAAAAAAAAA", "AKIAAAAAAAAAAAAAAA-A"} {
		if IsPrincipalAccessKeyID(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
	secret := []byte("derivation-secret-0123456789abcdef")
	a := DerivePrincipalSecret(secret, id)
	if len(a) != 40 || strings.Contains(a, "/") {
		t.Fatalf("secret %q", a)
	}
	if DerivePrincipalSecret(secret, id) != a {
		t.Fatal("not deterministic")
	}
	if DerivePrincipalSecret([]byte("another-derivation-secret-012345"), id) == a {
		t.Fatal("independent of the derivation secret")
	}
	// A session's secret under the same names is another value.
	if DeriveSecret(secret, id, "") == a {
		t.Fatal("the principal and session domains collide")
	}
}
