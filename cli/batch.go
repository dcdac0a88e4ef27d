package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// batchDoc is the result of create and drop: one entry per ID, in the order
// given.
type batchDoc struct {
	Results   []batchResult `json:"results"`
	Succeeded int           `json:"succeeded"`
	Failed    int           `json:"failed"`
}

type batchResult struct {
	Tenant string `json:"tenant"`
	Status string `json:"status"` // the done word ("created", "dropped") or "failed"
	Error  string `json:"error,omitempty"`
	err    error
}

func (a *app) createCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "create ID...",
		Short: "Create tenants: schema, database or tables, migrated, and registry row",
		Long: `Create each tenant: its schema, database or prefixed tables, migrated to
the tenant models, and its registry row. A failed create leaves nothing behind.
A failure does not stop the others; the exit code is 1 if any failed.`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: a.runE(func(inv *invocation, ids []string) error {
			prov, err := inv.provisioner()
			if err != nil {
				return err
			}
			return inv.batch("create", "created", ids, prov.Create)
		}),
	}
}

func (a *app) dropCommand() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "drop --yes ID...",
		Short: "Drop tenants: their tables, rows and registry row (needs --yes)",
		Long: `Drop each tenant: its schema, database or prefixed tables, with every row
in them, and its registry row. This cannot be undone, so it is refused without
--yes. A failure does not stop the others; the exit code is 1 if any failed.`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: a.runE(func(inv *invocation, ids []string) error {
			if !yes {
				return usagef("refusing to drop %s without --yes: dropping deletes the tenant's tables and every row in them", tenantList(ids))
			}
			prov, err := inv.provisioner()
			if err != nil {
				return err
			}
			return inv.batch("drop", "dropped", ids, prov.Drop)
		}),
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm: drop the tenants and all their data")
	return cmd
}

// batch runs op on each ID in turn, past failures, and prints one result per
// ID and a summary. It fails if any ID failed.
func (inv *invocation) batch(op, done string, ids []string, fn func(context.Context, string) error) error {
	doc := batchDoc{Results: make([]batchResult, 0, len(ids))}
	for _, id := range ids {
		err := inv.ctx.Err()
		if err == nil {
			err = fn(inv.ctx, id)
		}
		if err != nil {
			doc.Failed++
			doc.Results = append(doc.Results, batchResult{Tenant: id, Status: "failed", Error: err.Error(), err: err})
			continue
		}
		doc.Succeeded++
		doc.Results = append(doc.Results, batchResult{Tenant: id, Status: done})
	}
	err := inv.emit(doc, func(w io.Writer) error {
		for _, r := range doc.Results {
			line := r.Tenant + ": " + r.Status
			if r.err != nil {
				line += ": " + reason(r.Tenant, r.err)
			}
			if _, err := fmt.Fprintln(w, line); err != nil {
				return err
			}
		}
		summary := fmt.Sprintf("%s %d of %s", done, doc.Succeeded, tenantCount(len(ids)))
		if doc.Failed > 0 {
			summary += fmt.Sprintf("; %d failed", doc.Failed)
		}
		_, err := fmt.Fprintln(w, summary)
		return err
	})
	if err != nil {
		return err
	}
	if doc.Failed > 0 {
		return failedError(op, doc.Failed, len(ids))
	}
	return nil
}

// tenantList names the tenants for a message: "tenant acme", or
// "2 tenants (acme, globex)".
func tenantList(ids []string) string {
	if len(ids) == 1 {
		return "tenant " + ids[0]
	}
	list := ids[0]
	for _, id := range ids[1:] {
		list += ", " + id
	}
	return fmt.Sprintf("%s (%s)", tenantCount(len(ids)), list)
}
