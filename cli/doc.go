// Package cli is the operator command line of Kirayedar: the commands that
// create, migrate, inspect, rename and drop tenants, built with cobra, for an
// application to embed in its own binary. The tenant models live in the
// application's binary, so a standalone tool could not migrate them; the
// application hands the commands a function that opens its provisioner, and
// they do the rest.
//
// Mount it under an application's cobra root:
//
//	root.AddCommand(cli.New(func(ctx context.Context) (*kirayedar.Provisioner, error) {
//		db, err := openDB(ctx) // gorm.Open + db.Use(kirayedar.New(cfg))
//		if err != nil {
//			return nil, err
//		}
//		return kirayedar.NewProvisioner(db)
//	}))
//	if err := root.ExecuteContext(ctx); err != nil {
//		os.Exit(cli.ExitCode(err))
//	}
//
// or, in a program without cobra, dispatch to Main:
//
//	if len(os.Args) > 1 && os.Args[1] == "tenants" {
//		os.Exit(cli.Main(context.Background(), open, os.Args[2:], os.Stdout, os.Stderr))
//	}
//
// The commands (run "tenants --help" for the details):
//
//	tenants create ID...                 create each tenant; keeps going past failures
//	tenants drop --yes ID...             drop each tenant; refused without --yes
//	tenants migrate ID... | --all        migrate the named tenants, or every ready one that is behind
//	          [--concurrency N] [--force]
//	tenants list                         the IDs of the ready tenants
//	tenants rename FROM TO               give a tenant a new ID, keeping its rows
//	tenants status [--fail-if-behind]    every tenant, and whether it is behind the models
//
// # Output
//
// Results go to standard output; progress and errors go to standard error.
// With --output json (-o json) each command that runs prints exactly one JSON
// document on standard output, an object, even when it fails:
//
//	create, drop  {"results": [{"tenant", "status": "created"|"dropped"|"failed", "error"}], "succeeded", "failed"}
//	migrate       {"results": [{"tenant", "status": "migrated"|"up-to-date"|"failed", "duration_seconds", "error"}],
//	               "total", "migrated", "up_to_date", "failed", "fingerprint", "duration_seconds"}
//	list          {"tenants": ["acme", ...]}
//	rename        {"from", "to", "status": "renamed"|"failed", "error"}
//	status        {"fingerprint", "tenants": [kirayedar.TenantInfo...], "total", "current", "behind", "not_ready"}
//	(any other failure)  {"error"}
//
// "error" is omitted where nothing failed. A usage error prints nothing on
// standard output.
//
// While migrate runs, a progress bar (tenant i of N) is drawn on standard
// error when it is a terminal; otherwise one line is printed there per
// finished tenant: its position, ID, status, duration and error.
//
// # Exit codes
//
// ExitOK (0) when everything succeeded; ExitFailure (1) when anything failed
// (a tenant, the connection, the context, or status --fail-if-behind finding
// a tenant behind); ExitUsage (2) for a malformed command line, which runs
// nothing. The commands print their own errors to standard error, so the
// error cobra returns is for ExitCode only.
package cli
