package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/open-policy-agent/opa/cmd"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/opa-sts/opa-sts/internal/awscreds"
	"github.com/opa-sts/opa-sts/internal/awscreds/credserver"
	"github.com/opa-sts/opa-sts/internal/awscreds/diskcache"
)

// credentialsFlags are the flags of `opa-sts credentials` and its serve
// subcommand: where the identity token comes from, which STS to ask, when
// to renew.
type credentialsFlags struct {
	s       awscreds.Settings
	margin  time.Duration
	timeout time.Duration
}

func (o *credentialsFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&o.s.STS, "sts", "", "STS endpoint URL (required; https, or http on a loopback address)")
	fs.StringVar(&o.s.Action, "action", awscreds.WebIdentity, "STS action: "+awscreds.WebIdentity+" or "+awscreds.ClientGrants)
	fs.StringVar(&o.s.RoleARN, "role-arn", "", "RoleArn sent with "+awscreds.WebIdentity+" (default "+awscreds.DefaultRoleARN+": every role bound to the identity)")
	fs.StringVar(&o.s.SessionName, "role-session-name", "", "RoleSessionName sent with "+awscreds.WebIdentity+" (default "+awscreds.DefaultSessionName+")")
	fs.IntVar(&o.s.DurationSeconds, "duration-seconds", 0, "requested lifetime of the credentials in seconds (0: the STS's policy decides)")
	fs.StringVar(&o.s.TokenFile, "token-file", "", "file holding the identity token (JWT), re-read at every renewal (e.g. a Kubernetes projected token)")
	fs.StringVar(&o.s.TokenURL, "token-url", "", "OAuth2 token endpoint: get the token with the client_credentials grant")
	fs.StringVar(&o.s.ClientID, "client-id", "", "OAuth2 client id (with --token-url)")
	fs.StringVar(&o.s.ClientSecretFile, "client-secret-file", "", "file holding the OAuth2 client secret (with --token-url; never on the command line or in the environment)")
	fs.StringVar(&o.s.ClientAuth, "client-auth", "", "how the client authenticates at the token endpoint: basic (client_secret_basic, the default) or post (client_secret_post)")
	fs.StringVar(&o.s.Scope, "scope", "", "OAuth2 scope to ask for (space-separated; with --token-url)")
	fs.StringVar(&o.s.Audience, "audience", "", "audience to ask for (the token request's audience parameter; with --token-url)")
	fs.StringVar(&o.s.CAFile, "ca-file", "", "PEM file of CA certificates trusted for the STS and the token endpoint, besides the system's")
	fs.DurationVar(&o.margin, "refresh-margin", 0, "renew this long before expiry (default 15m, at most a quarter of the lifetime; any value is capped at half the lifetime)")
	fs.DurationVar(&o.timeout, "timeout", awscreds.DefaultTimeout, "bound of one renewal (token and STS request)")
}

// fetcher validates the flags.
func (o *credentialsFlags) fetcher() (*awscreds.Fetcher, awscreds.Timing, error) {
	if o.margin < 0 {
		return nil, awscreds.Timing{}, fmt.Errorf("--refresh-margin may not be negative")
	}
	f, err := awscreds.NewFetcher(o.s, o.timeout)
	return f, awscreds.Timing{Margin: o.margin}, err
}

