package miniomigrate

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Kind classifies a report item.
type Kind string

// The kinds of report items.
const (
	// KindUntranslated: could not be carried over. It fails closed: a
	// policy becomes a role that denies everything; a setting or mapping
	// is left out only where that grants nothing.
	KindUntranslated Kind = "untranslated"
	// KindChanged: carried over with a meaning that differs from MinIO's,
	// deliberately (a MinIO quirk opa-sts does not copy). Read each.
	KindChanged Kind = "changed"
	// KindTranslated: rewritten so that the meaning stays MinIO's.
	KindTranslated Kind = "translated"
	// KindNote: nothing to migrate, or left to MinIO; for information.
	KindNote Kind = "note"
)

// Item is one entry of the report.
type Item struct {
	Kind    Kind   `json:"kind"`
	Subject string `json:"subject"`
	Reason  string `json:"reason"`
}

// Report is everything the migration could not carry over unchanged.
type Report struct {
	Items   []Item  `json:"items"`
	Summary Summary `json:"summary"`
}

// Summary counts what was migrated and what the report holds.
type Summary struct {
	Providers       int `json:"providers"`
	Roles           int `json:"roles"`
	Bindings        int `json:"bindings"`
	Users           int `json:"users"`
	Groups          int `json:"ldap_groups"`
	ServiceAccounts int `json:"service_accounts"`
	Untranslated    int `json:"untranslated"`
	Changed         int `json:"changed"`
	Translated      int `json:"translated"`
	Notes           int `json:"notes"`
}

// Input is what the migration reads.
type Input struct {
	Providers []Provider
	// Issuers are the providers' issuers by config URL (ResolveIssuers).
	Issuers map[string]string
	IAM     *IAM
	// Items are the report items of reading the input.
	Items []Item
}

// Result is opa-sts data and the report.
type Result struct {
	// Data is the document to load as data: {"opa_sts": {...}}.
	Data   map[string]any
	Report Report
}

