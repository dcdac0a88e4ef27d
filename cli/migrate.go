package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/kirayedar/kirayedar"
)

// migrateDoc is the result of migrate: kirayedar.Report with its errors as
// strings and its durations in seconds.
type migrateDoc struct {
	Results         []migrateResult `json:"results"`
	Total           int             `json:"total"`
	Migrated        int             `json:"migrated"`
	UpToDate        int             `json:"up_to_date"`
	Failed          int             `json:"failed"`
	Fingerprint     string          `json:"fingerprint"`
	DurationSeconds float64         `json:"duration_seconds"`
}

type migrateResult struct {
	Tenant          string                  `json:"tenant"`
	Status          kirayedar.MigrateStatus `json:"status"`
	DurationSeconds float64                 `json:"duration_seconds"`
	Error           string                  `json:"error,omitempty"`
}

func (a *app) migrateCommand() *cobra.Command {
	var opts kirayedar.MigrateOptions
	var all bool
	cmd := &cobra.Command{
		Use:   "migrate (ID... | --all)",
		Short: "Migrate tenants to the tenant models",
		Long: `Migrate the named tenants, or with --all every ready tenant, to the tenant
models. A tenant whose registry row records the models' current fingerprint is
reported up to date without a statement sent to its tables, unless --force.
Tenants migrate --concurrency at a time; a failure does not stop the others,
and the exit code is 1 if any failed. An interrupt cancels the migrations in
flight and reports the tenants not started as failed; a later run finishes them.

On a terminal a progress bar is drawn on standard error; otherwise one line per
finished tenant is printed there. The summary goes to standard output.`,
		Example: `  tenants migrate --all
  tenants migrate acme globex --force
  tenants migrate --all --concurrency 8 -o json`,
		Args: usageArgs(cobra.ArbitraryArgs),
		RunE: a.runE(func(inv *invocation, ids []string) error {
			switch {
			case all && len(ids) > 0:
				return usagef("--all migrates every tenant; give no IDs with it")
			case !all && len(ids) == 0:
				return usagef("name the tenants to migrate, or pass --all")
			case opts.Concurrency < 0:
				return usagef("--concurrency must be 0 (the library's default) or more, not %d", opts.Concurrency)
			}
			run := opts
			run.Tenants = ids
			return inv.migrate(run)
		}),
	}
	cmd.Flags().BoolVar(&all, "all", false, "migrate every ready tenant that is behind")
	cmd.Flags().IntVar(&opts.Concurrency, "concurrency", 0, "tenants migrated at once, each on its own connection (0: the library's default)")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "migrate tenants recorded as current too (for tables changed by hand)")
	return cmd
}

// migrate runs MigrateAll with a progress display on stderr and prints the
// report.
func (inv *invocation) migrate(opts kirayedar.MigrateOptions) error {
	prov, err := inv.provisioner()
	if err != nil {
		return err
	}
	progress := newProgress(inv.stderr)
	opts.Progress = progress.update
	report, err := prov.MigrateAll(inv.ctx, opts)
	progress.finish()
	if err != nil && report.Failed == 0 {
		return err // the run did not start: nothing to report
	}

	doc := migrateDoc{
		Results:         make([]migrateResult, len(report.Results)),
		Total:           report.Total(),
		Migrated:        report.Migrated,
		UpToDate:        report.UpToDate,
		Failed:          report.Failed,
		Fingerprint:     report.Fingerprint,
		DurationSeconds: seconds(report.Duration),
	}
	for i, r := range report.Results {
		doc.Results[i] = migrateResult{Tenant: r.Tenant, Status: r.Status, DurationSeconds: seconds(r.Duration)}
		if r.Err != nil {
			doc.Results[i].Error = r.Err.Error()
		}
	}
	if err := inv.emit(doc, func(w io.Writer) error { return writeMigrateSummary(w, report) }); err != nil {
		return err
	}
	if report.Failed > 0 {
		return failedError("migrate", report.Failed, report.Total())
	}
	return nil
}

// writeMigrateSummary prints the counts, then each failed tenant and why.
func writeMigrateSummary(w io.Writer, r kirayedar.Report) error {
	if _, err := fmt.Fprintf(w, "migrated %d, up to date %d, failed %d of %s in %v (models fingerprint %s)\n",
		r.Migrated, r.UpToDate, r.Failed, tenantCount(r.Total()), short(r.Duration), shortFingerprint(r.Fingerprint)); err != nil {
		return err
	}
	for _, res := range r.Results {
		if res.Status != kirayedar.StatusFailed {
			continue
		}
		if _, err := fmt.Fprintf(w, "  %s: failed: %s\n", res.Tenant, reason(res.Tenant, res.Err)); err != nil {
			return err
		}
	}
	return nil
}
