// Package rolemap resolves a verified identity (token claims) to the roles
// bound to it, from bindings given as data. It is the compiled form of the
// mapping rules: bindings are checked and indexed once, then resolving a
// claims set costs microseconds whatever the number of bindings. Each
// binding is indexed under the values of one of its set criteria (clients,
// subjects, groups, scopes or realm_roles), so only the bindings that can
// apply to the claims are checked (bindings with claim_lists are anchored
// on their items first); bindings with only client_roles or claims
// criteria are checked on every resolution.
//
// A binding applies when its issuer is the claims' "iss" and every
// criterion it names holds (OR within a list, AND across criteria); a
// binding naming no criterion never applies:
//
//	clients       azp (else client_id) is one of
//	subjects      the subject the token claims is one of (not the client id that names a token without one)
//	scopes        one of the token's scopes ("scope", space-separated, or "scp")
//	groups        one of the values of the provider's groups_claim (default "groups")
//	realm_roles   one of Keycloak's realm_access.roles
//	client_roles  {client: [roles]}: one of resource_access.<client>.roles
//	claims        {claim: [values]}: each named claim is (or contains) one of the values
//	claim_lists   {claim: [values]}: each named claim, read as comma-separated
//	              lists (a string, or the strings of an array; items trimmed of
//	              spaces), lists one of the values: MinIO's policy claim
package rolemap

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/opa-sts/opa-sts/internal/astutil"
)

// Identity is what the claims resolve to.
type Identity struct {
	ClientID string
	Subject  string // "" when the claims name none
	Roles    []string
}

// Config is compiled configuration: provider settings and bindings by issuer.
type Config struct {
	providers map[string]provider
	bindings  map[string]*issuerBindings
}

// issuerBindings are the bindings of one issuer and their index.
type issuerBindings struct {
	all []binding
	// by anchors each binding (its position in all) under the values of
	// one of its criteria; scan holds those that have none to anchor on.
	by   [anchorKinds]map[string][]int
	scan []int
	// listClaims are the claims that claim_lists bindings are anchored on.
	listClaims []string
}

// The criteria a binding can be anchored on.
const (
	anchorClient = iota
	anchorSubject
	anchorGroup
	anchorScope
	anchorRealmRole
	anchorClaimList
	anchorKinds
)

func (ib *issuerBindings) add(b binding) {
	i := len(ib.all)
	ib.all = append(ib.all, b)
	// The most selective criterion first. A claim list names a policy
	// (MinIO's policy claim, where every token of the provider's client
	// carries it: anchoring on the client would check every policy's
	// binding for each token); a client or subject names one workload;
	// groups and scopes are shared by many.
	if len(b.claimLists) > 0 {
		ib.anchorClaimList(b, i)
		return
	}
	for kind, vals := range [anchorKinds]set{b.clients, b.subjects, b.groups, b.scopes, b.realmRoles} {
		if vals == nil {
			continue
		}
		if ib.by[kind] == nil {
			ib.by[kind] = map[string][]int{}
		}
		for v := range vals {
			ib.by[kind][v] = append(ib.by[kind][v], i)
		}
		return
	}
	ib.scan = append(ib.scan, i)
}

// anchorClaimList anchors binding i under (claim, item) of its first
// claim list by name.
func (ib *issuerBindings) anchorClaimList(b binding, i int) {
	claim := slices.Sorted(maps.Keys(b.claimLists))[0]
	if !slices.Contains(ib.listClaims, claim) {
		ib.listClaims = append(ib.listClaims, claim)
	}
	if ib.by[anchorClaimList] == nil {
		ib.by[anchorClaimList] = map[string][]int{}
	}
	for v := range b.claimLists[claim] {
		k := claimListKey(claim, v)
		ib.by[anchorClaimList][k] = append(ib.by[anchorClaimList][k], i)
	}
}

func claimListKey(claim, item string) string { return claim + "\x00" + item }

type provider struct {
	subjectClaim string
	groupsClaim  string
}

type set map[string]struct{}

type binding struct {
	role        string
	clients     set
	subjects    set
	scopes      set
	groups      set
	realmRoles  set
	clientRoles map[string]set
	claims      map[string]set
	claimLists  map[string]set
}

