package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kirayedar/kirayedar"
)

// app is what the commands of one tree share: how to open the provisioner
// and the --output flag.
type app struct {
	open   OpenFunc
	format format
}

// invocation is one run of one command.
type invocation struct {
	app    *app
	ctx    context.Context
	stdout io.Writer // results
	stderr io.Writer // progress
	// documented is set once the command wrote its result, so a failure
	// after that adds no JSON error document.
	documented bool
}

// action is a command's body.
type action func(inv *invocation, args []string) error

// runE adapts an action to cobra: it runs it as an invocation, prints its
// error, and in JSON mode writes an error document if the action failed
// before writing its own.
func (a *app) runE(act action) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		// An interrupt cancels the work in flight (migrations roll back,
		// MySQL steps are undone) instead of killing the process mid-way,
		// however the command was mounted.
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		inv := &invocation{app: a, ctx: ctx, stdout: cmd.OutOrStdout(), stderr: cmd.ErrOrStderr()}
		err := act(inv, args)
		if err == nil {
			return nil
		}
		if a.format == formatJSON && !inv.documented && !isUsage(err) {
			_ = inv.writeJSON(errorDoc{Error: err.Error()})
		}
		return report(cmd, err)
	}
}

// group runs the tenants command itself: help without arguments, a usage
// error for an unknown subcommand.
func (a *app) group(cmd *cobra.Command, args []string) error {
	switch {
	case len(args) == 0:
		return cmd.Help()
	case args[0] == "help":
		if target, _, err := cmd.Find(args[1:]); err == nil {
			return target.Help()
		}
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if suggestions := cmd.SuggestionsFor(args[0]); len(suggestions) > 0 {
		msg += fmt.Sprintf(" (did you mean %q?)", suggestions[0])
	}
	return report(cmd, &usageError{errors.New(msg)})
}

// provisioner opens the provisioner.
func (inv *invocation) provisioner() (*kirayedar.Provisioner, error) {
	if inv.app.open == nil {
		return nil, errors.New("opening the database: no OpenFunc given to cli.New")
	}
	prov, err := inv.app.open(inv.ctx)
	if err != nil {
		return nil, fmt.Errorf("opening the database: %w", err)
	}
	if prov == nil {
		return nil, errors.New("opening the database: the OpenFunc returned no provisioner")
	}
	return prov, nil
}

// emit writes the command's result: doc as JSON, or text as text.
func (inv *invocation) emit(doc any, text func(w io.Writer) error) error {
	inv.documented = true
	if inv.app.format == formatJSON {
		return inv.writeJSON(doc)
	}
	if err := text(inv.stdout); err != nil {
		return fmt.Errorf("writing the output: %w", err)
	}
	return nil
}

func (inv *invocation) writeJSON(doc any) error {
	enc := json.NewEncoder(inv.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("writing the output: %w", err)
	}
	return nil
}

// errorDoc is the JSON document of a command that failed before it had a
// result to print.
type errorDoc struct {
	Error string `json:"error"`
}
