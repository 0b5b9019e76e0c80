package sts

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/opa-sts/opa-sts/internal/sessionstore"
)

// openEtcd connects the etcd session store. The client connects lazily:
// an unreachable etcd makes registrations (and so issuance) fail closed
// after the request timeout, while sessions already issued keep verifying.
func openEtcd(c *EtcdConfig) (*sessionstore.Etcd, error) {
	cfg := clientv3.Config{
		Endpoints:   c.Endpoints,
		DialTimeout: time.Duration(max(c.DialTimeoutSeconds, 1)) * time.Second,
		Username:    c.Username,
		Password:    c.Password,
	}
	if c.DialTimeoutSeconds == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if c.TLS != nil {
		ca, err := os.ReadFile(c.TLS.CAFile)
		if err != nil {
			return nil, fmt.Errorf("etcd tls: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, errors.New("etcd tls: no certificate in ca_file")
		}
		tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		if c.TLS.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("etcd tls: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		cfg.TLS = tc
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	return sessionstore.OpenEtcd(cli, sessionstore.EtcdOptions{
		Prefix:         c.Prefix,
		RequestTimeout: time.Duration(c.RequestTimeoutSeconds) * time.Second,
	}), nil
}
