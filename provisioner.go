package kirayedar

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"github.com/kirayedar/kirayedar/internal/provision"
)

// Provisioner creates, migrates and drops tenants, and keeps the registry of
// which tenants exist: a table in the global schema. Applications call it
// from their sign-up flows and deploy jobs. It is safe for concurrent use;
// operations on one tenant are serialized, within the process and (with
// PostgreSQL advisory locks and MySQL named locks) across processes.
//
// It is the face of internal/provision, which holds one back end per engine
// and strategy, the registry, the locks and the DDL replay.
type Provisioner struct {
	p    *Plugin
	core *provision.Provisioner
	// LockTimeout bounds how long an operation waits for another one on the
	// same tenant, in this process or another, before failing with
	// ErrLockTimeout. Zero or less means the default, 30s; the context can
	// cut it shorter. Set it before the provisioner is used.
	LockTimeout time.Duration
	// DisableDDLReplay makes every Create and migration run GORM's
	// AutoMigrate in full, catalog queries included, instead of replaying
	// DDL recorded from an earlier one (StrategySchema) or creating the
	// tables of a new tenant without looking. For comparison and diagnosis;
	// set it before the provisioner is used.
	DisableDDLReplay bool
}

// NewProvisioner returns a provisioner for db, which must have the plugin
// registered. It creates the registry table if it is missing, using db's
// statement context.
func NewProvisioner(db *gorm.DB) (*Provisioner, error) {
	p, err := pluginOf(db)
	if err != nil {
		return nil, err
	}
	if _, inTx := db.Statement.ConnPool.(gorm.TxCommitter); inTx {
		return nil, errors.New("kirayedar: NewProvisioner needs a *gorm.DB on the connection pool, not a transaction; it runs its own")
	}
	pr := &Provisioner{p: p, LockTimeout: 30 * time.Second}
	pr.core, err = provision.New(statementContext(db), provision.Config{
		DB:               db,
		Engine:           p.engine,
		Prefixed:         p.strategy == StrategyPrefix,
		Global:           p.global,
		RegistryTable:    p.cfg.RegistryTable,
		PrefixSeparator:  p.cfg.PrefixSeparator,
		Models:           tenantModels{p.tables},
		Builders:         p.next,
		Telemetry:        p.tel,
		LockTimeout:      &pr.LockTimeout,
		DisableDDLReplay: &pr.DisableDDLReplay,
		Validate:         p.ValidateTenantID,
		AsWritten:        provisioningContext,
		Fingerprint:      p.Fingerprint,
		SearchPath:       p.searchPath,
		OpError: func(op, tenant string, err error) error {
			return &Error{Op: op, Tenant: tenant, Err: err}
		},
	})
	if err != nil {
		return nil, err
	}
	return pr, nil
}

// Plugin returns the plugin the provisioner works for.
func (pr *Provisioner) Plugin() *Plugin { return pr.p }

// Create makes a tenant: its schema, database or prefixed tables, migrated
// to the tenant models, and its registry row. It is atomic on PostgreSQL and
// SQLite (one transaction) and compensated on MySQL (what it created is
// dropped on failure): a failed Create leaves nothing behind. A tenant that
// exists already yields ErrTenantExists and is left untouched.
func (pr *Provisioner) Create(ctx context.Context, tenant string) error {
	return pr.core.Create(ctx, tenant)
}

// Drop removes a tenant's schema, database or tables and its registry row. A
// tenant not in the registry yields ErrTenantNotFound; reserved names and the
// global schema are refused as invalid IDs before any SQL is built.
//
// On PostgreSQL it first ends the server processes of connections, in any
// process, that StrategySession left set for the tenant (NewConnector), so
// that none of them resolves the tenant's table names in the global schema
// once the schema is gone: statements running on them fail, and idle ones
// are replaced by their pools. That needs the right to end those processes
// (the same role, or pg_signal_backend); it waits at most LockTimeout.
func (pr *Provisioner) Drop(ctx context.Context, tenant string) error {
	return pr.core.Drop(ctx, tenant)
}

// Migrate brings an existing tenant's tables up to the tenant models with
// GORM's AutoMigrate (or DDL recorded from it), unless the registry says the
// tenant was migrated to the models' current fingerprint already; then it
// sends nothing but the registry read. It takes the same path, locks and
// checks as one tenant of MigrateAll. To migrate a current tenant anyway
// (its tables were changed by hand), use MigrateAll with Tenants and Force.
// A tenant not in the registry yields ErrTenantNotFound.
func (pr *Provisioner) Migrate(ctx context.Context, tenant string) error {
	return pr.core.Migrate(ctx, tenant)
}

