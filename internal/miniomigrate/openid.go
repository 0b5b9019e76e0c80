// Package miniomigrate translates a MinIO deployment's identity and policy
// configuration (its OpenID settings, canned policies and policy mappings)
// into opa-sts data: providers, roles and bindings for the MinIO
// access-management plugin contract (policies/httpapi/authz). Everything it
// cannot carry over with the same meaning is reported, never dropped: a
// policy that cannot be translated becomes a role that denies everything.
package miniomigrate

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Provider is one of MinIO's OpenID providers (identity_openid), as far as
// the migration needs it. Its client secret is never read.
type Provider struct {
	// Name is "" for the default provider, else the name of a named one
	// (identity_openid:NAME, MINIO_IDENTITY_OPENID_*_NAME).
	Name        string
	ConfigURL   string
	ClientID    string
	ClaimName   string // the policy claim, default "policy"
	ClaimPrefix string
	RolePolicy  string // comma-separated policies every token of the provider gets
	Enabled     bool
	// Other are the settings the migration does not need, by name (their
	// values are not kept: some are secrets).
	Other []string
}

// PolicyClaim is the claim that names the policies of a session.
func (p Provider) PolicyClaim() string {
	name := p.ClaimName
	if name == "" {
		name = "policy"
	}
	return p.ClaimPrefix + name
}

// label names the provider in the report.
func (p Provider) label() string {
	if p.Name == "" {
		return "identity_openid"
	}
	return "identity_openid:" + p.Name
}

// The identity_openid settings, as named in MinIO's configuration
// (lower case) and environment (MINIO_IDENTITY_OPENID_ + upper case).
var openIDSettings = []string{
	"config_url", "client_id", "client_secret", "claim_name", "claim_prefix", "claim_userinfo",
	"role_policy", "redirect_uri", "redirect_uri_dynamic", "scopes", "display_name", "vendor",
	"keycloak_realm", "keycloak_admin_url", "enable", "comment", "user_readable_claim", "user_id_claim",
}

const envPrefix = "MINIO_IDENTITY_OPENID_"

// ParseEnv reads MINIO_IDENTITY_OPENID_* settings from an environment file
// (KEY=VALUE lines; "export ", quotes and # comments allowed). Other
// variables are ignored, except those that name something the migration
// leaves to MinIO, which notes reports.
func ParseEnv(r io.Reader) ([]Provider, []Item, error) {
	settings := map[string]map[string]string{} // provider name -> setting -> value
	var items []Item
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, nil, fmt.Errorf("line %d: not KEY=VALUE", n)
		}
		key = strings.TrimSpace(key)
		value, err := unquote(strings.TrimSpace(value))
		if err != nil {
			return nil, nil, fmt.Errorf("line %d (%s): %w", n, key, err)
		}
		switch {
		case strings.HasPrefix(key, envPrefix):
			items = putEnvSetting(settings, key, value, items)
		case strings.HasPrefix(key, "MINIO_IDENTITY_LDAP_"):
			items = appendOnce(items, Item{Kind: KindNote, Subject: "identity_ldap",
				Reason: "MinIO keeps authenticating LDAP users; their policy mappings (stsuser_mappings, LDAP group mappings) come from the IAM export"})
		case strings.HasPrefix(key, "MINIO_IDENTITY_TLS_"):
			items = appendOnce(items, Item{Kind: KindNote, Subject: "identity_tls",
				Reason: "MinIO keeps authenticating TLS client certificates; their sessions are MinIO users named tls:<CN>, not migrated"})
		case strings.HasPrefix(key, "MINIO_IDENTITY_PLUGIN_"):
			items = appendOnce(items, Item{Kind: KindNote, Subject: "identity_plugin",
				Reason: "MinIO keeps calling its identity plugin (opa-sts's plugins.minio_identity decides it by bindings)"})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("read environment: %w", err)
	}
	providers, more := providersFrom(settings)
	return providers, append(items, more...), nil
}

