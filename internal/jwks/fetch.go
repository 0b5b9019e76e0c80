package jwks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// FetchConfig controls how key sets and discovery documents are fetched.
type FetchConfig struct {
	// Client is the HTTP client (default: a client with TLS verification,
	// no proxy surprises beyond the environment's, and at most 3 redirects).
	Client *http.Client
	// Timeout bounds one fetch, discovery included (default 5 seconds).
	Timeout time.Duration
	// MaxBytes bounds a response body (default 1 MiB).
	MaxBytes int64
	// AllowInsecureHTTP permits plain-http URLs that are not on the loopback
	// interface. Keys fetched in clear text can be replaced by anyone on the
	// path, so this is off by default.
	AllowInsecureHTTP bool
}

func (c FetchConfig) withDefaults() FetchConfig {
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 1 << 20
	}
	if c.Client == nil {
		allow := c.AllowInsecureHTTP
		c.Client = &http.Client{
			Transport: http.DefaultTransport,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				return checkRedirect(req, via, allow, net.DefaultResolver)
			},
		}
	}
	return c
}

// checkRedirect checks every hop of a redirect as the first URL was
// checked, and more: at most 3 redirects; never from https down to http;
// and never from a public host to a loopback, private, link-local or
// unspecified address (by IP literal, or by what the name resolves to
// now), which would let a compromised or malicious public IdP make
// opa-sts fetch from its own network.
func checkRedirect(req *http.Request, via []*http.Request, allowInsecureHTTP bool, resolver *net.Resolver) error {
	if len(via) >= 3 {
		return errors.New("too many redirects")
	}
	if err := checkURL(req.URL.String(), allowInsecureHTTP); err != nil {
		return fmt.Errorf("redirect refused: %w", err)
	}
	for _, prev := range via {
		if prev.URL.Scheme == "https" && req.URL.Scheme != "https" {
			return fmt.Errorf("redirect refused: from https down to %s", req.URL.Scheme)
		}
	}
	if internalHost(req.Context(), via[0].URL.Hostname(), resolver) {
		return nil // an internal IdP may send its clients anywhere internal
	}
	if internalHost(req.Context(), req.URL.Hostname(), resolver) {
		return fmt.Errorf("redirect refused: from a public host to an internal address (%s)", req.URL.Hostname())
	}
	return nil
}

// internalHost reports whether host is, or resolves to, an address that
// is not public. A name that does not resolve counts as public here: the
// fetch itself fails then.
func internalHost(ctx context.Context, host string, resolver *net.Resolver) bool {
	if host == "localhost" {
		return true
	}
	if ip := net.ParseIP(host); ip != nil {
		return !publicIP(ip)
	}
	addrs, err := resolver.LookupIPAddr(ctx, host)
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if !publicIP(a.IP) {
			return true
		}
	}
	return false
}

func publicIP(ip net.IP) bool {
	return !(ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsUnspecified() || ip.IsInterfaceLocalMulticast())
}

type fetcher struct {
	cfg FetchConfig
}

func newFetcher(cfg FetchConfig) *fetcher { return &fetcher{cfg: cfg} }

// keySet fetches the key set of src. knownJWKSURL, when set, skips discovery.
// It returns the set, the JWKS URL used, and the lifetime the IdP announced
// (0 when it announced none).
func (f *fetcher) keySet(ctx context.Context, src Source, knownJWKSURL string) (*Set, string, time.Duration, error) {
	jwksURL := knownJWKSURL
	if jwksURL == "" {
		u, err := f.discover(ctx, src)
		if err != nil {
			return nil, "", 0, err
		}
		jwksURL = u
	}
	body, ttl, err := f.get(ctx, jwksURL)
	if err != nil {
		return nil, "", 0, fmt.Errorf("%w: fetch key set: %w", ErrUnreachable, err)
	}
	set, err := Parse(body)
	if err != nil {
		return nil, "", 0, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	return set, jwksURL, ttl, nil
}

// discover reads the OpenID Connect discovery document of src and returns
// its jwks_uri. The document must name exactly the expected issuer (OpenID
// Connect Discovery 1.0, section 4.3).
func (f *fetcher) discover(ctx context.Context, src Source) (string, error) {
	body, _, err := f.get(ctx, src.DiscoveryURL)
	if err != nil {
		return "", fmt.Errorf("%w: fetch discovery document: %w", ErrUnreachable, err)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("%w: parse discovery document: %w", ErrUnreachable, err)
	}
	if doc.Issuer != src.Issuer {
		return "", fmt.Errorf("%w: discovery document names issuer %q, expected %q",
			ErrUnreachable, truncate(doc.Issuer, 200), src.Issuer)
	}
	if doc.JWKSURI == "" {
		return "", fmt.Errorf("%w: discovery document has no jwks_uri", ErrUnreachable)
	}
	if err := checkURL(doc.JWKSURI, f.cfg.AllowInsecureHTTP); err != nil {
		return "", fmt.Errorf("%w: discovery jwks_uri: %w", ErrUnreachable, err)
	}
	return doc.JWKSURI, nil
}

func (f *fetcher) get(ctx context.Context, rawURL string) ([]byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := f.cfg.Client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %w", redactURL(rawURL), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, 0, fmt.Errorf("GET %s: status %d", redactURL(rawURL), resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.cfg.MaxBytes+1))
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: read body: %w", redactURL(rawURL), err)
	}
	if int64(len(body)) > f.cfg.MaxBytes {
		return nil, 0, fmt.Errorf("GET %s: response larger than %d bytes", redactURL(rawURL), f.cfg.MaxBytes)
	}
	return body, lifetime(resp.Header, time.Now()), nil
}

// lifetime reads the freshness lifetime from Cache-Control (max-age, with
// no-store/no-cache meaning "as short as allowed") or Expires. It returns 0
// when the response announces nothing.
func lifetime(h http.Header, now time.Time) time.Duration {
	if cc := h.Get("Cache-Control"); cc != "" {
		for _, d := range strings.Split(cc, ",") {
			d = strings.ToLower(strings.TrimSpace(d))
			switch {
			case d == "no-store" || d == "no-cache":
				return time.Nanosecond
			case strings.HasPrefix(d, "max-age="):
				secs, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(d, "max-age="), `"`), 10, 64)
				if err == nil && secs >= 0 {
					if secs == 0 {
						return time.Nanosecond
					}
					return time.Duration(min(secs, int64(365*24*3600))) * time.Second
				}
			}
		}
	}
	if exp := h.Get("Expires"); exp != "" {
		if t, err := http.ParseTime(exp); err == nil {
			if d := t.Sub(now); d > 0 {
				return d
			}
			return time.Nanosecond
		}
	}
	return 0
}

// checkURL accepts https URLs, and http URLs on the loopback interface (or
// anywhere when allowInsecureHTTP is set).
func checkURL(raw string, allowInsecureHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("invalid URL: %w", err)
	}
	if u.Host == "" {
		return fmt.Errorf("URL %q has no host", truncate(raw, 200))
	}
	if u.User != nil {
		return errors.New("URL must not carry credentials")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if allowInsecureHTTP || isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("plain http is only allowed on the loopback interface: %s", redactURL(raw))
	}
	return fmt.Errorf("unsupported URL scheme %q", u.Scheme)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redactURL drops the query string and user info, which could carry secrets.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<invalid URL>"
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
