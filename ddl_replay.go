package kirayedar

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"

	"gorm.io/gorm"

	"github.com/kirayedar/kirayedar/dialect"
)

// Creating a tenant with GORM's AutoMigrate costs a catalog query per table,
// column and index before each CREATE: most of a Create's time. Under
// StrategySchema the DDL that AutoMigrate sends names no schema (the
// tenant's is current), so it is the same for every tenant that starts from
// the same tables. The provisioner therefore records the DDL of the first
// Create in the process, on the transaction or connection that runs it, and
// replays it for the next ones: one round trip on PostgreSQL, one per
// statement on MySQL, and no catalog queries.
//
// Migrations are recorded the same way, keyed by what the tenant's tables
// look like before the migration (a hash of its catalog: every table, view,
// column with type, nullability and default, index and constraint, read
// with one query) and the fingerprint they go to. GORM's AutoMigrate
// decides what to send from that catalog and the models alone, so two
// tenants with the same catalog get the same DDL: when the models change,
// the first tenant migrates with AutoMigrate and the others replay its DDL
// (an added column and index: two statements instead of a catalog walk). A
// tenant whose tables were changed by hand, or left half-migrated by a
// failure, has a catalog of its own and migrates with AutoMigrate. On
// PostgreSQL a replay runs with only the tenant's schema on search_path and
// inside a savepoint; one that fails anyway is undone and the tenant
// migrates with AutoMigrate. Force and DisableDDLReplay always use
// AutoMigrate.

// ddlCache holds recorded DDL by transition: "create>" + fingerprint for a
// new tenant, catalog hash + ">" + fingerprint for a migration.
type ddlCache struct{ m sync.Map }

func (c *ddlCache) load(key string) *tenantDDL {
	if d, ok := c.m.Load(key); ok {
		return d.(*tenantDDL)
	}
	return nil
}

func (c *ddlCache) store(key string, d *tenantDDL) { c.m.Store(key, d) }

// tenantDDL is recorded DDL.
type tenantDDL struct {
	stmts []capturedStmt
}

type capturedStmt struct {
	sql  string
	args []any
}

// replay sends the DDL on pool. Statements without arguments go together,
// in one round trip, where the engine takes several statements at once.
func (d *tenantDDL) replay(ctx context.Context, pool gorm.ConnPool, e dialect.Engine) error {
	var batch []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := pool.ExecContext(ctx, strings.Join(batch, ";\n"))
		batch = batch[:0]
		return err
	}
	for _, s := range d.stmts {
		if len(s.args) == 0 && e == dialect.Postgres {
			batch = append(batch, s.sql)
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		if _, err := pool.ExecContext(ctx, s.sql, s.args...); err != nil {
			return err
		}
	}
	return flush()
}

// ddlRecorder is a connection pool that records the statements executed on
// it successfully.
type ddlRecorder struct {
	gorm.ConnPool
	mu    sync.Mutex
	stmts []capturedStmt
}

func (r *ddlRecorder) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	res, err := r.ConnPool.ExecContext(ctx, query, args...)
	if err == nil {
		r.mu.Lock()
		r.stmts = append(r.stmts, capturedStmt{sql: query, args: args})
		r.mu.Unlock()
	}
	return res, err
}

// names reports whether any recorded statement contains s.
func (r *ddlRecorder) names(s string) bool {
	for _, st := range r.stmts {
		if strings.Contains(st.sql, s) {
			return true
		}
	}
	return false
}

// buildTenant creates the tenant models' tables in an empty tenant, on db's
// transaction or pinned connection, set up by the caller so that
// unqualified names land in the tenant (search_path or current database).
// An empty schema is the same for every tenant, so its DDL is keyed by the
// fingerprint alone.
func (pr *Provisioner) buildTenant(db *gorm.DB, tenant, fingerprint string) error {
	return pr.replayOrRecord(db, tenant, "create>"+fingerprint, pr.createTablesOn, false)
}

