package miniomigrate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/opa-sts/opa-sts/internal/iam"
)

// s3ARN starts the ARN of a bucket or object.
const s3ARN = "arn:aws:s3:::"

// minioJWTVariables are the ${jwt:...} variables MinIO substitutes (its
// "common keys"); it leaves any other ${jwt:...} as literal text.
var minioJWTVariables = map[string]bool{
	"sub": true, "iss": true, "aud": true, "jti": true, "upn": true, "name": true, "groups": true,
	"given_name": true, "family_name": true, "middle_name": true, "nickname": true, "preferred_username": true,
	"profile": true, "picture": true, "website": true, "email": true, "gender": true, "birthdate": true,
	"phone_number": true, "address": true, "scope": true, "client_id": true,
}

// objectActions are the S3 actions on objects. A statement whose actions
// are all among them is never asked about a bucket.
var objectActions = map[string]bool{
	"s3:GetObject": true, "s3:PutObject": true, "s3:DeleteObject": true, "s3:GetObjectVersion": true,
	"s3:DeleteObjectVersion": true, "s3:AbortMultipartUpload": true, "s3:ListMultipartUploadParts": true,
	"s3:GetObjectTagging": true, "s3:PutObjectTagging": true, "s3:DeleteObjectTagging": true,
	"s3:GetObjectVersionTagging": true, "s3:PutObjectVersionTagging": true, "s3:DeleteObjectVersionTagging": true,
	"s3:GetObjectRetention": true, "s3:PutObjectRetention": true, "s3:GetObjectLegalHold": true,
	"s3:PutObjectLegalHold": true, "s3:BypassGovernanceRetention": true, "s3:RestoreObject": true,
	"s3:GetObjectAttributes": true, "s3:GetObjectVersionAttributes": true, "s3:GetObjectVersionForReplication": true,
	"s3:ReplicateObject": true, "s3:ReplicateDelete": true, "s3:ReplicateTags": true, "s3:PutObjectFanOut": true,
}

// denyAll is the role of a policy that could not be translated: whoever
// has it is refused everything until the operator fixes it (leaving it out
// would drop its Deny statements and widen the identity's other roles).
func denyAll(reason string) map[string]any {
	return map[string]any{
		"description": "MinIO policy not migrated (" + reason + "): denies everything",
		"statements": []any{map[string]any{
			"Sid": "untranslated-policy", "Effect": "Deny", "Action": "*", "Resource": "*",
		}},
	}
}

// translatePolicy turns one canned policy into a role.
func translatePolicy(name string, doc json.RawMessage) (map[string]any, []Item) {
	subject := "policy " + name
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var p map[string]any
	if err := dec.Decode(&p); err != nil {
		return denyAll("not a JSON object"), []Item{{KindUntranslated, subject, "not a JSON object: " + err.Error() + "; the role denies everything"}}
	}
	var raw []any
	switch st := p["Statement"].(type) {
	case []any:
		raw = st
	case map[string]any:
		raw = []any{st}
	default:
		return denyAll("no Statement"), []Item{{KindUntranslated, subject, "no Statement list; the role denies everything"}}
	}
	for k := range p {
		if k != "Version" && k != "Statement" && k != "ID" && k != "Id" {
			return denyAll("unknown member " + k), []Item{{KindUntranslated, subject, fmt.Sprintf("unknown policy member %q; the role denies everything", k)}}
		}
	}
	var out []any
	var items []Item
	for i, s := range raw {
		m, ok := s.(map[string]any)
		if !ok {
			return denyAll("a statement is not an object"), []Item{{KindUntranslated, subject, fmt.Sprintf("statement %d is not an object; the role denies everything", i)}}
		}
		label := fmt.Sprintf("%s statement %d", subject, i)
		if sid, ok := m["Sid"].(string); ok && sid != "" {
			label = fmt.Sprintf("%s statement %d (%s)", subject, i, sid)
		}
		sts, its, err := translateStatement(m)
		for _, it := range its {
			it.Subject = label
			items = append(items, it)
		}
		if err != nil {
			return denyAll(err.Error()), append(items, Item{KindUntranslated, label, err.Error() + "; the role denies everything"})
		}
		out = append(out, sts...)
	}
	if _, err := iam.Compile(out); err != nil {
		return denyAll(err.Error()), append(items, Item{KindUntranslated, subject, "opa-sts cannot evaluate it: " + err.Error() + "; the role denies everything"})
	}
	return map[string]any{"description": "MinIO canned policy " + name, "statements": out}, items
}

