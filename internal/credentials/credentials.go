// Package credentials mints temporary S3 credentials and verifies them.
//
// A credential is stateless: the session token is a JWT signed by the STS
// keyring (any replica with the public keys can verify it), and the secret
// access key is an HMAC of the access key id and session id under the
// keyring's derivation secret (any replica with that secret can re-derive
// it). Nothing secret has to be stored.
package credentials

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/opa-sts/opa-sts/internal/jwtverify"
	"github.com/opa-sts/opa-sts/internal/keyring"
)

const (
	// SessionAudience is the "aud" of every session token, so that no other
	// JWT (an IdP token, say) is ever mistaken for one.
	SessionAudience = "urn:opa-sts:session"
	// AccessKeyIDLength and SecretLength follow the S3 conventions.
	AccessKeyIDLength = 20
	SecretLength      = 40
	// MaxSessionTokenBytes bounds a session token: S3 clients send it in a
	// header on every request.
	MaxSessionTokenBytes = 16 << 10
	// MinDuration and MaxDuration bound a credential's lifetime whatever
	// the policy says.
	MinDuration = time.Minute
	MaxDuration = 366 * 24 * time.Hour
)

// ErrGrantTooLarge is the error of Mint for a grant (permissions, session
// policy, variables) that does not fit in a session token.
var ErrGrantTooLarge = errors.New("credentials: the grant is too large for a session token")

// Source identifies what the credential was issued for.
type Source struct {
	Issuer   string `json:"iss,omitempty"`
	Subject  string `json:"sub,omitempty"`
	ClientID string `json:"client_id,omitempty"`
}

// Grant is what the policy decided, to be carried by the credential.
type Grant struct {
	Action   string          // STS action
	Subject  string          // the session's subject
	Duration time.Duration   // lifetime
	Source   Source          // the identity the token proved
	Details  json.RawMessage // the decision's grant object (permissions, tags...), JSON
	Revision string          // policy bundle revision
}

// Issued is a freshly minted credential.
type Issued struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	SessionID       string
	IssuedAt        time.Time
	Expiration      time.Time
}

// Minter mints credentials with one keyring. It is safe for concurrent use.
type Minter struct {
	issuer string
	keys   *keyring.Keyring
	header string // base64url of the constant JOSE header
	signer jws.Signer
}

// NewMinter returns a minter whose session tokens name issuer.
func NewMinter(issuer string, keys *keyring.Keyring) (*Minter, error) {
	if issuer == "" {
		return nil, errors.New("credentials: issuer is empty")
	}
	key := keys.Signer()
	hdr, err := json.Marshal(map[string]string{"alg": key.Alg, "kid": key.KID, "typ": "JWT"})
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	signer, err := jws.NewSigner(jwa.SignatureAlgorithm(key.Alg))
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	return &Minter{issuer: issuer, keys: keys, header: base64.RawURLEncoding.EncodeToString(hdr), signer: signer}, nil
}

// Issuer is the "iss" of the session tokens.
func (m *Minter) Issuer() string { return m.issuer }

// Keyring returns the minter's keyring.
func (m *Minter) Keyring() *keyring.Keyring { return m.keys }

type sessionClaims struct {
	Iss   string          `json:"iss"`
	Sub   string          `json:"sub"`
	Aud   string          `json:"aud"`
	Iat   int64           `json:"iat"`
	IatMS int64           `json:"iat_ms"`
	Nbf   int64           `json:"nbf"`
	Exp   int64           `json:"exp"`
	Jti   string          `json:"jti"`
	AKID  string          `json:"akid"`
	Act   string          `json:"act,omitempty"`
	Src   *Source         `json:"src,omitempty"`
	Grant json.RawMessage `json:"grant,omitempty"`
	Rev   string          `json:"rev,omitempty"`
}

