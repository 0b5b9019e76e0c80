package decision

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/logging"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/plugins"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

func manager(t *testing.T, module string) *plugins.Manager {
	t.Helper()
	ctx := context.Background()
	store := inmem.New()
	if err := storage.Txn(ctx, store, storage.WriteParams, func(txn storage.Transaction) error {
		return store.UpsertPolicy(ctx, txn, "p.rego", []byte(module))
	}); err != nil {
		t.Fatal(err)
	}
	m, err := plugins.New(nil, "test", store, plugins.Logger(logging.NewNoOpLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	return m
}

func setPolicy(t *testing.T, m *plugins.Manager, module string) {
	t.Helper()
	ctx := context.Background()
	if err := storage.Txn(ctx, m.Store, storage.WriteParams, func(txn storage.Transaction) error {
		return m.Store.UpsertPolicy(ctx, txn, "p.rego", []byte(module))
	}); err != nil {
		t.Fatal(err)
	}
}

func input(k, v string) ast.Value {
	return ast.NewObject(ast.Item(ast.StringTerm(k), ast.StringTerm(v)))
}

func TestEvalDecidesWithInputAndMetrics(t *testing.T) {
	m := manager(t, "package d\n\ndecision := {\"allow\": input.user == \"alice\"}\n")
	e := New(context.Background(), m, "data.d.decision")
	if e.Query() != "data.d.decision" {
		t.Fatal(e.Query())
	}
	met := metrics.New()
	d, p, err := e.Eval(context.Background(), input("user", "alice"), met)
	if err != nil || d["allow"] != true || p == nil {
		t.Fatalf("%v %v %v", d, p, err)
	}
	if _, ok := met.All()["timer_rego_query_eval_ns"]; !ok {
		t.Fatalf("no eval metrics: %v", met.All())
	}
	if d, _, err := e.Eval(context.Background(), input("user", "bob"), nil); err != nil || d["allow"] != false {
		t.Fatalf("%v %v", d, err)
	}
}

func TestEvalErrors(t *testing.T) {
	m := manager(t, "package d\n\nnumber := 1\n\nboom := x if { x := 1 / 0 }\n")
	for query, want := range map[string]string{
		"data.d.missing": "decision is undefined",
		"data.d.number":  "is not an object",
	} {
		_, _, err := New(context.Background(), m, query).Eval(context.Background(), ast.NewObject(), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", query, err)
		}
	}
	if _, _, err := New(context.Background(), m, "data.d.missing").Eval(context.Background(), ast.NewObject(), nil); !errors.Is(err, ErrUndefined) {
		t.Errorf("undefined is not ErrUndefined: %v", err)
	}
	// A query that does not compile is an error at evaluation, not a panic.
	if _, _, err := New(context.Background(), m, "data.d[").Eval(context.Background(), ast.NewObject(), nil); err == nil {
		t.Error("a malformed query evaluated")
	}
}

// A policy change recompiles the manager's compiler; the evaluator
// prepares again and decides with the new policy, and reads the bundle
// revisions active then.
func TestPreparedAgainAfterAPolicyChange(t *testing.T) {
	m := manager(t, "package d\n\ndecision := {\"v\": 1}\n")
	e := New(context.Background(), m, "data.d.decision")
	d, p, err := e.Eval(context.Background(), ast.NewObject(), nil)
	if err != nil || d["v"].(interface{ String() string }).String() != "1" || p.Revision != "" {
		t.Fatalf("%v %+v %v", d, p, err)
	}
	ctx := context.Background()
	if err := storage.Txn(ctx, m.Store, storage.WriteParams, func(txn storage.Transaction) error {
		return bundle.WriteManifestToStore(ctx, m.Store, txn, "main", bundle.Manifest{Revision: "r2", Roots: &[]string{""}})
	}); err != nil {
		t.Fatal(err)
	}
	setPolicy(t, m, "package d\n\ndecision := {\"v\": 2}\n")
	d, p, err = e.Eval(context.Background(), ast.NewObject(), nil)
	if err != nil || d["v"].(interface{ String() string }).String() != "2" {
		t.Fatalf("after the change: %v %v", d, err)
	}
	if p.Revision != "r2" || p.Bundles["main"] != "r2" {
		t.Fatalf("revisions %+v", p)
	}
	cur, err := e.Current(context.Background())
	if err != nil || cur != p {
		t.Fatalf("Current: %v %v", cur, err)
	}
}
