// Package awscreds obtains temporary S3 credentials for programs that do
// not speak STS themselves: it gets an identity token (from a file, re-read
// at every fetch, or with the OAuth2 client_credentials grant), exchanges
// it at an opa-sts STS (AssumeRoleWithWebIdentity or
// AssumeRoleWithClientGrants) and says when the result should be renewed.
//
// Caching on disk (the credential_process helper) is package diskcache,
// serving them to SDKs over HTTP (the container-credentials endpoint) is
// package credserver.
//
// Secrets (identity tokens, the client secret, secret access keys,
// session tokens) never appear in an error or in a formatted Credentials:
// errors name what failed (the IdP and its OAuth2 error, the STS and its
// error code and message), with every secret the package handled removed
// from the remote text.
package awscreds

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"
)

// Credentials are temporary S3 credentials.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// Expiration is when the STS says they stop working.
	Expiration time.Time
	// Obtained is when they were asked for (just before the STS request),
	// so Expiration-Obtained is at most their lifetime.
	Obtained time.Time
}

// Lifetime is how long the credentials were issued for (never negative).
func (c Credentials) Lifetime() time.Duration {
	return max(0, c.Expiration.Sub(c.Obtained))
}

// complete reports whether every member a client needs is there.
func (c Credentials) complete() bool {
	return c.AccessKeyID != "" && c.SecretAccessKey != "" && c.SessionToken != "" && !c.Expiration.IsZero()
}

// ProcessJSON is the credentials in the format of the AWS SDKs'
// credential_process: Version 1, Expiration in RFC 3339 (UTC).
func (c Credentials) ProcessJSON() []byte {
	b, _ := json.Marshal(struct {
		Version         int
		AccessKeyID     string `json:"AccessKeyId"`
		SecretAccessKey string
		SessionToken    string
		Expiration      string
	}{1, c.AccessKeyID, c.SecretAccessKey, c.SessionToken, c.Expiration.UTC().Format(time.RFC3339)})
	return append(b, '\n')
}

// masked describes a secret without showing it.
func masked(s string) string {
	if s == "" {
		return ""
	}
	return "<redacted " + strconv.Itoa(len(s)) + " bytes>"
}

// String shows the access key id and the times, never the secret access
// key or the session token.
func (c Credentials) String() string {
	return fmt.Sprintf("{AccessKeyID:%s SecretAccessKey:%s SessionToken:%s Expiration:%s Obtained:%s}",
		c.AccessKeyID, masked(c.SecretAccessKey), masked(c.SessionToken),
		c.Expiration.UTC().Format(time.RFC3339), c.Obtained.UTC().Format(time.RFC3339))
}

// GoString is String: %#v must not print the secrets either.
func (c Credentials) GoString() string { return "awscreds.Credentials" + c.String() }

// Format sends every fmt verb through String, so that %v, %+v, %#v, %q or
// %x cannot print the raw members.
func (c Credentials) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, c.GoString())
		return
	}
	_, _ = io.WriteString(f, c.String())
}

// LogValue implements slog.LogValuer with the secrets left out.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("access_key_id", c.AccessKeyID),
		slog.Time("expiration", c.Expiration.UTC()),
	)
}

// Timing says when credentials are renewed.
type Timing struct {
	// Margin is how long before expiry credentials are renewed. Zero means
	// the default: DefaultMargin, but at most a quarter of the lifetime.
	// Any margin is capped at half the lifetime, so that short credentials
	// are still used for a while.
	Margin time.Duration
}

// DefaultMargin is the renewal margin of long credentials. It is
// botocore's advisory refresh window (15 minutes): credentials handed out
// with less left make boto3 and the AWS CLI call the helper again on every
// request until it hands out new ones.
const DefaultMargin = 15 * time.Minute

// MaxMinRemaining bounds the least validity handed out (MinRemaining).
const MaxMinRemaining = time.Minute

// margin is the effective renewal margin for c.
func (t Timing) margin(c Credentials) time.Duration {
	life := c.Lifetime()
	if t.Margin > 0 {
		return min(t.Margin, life/2)
	}
	return min(DefaultMargin, life/4)
}

// RefreshAt is when c should be replaced.
func (t Timing) RefreshAt(c Credentials) time.Time {
	return c.Expiration.Add(-t.margin(c))
}

// Fresh reports whether c needs no renewal yet at now.
func (t Timing) Fresh(c Credentials, now time.Time) bool {
	return c.complete() && now.Before(t.RefreshAt(c))
}

// MinRemaining is the least validity credentials must have left to be
// handed out when renewing them failed: a tenth of their lifetime, at most
// a minute. Below that a client would get credentials that expire in the
// middle of its work: an error is better.
func MinRemaining(c Credentials) time.Duration {
	return min(MaxMinRemaining, c.Lifetime()/10)
}

// Usable reports whether c may still be handed out at now (after a failed
// renewal).
func Usable(c Credentials, now time.Time) bool {
	return c.complete() && c.Expiration.Sub(now) > MinRemaining(c)
}
