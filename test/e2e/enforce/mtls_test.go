package enforce_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
)

type pki struct{ ca, serverCert, serverKey, clientCert, clientKey string }

// newPKI makes a CA, a server certificate for 127.0.0.1 and a client
// certificate, as files.
func newPKI(t testing.TB, dir string) pki {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e CA"}, IsCA: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	must(t, err)
	caCert, _ := x509.ParseCertificate(caDER)
	write := func(name string, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		must(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return p
	}
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP, name string) (string, string) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn}, IPAddresses: ips,
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		must(t, err)
		kder, _ := x509.MarshalPKCS8PrivateKey(k)
		return write(name+".crt", "CERTIFICATE", der), write(name+".key", "PRIVATE KEY", kder)
	}
	var p pki
	p.ca = write("ca.crt", "CERTIFICATE", caDER)
	p.serverCert, p.serverKey = issue(2, "opa-sts", x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")}, "server")
	p.clientCert, p.clientKey = issue(3, "versitygw", x509.ExtKeyUsageClientAuth, nil, "client")
	return p
}

// TestMutualTLSTransport connects versitygw to opa-sts over TCP with client
// certificates: session credentials work, and a client without a
// certificate cannot even complete the handshake.
func TestMutualTLSTransport(t *testing.T) {
	e := startEnvWith(t, true)
	ctx := context.Background()
	tok := e.hydra.Token(t, client, secret, []string{"sts"}, nil)
	sts, err := miniocreds.NewSTSClientGrants("http://"+e.stsAddr, func() (*miniocreds.ClientGrantsToken, error) {
		return &miniocreds.ClientGrantsToken{Token: tok}, nil
	})
	must(t, err)
	v, err := sts.GetWithContext(nil)
	must(t, err)
	user, _ := minio.New(e.s3Addr, &minio.Options{Creds: miniocreds.NewStaticV4(v.AccessKeyID, v.SecretAccessKey, v.SessionToken), Region: "us-east-1"})
	content := []byte("over mTLS")
	if _, err := user.PutObject(ctx, bucket, "home/"+client+"/mtls.txt", bytes.NewReader(content), int64(len(content)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("put with the IAM service over mTLS: %v", err)
	}

	// Without a client certificate the IAM service is unreachable.
	conn, err := tls.Dial("tcp", e.iamEndpoint, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // probing the server's client-auth requirement
	if err == nil {
		_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
		_, err = conn.Write([]byte("POST /private/version HTTP/1.1\r\nHost: x\r\n\r\n"))
		if err == nil {
			buf := make([]byte, 1)
			_, err = conn.Read(buf)
		}
		conn.Close()
	}
	if err == nil {
		t.Fatal("a client without a certificate was served")
	}
}