// Mint issues a credential for g at now. The expiration is now plus the
// grant's duration, in whole seconds.
func (m *Minter) Mint(g Grant, now time.Time) (Issued, error) {
	if g.Duration < MinDuration || g.Duration > MaxDuration {
		return Issued{}, fmt.Errorf("credentials: duration %s outside [%s, %s]", g.Duration, MinDuration, MaxDuration)
	}
	if g.Subject == "" {
		return Issued{}, errors.New("credentials: grant has no subject")
	}
	if len(g.Details) > 0 && !json.Valid(g.Details) {
		return Issued{}, errors.New("credentials: grant details are not JSON")
	}
	akid, err := randomAccessKeyID()
	if err != nil {
		return Issued{}, err
	}
	sid, err := randomSessionID()
	if err != nil {
		return Issued{}, err
	}
	// The issue time to the millisecond (iat_ms) as well as in whole
	// seconds (iat): a revocation made at 12:00:00.400 must not revoke a
	// session issued at 12:00:00.700, as iat alone would make it.
	issued := now.Truncate(time.Millisecond)
	iat := issued.Unix()
	exp := iat + int64(g.Duration/time.Second)
	c := sessionClaims{
		Iss: m.issuer, Sub: g.Subject, Aud: SessionAudience, Iat: iat, IatMS: issued.UnixMilli(), Nbf: iat, Exp: exp,
		Jti: sid, AKID: akid, Act: g.Action, Grant: g.Details, Rev: g.Revision,
	}
	if g.Source != (Source{}) {
		src := g.Source
		c.Src = &src
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return Issued{}, fmt.Errorf("credentials: encode claims: %w", err)
	}
	var sb strings.Builder
	sb.Grow(len(m.header) + 1 + base64.RawURLEncoding.EncodedLen(len(payload)) + 1 + 90)
	sb.WriteString(m.header)
	sb.WriteByte('.')
	sb.WriteString(base64.RawURLEncoding.EncodeToString(payload))
	sig, err := m.signer.Sign([]byte(sb.String()), m.keys.Signer().Private)
	if err != nil {
		return Issued{}, fmt.Errorf("credentials: sign session token: %w", err)
	}
	sb.WriteByte('.')
	sb.WriteString(base64.RawURLEncoding.EncodeToString(sig))
	token := sb.String()
	if len(token) > MaxSessionTokenBytes {
		return Issued{}, fmt.Errorf("%w: the session token would be %d bytes, the limit is %d", ErrGrantTooLarge, len(token), MaxSessionTokenBytes)
	}
	return Issued{
		AccessKeyID:     akid,
		SecretAccessKey: DeriveSecret(m.keys.DerivationSecret(), akid, sid),
		SessionToken:    token,
		SessionID:       sid,
		IssuedAt:        issued.UTC(),
		Expiration:      time.Unix(exp, 0).UTC(),
	}, nil
}

// DeriveSecret computes the secret access key of (access key id, session
// id): 30 bytes of HMAC-SHA256 under the derivation secret, base64 (40
// characters), with "/" replaced by "+" as MinIO does.
func DeriveSecret(derivationSecret []byte, accessKeyID, sessionID string) string {
	mac := hmac.New(sha256.New, derivationSecret)
	mac.Write([]byte("opa-sts secret access key v1\x00"))
	mac.Write([]byte(accessKeyID))
	mac.Write([]byte{0})
	mac.Write([]byte(sessionID))
	sum := mac.Sum(nil)
	return strings.ReplaceAll(base64.StdEncoding.EncodeToString(sum[:30]), "/", "+")
}

const accessKeyAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

// AccessKeyIDPrefix marks temporary credentials, as AWS's "ASIA" does; S3
// servers (versitygw among them) treat such keys as sessions.
const AccessKeyIDPrefix = "ASIA"

func randomAccessKeyID() (string, error) {
	// Rejection sampling keeps the 36 symbols uniform.
	out := make([]byte, 0, AccessKeyIDLength)
	out = append(out, AccessKeyIDPrefix...)
	buf := make([]byte, 32)
	for len(out) < AccessKeyIDLength {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("credentials: %w", err)
		}
		for _, b := range buf {
			if b < 252 && len(out) < AccessKeyIDLength { // 252 = 7*36
				out = append(out, accessKeyAlphabet[b%36])
			}
		}
	}
	return string(out), nil
}

