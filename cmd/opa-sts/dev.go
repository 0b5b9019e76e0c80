package main

import (
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
	"syscall"

	"github.com/open-policy-agent/opa/v1/runtime"
	"github.com/open-policy-agent/opa/v1/server"
	"github.com/spf13/cobra"

	"github.com/opa-sts/opa-sts/policies"
)

// devClientID and devClientSecret are the development issuer's client. They
// are printed on start: the dev issuer is for a laptop, never production.
const (
	devClientID     = "dev-client"
	devClientSecret = "dev-client-secret"
)

func newDevCommand() *cobra.Command {
	var addr, stsAddr, dir string
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Start a local development STS that works out of the box",
		Long: `Start opa-sts with the embedded default policy, a session store and keys in
--data-dir, and a clearly-labelled DEVELOPMENT token issuer (OAuth2
client_credentials) so that credentials can be obtained within a minute.

Never use this mode in production: the development issuer hands out tokens
to anyone who knows the printed client secret. Production deployments use
'opa-sts run --server -c config.yaml' with real identity providers.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true
			return runDev(cmd.Context(), addr, stsAddr, dir)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8181", "OPA REST API listen address")
	cmd.Flags().StringVar(&stsAddr, "sts-addr", "127.0.0.1:8282", "STS listen address")
	cmd.Flags().StringVar(&dir, "data-dir", ".opa-sts-dev", "directory for keys, sessions and the generated policy and configuration")
	return cmd
}

func runDev(ctx context.Context, addr, stsAddr, dir string) error {
	for flag, a := range map[string]string{"--addr": addr, "--sts-addr": stsAddr} {
		if err := requireLoopback(a); err != nil {
			return fmt.Errorf("dev: %s %s: %w", flag, a, err)
		}
	}
	if addr == stsAddr {
		return fmt.Errorf("dev: --addr (the OPA REST API) and --sts-addr (the STS) must be different addresses, both are %s", addr)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	policyDir := filepath.Join(dir, "policy")
	if err := os.MkdirAll(policyDir, 0o700); err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	// The embedded default policies, written out so they can be read.
	if err := policies.WriteDefault(policyDir); err != nil {
		return fmt.Errorf("dev: write policy: %w", err)
	}
	stsURL := "http://" + stsAddr
	devIssuer := stsURL + "/dev"
	// OPA's API is protected as in production (system.authz, tokens):
	// decisions and health are open, everything else takes this token,
	// new at every start; data holds only its hash.
	apiToken, err := newAPIToken()
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	tokenFile := filepath.Join(dir, "api-token")
	if err := os.WriteFile(tokenFile, []byte(apiToken+"\n"), 0o600); err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	tokenHash := sha256.Sum256([]byte(apiToken))
	data := map[string]any{"opa_sts": map[string]any{
		"api": map[string]any{"admin_token_sha256": []string{hex.EncodeToString(tokenHash[:])}},
		"providers": []any{map[string]any{
			"issuer":        devIssuer,
			"discovery_url": devIssuer + "/.well-known/openid-configuration",
			"audiences":     []string{"sts"},
		}},
		"roles": map[string]any{"readwrite": map[string]any{"statements": []any{map[string]any{
			"Effect": "Allow", "Action": []string{"s3:*"}, "Resource": []string{"arn:aws:s3:::*"},
		}}}},
		"bindings": []any{map[string]any{"role": "readwrite", "issuer": devIssuer, "clients": []string{devClientID}}},
	}}
	if err := writeJSONFile(filepath.Join(policyDir, "data.json"), data); err != nil {
		return err
	}
	// Even the development client's secret is not inline: OPA serves the
	// configuration on GET /v1/config.
	secretFile := filepath.Join(dir, "dev-client.secret")
	if err := os.WriteFile(secretFile, []byte(devClientSecret+"\n"), 0o600); err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	config := map[string]any{
		"persistence_directory": dir,
		"decision_logs":         map[string]any{"console": true},
		"plugins": map[string]any{
			"sts_sessions": map[string]any{
				"issuer": stsURL,
				"keys":   map[string]any{"dir": filepath.Join(dir, "keys"), "generate": true},
				"store":  map[string]any{"type": "bolt", "path": filepath.Join(dir, "sessions.db")},
			},
			"sts": map[string]any{
				"addr": stsAddr,
				"dev_issuer": map[string]any{"enabled": true, "key_file": filepath.Join(dir, "keys", "dev-issuer-key.pem"),
					"clients": []any{map[string]any{"id": devClientID, "secret_file": secretFile}}},
			},
		},
	}
	configFile := filepath.Join(dir, "config.json")
	if err := writeJSONFile(configFile, config); err != nil {
		return err
	}

	params := runtime.NewParams()
	params.Addrs = &[]string{addr}
	params.AddrSetByUser = true
	params.ConfigFile = configFile
	params.Paths = []string{policyDir}
	params.Brand = "opa-sts"
	params.Authentication = server.AuthenticationToken
	params.Authorization = server.AuthorizationBasic
	params.ReadAstValuesFromStore = true
	params.Logging = runtime.LoggingConfig{Level: "info", Format: "json"}
	params.GracefulShutdownPeriod = 5

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	rt, err := runtime.NewRuntime(ctx, params)
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	printDevBanner(os.Stderr, stsURL, devIssuer, addr, dir, tokenFile)
	return rt.Serve(ctx)
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

func printDevBanner(w *os.File, stsURL, devIssuer, addr, dir, tokenFile string) {
	fmt.Fprintf(w, `
================================================================================
 opa-sts DEVELOPMENT mode (never use in production)

 STS endpoint       %[1]s/   (AssumeRoleWithClientGrants, AssumeRoleWithWebIdentity)
 DEV token issuer   %[2]s   (client_credentials: client %[3]s, secret %[4]s)
 OPA REST API       http://%[5]s   (decisions and /health open; anything else needs
                    -H "Authorization: Bearer $(cat %[7]s)")
 keys, sessions     %[6]s   (policy and data in %[6]s/policy)

 1. Get an access token from the development issuer:
    TOKEN=$(curl -s -u %[3]s:%[4]s -d grant_type=client_credentials %[2]s/token | sed -E 's/.*"access_token":"([^"]+)".*/\1/')

 2. Exchange it for temporary S3 credentials (curl):
    curl -s %[1]s/ -d Action=AssumeRoleWithClientGrants -d Version=2011-06-15 -d DurationSeconds=3600 --data-urlencode "Token=$TOKEN"

 3. Or with the AWS CLI:
    AWS_EC2_METADATA_DISABLED=true aws sts assume-role-with-web-identity --endpoint-url %[1]s --region us-east-1 \
      --role-arn arn:aws:iam::000000000000:role/dev --role-session-name dev --web-identity-token "$TOKEN"
================================================================================

`, stsURL, devIssuer, devClientID, devClientSecret, addr, dir, tokenFile)
}