// splitEnvSetting splits "CONFIG_URL_PRIMARY" into ("config_url",
// "primary"): the longest setting name that prefixes it.
func splitEnvSetting(s string) (setting, name string, ok bool) {
	lower := strings.ToLower(s)
	best := ""
	for _, k := range openIDSettings {
		if (lower == k || strings.HasPrefix(lower, k+"_")) && len(k) > len(best) {
			best = k
		}
	}
	if best == "" {
		return "", "", false
	}
	return best, strings.TrimPrefix(strings.TrimPrefix(lower, best), "_"), true
}

// putEnvSetting records key=value, a MINIO_IDENTITY_OPENID_* setting, in
// settings under its provider name, or reports a key MinIO does not know.
func putEnvSetting(settings map[string]map[string]string, key, value string, items []Item) []Item {
	setting, name, ok := splitEnvSetting(strings.TrimPrefix(key, envPrefix))
	if !ok {
		return append(items, Item{Kind: KindUntranslated, Subject: key, Reason: "not an identity_openid setting MinIO knows"})
	}
	if settings[name] == nil {
		settings[name] = map[string]string{}
	}
	settings[name][setting] = value
	return items
}

// ParseConfig reads the output of "mc admin config get ALIAS
// identity_openid": one line per provider, "identity_openid[:NAME]
// key=value ...", values quoted when they hold spaces.
//
// Settings MinIO takes from its environment are printed as comments
// ("# MINIO_IDENTITY_OPENID_CONFIG_URL=..."): they are read too, and win
// over the stored configuration as they do in MinIO. A provider printed
// commented out is disabled.
func ParseConfig(r io.Reader) ([]Provider, []Item, error) {
	settings := map[string]map[string]string{}
	fromEnv := map[string]map[string]string{}
	var items []Item
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if comment, ok := strings.CutPrefix(line, "#"); ok {
			comment = strings.TrimSpace(comment)
			switch {
			case strings.HasPrefix(comment, envPrefix):
				key, value, ok := strings.Cut(comment, "=")
				if !ok {
					return nil, nil, fmt.Errorf("line %d: an environment setting that is not KEY=VALUE", n)
				}
				items = putEnvSetting(fromEnv, key, value, items)
			case strings.HasPrefix(comment, "identity_openid"):
				target, _, _ := strings.Cut(comment, " ")
				items = append(items, Item{Kind: KindNote, Subject: target, Reason: "printed commented out (disabled): not migrated"})
			}
			continue
		}
		if line == "" {
			continue
		}
		fields, err := splitConfigLine(line)
		if err != nil {
			return nil, nil, fmt.Errorf("line %d: %w", n, err)
		}
		sub, name, _ := strings.Cut(fields[0], ":")
		if sub != "identity_openid" {
			items = append(items, Item{Kind: KindNote, Subject: sub, Reason: "not identity_openid: left to MinIO"})
			continue
		}
		name = strings.ToLower(name)
		if settings[name] == nil {
			settings[name] = map[string]string{}
		}
		for i, f := range fields[1:] {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				// Not echoed: it may be the rest of an unquoted secret.
				return nil, nil, fmt.Errorf("line %d: field %d is not key=value (quote values that hold spaces)", n, i+2)
			}
			if !knownSetting(k) {
				items = append(items, Item{Kind: KindUntranslated, Subject: fields[0] + " " + k, Reason: "not an identity_openid setting MinIO knows"})
				continue
			}
			settings[name][k] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("read configuration: %w", err)
	}
	for name, kv := range fromEnv {
		if settings[name] == nil {
			settings[name] = map[string]string{}
		}
		for k, v := range kv {
			settings[name][k] = v
		}
	}
	providers, more := providersFrom(settings)
	return providers, append(items, more...), nil
}

func knownSetting(k string) bool {
	for _, s := range openIDSettings {
		if s == k {
			return true
		}
	}
	return false
}

