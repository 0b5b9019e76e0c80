package awscreds

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
)

// The STS actions a Fetcher can call.
const (
	WebIdentity  = "AssumeRoleWithWebIdentity"
	ClientGrants = "AssumeRoleWithClientGrants"
)

// DefaultRoleARN is sent as RoleArn when none is configured. AWS clients
// must send one; opa-sts's default policy treats an ARN that names no
// configured role as "every role bound to the identity".
const DefaultRoleARN = "arn:aws:iam::000000000000:role/opa-sts-credentials"

// DefaultSessionName is the RoleSessionName sent when none is configured.
const DefaultSessionName = "opa-sts-credentials"

// Client authentication methods at the token endpoint (RFC 6749 2.3.1).
const (
	ClientSecretBasic = "basic"
	ClientSecretPost  = "post"
)

// maxDurationSeconds is the longest DurationSeconds the STS parses (365
// days); its policy decides within it.
const maxDurationSeconds = 365 * 24 * 3600

// Settings say where the identity token comes from and which STS to ask.
// None of them is a secret: the client secret is read from
// ClientSecretFile at every fetch. Exactly one of TokenFile and TokenURL
// is set.
type Settings struct {
	// STS is the STS endpoint URL, e.g. https://sts.example.com/.
	STS string `json:"sts"`
	// Action is WebIdentity (the default when empty) or ClientGrants.
	Action string `json:"action"`
	// RoleARN and SessionName are sent with web identity (defaults:
	// DefaultRoleARN, DefaultSessionName). Client grants sends neither.
	RoleARN     string `json:"role_arn,omitempty"`
	SessionName string `json:"role_session_name,omitempty"`
	// DurationSeconds is the requested lifetime; 0 leaves it to the STS.
	DurationSeconds int `json:"duration_seconds,omitempty"`

	// TokenFile holds the identity token (a JWT), re-read at every fetch.
	TokenFile string `json:"token_file,omitempty"`

	// TokenURL is an OAuth2 token endpoint: the token is obtained with the
	// client_credentials grant as ClientID, authenticated with the secret
	// in ClientSecretFile (ClientAuth: ClientSecretBasic, the default, or
	// ClientSecretPost), asking for Scope and Audience when set.
	TokenURL         string `json:"token_url,omitempty"`
	ClientID         string `json:"client_id,omitempty"`
	ClientSecretFile string `json:"client_secret_file,omitempty"`
	ClientAuth       string `json:"client_auth,omitempty"`
	Scope            string `json:"scope,omitempty"`
	Audience         string `json:"audience,omitempty"`

	// CAFile is a PEM bundle trusted, besides the system's roots, for the
	// STS and the token endpoint.
	CAFile string `json:"ca_file,omitempty"`
}

// normalized fills in the defaults and makes the paths absolute, so that
// two spellings of the same settings have the same Key.
func (s Settings) normalized() (Settings, error) {
	if s.Action == "" {
		s.Action = WebIdentity
	}
	if s.Action == WebIdentity {
		if s.RoleARN == "" {
			s.RoleARN = DefaultRoleARN
		}
		if s.SessionName == "" {
			s.SessionName = DefaultSessionName
		}
	}
	if s.TokenURL != "" && s.ClientAuth == "" {
		s.ClientAuth = ClientSecretBasic
	}
	for _, p := range []*string{&s.TokenFile, &s.ClientSecretFile, &s.CAFile} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return s, err
		}
		*p = abs
	}
	return s, nil
}

// Key identifies the settings: a hex SHA-256 of their normalized form.
// It names the cache entry of these settings.
func (s Settings) Key() string {
	n, err := s.normalized()
	if err != nil {
		n = s
	}
	b, _ := json.Marshal(n)
	sum := sha256.Sum256(append([]byte("opa-sts credentials settings v1\n"), b...))
	return hex.EncodeToString(sum[:])
}