func newCredentialsCommand() *cobra.Command {
	var o credentialsFlags
	var cacheDir string
	var noCache bool
	c := &cobra.Command{
		Use:   "credentials",
		Short: "Print temporary S3 credentials for an AWS credential_process (or serve them: credentials serve)",
		Long: `Obtain an identity token, exchange it at an opa-sts STS and print the temporary
credentials as an AWS credential_process does:

  {"Version": 1, "AccessKeyId": ..., "SecretAccessKey": ..., "SessionToken": ..., "Expiration": ...}

The token is read from --token-file (re-read at every renewal), or obtained
from --token-url with the OAuth2 client_credentials grant (--client-id,
--client-secret-file). The credentials are cached on disk (a 0600 file in a
0700 directory, by default under the user's cache directory) until shortly
before they expire.

In ~/.aws/config:

  [profile s3]
  credential_process = opa-sts credentials --sts https://sts.example.com --token-file /var/run/secrets/tokens/sts

Errors go to stderr, naming what failed, never a secret; the exit status is
then 1. See docs/credentials.md.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			c.SilenceUsage, c.SilenceErrors = true, true
			err := runCredentialProcess(c.Context(), &o, cacheDir, noCache, os.Stdout, os.Stderr)
			if err != nil {
				fmt.Fprintf(os.Stderr, "opa-sts credentials: %v\n", err)
				return &cmd.ExitError{Exit: 1}
			}
			return nil
		},
	}
	o.register(c.PersistentFlags())
	c.Flags().StringVar(&cacheDir, "cache-dir", "", "cache directory (default <user cache dir>/opa-sts/credentials, e.g. ~/.cache/opa-sts/credentials)")
	c.Flags().BoolVar(&noCache, "no-cache", false, "do not cache: get new credentials at every call")
	c.AddCommand(newCredentialsServeCommand(&o))
	return c
}

func runCredentialProcess(ctx context.Context, o *credentialsFlags, cacheDir string, noCache bool, stdout, stderr io.Writer) error {
	f, timing, err := o.fetcher()
	if err != nil {
		return err
	}
	warn := func(msg string) { fmt.Fprintf(stderr, "opa-sts credentials: warning: %s\n", msg) }
	var creds awscreds.Credentials
	var cache *diskcache.Cache
	if !noCache {
		if cacheDir == "" {
			base, err := os.UserCacheDir()
			if err != nil {
				return fmt.Errorf("no cache directory (%v): name one with --cache-dir, or use --no-cache", err)
			}
			cacheDir = filepath.Join(base, "opa-sts", "credentials")
		}
		if cache, err = diskcache.Open(cacheDir); err != nil {
			warn(err.Error() + "; working without a cache")
		}
	}
	if cache != nil {
		creds, err = cache.Get(ctx, f.Settings().Key(), timing, f.Fetch, warn)
	} else {
		creds, err = f.Fetch(ctx)
	}
	if err != nil {
		return err
	}
	_, err = stdout.Write(creds.ProcessJSON())
	return err
}

func newCredentialsServeCommand(o *credentialsFlags) *cobra.Command {
	var addr, tokenFile string
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve temporary S3 credentials to the AWS SDKs as a container credentials endpoint",
		Long: `Serve the credentials at http://<addr>/ for the AWS SDKs' container
credentials provider:

  AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:8283/
  AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=<the --auth-token-file>   (or AWS_CONTAINER_AUTHORIZATION_TOKEN)

Only requests bearing the token of --auth-token-file (at least 16 bytes, re-read
at every request) are answered: 401 without it, 403 with another one. The
credentials are renewed before they expire; when no valid ones can be had
the answer is 503. The endpoint listens on loopback addresses only.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			c.SilenceUsage, c.SilenceErrors = true, true
			if err := runCredentialsServe(c.Context(), o, addr, tokenFile); err != nil {
				fmt.Fprintf(os.Stderr, "opa-sts credentials serve: %v\n", err)
				return &cmd.ExitError{Exit: 1}
			}
			return nil
		},
	}
	c.Flags().StringVar(&addr, "addr", "127.0.0.1:8283", "listen address (loopback only; port 0 picks a free one)")
	c.Flags().StringVar(&tokenFile, "auth-token-file", "", "file holding the token clients must send in the Authorization header (required)")
	return c
}

func runCredentialsServe(ctx context.Context, o *credentialsFlags, addr, tokenFile string) error {
	f, timing, err := o.fetcher()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	keeper := credserver.NewKeeper(f.Fetch, timing, log)
	h, err := credserver.NewHandler(tokenFile, keeper, log)
	if err != nil {
		return err
	}
	ln, err := credserver.Listen(addr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go keeper.Run(ctx)
	abs, _ := filepath.Abs(tokenFile)
	fmt.Fprintf(os.Stderr, "opa-sts credentials serve: AWS_CONTAINER_CREDENTIALS_FULL_URI=%s AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=%s\n", credserver.URL(ln), abs)
	return credserver.Serve(ctx, ln, h)
}
