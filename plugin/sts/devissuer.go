package sts

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// devIssuer is a minimal OAuth2 client_credentials token issuer for local
// development: discovery at /dev/.well-known/openid-configuration, keys at
// /dev/keys, tokens at /dev/token. It signs RS256 access tokens shaped like
// Keycloak's (iss, sub, aud, azp, client_id, scope, exp...), with a key
// kept next to the STS keys so tokens survive a restart.
type devIssuer struct {
	issuer  string
	clients map[string]DevClient
	ttl     time.Duration
	key     *rsa.PrivateKey
	kid     string
	jwks    []byte
}

const devPrefix = "/dev"

func newDevIssuer(cfg *Config) (*devIssuer, error) {
	key, err := loadOrCreateRSAKey(cfg.DevIssuer.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("dev issuer: %w", err)
	}
	pub, err := jwk.FromRaw(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("dev issuer: %w", err)
	}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("dev issuer: %w", err)
	}
	kid := "dev-" + base64.RawURLEncoding.EncodeToString(tp)[:12]
	_ = pub.Set(jwk.KeyIDKey, kid)
	_ = pub.Set(jwk.KeyUsageKey, "sig")
	_ = pub.Set(jwk.AlgorithmKey, jwa.RS256)
	doc, err := json.Marshal(map[string]any{"keys": []any{pub}})
	if err != nil {
		return nil, fmt.Errorf("dev issuer: %w", err)
	}
	d := &devIssuer{
		issuer:  cfg.URL() + devPrefix,
		clients: map[string]DevClient{},
		ttl:     time.Duration(cfg.DevIssuer.TokenTTLSeconds) * time.Second,
		key:     key,
		kid:     kid,
		jwks:    doc,
	}
	for _, c := range cfg.DevIssuer.Clients {
		d.clients[c.ID] = c
	}
	return d, nil
}

func loadOrCreateRSAKey(path string) (*rsa.PrivateKey, error) {
	if data, err := os.ReadFile(path); err == nil {
		block, _ := pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("%s: no PEM block", path)
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%s: not an RSA key", path)
		}
		return rk, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	return k, nil
}

func (d *devIssuer) handles(path string) bool {
	return path == devPrefix+"/.well-known/openid-configuration" || path == devPrefix+"/keys" || path == devPrefix+"/token"
}

func (d *devIssuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case devPrefix + "/.well-known/openid-configuration":
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer":                                d.issuer,
			"jwks_uri":                              d.issuer + "/keys",
			"token_endpoint":                        d.issuer + "/token",
			"grant_types_supported":                 []string{"client_credentials"},
			"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	case devPrefix + "/keys":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(d.jwks)
	case devPrefix + "/token":
		d.token(w, r)
	}
}

func (d *devIssuer) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	client, known := d.clients[id]
	if !known || subtle.ConstantTimeCompare([]byte(secret), []byte(client.secret)) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="opa-sts dev issuer"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	scope, ok := grantedScope(client.Scopes, r.PostForm.Get("scope"))
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_scope"})
		return
	}
	now := time.Now()
	jti := make([]byte, 12)
	_, _ = rand.Read(jti)
	claims := map[string]any{
		"iss":                d.issuer,
		"sub":                "service-account-" + id,
		"aud":                []string{"sts", "account"},
		"azp":                id,
		"client_id":          id,
		"preferred_username": "service-account-" + id,
		"scope":              scope,
		"iat":                now.Unix(),
		"exp":                now.Add(d.ttl).Unix(),
		"jti":                base64.RawURLEncoding.EncodeToString(jti),
		"typ":                "Bearer",
	}
	for k, v := range client.Claims {
		claims[k] = v
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
		return
	}
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.KeyIDKey, d.kid)
	_ = hdr.Set(jws.TypeKey, "JWT")
	tok, err := jws.Sign(payload, jws.WithKey(jwa.RS256, d.key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": string(tok),
		"token_type":   "Bearer",
		"expires_in":   int(d.ttl.Seconds()),
		"scope":        claims["scope"],
	})
}

// grantedScope is the scope a token gets: the requested scopes, each of
// which the client must be allowed (RFC 6749 3.3: invalid_scope
// otherwise), or all the client's scopes when none is requested.
func grantedScope(allowed []string, requested string) (string, bool) {
	if strings.TrimSpace(requested) == "" {
		return strings.Join(allowed, " "), true
	}
	var out []string
	for _, s := range strings.Fields(requested) {
		if !slices.Contains(allowed, s) {
			return "", false
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return strings.Join(out, " "), true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