// Validate checks the settings and returns them with the defaults filled
// in. Every error names the setting (as its command-line flag).
func (s Settings) Validate() (Settings, error) {
	s, err := s.normalized()
	if err != nil {
		return s, err
	}
	if err := checkURL("--sts", s.STS); err != nil {
		return s, err
	}
	switch s.Action {
	case WebIdentity:
		if !strings.HasPrefix(s.RoleARN, "arn:") || len(s.RoleARN) < 20 || len(s.RoleARN) > 2048 || hasControl(s.RoleARN) {
			return s, errors.New("--role-arn: an ARN of 20 to 2048 characters is required, e.g. " + DefaultRoleARN)
		}
		if !isSessionName(s.SessionName) {
			return s, errors.New("--role-session-name: 2 to 64 characters of letters, digits and +=,.@_- are required")
		}
	case ClientGrants:
		if s.RoleARN != "" || s.SessionName != "" {
			return s, errors.New("--role-arn and --role-session-name are sent with " + WebIdentity + " only: " + ClientGrants + " has neither")
		}
	default:
		return s, fmt.Errorf("--action: %q is not %s or %s", s.Action, WebIdentity, ClientGrants)
	}
	if s.DurationSeconds != 0 && (s.DurationSeconds < 60 || s.DurationSeconds > maxDurationSeconds) {
		return s, fmt.Errorf("--duration-seconds: %d is out of range: 0 (the STS decides) or 60 to %d", s.DurationSeconds, maxDurationSeconds)
	}
	switch {
	case s.TokenFile != "" && s.TokenURL != "":
		return s, errors.New("--token-file and --token-url exclude each other: the token comes from a file or from the identity provider")
	case s.TokenFile == "" && s.TokenURL == "":
		return s, errors.New("an identity token source is required: --token-file, or --token-url with --client-id and --client-secret-file")
	case s.TokenFile != "":
		if s.ClientID != "" || s.ClientSecretFile != "" || s.Scope != "" || s.Audience != "" || s.ClientAuth != "" {
			return s, errors.New("--client-id, --client-secret-file, --client-auth, --scope and --audience go with --token-url, not --token-file")
		}
	default:
		if err := checkURL("--token-url", s.TokenURL); err != nil {
			return s, err
		}
		if s.ClientID == "" || hasControl(s.ClientID) {
			return s, errors.New("--client-id is required with --token-url")
		}
		if s.ClientSecretFile == "" {
			return s, errors.New("--client-secret-file is required with --token-url (the secret is never taken from the command line)")
		}
		if s.ClientAuth != ClientSecretBasic && s.ClientAuth != ClientSecretPost {
			return s, fmt.Errorf("--client-auth: %q is not %s or %s", s.ClientAuth, ClientSecretBasic, ClientSecretPost)
		}
		if hasControl(s.Scope) || hasControl(s.Audience) {
			return s, errors.New("--scope and --audience may not contain control characters")
		}
	}
	return s, nil
}

// checkURL accepts an absolute http(s) URL without credentials, query or
// fragment. Plain http is accepted for loopback hosts only: the STS
// answers with credentials, the token endpoint receives the client secret.
func checkURL(flag, raw string) error {
	if raw == "" {
		return fmt.Errorf("%s is required", flag)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%s: %q is not an absolute http(s) URL", flag, raw)
	}
	if u.User != nil {
		return fmt.Errorf("%s: the URL may not contain a user or password", flag)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%s: the URL may not have a query or a fragment", flag)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !IsLoopbackHost(u.Hostname()) {
			return fmt.Errorf("%s: plain http is accepted for loopback addresses only (127.0.0.0/8, ::1, localhost): use https for %s", flag, u.Host)
		}
	default:
		return fmt.Errorf("%s: scheme %q is not http or https", flag, u.Scheme)
	}
	return nil
}

// IsLoopbackHost reports whether host (without a port) is "localhost" or
// a loopback IP address.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// isSessionName is AWS's RoleSessionName: 2..64 of [\w+=,.@-].
func isSessionName(s string) bool {
	if len(s) < 2 || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("_+=,.@-", c) >= 0:
		default:
			return false
		}
	}
	return true
}
