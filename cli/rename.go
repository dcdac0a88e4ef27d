package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// renameDoc is the result of rename.
type renameDoc struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Status string `json:"status"` // "renamed" or "failed"
	Error  string `json:"error,omitempty"`
}

func (a *app) renameCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rename FROM TO",
		Short: "Give a tenant a new ID, keeping its rows",
		Long: `Give a tenant a new ID, keeping its rows. Stop using the old ID first:
statements already running against it finish or fail.`,
		Args: usageArgs(cobra.ExactArgs(2)),
		RunE: a.runE(func(inv *invocation, args []string) error {
			prov, err := inv.provisioner()
			if err != nil {
				return err
			}
			from, to := args[0], args[1]
			doc := renameDoc{From: from, To: to, Status: "renamed"}
			renameErr := prov.Rename(inv.ctx, from, to)
			if renameErr != nil {
				doc.Status, doc.Error = "failed", renameErr.Error()
			}
			if err := inv.emit(doc, func(w io.Writer) error {
				if renameErr != nil {
					_, err := fmt.Fprintf(w, "%s -> %s: failed: %s\n", from, to, reason(from, renameErr))
					return err
				}
				_, err := fmt.Fprintf(w, "%s -> %s: renamed\n", from, to)
				return err
			}); err != nil {
				return err
			}
			if renameErr != nil {
				return fmt.Errorf("rename failed: %w", renameErr)
			}
			return nil
		}),
	}
}