// splitConfigLine splits a configuration line into fields at spaces
// outside double quotes, and removes the quotes.
func splitConfigLine(line string) ([]string, error) {
	var fields []string
	var cur strings.Builder
	inQuotes, escaped, started := false, false, false
	for _, c := range line {
		switch {
		case escaped:
			cur.WriteRune(c)
			escaped = false
		case c == '\\' && inQuotes:
			escaped = true
		case c == '"':
			inQuotes = !inQuotes
			started = true
		case (c == ' ' || c == '\t') && !inQuotes:
			if started {
				fields = append(fields, cur.String())
				cur.Reset()
				started = false
			}
		default:
			cur.WriteRune(c)
			started = true
		}
	}
	if inQuotes {
		return nil, errors.New("unterminated quote")
	}
	if started {
		fields = append(fields, cur.String())
	}
	if len(fields) == 0 {
		return nil, errors.New("empty line")
	}
	return fields, nil
}

func unquote(v string) (string, error) {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') {
		if v[len(v)-1] != v[0] {
			return "", errors.New("unterminated quote")
		}
		return v[1 : len(v)-1], nil
	}
	if strings.ContainsAny(v, `"'`) {
		return "", errors.New("a quote inside an unquoted value")
	}
	return v, nil
}

// providersFrom builds the providers of settings, the default one first.
func providersFrom(settings map[string]map[string]string) ([]Provider, []Item) {
	names := make([]string, 0, len(settings))
	for n := range settings {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []Provider
	var items []Item
	for _, n := range names {
		s := settings[n]
		p := Provider{Name: n, ConfigURL: s["config_url"], ClientID: s["client_id"], ClaimName: s["claim_name"],
			ClaimPrefix: s["claim_prefix"], RolePolicy: s["role_policy"], Enabled: s["enable"] != "off"}
		for k := range s {
			switch k {
			case "config_url", "client_id", "claim_name", "claim_prefix", "role_policy", "enable", "client_secret":
			default:
				if s[k] != "" {
					p.Other = append(p.Other, k)
				}
			}
		}
		sort.Strings(p.Other)
		switch {
		case p.ConfigURL == "" && p.ClientID == "":
			// Only defaults (mc prints every setting, empty ones too): no provider.
			continue
		case !p.Enabled:
			items = append(items, Item{Kind: KindNote, Subject: p.label(), Reason: "disabled (enable=off): not migrated"})
			continue
		case p.ConfigURL == "" || p.ClientID == "":
			items = append(items, Item{Kind: KindUntranslated, Subject: p.label(), Reason: "needs both config_url and client_id"})
			continue
		}
		if p.ClaimPrefix != "" {
			items = append(items, Item{Kind: KindNote, Subject: p.label(),
				Reason: fmt.Sprintf("claim_prefix (deprecated in MinIO) kept: the policy claim is %q", p.PolicyClaim())})
		}
		if len(p.Other) > 0 {
			items = append(items, Item{Kind: KindNote, Subject: p.label(),
				Reason: "MinIO keeps using " + strings.Join(p.Other, ", ") + " for its own STS: nothing to migrate"})
		}
		out = append(out, p)
	}
	return out, items
}

// ResolveIssuers fills in the issuer of every provider from its discovery
// document (config_url), unless known has it (config URL -> issuer).
func ResolveIssuers(ctx context.Context, client *http.Client, providers []Provider, known map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range providers {
		if iss, ok := known[p.ConfigURL]; ok {
			out[p.ConfigURL] = iss
			continue
		}
		if _, done := out[p.ConfigURL]; done {
			continue
		}
		iss, err := fetchIssuer(ctx, client, p.ConfigURL)
		if err != nil {
			return nil, fmt.Errorf("%s: the issuer of %s: %w (give it with --issuer %s=ISSUER)", p.label(), p.ConfigURL, err, p.ConfigURL)
		}
		out[p.ConfigURL] = iss
	}
	return out, nil
}

func fetchIssuer(ctx context.Context, client *http.Client, configURL string) (string, error) {
	u, err := url.Parse(configURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", errors.New("config_url is not an http(s) URL")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("fetch the discovery document: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("discovery document: HTTP %d", resp.StatusCode)
	}
	var doc struct {
		Issuer string `json:"issuer"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		return "", fmt.Errorf("discovery document: %w", err)
	}
	if doc.Issuer == "" {
		return "", errors.New("discovery document names no issuer")
	}
	return doc.Issuer, nil
}

func appendOnce(items []Item, it Item) []Item {
	for _, x := range items {
		if x == it {
			return items
		}
	}
	return append(items, it)
}
