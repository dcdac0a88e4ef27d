// Package telemetry makes Kirayedar's tenant lifecycle observable: one Event
// per operation for a Go function of the application's, OpenTelemetry spans
// and metrics, and log/slog records. The plugin builds a Recorder from the
// Options in kirayedar.Config.Telemetry; applications use this package for
// those Options and the Event type.
package telemetry

import "time"

// The names of lifecycle events and spans.
const (
	EventCreate     = "kirayedar.tenant.create"
	EventDrop       = "kirayedar.tenant.drop"
	EventMigrate    = "kirayedar.tenant.migrate"
	EventRename     = "kirayedar.tenant.rename"
	EventMigrateAll = "kirayedar.tenant.migrate_all"
)

// Event is what one lifecycle operation reports, exactly once, when it ends:
// a Create, Drop, Migrate or Rename of one tenant, each tenant MigrateAll
// migrates, and a MigrateAll run as a whole. Success and failure both carry
// the duration; Err is set when the operation failed.
type Event struct {
	// Name is one of the Event* constants.
	Name string
	// Action is the operation: "create", "drop", "migrate", "rename" or
	// "migrate_all".
	Action string
	// Tenant is the tenant operated on ("" for a MigrateAll run); for a
	// rename, the old ID.
	Tenant string
	// NewTenant is a rename's new ID.
	NewTenant string
	// Engine is "postgres", "mysql" or "sqlite"; Strategy "schema",
	// "prefix" or "session".
	Engine, Strategy string
	// Start is when the operation began; Duration how long it took.
	Start    time.Time
	Duration time.Duration
	// Err is why the operation failed, nil when it succeeded.
	Err error
	// Run counts the tenants of a MigrateAll run; nil for other events.
	Run *RunCounts
}

// Succeeded reports whether the operation succeeded.
func (e Event) Succeeded() bool { return e.Err == nil }

// RunCounts are a MigrateAll run's tenants by outcome.
type RunCounts struct {
	Migrated, UpToDate, Failed int
}