// Migrate translates in. Unknown or untranslatable things are in the
// report; an error means the input itself is unusable.
func Migrate(in Input) (*Result, error) {
	if in.IAM == nil {
		in.IAM = &IAM{}
	}
	items := slices.Clone(in.Items)

	// Canned policies become roles of the same name.
	roles := map[string]any{}
	for _, name := range sortedKeys(in.IAM.Policies) {
		role, its := translatePolicy(name, in.IAM.Policies[name])
		roles[name] = role
		items = append(items, its...)
	}
	exists := func(p string) bool { _, ok := roles[p]; return ok }

	// OpenID providers.
	var providers, bindings []any
	claimBased := 0
	for _, p := range in.Providers {
		iss := in.Issuers[p.ConfigURL]
		if iss == "" {
			return nil, fmt.Errorf("%s: no issuer for %s", p.label(), p.ConfigURL)
		}
		name := "MinIO " + p.label()
		providers = append(providers, map[string]any{
			"name": name, "issuer": iss, "discovery_url": p.ConfigURL, "audiences": []string{p.ClientID}, "azp_fallback": true,
		})
		if p.RolePolicy != "" {
			// Every token of the client has the role policy: MinIO checks
			// that its aud holds the client id, or its azp is it.
			for _, pol := range splitPolicies(p.RolePolicy) {
				if !exists(pol) {
					items = append(items, Item{KindUntranslated, p.label() + " role_policy " + pol, "no such canned policy: left out (MinIO ignores it too, and refuses the provider's sessions when none of its role policies exists)"})
					continue
				}
				bindings = append(bindings,
					map[string]any{"role": pol, "issuer": iss, "claims": map[string]any{"aud": []string{p.ClientID}}, "description": name + " role_policy"},
					map[string]any{"role": pol, "issuer": iss, "clients": []string{p.ClientID}, "description": name + " role_policy (azp)"})
			}
			continue
		}
		claimBased++
		// The policy claim names policies, comma-separated or as an array.
		// MinIO rewrites it at issuance to the policies that exist then.
		// Only the provider's own tokens (aud holds its client id, or azp
		// is it): a role_policy provider's sessions of the same issuer
		// keep the claim, and MinIO gives them their role's policies only.
		claim := p.PolicyClaim()
		for _, pol := range sortedKeys(in.IAM.Policies) {
			bindings = append(bindings,
				map[string]any{"role": pol, "issuer": iss, "claim_lists": map[string]any{claim: []string{pol}}, "claims": map[string]any{"aud": []string{p.ClientID}}},
				map[string]any{"role": pol, "issuer": iss, "claim_lists": map[string]any{claim: []string{pol}}, "clients": []string{p.ClientID}})
		}
	}
	if claimBased > 1 {
		items = append(items, Item{KindNote, "identity_openid", "more than one provider without role_policy: MinIO itself allows only one"})
	}

	// MinIO's own users: their policies and their enabled groups'. MinIO
	// does not send its users' groups to the plugin, so each user gets
	// the roles of its groups here.
	users := map[string][]string{}
	userNames := map[string]bool{}
	for u := range in.IAM.Users {
		userNames[u] = true
	}
	for u := range in.IAM.UserPolicies {
		userNames[u] = true
	}
	memberOf := map[string][]string{}
	// A member of a disabled group has no policy at all in MinIO, its own
	// included (cmd/iam-store.go, policyDBGet): it is denied everything.
	inDisabled := map[string]string{}
	for _, g := range sortedKeys(in.IAM.Groups) {
		grp := in.IAM.Groups[g]
		for _, m := range grp.Members {
			userNames[m] = true
			if !grp.Enabled {
				if _, seen := inDisabled[m]; !seen {
					inDisabled[m] = g
				}
				continue
			}
			memberOf[m] = append(memberOf[m], g)
		}
	}
	for _, u := range sortedKeys(userNames) {
		var pols []string
		add := func(from string, list []string) {
			for _, p := range list {
				if !exists(p) {
					items = appendOnce(items, Item{KindNote, from + " policy " + p, "no such canned policy: ignored, as MinIO ignores it"})
					continue
				}
				if !slices.Contains(pols, p) {
					pols = append(pols, p)
				}
			}
		}
		add("user "+u, in.IAM.UserPolicies[u])
		for _, g := range memberOf[u] {
			add("group "+g, in.IAM.GroupPolicies[g])
		}
		if _, known := in.IAM.Users[u]; !known && len(in.IAM.Users) > 0 {
			items = append(items, Item{KindNote, "user " + u, "mapped but not a MinIO user in the export"})
		}
		if enabled, known := in.IAM.Users[u]; known && !enabled {
			items = append(items, Item{KindNote, "user " + u, "disabled in MinIO: MinIO refuses its credentials, whatever its roles"})
		}
		if g, ok := inDisabled[u]; ok {
			items = append(items, Item{KindNote, "user " + u, "member of the disabled group " + g + ": MinIO gives it no policy at all, so it gets no role"})
			continue
		}
		if len(pols) > 0 {
			sort.Strings(pols)
			users[u] = pols
		}
	}
	// LDAP: STS user mappings by DN, and group mappings of groups that are
	// not MinIO's own (LDAP groups, sent as input.groups).
	for _, dn := range sortedKeys(in.IAM.STSUserPolicies) {
		if pols := existing(in.IAM.STSUserPolicies[dn], exists); len(pols) > 0 {
			users[dn] = mergeSorted(users[dn], pols)
		}
	}
	ldapGroups := map[string][]string{}
	for _, g := range sortedKeys(in.IAM.GroupPolicies) {
		if _, own := in.IAM.Groups[g]; own {
			continue
		}
		if pols := existing(in.IAM.GroupPolicies[g], exists); len(pols) > 0 {
			ldapGroups[g] = pols
		}
	}
	for _, k := range sortedKeys(in.IAM.ServiceAccounts) {
		sa := in.IAM.ServiceAccounts[k]
		if !sa.OpenID && len(users[sa.Parent]) == 0 {
			items = append(items, Item{KindNote, "service account " + k, fmt.Sprintf("its parent %q has no migrated policy (root, or a user without any): it gets none", sa.Parent)})
		}
	}

	minio := map[string]any{"owner": "allow"}
	if len(users) > 0 {
		minio["users"] = users
	}
	if len(ldapGroups) > 0 {
		minio["groups"] = ldapGroups
	}
	doc := map[string]any{"roles": roles, "minio": minio}
	if providers != nil {
		doc["providers"] = providers
	}
	if bindings != nil {
		doc["bindings"] = bindings
	}
	res := &Result{Data: map[string]any{"opa_sts": doc}}
	res.Report.Items = items
	if res.Report.Items == nil {
		res.Report.Items = []Item{}
	}
	s := &res.Report.Summary
	s.Providers, s.Roles, s.Bindings, s.Users, s.Groups, s.ServiceAccounts = len(providers), len(roles), len(bindings), len(users), len(ldapGroups), len(in.IAM.ServiceAccounts)
	for _, it := range items {
		switch it.Kind {
		case KindUntranslated:
			s.Untranslated++
		case KindChanged:
			s.Changed++
		case KindTranslated:
			s.Translated++
		case KindNote:
			s.Notes++
		}
	}
	return res, nil
}

func existing(pols []string, exists func(string) bool) []string {
	var out []string
	for _, p := range pols {
		if exists(p) {
			out = append(out, p)
		}
	}
	return out
}

func mergeSorted(a, b []string) []string {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

// Text renders the report for a terminal.
func (r Report) Text() string {
	var b strings.Builder
	s := r.Summary
	fmt.Fprintf(&b, "migrated: %s, %s (canned policies), %s, %s, %s; %s kept in MinIO\n",
		count(s.Providers, "provider"), count(s.Roles, "role"), count(s.Bindings, "binding"), count(s.Users, "MinIO user"),
		count(s.Groups, "LDAP group"), count(s.ServiceAccounts, "service account"))
	fmt.Fprintf(&b, "report: %d untranslated, %d changed, %d translated, %s\n", s.Untranslated, s.Changed, s.Translated, count(s.Notes, "note"))
	for _, k := range []Kind{KindUntranslated, KindChanged, KindTranslated, KindNote} {
		for _, it := range r.Items {
			if it.Kind == k {
				fmt.Fprintf(&b, "  %-12s %s: %s\n", it.Kind, it.Subject, it.Reason)
			}
		}
	}
	return b.String()
}

// count is "1 thing" or "n things".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// JSON is the data document, indented.
func (r *Result) JSON() ([]byte, error) {
	return json.MarshalIndent(r.Data, "", "  ")
}
