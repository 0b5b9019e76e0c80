package miniomigrate

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// IAM is MinIO's IAM state as far as policy goes: canned policies and who
// has which. Secret keys in the export are never read into it.
type IAM struct {
	// Policies are the canned policies by name, as JSON documents.
	Policies map[string]json.RawMessage
	// Users are MinIO's own users: whether each is enabled.
	Users map[string]bool
	// Groups are MinIO's own groups.
	Groups map[string]Group
	// UserPolicies, GroupPolicies and STSUserPolicies are the mappings
	// (user, group, LDAP user DN to policy names). A group mapped here but
	// absent from Groups is an LDAP group (its DN).
	UserPolicies, GroupPolicies, STSUserPolicies map[string][]string
	// ServiceAccounts are by access key: parent and whether an embedded
	// policy narrows it.
	ServiceAccounts map[string]ServiceAccount
}

// Group is one of MinIO's own groups.
type Group struct {
	Members []string
	Enabled bool
}

// ServiceAccount is a MinIO service account, without its secret.
type ServiceAccount struct {
	Parent         string
	EmbeddedPolicy bool
	OpenID         bool // its parent is an OpenID session (its claims carry an issuer)
}

// The files of "mc admin cluster iam export" (in iam-assets/).
const (
	filePolicies        = "policies.json"
	fileUsers           = "users.json"
	fileGroups          = "groups.json"
	fileServiceAccounts = "svcaccts.json"
	fileUserMappings    = "user_mappings.json"
	fileGroupMappings   = "group_mappings.json"
	fileSTSUserMappings = "stsuser_mappings.json"
)

// maxExportFile bounds one file of an export (a real export of thousands
// of users and policies is a few MiB).
const maxExportFile = 64 << 20

// ReadIAMExport reads an IAM export: the zip "mc admin cluster iam
// export" writes, or a directory it was unpacked into.
func ReadIAMExport(p string) (*IAM, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	var fsys fs.FS
	if st.IsDir() {
		fsys = os.DirFS(p)
	} else {
		zr, err := zip.OpenReader(p)
		if err != nil {
			return nil, fmt.Errorf("%s: not a zip (an IAM export): %w", p, err)
		}
		defer zr.Close()
		fsys = zr
	}
	return readExport(fsys)
}

func readExport(fsys fs.FS) (*IAM, error) {
	dir := "iam-assets"
	if _, err := fs.Stat(fsys, dir); err != nil {
		dir = "." // unpacked one level down
	}
	read := func(name string, v any) (bool, error) {
		f, err := fsys.Open(path.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxExportFile+1))
		if err != nil {
			return false, fmt.Errorf("%s: %w", name, err)
		}
		if len(b) > maxExportFile {
			return false, fmt.Errorf("%s: larger than %d MiB", name, maxExportFile>>20)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(v); err != nil {
			return false, fmt.Errorf("%s: %w", name, err)
		}
		return true, nil
	}
	iam := &IAM{Users: map[string]bool{}, Groups: map[string]Group{}, ServiceAccounts: map[string]ServiceAccount{}}
	found := false
	var policies map[string]json.RawMessage
	ok, err := read(filePolicies, &policies)
	if err != nil {
		return nil, err
	}
	found = found || ok
	iam.Policies = policies
	// Only status is read: the secret keys in this file are not kept.
	var users map[string]struct {
		Status string `json:"status"`
	}
	if ok, err = read(fileUsers, &users); err != nil {
		return nil, err
	}
	found = found || ok
	for u, v := range users {
		iam.Users[u] = v.Status != "disabled" && v.Status != "off"
	}
	var groups map[string]struct {
		Status  string   `json:"status"`
		Members []string `json:"members"`
	}
	if ok, err = read(fileGroups, &groups); err != nil {
		return nil, err
	}
	found = found || ok
	for g, v := range groups {
		iam.Groups[g] = Group{Members: v.Members, Enabled: v.Status != "disabled" && v.Status != "off"}
	}
	var svc map[string]struct {
		Parent        string          `json:"parent"`
		Claims        map[string]any  `json:"claims"`
		SessionPolicy json.RawMessage `json:"sessionPolicy"`
	}
	if ok, err = read(fileServiceAccounts, &svc); err != nil {
		return nil, err
	}
	found = found || ok
	for k, v := range svc {
		_, openID := v.Claims["iss"]
		embedded := len(v.SessionPolicy) > 0 && !bytes.Equal(v.SessionPolicy, []byte("null"))
		iam.ServiceAccounts[k] = ServiceAccount{Parent: v.Parent, EmbeddedPolicy: embedded, OpenID: openID}
	}
	for _, m := range []struct {
		file string
		dst  *map[string][]string
	}{{fileUserMappings, &iam.UserPolicies}, {fileGroupMappings, &iam.GroupPolicies}, {fileSTSUserMappings, &iam.STSUserPolicies}} {
		var raw map[string]struct {
			Policy string `json:"policy"`
		}
		if ok, err = read(m.file, &raw); err != nil {
			return nil, err
		}
		found = found || ok
		*m.dst = map[string][]string{}
		for name, mp := range raw {
			(*m.dst)[name] = splitPolicies(mp.Policy)
		}
	}
	if !found {
		return nil, errors.New("no file of an IAM export (iam-assets/policies.json, users.json, ...) found")
	}
	return iam, nil
}

// splitPolicies splits a comma-separated list of policy names the way
// MinIO does: items trimmed, empty ones ignored, each once, sorted.
func splitPolicies(s string) []string {
	seen := map[string]bool{}
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// ReadPolicyDir reads canned policies from a folder of JSON files: the
// policy document itself (the output of "mc admin policy info ALIAS
// NAME", named NAME.json) or the JSON form ("mc admin policy info --json":
// the name is then in the file).
func ReadPolicyDir(dir string) (map[string]json.RawMessage, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]json.RawMessage{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		if info, err := e.Info(); err != nil {
			return nil, err
		} else if info.Size() > maxExportFile {
			return nil, fmt.Errorf("%s: larger than %d MiB", e.Name(), maxExportFile>>20)
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		name, doc, err := policyFile(strings.TrimSuffix(e.Name(), ".json"), b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%s: policy %q is given twice", e.Name(), name)
		}
		out[name] = doc
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no policy (*.json) in it", dir)
	}
	return out, nil
}

func policyFile(base string, b []byte) (string, json.RawMessage, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err != nil {
		return "", nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if info, ok := probe["policyInfo"]; ok {
		var pi struct {
			PolicyName string          `json:"policyName"`
			Policy     json.RawMessage `json:"policy"`
		}
		if err := json.Unmarshal(info, &pi); err != nil {
			return "", nil, fmt.Errorf("policyInfo: %w", err)
		}
		name := pi.PolicyName
		if name == "" {
			_ = json.Unmarshal(probe["policy"], &name)
		}
		if name == "" || len(pi.Policy) == 0 {
			return "", nil, errors.New("policyInfo names no policy or has no document")
		}
		return name, pi.Policy, nil
	}
	if _, ok := probe["Statement"]; !ok {
		return "", nil, errors.New("neither a policy document (Statement) nor mc's JSON output (policyInfo)")
	}
	return base, json.RawMessage(b), nil
}
