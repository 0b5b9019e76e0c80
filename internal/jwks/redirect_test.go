package jwks

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func hop(raw string) *http.Request { return httptest.NewRequest(http.MethodGet, raw, nil) }

// Every hop of a redirect is checked: no downgrade to http, no jump from
// a public IdP into the internal network, no more than 3 hops.
func TestEveryRedirectHopIsChecked(t *testing.T) {
	r := net.DefaultResolver
	for name, c := range map[string]struct {
		via    []string
		target string
		allow  bool
		refuse string
	}{
		"https to https":                    {[]string{"https://203.0.113.5/jwks"}, "https://198.51.100.7/keys", false, ""},
		"https down to http":                {[]string{"https://203.0.113.5/jwks"}, "http://198.51.100.7/keys", true, "down to http"},
		"https down to loopback http":       {[]string{"https://127.0.0.1:8443/jwks"}, "http://127.0.0.1:8080/keys", false, "down to http"},
		"public to a private address":       {[]string{"https://203.0.113.5/jwks"}, "https://10.0.0.7/keys", false, "internal address"},
		"public to loopback":                {[]string{"https://203.0.113.5/jwks"}, "https://127.0.0.1/keys", false, "internal address"},
		"public to link-local metadata":     {[]string{"https://203.0.113.5/jwks"}, "https://169.254.169.254/latest", false, "internal address"},
		"public to localhost":               {[]string{"https://203.0.113.5/jwks"}, "https://localhost/keys", false, "internal address"},
		"internal to internal":              {[]string{"https://10.0.0.5/jwks"}, "https://10.0.0.6/keys", false, ""},
		"plain http off loopback":           {[]string{"http://127.0.0.1/jwks"}, "http://198.51.100.7/keys", false, "loopback"},
		"credentials in the target":         {[]string{"https://203.0.113.5/jwks"}, "https://u:p@198.51.100.7/keys", false, "credentials"},
		"a scheme that is not http":         {[]string{"https://203.0.113.5/jwks"}, "ftp://198.51.100.7/keys", false, "scheme"},
		"too many":                          {[]string{"https://203.0.113.5/a", "https://203.0.113.5/b", "https://203.0.113.5/c"}, "https://203.0.113.5/d", false, "too many"},
		"loopback http to loopback http ok": {[]string{"http://127.0.0.1:1/jwks"}, "http://127.0.0.1:2/keys", false, ""},
	} {
		var via []*http.Request
		for _, v := range c.via {
			via = append(via, hop(v))
		}
		target, err := http.NewRequest(http.MethodGet, c.target, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = checkRedirect(target, via, c.allow, r)
		switch {
		case c.refuse == "" && err != nil:
			t.Errorf("%s: refused: %v", name, err)
		case c.refuse != "" && (err == nil || !strings.Contains(err.Error(), c.refuse)):
			t.Errorf("%s: want a refusal naming %q, got %v", name, c.refuse, err)
		}
	}
}
