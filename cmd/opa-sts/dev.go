package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/open-policy-agent/opa/v1/runtime"
	"github.com/open-policy-agent/opa/v1/server"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/spf13/cobra"

	"github.com/opa-sts/opa-sts/internal/devgateway"
	"github.com/opa-sts/opa-sts/internal/devmode"
	"github.com/opa-sts/opa-sts/policies"
)

// devClientID and devClientSecret are the development issuer's client. They
// are printed on start: the dev issuer is for a laptop, never production.
const (
	devClientID     = "dev-client"
	devClientSecret = "dev-client-secret"
	// devSubject is the subject of the development client's tokens, the
	// ${jwt:sub} of the development policy.
	devSubject = "dev"
)

// devOptions are the flags of `opa-sts dev`.
type devOptions struct {
	addr, stsAddr, s3Addr, dir, versitygw string
	noS3, decisionLogs                    bool
}

func newDevCommand() *cobra.Command {
	var o devOptions
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Start a local development STS and S3 endpoint that work out of the box",
		Long: `Start opa-sts with the embedded default policy, a session store and keys in
--data-dir, a clearly-labelled DEVELOPMENT token issuer (OAuth2
client_credentials), and an S3 endpoint (versitygw over a folder in
--data-dir, every request decided by opa-sts), so that credentials can be
obtained and used within a minute. The development policy and data are in
<data-dir>/policy: edit them and the next credentials issued use them.

Never use this mode in production: the development issuer hands out tokens
to anyone who knows the printed client secret. Production deployments use
'opa-sts run --server -c config.yaml' with real identity providers.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true
			return runDev(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.addr, "addr", "127.0.0.1:8181", "OPA REST API listen address")
	cmd.Flags().StringVar(&o.stsAddr, "sts-addr", "127.0.0.1:8282", "STS listen address")
	cmd.Flags().StringVar(&o.s3Addr, "s3-addr", "127.0.0.1:7070", "S3 endpoint listen address (versitygw)")
	cmd.Flags().StringVar(&o.dir, "data-dir", ".opa-sts-dev", "directory for keys, sessions, the S3 folder and the generated policy and configuration")
	cmd.Flags().StringVar(&o.versitygw, "versitygw", "", "the versitygw binary (default: the one scripts/build-tools.sh builds, else versitygw on PATH)")
	cmd.Flags().BoolVar(&o.noS3, "no-s3", false, "serve the STS only, without the S3 endpoint")
	cmd.Flags().BoolVar(&o.decisionLogs, "decision-logs", false, "also print OPA's decision log entries (JSON) on the console")
	return cmd
}

// devFiles are the generated files of a dev data directory.
type devFiles struct {
	dir, policy, data, apiToken, clientSecret, config, awsConfig string
	iamSocket, iamSecret, s3Root, s3Credentials                  string
}

func newDevFiles(dir string) devFiles {
	j := func(name string) string { return filepath.Join(dir, name) }
	return devFiles{dir: dir, policy: j("policy"), data: filepath.Join(dir, "policy", "data.json"), apiToken: j("api-token"),
		clientSecret: j("dev-client.secret"), config: j("config.json"), awsConfig: j("aws-config"),
		iamSocket: j("iam.sock"), iamSecret: j("gateway-iam.secret"), s3Root: j("s3"), s3Credentials: j("s3-root.credentials")}
}

func runDev(ctx context.Context, o devOptions) error {
	addrs := [][2]string{{"--addr", o.addr}, {"--sts-addr", o.stsAddr}}
	if !o.noS3 {
		addrs = append(addrs, [2]string{"--s3-addr", o.s3Addr})
	}
	seen := map[string]string{}
	for _, fa := range addrs {
		flag, a := fa[0], fa[1]
		if err := requireLoopback(a); err != nil {
			return fmt.Errorf("dev: %s %s: %w", flag, a, err)
		}
		if other, dup := seen[a]; dup {
			return fmt.Errorf("dev: %s and %s must be different addresses, both are %s", other, flag, a)
		}
		seen[a] = flag
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	f := newDevFiles(dir)
	if err := os.MkdirAll(f.policy, 0o700); err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	// The embedded default policies, written out so they can be read. The
	// data (roles, bindings) is the developer's: written once, kept.
	if err := policies.WriteDefault(f.policy); err != nil {
		return fmt.Errorf("dev: write policy: %w", err)
	}
	stsURL := "http://" + o.stsAddr
	devIssuer := stsURL + "/dev"
	// OPA's API is protected as in production (system.authz, tokens):
	// decisions and health are open, everything else takes this token,
	// new at every start; data holds only its hash.
	apiToken, err := newAPIToken()
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	if err := os.WriteFile(f.apiToken, []byte(apiToken+"\n"), 0o600); err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	tokenHash := sha256.Sum256([]byte(apiToken))
	if err := writeDevData(f.data, devIssuer, hex.EncodeToString(tokenHash[:])); err != nil {
		return err
	}
	// Even the development client's secret is not inline: OPA serves the
	// configuration on GET /v1/config.
	if err := os.WriteFile(f.clientSecret, []byte(devClientSecret+"\n"), 0o600); err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	plugins := map[string]any{
		"sts_sessions": map[string]any{
			"issuer": stsURL,
			"keys":   map[string]any{"dir": filepath.Join(dir, "keys"), "generate": true},
			"store":  map[string]any{"type": "bolt", "path": filepath.Join(dir, "sessions.db")},
		},
		"sts": map[string]any{
			"addr":          o.stsAddr,
			"log_decisions": true,
			"dev_issuer": map[string]any{"enabled": true, "key_file": filepath.Join(dir, "keys", "dev-issuer-key.pem"),
				"clients": []any{map[string]any{"id": devClientID, "secret_file": f.clientSecret, "claims": map[string]any{"sub": devSubject}}}},
		},
	}
	var gw *gatewaySettings
	if !o.noS3 {
		if gw, err = newGatewaySettings(f); err != nil {
			return err
		}
		_ = os.Remove(f.iamSocket) // a socket left by a killed run
		plugins["s3_iam"] = map[string]any{"socket": f.iamSocket, "access_key": gw.iamAccess,
			"secret_key_file": f.iamSecret, "log_decisions": true}
	}
	config := map[string]any{"persistence_directory": dir, "plugins": plugins}
	if o.decisionLogs {
		config["decision_logs"] = map[string]any{"console": true}
	}
	if err := writeJSONFile(f.config, config); err != nil {
		return err
	}
	if err := writeAWSConfig(f, stsURL, devIssuer); err != nil {
		return err
	}

	params := runtime.NewParams()
	params.Addrs = &[]string{o.addr}
	params.AddrSetByUser = true
	params.ConfigFile = f.config
	params.Paths = []string{f.policy}
	params.Watch = true // edits to the policy and data apply at once
	params.Brand = "opa-sts"
	params.Authentication = server.AuthenticationToken
	params.Authorization = server.AuthorizationBasic
	params.ReadAstValuesFromStore = true
	params.Logging = runtime.LoggingConfig{Level: "info", Format: "text"}
	params.GracefulShutdownPeriod = 5

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	rt, err := runtime.NewRuntime(ctx, params)
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	announceReloads(ctx, rt, f.policy)
	served := make(chan error, 1)
	go func() { served <- rt.Serve(ctx) }()

	s3 := ""
	if gw != nil {
		g, err := startDevGateway(ctx, o, f, gw, served)
		switch {
		case errors.Is(err, errServeEnded):
			return <-served
		case err != nil:
			// The STS still serves: say what is missing and how to get it.
			fmt.Fprintf(os.Stderr, "\n*** dev: no S3 endpoint: %v\n*** the STS runs without it (--no-s3 silences this).\n", err)
		default:
			defer g.Stop()
			s3 = "http://" + o.s3Addr
		}
	}
	// The banner's commands must work the moment it is printed: OPA's
	// server binds its listener in Serve, which may not have happened yet.
	if err := waitListening(ctx, o.addr, served); err != nil {
		return err
	}
	printDevBanner(os.Stderr, bannerInfo{stsURL: stsURL, devIssuer: devIssuer, addr: o.addr, files: f, s3: s3, s3Addr: o.s3Addr})
	return <-served
}

// waitListening returns once addr accepts connections, or with the error
// Serve ended with.
func waitListening(ctx context.Context, addr string, served chan error) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if err == nil {
			_ = c.Close()
			return nil
		}
		select {
		case err := <-served:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// requireLoopback refuses an address other machines can reach: dev mode
// prints a fixed client secret and leaves OPA's API open.
func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return errors.New("development mode listens on loopback only (127.0.0.1, ::1 or localhost): its client secret is printed and fixed, and its OPA API is open")
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o600)
}

// newAPIToken returns a random bearer token for OPA's API.
func newAPIToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// gatewaySettings are the development gateway's credentials, kept in
// the data directory between runs (0600 files).
type gatewaySettings struct {
	rootAccess, rootSecret, iamAccess, iamSecret string
}

func newGatewaySettings(f devFiles) (*gatewaySettings, error) {
	rootSecret, err := devmode.Secret(f.s3Credentials, 24)
	if err != nil {
		return nil, err
	}
	iamSecret, err := devmode.Secret(f.iamSecret, 24)
	if err != nil {
		return nil, err
	}
	return &gatewaySettings{rootAccess: "DEVGATEWAYROOT000001", rootSecret: rootSecret,
		iamAccess: "DEVGATEWAYIAM0000001", iamSecret: iamSecret}, nil
}

func writeDevData(path, devIssuer, tokenSHA256 string) error {
	return devmode.WriteData(path, devIssuer, devClientID, tokenSHA256)
}

func writeAWSConfig(f devFiles, stsURL, devIssuer string) error {
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	return devmode.AWSConfig{Binary: bin, STS: stsURL, TokenURL: devIssuer + "/token", ClientID: devClientID,
		ClientSecretFile: f.clientSecret}.Write(f.awsConfig)
}

// errServeEnded: the server stopped while the gateway was starting.
var errServeEnded = errors.New("the server stopped")

// startDevGateway starts versitygw once the s3_iam socket exists.
func startDevGateway(ctx context.Context, o devOptions, f devFiles, gw *gatewaySettings, served chan error) (*devgateway.Gateway, error) {
	bin, err := devgateway.Find(o.versitygw)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(f.iamSocket); err == nil {
			break
		}
		select {
		case err := <-served:
			served <- err
			return nil, errServeEnded
		case <-ctx.Done():
			return nil, errServeEnded
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the s3_iam socket %s did not appear", f.iamSocket)
		}
	}
	return devgateway.Start(ctx, devgateway.Options{
		Binary: bin, Addr: o.s3Addr, Root: f.s3Root,
		RootAccess: gw.rootAccess, RootSecret: gw.rootSecret,
		IAMSocket: f.iamSocket, IAMAccess: gw.iamAccess, IAMSecret: gw.iamSecret,
		Buckets: devmode.Buckets, Log: &prefixWriter{prefix: "versitygw: ", w: os.Stderr},
	})
}

// prefixWriter prefixes what the gateway prints, line by line (it writes
// lines in pieces).
type prefixWriter struct {
	prefix string
	w      *os.File
	mu     sync.Mutex
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i])
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

// announceReloads prints a line whenever the policy or data change (OPA
// reloads the watched policy directory by itself).
func announceReloads(ctx context.Context, rt *runtime.Runtime, dir string) {
	var mu sync.Mutex
	var last time.Time
	say := func(what string) {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) < time.Second { // one edit, several file events
			return
		}
		last = time.Now()
		fmt.Fprintf(os.Stderr, "dev: %s: the next credentials issued use it (a session keeps the grant it was issued with)\n", what)
	}
	rt.Manager.RegisterCompilerTrigger(func(storage.Transaction) { say("policy and data reloaded from " + dir) })
	_ = storage.Txn(ctx, rt.Store, storage.WriteParams, func(txn storage.Transaction) error {
		_, err := rt.Store.Register(ctx, txn, storage.TriggerConfig{OnCommit: func(_ context.Context, _ storage.Transaction, ev storage.TriggerEvent) {
			if ev.DataChanged() && !ev.PolicyChanged() {
				say("data changed through OPA's API")
			}
		}})
		return err
	})
}

type bannerInfo struct {
	stsURL, devIssuer, addr, s3, s3Addr string
	files                               devFiles
}

func printDevBanner(w *os.File, b bannerInfo) {
	f := b.files
	fmt.Fprintf(w, `
================================================================================
 opa-sts DEVELOPMENT mode (never use in production)

 STS endpoint       %[1]s/   (AssumeRoleWithClientGrants, AssumeRoleWithWebIdentity)
 DEV token issuer   %[2]s   (client_credentials: client %[3]s, secret %[4]s)
 OPA REST API       http://%[5]s   (decisions and /health open; anything else needs
                    -H "Authorization: Bearer $(cat %[6]s)")
 policy and data    %[7]s   (edit them: the next credentials use them)
