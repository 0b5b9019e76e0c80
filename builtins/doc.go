// Package builtins registers the opa-sts Rego built-ins (the sts.* family)
// with OPA. Importing it for side effects makes them available in every
// OPA command: run, eval, test, check, build and the rest.
package builtins
