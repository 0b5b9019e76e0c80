package awscreds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/opa-sts/opa-sts/internal/secretfile"
)

// maxTokenBytes bounds an identity token (opa-sts accepts 20,000 by
// default; AWS 20,000 characters).
const maxTokenBytes = 64 << 10

// readTokenFile reads the identity token from path: re-read at every
// fetch, as Kubernetes projected service account tokens are rotated in
// place.
func readTokenFile(path string) (string, error) {
	tok, err := secretfile.Read(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	tok = strings.TrimSpace(tok)
	if err := checkToken(tok); err != nil {
		return "", fmt.Errorf("token file %s: %w", path, err)
	}
	return tok, nil
}

// checkToken refuses what cannot be a token before it is sent anywhere.
func checkToken(tok string) error {
	switch {
	case tok == "":
		return errors.New("empty")
	case len(tok) > maxTokenBytes:
		return fmt.Errorf("longer than %d bytes", maxTokenBytes)
	case strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return errors.New("not a token: it contains white space or control characters")
	}
	return nil
}

// tokenResponse is RFC 6749 5.1 and 5.2 in one.
type tokenResponse struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// clientCredentials gets an access token with the OAuth2 client_credentials
// grant (RFC 6749 4.4). It returns the client secret too, so that the
// caller can keep it out of every later error.
func (f *Fetcher) clientCredentials(ctx context.Context) (token, secret string, err error) {
	s := f.settings
	secret, err = secretfile.Read(s.ClientSecretFile)
	if err != nil {
		return "", "", fmt.Errorf("client secret file: %w", err)
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	if s.Scope != "" {
		form.Set("scope", s.Scope)
	}
	if s.Audience != "" {
		form.Set("audience", s.Audience)
	}
	if s.ClientAuth == ClientSecretPost {
		form.Set("client_id", s.ClientID)
		form.Set("client_secret", secret)
	}
	idpErr := func(status int, cause error) error {
		return &IdPError{URL: s.TokenURL, Status: status, Cause: scrubError(cause, secret)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", "", idpErr(0, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if s.ClientAuth == ClientSecretBasic {
		// RFC 6749 2.3.1: both are form-encoded before Basic encoding.
		req.SetBasicAuth(url.QueryEscape(s.ClientID), url.QueryEscape(secret))
	}
	resp, err := f.http.Do(req)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) {
			err = fmt.Errorf("unreachable: %w", oe)
		}
		return "", "", idpErr(0, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", "", idpErr(resp.StatusCode, err)
	}
	var tr tokenResponse
	jsonErr := json.Unmarshal(body, &tr)
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); jsonErr == nil && mt != "" && mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		jsonErr = fmt.Errorf("content type %s is not JSON", mt)
	}
	if resp.StatusCode != http.StatusOK {
		if jsonErr == nil && tr.Error != "" {
			return "", "", &IdPError{URL: s.TokenURL, Status: resp.StatusCode,
				Code: scrub(tr.Error, secret), Description: scrub(tr.ErrorDescription, secret)}
		}
		if resp.StatusCode/100 == 3 {
			return "", "", idpErr(resp.StatusCode, errors.New("redirected: redirects are not followed (they would carry the client secret elsewhere)"))
		}
		return "", "", idpErr(resp.StatusCode, errors.New("token request refused"))
	}
	if jsonErr != nil {
		return "", "", idpErr(resp.StatusCode, fmt.Errorf("the answer is not an OAuth2 token response: %w", jsonErr))
	}
	if tr.AccessToken == "" {
		return "", "", idpErr(resp.StatusCode, errors.New("the answer has no access_token"))
	}
	if tt := tr.TokenType; tt != "" && !strings.EqualFold(tt, "bearer") {
		return "", "", idpErr(resp.StatusCode, fmt.Errorf("token_type %q is not Bearer", scrub(tt, secret, tr.AccessToken)))
	}
	if err := checkToken(tr.AccessToken); err != nil {
		return "", "", idpErr(resp.StatusCode, fmt.Errorf("access_token: %w", err))
	}
	return tr.AccessToken, secret, nil
}