`, b.stsURL, b.devIssuer, devClientID, devClientSecret, b.addr, f.apiToken, f.policy)
	if b.s3 != "" {
		fmt.Fprintf(w, ` S3 endpoint        %[1]s   (versitygw over %[2]s; every request decided by opa-sts)
`, b.s3, f.s3Root)
	}
	fmt.Fprintf(w, `
 1. Get an access token from the development issuer:
    TOKEN=$(curl -s -u %[3]s:%[4]s -d grant_type=client_credentials %[2]s/token | sed -E 's/.*"access_token":"([^"]+)".*/\1/')

 2. Exchange it for temporary S3 credentials (curl):
    curl -s %[1]s/ -d Action=AssumeRoleWithClientGrants -d Version=2011-06-15 -d DurationSeconds=3600 --data-urlencode "Token=$TOKEN"

 3. Or with the AWS CLI:
    AWS_EC2_METADATA_DISABLED=true aws sts assume-role-with-web-identity --endpoint-url %[1]s --region us-east-1 \
      --role-arn arn:aws:iam::000000000000:role/dev --role-session-name dev --web-identity-token "$TOKEN"
`, b.stsURL, b.devIssuer, devClientID, devClientSecret)
	if b.s3 != "" {
		fmt.Fprintf(w, `
 4. Use S3: the AWS CLI gets credentials through opa-sts by itself (credential_process):
    export AWS_CONFIG_FILE=%[2]s AWS_PROFILE=%[3]s AWS_EC2_METADATA_DISABLED=true
    aws --endpoint-url %[1]s s3 mb s3://%[4]s-demo
    echo hello > hello.txt && aws --endpoint-url %[1]s s3 cp hello.txt s3://%[4]s-demo/
    aws --endpoint-url %[1]s s3 ls s3://%[4]s-demo/
    aws --endpoint-url %[1]s s3 cp hello.txt s3://home/%[4]s/hello.txt     # your ${jwt:sub} home
    aws --endpoint-url %[1]s s3 cp hello.txt s3://shared/hello.txt        # refused: shared is read-only
    aws --endpoint-url %[1]s s3 rb s3://%[4]s-demo                         # refused: an explicit Deny
    (the console above says why each request was allowed or refused)

 5. The client-grants example (client id and secret -> token -> STS -> S3):
    go run ./examples/client-grants -token-url %[5]s/token -client-id %[6]s -client-secret %[7]s \
      -sts %[8]s -s3 %[9]s -bucket home -prefix %[4]s/
`, b.s3, f.awsConfig, devmode.Profile, devSubject, b.devIssuer, devClientID, devClientSecret, b.stsURL, b.s3Addr)
	}
	fmt.Fprintf(w, `================================================================================

`)
}