var bindingMembers = map[string]bool{
	"role": true, "issuer": true, "clients": true, "subjects": true, "scopes": true, "groups": true,
	"realm_roles": true, "client_roles": true, "claims": true, "claim_lists": true, "description": true,
}

// Compile reads {"providers": [...], "bindings": [...]} (other members are
// ignored). Bindings with unknown members are an error: a misspelt
// criterion would otherwise silently never match.
func Compile(cfg ast.Object) (*Config, error) {
	c := &Config{providers: map[string]provider{}, bindings: map[string]*issuerBindings{}}
	if t := cfg.Get(ast.StringTerm("providers")); t != nil {
		arr, ok := t.Value.(*ast.Array)
		if !ok {
			return nil, errors.New("providers must be an array")
		}
		for i := range arr.Len() {
			p, ok := arr.Elem(i).Value.(ast.Object)
			if !ok {
				return nil, fmt.Errorf("providers[%d] is not an object", i)
			}
			iss, _ := str(p, "issuer")
			sc, _ := str(p, "subject_claim")
			gc, _ := str(p, "groups_claim")
			if sc == "" {
				sc = "sub"
			}
			if gc == "" {
				gc = "groups"
			}
			c.providers[iss] = provider{subjectClaim: sc, groupsClaim: gc}
		}
	}
	if t := cfg.Get(ast.StringTerm("bindings")); t != nil {
		arr, ok := t.Value.(*ast.Array)
		if !ok {
			return nil, errors.New("bindings must be an array")
		}
		for i := range arr.Len() {
			b, iss, err := compileBinding(arr.Elem(i).Value)
			if err != nil {
				return nil, fmt.Errorf("bindings[%d]: %w", i, err)
			}
			if b != nil {
				if c.bindings[iss] == nil {
					c.bindings[iss] = &issuerBindings{}
				}
				c.bindings[iss].add(*b)
			}
		}
	}
	return c, nil
}

func compileBinding(v ast.Value) (*binding, string, error) {
	o, ok := v.(ast.Object)
	if !ok {
		return nil, "", errors.New("not an object")
	}
	var err error
	o.Foreach(func(k, _ *ast.Term) {
		if s, ok := k.Value.(ast.String); !ok || !bindingMembers[string(s)] {
			err = fmt.Errorf("unknown member %v", k)
		}
	})
	if err != nil {
		return nil, "", err
	}
	b := &binding{}
	var iss string
	var ok1, ok2 bool
	if b.role, ok1 = str(o, "role"); !ok1 || b.role == "" {
		return nil, "", errors.New("role (a string) is required")
	}
	if iss, ok2 = str(o, "issuer"); !ok2 || iss == "" {
		return nil, "", errors.New("issuer (a string) is required")
	}
	criteria := 0
	for name, dst := range map[string]*set{"clients": &b.clients, "subjects": &b.subjects, "scopes": &b.scopes, "groups": &b.groups, "realm_roles": &b.realmRoles} {
		if t := o.Get(ast.StringTerm(name)); t != nil {
			if *dst, err = stringSet(t.Value); err != nil {
				return nil, "", fmt.Errorf("%s: %w", name, err)
			}
			criteria++
		}
	}
	for name, dst := range map[string]*map[string]set{"client_roles": &b.clientRoles, "claims": &b.claims, "claim_lists": &b.claimLists} {
		if t := o.Get(ast.StringTerm(name)); t != nil {
			m, ok := t.Value.(ast.Object)
			if !ok {
				return nil, "", fmt.Errorf("%s must map names to lists", name)
			}
			*dst = map[string]set{}
			var e error
			m.Foreach(func(k, v *ast.Term) {
				ks, ok := k.Value.(ast.String)
				if !ok {
					e = fmt.Errorf("%s keys must be strings", name)
					return
				}
				s, err := stringSet(v.Value)
				if err != nil {
					e = fmt.Errorf("%s.%s: %w", name, string(ks), err)
					return
				}
				(*dst)[string(ks)] = s
			})
			if e != nil {
				return nil, "", e
			}
			criteria++
		}
	}
	if criteria == 0 {
		return nil, iss, nil // names no criterion: never applies
	}
	return b, iss, nil
}