// upgradeTenant migrates a tenant to job's fingerprint, as buildTenant
// does, keyed by the tenant's catalog as it is now.
func (pr *Provisioner) upgradeTenant(db *gorm.DB, tenant string, job migration) error {
	if job.force || !pr.replayable() {
		return pr.autoMigrateOn(db.Statement.Context, tenant)(db.Statement.ConnPool)
	}
	state, err := pr.catalogState(db, tenant)
	if err != nil {
		return fmt.Errorf("reading the catalog of the tenant's tables: %w", err)
	}
	return pr.replayOrRecord(db, tenant, state+">"+job.fingerprint, pr.autoMigrateOn, true)
}

func (pr *Provisioner) replayable() bool {
	return pr.p.strategy == StrategySchema && !pr.DisableDDLReplay
}

// catalogState hashes the catalog of the tenant's tables: every relation in
// its schema or database named as a table of the tenant models, which is
// what AutoMigrate looks at, whatever its kind (a view in the way changes
// it), with their columns, indexes and constraints.
func (pr *Provisioner) catalogState(db *gorm.DB, tenant string) (string, error) {
	var rows []string
	args := []any{sql.Named("schema", tenant), sql.Named("tables", pr.p.tables.tenantNames())}
	if err := db.Raw(pr.p.engine.CatalogRows(), args...).Scan(&rows).Error; err != nil {
		return "", err
	}
	sort.Strings(rows)
	h := sha256.New()
	for _, r := range rows {
		h.Write([]byte(r))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// replayOrRecord replays the DDL recorded under key, or runs migrate (GORM's
// CreateTable or AutoMigrate) on a recording pool and keeps what it sent
// under key. With fallback, a replay that fails gives way to migrate, whose
// DDL is then not kept: the tenant was not what the key said.
func (pr *Provisioner) replayOrRecord(db *gorm.DB, tenant, key string, migrate func(context.Context, string) func(gorm.ConnPool) error, fallback bool) error {
	ctx, pool, e := db.Statement.Context, db.Statement.ConnPool, pr.p.engine
	replayable := pr.replayable()
	keep := replayable
	if d := pr.ddl.load(key); replayable && d != nil {
		if !fallback {
			return d.replay(ctx, pool, e)
		}
		err := pr.tryReplay(db, tenant, d)
		if err == nil || ctx.Err() != nil {
			return err
		}
		keep = false
	}
	rec := &ddlRecorder{ConnPool: pool}
	if err := migrate(ctx, tenant)(rec); err != nil {
		return err
	}
	// A statement naming the tenant's schema would be wrong for the next
	// tenant; GORM's migrators write none, but a custom one might.
	if keep && !rec.names(e.QuoteIdent(tenant)+".") {
		pr.ddl.store(key, &tenantDDL{stmts: rec.stmts})
	}
	return nil
}

// tryReplay replays a recorded migration. On PostgreSQL it runs inside a
// savepoint, so that a failure leaves the transaction as it was, with only
// the tenant's schema on search_path, so that no statement can resolve a
// table to the global schema.
func (pr *Provisioner) tryReplay(db *gorm.DB, tenant string, d *tenantDDL) error {
	ctx, pool, e := db.Statement.Context, db.Statement.ConnPool, pr.p.engine
	if e != dialect.Postgres {
		return d.replay(ctx, pool, e)
	}
	const savepoint = "kirayedar_replay"
	if err := db.SavePoint(savepoint).Error; err != nil {
		return err
	}
	err := db.Exec(e.SetLocalSearchPath(), e.QuoteIdent(tenant)).Error
	if err == nil {
		err = d.replay(ctx, pool, e)
	}
	if err == nil {
		return db.Exec(e.SetLocalSearchPath(), e.QuoteIdent(tenant)+", "+e.QuoteIdent(pr.p.global)).Error
	}
	if rerr := db.RollbackTo(savepoint).Error; rerr != nil {
		return compensate(err, rerr)
	}
	return err
}