func randomSessionID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("credentials: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Session is a verified session token.
type Session struct {
	AccessKeyID string
	SessionID   string
	Subject     string
	IssuedAt    time.Time
	Expiration  time.Time
	// Claims is the whole claims set, for policies.
	Claims ast.Object
}

// SessionVerifier verifies session tokens minted with a keyring's keys.
type SessionVerifier struct {
	provider *jwtverify.ProviderSet
	verifier *jwtverify.Verifier
	secret   []byte
}

// CodeAccessKeyMismatch is the error code of a valid session token
// presented with another access key id.
const CodeAccessKeyMismatch jwtverify.Code = "access_key_mismatch"

// SessionLeeway is the clock skew tolerated between replicas.
const SessionLeeway = 5 * time.Second

// NewSessionVerifier verifies tokens that name issuer and are signed by one
// of the keyring's keys; cacheSize verified tokens are remembered.
func NewSessionVerifier(issuer string, keys *keyring.Keyring, cacheSize int) (*SessionVerifier, error) {
	leeway := SessionLeeway
	p, err := jwtverify.NewProvider(jwtverify.ProviderConfig{
		Issuer:         issuer,
		JWKS:           keys.PublicSet(),
		Audiences:      []string{SessionAudience},
		Algorithms:     []string{"EdDSA", "ES256"},
		Leeway:         &leeway,
		RequiredClaims: []string{"akid", "jti", "sub", "iat"},
		MaxTokenBytes:  MaxSessionTokenBytes,
	}, false)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	return &SessionVerifier{provider: jwtverify.MustProviderSet(p), verifier: jwtverify.NewVerifier(nil, cacheSize), secret: keys.DerivationSecret()}, nil
}

var (
	claimAKID  = ast.StringTerm("akid")
	claimJTI   = ast.StringTerm("jti")
	claimSub   = ast.StringTerm("sub")
	claimIat   = ast.StringTerm("iat")
	claimIatMS = ast.StringTerm("iat_ms")
	claimExp   = ast.StringTerm("exp")
)

// Verify checks that token is a valid, unexpired session token of ours and
// that it belongs to accessKeyID.
func (v *SessionVerifier) Verify(ctx context.Context, accessKeyID, token string, now time.Time) (*Session, *jwtverify.Error) {
	res, verr := v.verifier.Verify(ctx, token, v.provider, now)
	if verr != nil {
		return nil, verr
	}
	akid := stringClaim(res.Claims, claimAKID)
	if akid == "" || !hmac.Equal([]byte(akid), []byte(accessKeyID)) {
		return nil, &jwtverify.Error{Code: CodeAccessKeyMismatch, Message: "the session token does not belong to this access key"}
	}
	issuedAt, ok := issueTime(res.Claims)
	if !ok {
		return nil, &jwtverify.Error{Code: jwtverify.CodeMalformed, Message: "the session token's iat_ms does not agree with its iat"}
	}
	return &Session{
		AccessKeyID: akid,
		SessionID:   stringClaim(res.Claims, claimJTI),
		Subject:     stringClaim(res.Claims, claimSub),
		IssuedAt:    issuedAt,
		Expiration:  time.Unix(intClaim(res.Claims, claimExp), 0).UTC(),
		Claims:      res.Claims,
	}, nil
}

// Secret re-derives the secret access key of a verified session.
func (v *SessionVerifier) Secret(s *Session) string {
	return DeriveSecret(v.secret, s.AccessKeyID, s.SessionID)
}

func stringClaim(o ast.Object, k *ast.Term) string {
	if t := o.Get(k); t != nil {
		if s, ok := t.Value.(ast.String); ok {
			return string(s)
		}
	}
	return ""
}

// issueTime is a session token's issue time: iat_ms, which must fall
// within the second of iat, or iat alone for tokens minted before iat_ms
// existed.
func issueTime(o ast.Object) (time.Time, bool) {
	iat := intClaim(o, claimIat)
	t := o.Get(claimIatMS)
	if t == nil {
		return time.Unix(iat, 0).UTC(), true
	}
	n, ok := t.Value.(ast.Number)
	if !ok {
		return time.Time{}, false
	}
	ms, ok := n.Int64()
	if !ok || ms < iat*1000 || ms > iat*1000+999 {
		return time.Time{}, false
	}
	return time.UnixMilli(ms).UTC(), true
}

func intClaim(o ast.Object, k *ast.Term) int64 {
	if t := o.Get(k); t != nil {
		if n, ok := t.Value.(ast.Number); ok {
			if i, ok := n.Int64(); ok {
				return i
			}
			if f, ok := n.Float64(); ok {
				return int64(f)
			}
		}
	}
	return 0
}
