package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// listDoc is the result of list.
type listDoc struct {
	Tenants []string `json:"tenants"`
}

func (a *app) listCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "Print the IDs of the ready tenants, one a line",
		Args:  usageArgs(cobra.NoArgs),
		RunE: a.runE(func(inv *invocation, _ []string) error {
			prov, err := inv.provisioner()
			if err != nil {
				return err
			}
			ids, err := prov.List(inv.ctx)
			if err != nil {
				return err
			}
			if ids == nil {
				ids = []string{}
			}
			return inv.emit(listDoc{Tenants: ids}, func(w io.Writer) error {
				for _, id := range ids {
					if _, err := fmt.Fprintln(w, id); err != nil {
						return err
					}
				}
				return nil
			})
		}),
	}
}