func stringSet(v ast.Value) (set, error) {
	strs, err := astutil.Strings(v)
	if err != nil {
		return nil, err
	}
	s := make(set, len(strs))
	for _, x := range strs {
		s[x] = struct{}{}
	}
	return s, nil
}

func str(o ast.Object, k string) (string, bool) {
	t := o.Get(ast.StringTerm(k))
	if t == nil {
		return "", false
	}
	s, ok := t.Value.(ast.String)
	return string(s), ok
}

// ClientSubjectPrefix starts the subject of a token that claims none: it
// is named after its client, apart from every subject an IdP can claim.
const ClientSubjectPrefix = "client:"

// Resolve returns the identity of claims.
func (c *Config) Resolve(claims ast.Object) Identity {
	var id Identity
	iss, _ := str(claims, "iss")
	if azp, ok := str(claims, "azp"); ok {
		id.ClientID = azp
	} else if cid, ok := str(claims, "client_id"); ok {
		id.ClientID = cid
	}
	p, known := c.providers[iss]
	if !known {
		p = provider{subjectClaim: "sub", groupsClaim: "groups"}
	}
	// A token without a subject is named by its client, in a namespace of
	// its own ("client:<id>"): a client someone could register under a
	// user's name must not become that user (${aws:username}, the
	// session's subject, subject revocations, the principal ARN), and only
	// a subject the token claims matches a "subjects" criterion.
	claimedSubject := ""
	if s, ok := str(claims, p.subjectClaim); ok && s != "" {
		id.Subject, claimedSubject = s, s
	} else if id.ClientID != "" {
		id.Subject = ClientSubjectPrefix + id.ClientID
	}
	ib := c.bindings[iss]
	if ib == nil {
		return id
	}
	// Claim-derived values, computed once for all bindings.
	f := facts{
		subject:    claimedSubject,
		scopes:     scopes(claims),
		groups:     values(claims.Get(ast.StringTerm(p.groupsClaim))),
		realmRoles: values(path(claims, "realm_access", "roles")),
	}
	// A binding reached twice (anchored under two of the claims' values)
	// is checked again unless its role is already granted: cheaper than
	// remembering what was checked.
	check := func(i int) {
		if b := &ib.all[i]; !slices.Contains(id.Roles, b.role) && b.applies(claims, &id, &f) {
			id.Roles = append(id.Roles, b.role)
		}
	}
	lookup := func(kind int, vals ...string) {
		for _, v := range vals {
			for _, i := range ib.by[kind][v] {
				check(i)
			}
		}
	}
	lookup(anchorClient, id.ClientID)
	if claimedSubject != "" {
		lookup(anchorSubject, claimedSubject)
	}
	lookup(anchorGroup, f.groups...)
	lookup(anchorScope, f.scopes...)
	lookup(anchorRealmRole, f.realmRoles...)
	for _, claim := range ib.listClaims {
		items := listed(values(claims.Get(ast.StringTerm(claim))))
		f.listClaims, f.lists = append(f.listClaims, claim), append(f.lists, items)
		for _, item := range items {
			lookup(anchorClaimList, claimListKey(claim, item))
		}
	}
	for _, i := range ib.scan {
		check(i)
	}
	sort.Strings(id.Roles)
	return id
}

type facts struct {
	subject                    string // the claimed subject, "" if none
	scopes, groups, realmRoles []string
	// lists are the items of the claims in listClaims (claim_lists
	// anchors), split once for all the bindings checked.
	listClaims []string
	lists      [][]string
}

// listed returns the items of claim read as comma-separated lists.
func (f *facts) listed(c ast.Object, claim string) []string {
	if i := slices.Index(f.listClaims, claim); i >= 0 {
		return f.lists[i]
	}
	return listed(values(c.Get(ast.StringTerm(claim))))
}