// translateStatement returns the statements that mean what st means to
// MinIO, and what it had to change.
func translateStatement(st map[string]any) ([]any, []Item, error) {
	for k := range st {
		switch k {
		case "Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition":
		default:
			return nil, nil, fmt.Errorf("member %q has no place in a MinIO IAM policy", k)
		}
	}
	deny := st["Effect"] == "Deny"
	var items []Item
	if err := checkVariables(st, deny, &items); err != nil {
		return nil, items, err
	}
	out := clone(st)
	actions, err := stringList(out["Action"])
	if err != nil {
		return nil, items, fmt.Errorf("Action: %w", err)
	}
	notActions, err := stringList(out["NotAction"])
	if err != nil {
		return nil, items, fmt.Errorf("NotAction: %w", err)
	}
	// A grant of GetObjectVersion is a grant of GetObject in MinIO.
	for _, key := range []string{"Action", "NotAction"} {
		list := actions
		if key == "NotAction" {
			list = notActions
		}
		if slices.Contains(list, "s3:GetObjectVersion") && !slices.Contains(list, "s3:GetObject") {
			list = append(slices.Clone(list), "s3:GetObject")
			out[key] = anyList(list)
			items = append(items, Item{KindTranslated, "", key + ": s3:GetObject added next to s3:GetObjectVersion, which implies it in MinIO"})
		}
	}
	// MinIO ignores the resources of admin: and sts: actions (those have
	// none). It refuses to store a statement that mixes them with other
	// actions (minio/pkg policy/statement.go isValid), so one here did not
	// come from MinIO and means nothing there.
	admin := 0
	for _, a := range actions {
		if strings.HasPrefix(a, "admin:") || strings.HasPrefix(a, "sts:") {
			admin++
		}
	}
	switch {
	case admin > 0 && admin < len(actions):
		return nil, items, fmt.Errorf("mixes admin or sts actions with others, which MinIO refuses to store")
	case admin > 0:
		_, hadRes := out["Resource"]
		_, hadNot := out["NotResource"]
		if hadNot || (hadRes && !isStar(out["Resource"])) {
			items = append(items, Item{KindTranslated, "", "Resource set to \"*\": MinIO ignores the resources of admin and sts actions"})
		}
		delete(out, "NotResource")
		out["Resource"] = "*"
		return []any{out}, items, nil
	}
	_, hasRes := out["Resource"]
	_, hasNotRes := out["NotResource"]
	if len(actions) > 0 && !hasRes && !hasNotRes && !slices.ContainsFunc(actions, func(a string) bool { return !strings.HasPrefix(a, "kms:") }) {
		// MinIO applies a kms: statement without a Resource to every key.
		out["Resource"] = "*"
		return []any{out}, items, nil
	}
	if slices.ContainsFunc(append(slices.Clone(actions), notActions...), func(a string) bool { return strings.HasPrefix(a, "kms:") }) {
		items = append(items, Item{KindChanged, "", "kms: actions kept as written: MinIO matches their Resource against KMS key names, and ignores it for some requests"})
	}
	if len(actions) == 0 && len(notActions) == 0 {
		return nil, items, fmt.Errorf("neither Action nor NotAction")
	}
	fixed, its := bucketResources(out, actions, notActions)
	return []any{fixed}, append(items, its...), nil
}

// bucketResources makes the statement's resources match bucket requests
// the way MinIO does. MinIO matches a request on a bucket (ListBucket,
// GetBucketLocation, ...) as the resource "bucket/": "arn:aws:s3:::b/*"
// covers bucket b itself. opa-sts matches "arn:aws:s3:::b", so the
// bucket's ARN is added next to such a pattern (in Resource and
// NotResource alike: the statement then means what it meant to MinIO).
// Patterns whose bucket part holds other wildcards cannot be carried over
// exactly, and are reported.
func bucketResources(st map[string]any, actions, notActions []string) (map[string]any, []Item) {
	if len(notActions) == 0 && len(actions) > 0 && allObjectActions(actions) {
		return st, nil // never asked about a bucket
	}
	var items []Item
	for _, key := range []string{"Resource", "NotResource"} {
		list, err := stringList(st[key])
		if err != nil || list == nil {
			continue
		}
		var added []string
		for _, r := range list {
			bucket, ok := bucketOf(r)
			switch {
			case ok:
				if arn := s3ARN + bucket; !slices.Contains(list, arn) && !slices.Contains(added, arn) {
					added = append(added, arn)
				}
			case coversBucketSlash(r):
				items = append(items, Item{KindChanged, "", fmt.Sprintf("%s %q: MinIO also matches it against bucket requests (as \"bucket/\"), which opa-sts cannot express exactly: "+
					"add the buckets' ARNs to keep that", key, r)})
			}
		}
		if len(added) > 0 {
			st[key] = anyList(append(slices.Clone(list), added...))
			items = append(items, Item{KindTranslated, "", fmt.Sprintf("%s: %s added, as MinIO matches bucket requests against \"bucket/\"", key, strings.Join(added, ", "))})
		}
	}
	return st, items
}

