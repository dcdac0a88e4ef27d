package cli

import (
	"context"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kirayedar/kirayedar"
)

// OpenFunc connects to the database and returns the provisioner the commands
// work on: a *gorm.DB with the application's kirayedar plugin registered,
// passed to kirayedar.NewProvisioner. The commands call it once per run, only
// when they are about to touch the database (never for --help or a usage
// error), with the command's context.
type OpenFunc func(ctx context.Context) (*kirayedar.Provisioner, error)

// Exit codes, as ExitCode and Main return them.
const (
	// ExitOK: the command did everything it was asked.
	ExitOK = 0
	// ExitFailure: something failed: a tenant (the others were still
	// done), opening the database, the context, or status --fail-if-behind
	// found a tenant behind.
	ExitFailure = 1
	// ExitUsage: the command line was malformed (unknown command or flag,
	// wrong arguments, drop without --yes); nothing ran.
	ExitUsage = 2
)

// New returns the "tenants" command with its subcommands, for an application
// to add to its cobra root (or to execute on its own). It does not call open;
// each subcommand calls it when it runs.
//
// The commands print their results to the command's output stream and their
// progress and errors to its error stream (cobra's OutOrStdout and
// ErrOrStderr), and silence cobra's own error and usage printing; the error
// that Execute returns is for ExitCode. A command tree runs once: cobra does
// not reset flags between executions, so build a new one with New to run
// again.
func New(open OpenFunc) *cobra.Command {
	a := &app{open: open, format: formatText}
	cmd := &cobra.Command{
		Use:   "tenants",
		Short: "Create, migrate, inspect, rename and drop tenants",
		Long: `Create, migrate, inspect, rename and drop the tenants of this application.

Results go to standard output, progress and errors to standard error; with
--output json each command prints one JSON document. The exit code is 0 when
everything succeeded, 1 when anything failed, 2 for a malformed command line.`,
		Args:              cobra.ArbitraryArgs,
		RunE:              a.group,
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		// SuggestionsFor does not apply cobra's default of 2.
		SuggestionsMinimumDistance: 2,
	}
	cmd.PersistentFlags().VarP(&a.format, "output", "o", "output format: text or json")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{string(formatText), string(formatJSON)}, cobra.ShellCompDirectiveNoFileComp))
	// Subcommands find the flag error function on their parent.
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return report(c, &usageError{err})
	})
	cmd.AddCommand(
		a.createCommand(),
		a.dropCommand(),
		a.migrateCommand(),
		a.listCommand(),
		a.renameCommand(),
		a.statusCommand(),
	)
	// cobra consults the executed command (or the root) for these; the
	// commands print their own errors.
	for _, sub := range cmd.Commands() {
		sub.SilenceErrors, sub.SilenceUsage = true, true
	}
	return cmd
}

// Main runs the tenants command on args (the arguments after "tenants",
// without the program name) and returns the process's exit code: ExitOK,
// ExitFailure or ExitUsage. It is for programs that do not use cobra:
//
//	os.Exit(cli.Main(ctx, open, os.Args[2:], os.Stdout, os.Stderr))
//
// An interrupt (Ctrl-C) or SIGTERM cancels the context the command runs
// under: a migration in flight is rolled back where the engine allows it
// and the tenants not yet started are reported failed. A second interrupt
// ends the process as usual.
func Main(ctx context.Context, open OpenFunc, args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // the next interrupt kills the process
	}()

	// A program root named after the binary, so usage lines read as the
	// operator typed them ("myapp tenants migrate ...").
	prog := &cobra.Command{
		Use:               programName(),
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	tenants := New(open)
	prog.AddCommand(tenants)
	prog.SetArgs(append([]string{tenants.Name()}, args...))
	prog.SetOut(stdout)
	prog.SetErr(stderr)
	_, err := prog.ExecuteContextC(ctx)
	return ExitCode(err)
}

// ExitCode maps the error returned by executing the tenants command (or a
// cobra root it is mounted under) to an exit code: ExitOK for nil, ExitUsage
// for a malformed tenants command line, ExitFailure for anything else.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case isUsage(err):
		return ExitUsage
	}
	return ExitFailure
}

func programName() string {
	name := strings.TrimSuffix(filepath.Base(os.Args[0]), ".exe")
	if name == "" || name == "." || name == string(filepath.Separator) {
		return "app"
	}
	return name
}
