package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kirayedar/kirayedar"
)

// usageError is a malformed command line: ExitUsage, and nothing ran.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

func isUsage(err error) bool {
	var u *usageError
	return errors.As(err, &u)
}

// usageArgs marks the errors of a positional-argument check as usage errors
// and prints them, as cobra would have.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return report(cmd, &usageError{err})
		}
		return nil
	}
}

// report prints err on the command's error stream, with a pointer to the
// help for a usage error, and returns it. The commands silence cobra's
// printing, so that an application's root does not print it again (or its
// usage on stdout).
func report(cmd *cobra.Command, err error) error {
	cmd.PrintErrln(cmd.ErrPrefix(), err.Error())
	if isUsage(err) {
		cmd.PrintErrf("Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return err
}

// reason is err's message for a line that names the tenant already: without
// the "kirayedar: <op> tenant <id>:" lead of a *kirayedar.Error for that
// tenant.
func reason(tenant string, err error) string {
	if ke, ok := err.(*kirayedar.Error); ok && ke.Tenant == tenant && ke.Err != nil {
		return ke.Err.Error()
	}
	return err.Error()
}

// failedError reports that an operation failed for some of the tenants it
// was given; the results say which and why.
func failedError(op string, failed, total int) error {
	return fmt.Errorf("%s failed for %d of %s", op, failed, tenantCount(total))
}

// tenantCount is "1 tenant" or "n tenants".
func tenantCount(n int) string {
	if n == 1 {
		return "1 tenant"
	}
	return fmt.Sprintf("%d tenants", n)
}