// Rename gives a tenant a new ID, keeping its rows: PostgreSQL renames the
// schema (ALTER SCHEMA, in one transaction with the registry); MySQL moves
// every table into a new database with one atomic RENAME TABLE and drops the
// old one (compensated: a failure moves them back); under StrategyPrefix the
// rows are copied into tables created for the new ID and the old ones are
// dropped. Both IDs are validated; a source that is not a ready tenant
// yields ErrTenantNotFound and a target that is in the registry, or whose
// schema, database or tables exist, yields ErrTenantExists. Both tenants'
// locks are held throughout. Statements already running against the old
// name finish or fail; the application should stop using it first. On
// PostgreSQL the connections StrategySession left set for the old ID are
// ended first, as by Drop.
func (pr *Provisioner) Rename(ctx context.Context, from, to string) error {
	return pr.core.Rename(ctx, from, to)
}

// Exists reports whether the tenant is in the registry and ready (on
// PostgreSQL with StrategySchema, also whether its schema exists).
func (pr *Provisioner) Exists(ctx context.Context, tenant string) (bool, error) {
	return pr.core.Exists(ctx, tenant)
}

// List returns the IDs of the ready tenants, sorted.
func (pr *Provisioner) List(ctx context.Context) ([]string, error) {
	return pr.core.List(ctx)
}

// OnChange registers fn to be called with the tenants of every Create, Drop
// and Rename this provisioner ran, when it ends (successfully or not): the
// HTTP resolver drops its cached answers for them. fn runs on the
// operation's goroutine and must be quick.
func (pr *Provisioner) OnChange(fn func(tenants ...string)) {
	pr.core.OnChange(fn)
}

// TenantInfo describes one tenant as the registry records it.
type TenantInfo struct {
	ID string `json:"id"`
	// Status is "ready"; "provisioning" for a Create under way on MySQL
	// or cut off there (the next Create cleans it up); "renaming" for a
	// Rename under way on MySQL or cut off (the same Rename called again
	// finishes it); or "missing" for a ready tenant whose schema is gone
	// (PostgreSQL, StrategySchema), which Exists and List leave out too.
	Status string `json:"status"`
	// Current reports whether the tenant was last migrated to the tenant
	// models' current fingerprint; a ready tenant that is not is behind,
	// and MigrateAll will migrate it.
	Current     bool       `json:"current"`
	Fingerprint string     `json:"fingerprint"`
	CreatedAt   time.Time  `json:"created_at"`
	MigratedAt  *time.Time `json:"migrated_at,omitempty"`
}

// Tenants returns every tenant in the registry, sorted by ID, whatever its
// status, with one query.
func (pr *Provisioner) Tenants(ctx context.Context) ([]TenantInfo, error) {
	infos, err := pr.core.Tenants(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]TenantInfo, len(infos))
	for i, info := range infos {
		out[i] = TenantInfo(info)
	}
	return out, nil
}

// Fingerprint returns the fingerprint of the tenant models as they are now
// (join tables set up with SetupJoinTable included): every table, column
// type, index and constraint AutoMigrate would create, the GORM settings
// that change it, and the versions of GORM and the driver. The registry
// records the fingerprint each tenant was last migrated to.
func (p *Plugin) Fingerprint() string {
	p.tables.refresh()
	snap := p.tables.snapshot()
	if c := p.fp.Load(); c != nil && c.snap == snap {
		return c.sum
	}
	sum := provision.Fingerprint(p.init, p.engine, p.strategy.String(), tenantModels{p.tables})
	p.fp.Store(&fingerprintFor{snap: snap, sum: sum})
	return sum
}

// fingerprintFor caches the fingerprint of one snapshot of the table
// registry.
type fingerprintFor struct {
	snap *tableSnapshot
	sum  string
}

// tenantModels shows the table registry to internal/provision.
type tenantModels struct{ r *tableRegistry }

func (m tenantModels) Models() []any              { return m.r.models }
func (m tenantModels) Schemas() []*schema.Schema  { return m.r.schemas }
func (m tenantModels) TenantTables() []string     { return m.r.tenantNames() }
func (m tenantModels) DropOrder() []string        { return m.r.snapshot().dropOrder }
func (m tenantModels) IsTenant(table string) bool { return m.kind(table) == tenantTable }
func (m tenantModels) IsGlobal(table string) bool { return m.kind(table) == globalTable }
func (m tenantModels) kind(table string) tableKind {
	k, _ := m.r.classify(table)
	return k
}
