// Package devmode holds what `opa-sts dev` generates in its data
// directory: the development policy data, the secrets it keeps between
// runs, and the AWS configuration that hands its credentials to the AWS
// CLI and SDKs.
package devmode

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Buckets the development gateway creates: each identity's home prefix
// lives in "home", and "shared" is read-only.
var Buckets = []string{"home", "shared"}

// Policy returns the development data: the development issuer as the one
// provider, and a role that shows the product in miniature, bound to
// client:
//
//	OwnBuckets      everything on buckets named <sub>-*   (aws s3 mb s3://dev-demo)
//	HomePrefix      read/write under home/<sub>/, list it (a ${jwt:sub} home)
//	SharedReadOnly  read and list shared
//	ListBuckets     aws s3 ls
//	NoBucketDeletes an explicit Deny: no bucket is deleted, even one's own
func Policy(issuer, client string) map[string]any {
	stmt := func(sid, effect string, actions, resources []string, cond map[string]any) map[string]any {
		s := map[string]any{"Sid": sid, "Effect": effect, "Action": actions, "Resource": resources}
		if cond != nil {
			s["Condition"] = cond
		}
		return s
	}
	return map[string]any{
		"providers": []any{map[string]any{
			"issuer":        issuer,
			"discovery_url": issuer + "/.well-known/openid-configuration",
			"audiences":     []string{"sts"},
		}},
		"roles": map[string]any{"developer": map[string]any{"statements": []any{
			stmt("OwnBuckets", "Allow", []string{"s3:*"}, []string{"arn:aws:s3:::${jwt:sub}-*", "arn:aws:s3:::${jwt:sub}-*/*"}, nil),
			stmt("HomePrefix", "Allow", []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}, []string{"arn:aws:s3:::home/${jwt:sub}/*"}, nil),
			stmt("HomeListing", "Allow", []string{"s3:ListBucket"}, []string{"arn:aws:s3:::home"},
				map[string]any{"StringLike": map[string]any{"s3:prefix": []string{"${jwt:sub}/", "${jwt:sub}/*"}}}),
			stmt("SharedReadOnly", "Allow", []string{"s3:GetObject", "s3:ListBucket"}, []string{"arn:aws:s3:::shared", "arn:aws:s3:::shared/*"}, nil),
			stmt("ListBuckets", "Allow", []string{"s3:ListAllMyBuckets"}, []string{"*"}, nil),
			stmt("NoBucketDeletes", "Deny", []string{"s3:DeleteBucket"}, []string{"*"}, nil),
		}}},
		"bindings": []any{map[string]any{"role": "developer", "issuer": issuer, "clients": []string{client}}},
	}
}

// WriteData writes data.opa_sts to path the first time, and afterwards
// only replaces its API token hash (new at every start) and the
// development issuer (which follows --sts-addr), keeping every edit the
// developer made.
func WriteData(path, issuer, client, apiTokenSHA256 string) error {
	doc := map[string]any{}
	raw, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		doc["opa_sts"] = Policy(issuer, client)
	case err != nil:
		return fmt.Errorf("dev: %w", err)
	default:
		if err := json.Unmarshal(raw, &doc); err != nil {
			return fmt.Errorf("dev: %s is not valid JSON (%v): fix it, or delete it to get the default back", path, err)
		}
	}
	sts, ok := doc["opa_sts"].(map[string]any)
	if !ok {
		return fmt.Errorf("dev: %s has no opa_sts object: fix it, or delete it to get the default back", path)
	}
	sts["api"] = map[string]any{"admin_token_sha256": []string{apiTokenSHA256}}
	followIssuer(sts, issuer)
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(out, '\n'), 0o600)
}

// followIssuer points the development issuer's provider and bindings at
// issuer when --sts-addr changed between runs.
func followIssuer(sts map[string]any, issuer string) {
	providers, _ := sts["providers"].([]any)
	old := ""
	for _, p := range providers {
		if pm, ok := p.(map[string]any); ok {
			if iss, _ := pm["issuer"].(string); isDevIssuer(iss) {
				old = iss
				pm["issuer"], pm["discovery_url"] = issuer, issuer+"/.well-known/openid-configuration"
			}
		}
	}
	if old == "" || old == issuer {
		return
	}
	bindings, _ := sts["bindings"].([]any)
	for _, b := range bindings {
		if bm, ok := b.(map[string]any); ok && bm["issuer"] == old {
			bm["issuer"] = issuer
		}
	}
}

// isDevIssuer: a development issuer is <loopback STS>/dev.
func isDevIssuer(iss string) bool {
	if !strings.HasSuffix(iss, "/dev") {
		return false
	}
	for _, p := range []string{"http://127.0.0.1:", "http://localhost:", "http://[::1]:"} {
		if strings.HasPrefix(iss, p) {
			return true
		}
	}
	return false
}

// Secret returns the secret kept in path, generating it (random, 0600)
// the first time.
func Secret(path string, bytes int) (string, error) {
	if raw, err := os.ReadFile(path); err == nil {
		if s := strings.TrimSpace(string(raw)); s != "" {
			return s, nil
		}
	}
	b := make([]byte, bytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	s := base64.RawURLEncoding.EncodeToString(b)
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("dev: %w", err)
	}
	return s, nil
}