func (b *binding) applies(c ast.Object, id *Identity, f *facts) bool {
	if b.clients != nil && !b.clients.has(id.ClientID) {
		return false
	}
	if b.subjects != nil && (f.subject == "" || !b.subjects.has(f.subject)) {
		return false
	}
	if b.scopes != nil && !b.scopes.anyOf(f.scopes) {
		return false
	}
	if b.groups != nil && !b.groups.anyOf(f.groups) {
		return false
	}
	if b.realmRoles != nil && !b.realmRoles.anyOf(f.realmRoles) {
		return false
	}
	if b.clientRoles != nil {
		found := false
		for client, roles := range b.clientRoles {
			if roles.anyOf(values(path(c, "resource_access", client, "roles"))) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	for claim, want := range b.claims {
		if !want.anyOf(values(c.Get(ast.StringTerm(claim)))) {
			return false
		}
	}
	for claim, want := range b.claimLists {
		if !want.anyOf(f.listed(c, claim)) {
			return false
		}
	}
	return true
}

// listed splits values that are comma-separated lists into their items,
// trimmed of spaces, without the empty ones (how MinIO reads its policy
// claim: "readonly, diagnostics" names two policies).
func listed(vals []string) []string {
	var out []string
	for _, v := range vals {
		for item := range strings.SplitSeq(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
	}
	return out
}

func (s set) has(v string) bool {
	_, ok := s[v]
	return ok
}

func (s set) anyOf(vals []string) bool {
	for _, v := range vals {
		if s.has(v) {
			return true
		}
	}
	return false
}

// values returns the string (or strings of an array) of t.
func values(t *ast.Term) []string {
	if t == nil {
		return nil
	}
	switch v := t.Value.(type) {
	case ast.String:
		return []string{string(v)}
	case *ast.Array:
		out := make([]string, 0, v.Len())
		for i := range v.Len() {
			if s, ok := v.Elem(i).Value.(ast.String); ok {
				out = append(out, string(s))
			}
		}
		return out
	}
	return nil
}

func path(o ast.Object, keys ...string) *ast.Term {
	var t *ast.Term
	for _, k := range keys {
		if o == nil {
			return nil
		}
		t = o.Get(ast.StringTerm(k))
		if t == nil {
			return nil
		}
		o, _ = t.Value.(ast.Object)
	}
	return t
}

func scopes(c ast.Object) []string {
	if s, ok := str(c, "scope"); ok {
		return strings.Fields(s)
	}
	return values(c.Get(ast.StringTerm("scp")))
}

// MaxVariableBytes bounds a claim value offered as a policy variable.
const MaxVariableBytes = 256

// MaxVariableValues bounds the values of a multi-valued claim (an array of
// strings such as "groups") offered as a policy variable.
const MaxVariableValues = 64

// variableValue reports whether a claim's value can be a policy variable:
// a string, or an array of 1 to MaxVariableValues strings (a multi-valued
// variable, standing for each of its values), each of at most
// MaxVariableBytes.
func variableValue(v ast.Value) bool {
	switch v := v.(type) {
	case ast.String:
		return len(v) <= MaxVariableBytes
	case *ast.Array:
		if v.Len() == 0 || v.Len() > MaxVariableValues {
			return false
		}
		for i := range v.Len() {
			s, ok := v.Elem(i).Value.(ast.String)
			if !ok || len(s) > MaxVariableBytes {
				return false
			}
		}
		return true
	}
	return false
}

// Variables returns the policy variables of claims: ${jwt:<claim>} for
// every string claim up to MaxVariableBytes and every array of such
// strings up to MaxVariableValues (a multi-valued variable: a policy
// pattern using it stands for each value, where MinIO substitutes only
// the first), and ${aws:username} for the subject. Policy variables are resolved without regard to case, so
// claims whose names differ only in case ("sub" and "Sub") name no
// variable at all: which one would win is not the token's to decide.
func Variables(claims ast.Object, subject string) ast.Object {
	items := make([][2]*ast.Term, 0, claims.Len()+1)
	folded := make(map[string]int, claims.Len())
	claims.Foreach(func(k, v *ast.Term) {
		if ks, ok := k.Value.(ast.String); ok {
			folded[strings.ToLower(string(ks))]++
		}
	})
	claims.Foreach(func(k, v *ast.Term) {
		ks, ok := k.Value.(ast.String)
		if !ok || strings.EqualFold(string(ks), "aws:username") || folded[strings.ToLower(string(ks))] != 1 {
			return
		}
		if variableValue(v.Value) {
			items = append(items, [2]*ast.Term{ast.StringTerm("jwt:" + string(ks)), v})
		}
	})
	items = append(items, [2]*ast.Term{ast.StringTerm("aws:username"), ast.StringTerm(subject)})
	return ast.NewObject(items...)
}
