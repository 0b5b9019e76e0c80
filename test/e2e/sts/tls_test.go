package sts_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/policies"
	"github.com/opa-sts/opa-sts/test/e2e/idp"
	"github.com/opa-sts/opa-sts/test/e2e/opasts"
)

// TestTLSListener serves the STS over HTTPS with TLS 1.3 only: a TLS 1.2
// client is refused, a TLS 1.3 client gets credentials, plain HTTP gets
// nothing.
func TestTLSListener(t *testing.T) {
	h := idp.StartHydra(t)
	h.CreateClient(t, boundClient, clientSecret, []string{stsAudience}, nil)
	dir := t.TempDir()
	certFile, keyFile, pool := selfSignedCert(t, dir)
	policyDir := filepath.Join(dir, "policy")
	must(t, os.MkdirAll(policyDir, 0o700))
	must(t, policies.WriteDefault(policyDir))
	writeJSON(t, filepath.Join(policyDir, "data.json"), map[string]any{"opa_sts": map[string]any{
		"providers": []any{map[string]any{"issuer": h.Issuer(), "discovery_url": h.DiscoveryURL(), "audiences": []string{stsAudience}}},
		"roles":     map[string]any{"r": map[string]any{"statements": []any{}}},
		"bindings":  []any{map[string]any{"role": "r", "issuer": h.Issuer(), "clients": []string{boundClient}}},
	}})
	stsAddr := "127.0.0.1:" + strconv.Itoa(opasts.FreePort(t))
	writeJSON(t, filepath.Join(dir, "config.json"), map[string]any{
		"persistence_directory": dir,
		"plugins": map[string]any{
			"sts_sessions": map[string]any{"issuer": "https://" + stsAddr, "store": map[string]any{"type": "memory"},
				"keys": map[string]any{"generate": true}},
			"sts": map[string]any{
				"addr": stsAddr,
				"tls":  map[string]any{"cert_file": certFile, "key_file": keyFile, "min_version": "1.3"},
			},
		},
	})
	opasts.Start(t, dir, "-c", filepath.Join(dir, "config.json"), policyDir)

	client := func(maxVersion uint16) *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: maxVersion},
		}}
	}
	base := "https://" + stsAddr
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := client(tls.VersionTLS13).Get(base + "/.well-known/jwks.json")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("TLS listener not up: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := client(tls.VersionTLS12).Get(base + "/.well-known/jwks.json"); err == nil {
		t.Fatal("a TLS 1.2 client was served")
	}
	tok := h.Token(t, boundClient, clientSecret, []string{stsAudience}, nil)
	form := url.Values{"Action": {"AssumeRoleWithClientGrants"}, "Version": {"2011-06-15"}, "Token": {tok}}
	resp, err := client(tls.VersionTLS13).PostForm(base+"/", form)
	must(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<SessionToken>") {
		t.Fatalf("over TLS: %d %s", resp.StatusCode, body)
	}
	// Plain HTTP on the TLS port is not served.
	if resp, err := http.Post("http://"+stsAddr+"/", "application/x-www-form-urlencoded", strings.NewReader(form.Encode())); err == nil && resp.StatusCode == 200 {
		t.Fatal("plain HTTP served credentials on the TLS listener")
	}
}

func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "opa-sts e2e"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	must(t, err)
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	must(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	must(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600))
	cert, err := x509.ParseCertificate(der)
	must(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
