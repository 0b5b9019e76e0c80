package sessions

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/opa-sts/opa-sts/internal/keyring"
	"github.com/opa-sts/opa-sts/internal/secretfile"
	"github.com/opa-sts/opa-sts/internal/sessionstore"
)

// loadTimeout bounds the first load of the revocations from etcd at
// start-up; after it, the snapshot (if any) stands in and the watch keeps
// trying.
const loadTimeout = 5 * time.Second

// Open builds the authority of cfg: it loads the keys (generating them
// first only with keys.generate), opens the store and loads the
// revocations. With etcd unreachable it starts anyway, from the local
// snapshot of the revocations when there is one (ready) or with none (not
// ready: every session is refused until the watch has loaded them). It
// fails on anything a retry cannot fix: missing or bad keys, a bolt file
// that cannot be opened.
func Open(ctx context.Context, cfg *Config, log Logger) (*Authority, error) {
	if !cfg.Configured() {
		return nil, errors.New("sessions: no session authority is configured (plugins.sts_sessions needs at least an issuer)")
	}
	kr, err := loadKeys(cfg.Keys, log)
	if err != nil {
		return nil, err
	}
	a, err := newAuthority(cfg.Issuer, kr, cfg.VerifiedTokenCacheSize)
	if err != nil {
		return nil, err
	}
	var etcd *sessionstore.Etcd
	switch cfg.Store.Type {
	case "memory":
		a.store = sessionstore.NewMemory()
	case "etcd":
		if etcd, err = openEtcd(cfg.Store.Etcd); err != nil {
			return nil, fmt.Errorf("sessions: open the etcd session store: %w", err)
		}
		a.store = etcd
	default:
		st, err := sessionstore.OpenBolt(cfg.Store.Path, sessionstore.BoltOptions{Timeout: 5 * time.Second})
		if err != nil {
			return nil, fmt.Errorf("sessions: open the session store: %w", err)
		}
		a.store = st
	}

	if etcd == nil {
		// A local store answers or is broken: no reason to start without
		// its revocations.
		if err := sessionstore.LoadView(ctx, a.store, a.view); err != nil {
			_ = a.store.Close()
			return nil, fmt.Errorf("sessions: load revocations: %w", err)
		}
		a.markLoaded()
	} else {
		a.snapshot = newSnapshot(cfg.RevocationSnapshot, log)
		lctx, cancel := context.WithTimeout(ctx, loadTimeout)
		rs, lerr := etcd.Revocations(lctx)
		cancel()
		switch {
		case lerr == nil:
			a.sink().Load(rs)
		default:
			saved, at, serr := a.snapshot.read()
			switch {
			case serr == nil:
				a.view.Load(saved)
				a.snapshot.replace(saved)
				a.markLoaded()
				log.Warn("sessions: etcd is unreachable (%v): enforcing the %d revocations of the local snapshot of %s until the watch reloads them", lerr, len(saved), at.UTC().Format(time.RFC3339))
			case errors.Is(serr, os.ErrNotExist):
				log.Error("sessions: etcd is unreachable (%v) and there is no local snapshot of the revocations (%s): every session is refused until etcd answers", lerr, cfg.RevocationSnapshot)
			default:
				log.Error("sessions: etcd is unreachable (%v) and the local snapshot of the revocations cannot be read (%v): every session is refused until etcd answers", lerr, serr)
			}
		}
	}

	bg, cancel := context.WithCancel(context.Background())
	a.stop = cancel
	if etcd != nil {
		a.bg.Add(1)
		go func() {
			defer a.bg.Done()
			// Revocations written by any replica reach this one by watch.
			etcd.Follow(bg, a.sink(), log.Warn)
		}()
	}
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		sessionstore.RunPurger(bg, a.store, time.Duration(cfg.Store.PurgeIntervalSeconds)*time.Second, time.Now, log.Info)
	}()
	return a, nil
}

func loadKeys(k KeysConfig, log Logger) (*keyring.Keyring, error) {
	if len(k.SigningKeyFiles) > 0 {
		kr, err := keyring.Load(keyring.Files{SigningKeys: k.SigningKeyFiles, DerivationSecret: k.DerivationSecretFile})
		if err != nil {
			return nil, fmt.Errorf("sessions: load the STS keys: %w", err)
		}
		return kr, nil
	}
	if k.Generate {
		created, err := keyring.EnsureFiles(k.Dir)
		if err != nil {
			return nil, fmt.Errorf("sessions: generate the STS keys: %w", err)
		}
		if len(created) > 0 {
			log.Warn("GENERATED NEW STS KEYS in %s (%v). They must be backed up: losing them invalidates every credential. "+
				"Replicas must share one set of keys: give every replica keys.signing_key_files and keys.derivation_secret_file instead.", k.Dir, created)
		}
	}
	kr, err := keyring.Load(keyring.DefaultFiles(k.Dir))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("sessions: no STS keys in %s: configure keys.signing_key_files and keys.derivation_secret_file "+
				"(the same on every replica), or keys.generate: true on a single node: %w", k.Dir, err)
		}
		return nil, fmt.Errorf("sessions: load the STS keys: %w", err)
	}
	return kr, nil
}

// openEtcd connects the etcd session store. The client connects lazily:
// an unreachable etcd makes registrations (and so issuance) fail closed
// after the request timeout.
func openEtcd(c *EtcdConfig) (*sessionstore.Etcd, error) {
	cfg := clientv3.Config{
		Endpoints:   c.Endpoints,
		DialTimeout: 5 * time.Second,
		Username:    c.Username,
	}
	if c.DialTimeoutSeconds > 0 {
		cfg.DialTimeout = time.Duration(c.DialTimeoutSeconds) * time.Second
	}
	if c.PasswordFile != "" {
		pw, err := secretfile.Read(c.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("password_file: %w", err)
		}
		cfg.Password = pw
	}
	if c.TLS != nil {
		ca, err := os.ReadFile(c.TLS.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, errors.New("tls: no certificate in ca_file")
		}
		tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		if c.TLS.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("tls: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		cfg.TLS = tc
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return sessionstore.OpenEtcd(cli, sessionstore.EtcdOptions{
		Prefix:         c.Prefix,
		RequestTimeout: time.Duration(c.RequestTimeoutSeconds) * time.Second,
	}), nil
}