// bucketOf returns b for "arn:aws:s3:::b/" and "arn:aws:s3:::b/*" when b
// is a literal (policy variables allowed) with at most a trailing "*":
// then the pattern matches "b/" exactly when "arn:aws:s3:::b" matches the
// bucket.
func bucketOf(r string) (string, bool) {
	rest, ok := strings.CutPrefix(r, s3ARN)
	if !ok {
		return "", false
	}
	var b string
	switch {
	case strings.HasSuffix(rest, "/*"):
		b = strings.TrimSuffix(rest, "/*")
	case strings.HasSuffix(rest, "/"):
		b = strings.TrimSuffix(rest, "/")
	default:
		return "", false
	}
	body := strings.TrimSuffix(b, "*")
	if body == "" || strings.ContainsAny(body, "/?*") {
		return "", false
	}
	return b, true
}

// coversBucketSlash reports whether a pattern may match "bucket/" without
// matching "bucket": its last character other than "*" is "/" or "?".
func coversBucketSlash(r string) bool {
	rest, ok := strings.CutPrefix(r, s3ARN)
	if !ok {
		return false
	}
	rest = strings.TrimRight(rest, "*")
	return strings.HasSuffix(rest, "/") || strings.HasSuffix(rest, "?")
}

func allObjectActions(actions []string) bool {
	for _, a := range actions {
		if !objectActions[a] {
			return false
		}
	}
	return true
}

// checkVariables reports the policy variables whose meaning differs from
// MinIO's, and refuses those opa-sts does not define.
func checkVariables(st map[string]any, deny bool, items *[]Item) error {
	seen := map[string]bool{}
	var walk func(v any) error
	walk = func(v any) error {
		switch v := v.(type) {
		case string:
			for rest := v; ; {
				i := strings.Index(rest, "${")
				if i < 0 {
					return nil
				}
				j := strings.IndexByte(rest[i:], '}')
				if j < 0 {
					return nil
				}
				name := rest[i+2 : i+j]
				rest = rest[i+j+1:]
				if seen[name] {
					continue
				}
				seen[name] = true
				if err := variable(name, deny, items); err != nil {
					return err
				}
			}
		case []any:
			for _, x := range v {
				if err := walk(x); err != nil {
					return err
				}
			}
		case map[string]any:
			for _, k := range sortedKeys(v) {
				if err := walk(v[k]); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, k := range []string{"Action", "NotAction", "Resource", "NotResource", "Condition"} {
		if err := walk(st[k]); err != nil {
			return err
		}
	}
	return nil
}

func variable(name string, deny bool, items *[]Item) error {
	lower := strings.ToLower(name)
	switch {
	case lower == "*", lower == "?", lower == "$":
		return nil // ${*} ${?} ${$}: escapes, the same in both
	case lower == "jwt:groups":
		effect := "an Allow grants each group's resources"
		if deny {
			effect = "a Deny denies each group's resources"
		}
		*items = append(*items, Item{KindChanged, "", "${jwt:groups}: MinIO substitutes only the first group of the token (minio#19611); opa-sts stands it for every group: " + effect})
	case strings.HasPrefix(lower, "jwt:"):
		if !minioJWTVariables[lower[4:]] {
			*items = append(*items, Item{KindChanged, "", fmt.Sprintf("${%s}: MinIO leaves it unsubstituted (not one of its policy variables), so it never matched; opa-sts substitutes the claim", name)})
		}
	case lower == "aws:username":
		// At the MinIO contract it is MinIO's own value (the user, the
		// parent of derived credentials; for OpenID sessions a hash of sub
		// and iss), as MinIO computes it.
	default:
		return fmt.Errorf("${%s}: opa-sts defines ${jwt:<claim>} and ${aws:username} only", name)
	}
	return nil
}

func isStar(v any) bool {
	l, err := stringList(v)
	return err == nil && len(l) == 1 && (l[0] == "*" || l[0] == s3ARN+"*")
}

// stringList reads a string or a list of strings (nil when absent).
func stringList(v any) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{v}, nil
	case []string:
		return v, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("must hold strings only")
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("must be a string or a list of strings")
}

// anyList is a list as decoded JSON holds it.
func anyList(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
