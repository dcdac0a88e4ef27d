package cli

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kirayedar/kirayedar"
)

// statusDoc is the result of status.
type statusDoc struct {
	// Fingerprint is the tenant models' current fingerprint.
	Fingerprint string                 `json:"fingerprint"`
	Tenants     []kirayedar.TenantInfo `json:"tenants"`
	Total       int                    `json:"total"`
	Current     int                    `json:"current"`
	Behind      int                    `json:"behind"`    // ready, not at Fingerprint
	NotReady    int                    `json:"not_ready"` // provisioning, renaming or missing
}

func (a *app) statusCommand() *cobra.Command {
	var failIfBehind bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every tenant, and whether it is behind the tenant models",
		Long: `Show every tenant in the registry: its status (ready, or provisioning or
renaming for an operation under way or cut off), whether it was last migrated
to the tenant models' current fingerprint (current) or not (behind), and when.

With --fail-if-behind the exit code is 1 when any ready tenant is behind: a
deploy gate that "tenants migrate --all" clears.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: a.runE(func(inv *invocation, _ []string) error {
			prov, err := inv.provisioner()
			if err != nil {
				return err
			}
			infos, err := prov.Tenants(inv.ctx)
			if err != nil {
				return err
			}
			doc := statusDoc{Fingerprint: prov.Plugin().Fingerprint(), Tenants: infos, Total: len(infos)}
			if doc.Tenants == nil {
				doc.Tenants = []kirayedar.TenantInfo{}
			}
			for _, t := range infos {
				switch {
				case t.Status != "ready":
					doc.NotReady++
				case t.Current:
					doc.Current++
				default:
					doc.Behind++
				}
			}
			if err := inv.emit(doc, func(w io.Writer) error { return writeStatus(w, doc) }); err != nil {
				return err
			}
			if failIfBehind && doc.Behind > 0 {
				return fmt.Errorf("%s behind the tenant models; run migrate --all", tenantCount(doc.Behind))
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&failIfBehind, "fail-if-behind", false, "exit 1 if any ready tenant is behind the tenant models")
	return cmd
}

// writeStatus prints a table of the tenants and a summary line.
func writeStatus(w io.Writer, doc statusDoc) error {
	if len(doc.Tenants) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "TENANT\tSTATUS\tSCHEMA\tMIGRATED AT")
		for _, t := range doc.Tenants {
			schema := "behind"
			switch {
			case t.Status != "ready":
				schema = "-"
			case t.Current:
				schema = "current"
			}
			migrated := "never"
			if t.MigratedAt != nil {
				migrated = t.MigratedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, t.Status, schema, migrated)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	summary := fmt.Sprintf("%s: %d current, %d behind", tenantCount(doc.Total), doc.Current, doc.Behind)
	if doc.NotReady > 0 {
		summary += fmt.Sprintf(", %d not ready", doc.NotReady)
	}
	_, err := fmt.Fprintf(w, "%s (models fingerprint %s)\n", summary, shortFingerprint(doc.Fingerprint))
	return err
}
