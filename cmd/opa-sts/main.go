// Command opa-sts is the complete Open Policy Agent CLI with the opa-sts
// built-ins and plugins registered. main only wires things together: every
// piece of behaviour lives in its own package.
package main

import (
	"errors"
	"fmt"
	"os"
	goruntime "runtime"

	"github.com/open-policy-agent/opa/cmd"
	"github.com/open-policy-agent/opa/v1/runtime"
	"github.com/open-policy-agent/opa/v1/version"
	"github.com/spf13/cobra"

	_ "github.com/opa-sts/opa-sts/builtins" // registers the sts.* built-ins
	"github.com/opa-sts/opa-sts/internal/core"
	"github.com/opa-sts/opa-sts/plugin/minioidentity"
	"github.com/opa-sts/opa-sts/plugin/s3iam"
	"github.com/opa-sts/opa-sts/plugin/sts"
)

// stsVersion is overridden at build time with
// -ldflags "-X main.stsVersion=<version>".
var stsVersion = "0.1.0-dev"

func main() {
	os.Exit(run())
}

func run() int {
	// Stamp our version into OPA's version package so that `opa-sts version`,
	// /v1/status and the User-Agent all say which build this is. The OPA
	// version stays first so that tools comparing OPA versions keep working.
	version.Version = fmt.Sprintf("%s-sts.%s", version.Version, stsVersion)
	cmd.UserAgent(fmt.Sprintf("opa-sts/%s (%s, %s)", stsVersion, goruntime.GOOS, goruntime.GOARCH))

	// The session authority and the built-ins' server state: every server.
	runtime.RegisterPlugin(core.Name, core.Factory{})
	runtime.RegisterHook(core.EnableHook{})
	runtime.RegisterPlugin(sts.Name, sts.Factory{})
	runtime.RegisterPlugin(s3iam.Name, s3iam.Factory{})
	runtime.RegisterPlugin(minioidentity.Name, minioidentity.Factory{})

	root := cmd.Command(nil, "opa-sts")
	root.Use = "opa-sts"
	root.Short = "opa-sts: a policy-centric Security Token Service built on Open Policy Agent"
	root.AddCommand(newDevCommand())
	root.AddCommand(newCredentialsCommand())
	root.AddCommand(newPrincipalsCommand())
	root.AddCommand(newMigrateCommand())
	root.AddCommand(newPoliciesCommand())
	readASTFromStoreByDefault(root)
	reportStartFailures(root)

	if err := root.Execute(); err != nil {
		// Keep OPA's exit codes (eval --fail, test failures, ...).
		if e, ok := errors.AsType[*cmd.ExitError](err); ok {
			return e.Exit
		}
		return 1
	}
	return 0
}

// readASTFromStoreByDefault turns OPA's --optimize-store-for-read-speed on
// by default in the commands that evaluate policy. opa-sts policies keep
// providers, roles and bindings in data: without it every query converts
// that data into Rego values again, and the built-ins' compiled caches
// cannot recognise it by identity. --optimize-store-for-read-speed=false
// restores OPA's default.
func readASTFromStoreByDefault(root *cobra.Command) {
	for _, c := range root.Commands() {
		switch c.Name() {
		case "run", "eval", "bench":
			if f := c.Flags().Lookup("optimize-store-for-read-speed"); f != nil {
				_ = f.Value.Set("true")
				f.DefValue = "true"
			}
		}
	}
}

// reportStartFailures makes `run` say why it exits: OPA's run command
// silences its errors, and a plugin that fails to start (the session
// authority without keys, the STS on a busy port) is logged through a
// logger that is never flushed on that path, so the process would exit 1
// without a word.
func reportStartFailures(root *cobra.Command) {
	for _, c := range root.Commands() {
		if c.Name() != "run" || c.RunE == nil {
			continue
		}
		runE := c.RunE
		c.RunE = func(cmd *cobra.Command, args []string) error {
			err := runE(cmd, args)
			if err != nil {
				fmt.Fprintf(os.Stderr, "opa-sts run: %v\n", err)
			}
			return err
		}
	}
}
