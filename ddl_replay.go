package kirayedar

import (
	"context"
	"database/sql"
	"strings"
	"sync"

	"gorm.io/gorm"

	"github.com/kirayedar/kirayedar/dialect"
)

// Creating a tenant with GORM's AutoMigrate costs a catalog query per table,
// column and index before each CREATE: most of a Create's time. Under
// StrategySchema the DDL that AutoMigrate sends into an empty schema names
// no schema (the tenant's is current), so it is the same for every tenant.
// The provisioner therefore records the DDL of the first Create in the
// process, on the transaction or connection that runs it, and replays it for
// the next ones: one round trip on PostgreSQL, one per statement on MySQL,
// and no catalog queries. The recording is keyed by the models' fingerprint;
// a change to the models makes the next Create record again.

// tenantDDL is the DDL that builds a tenant's tables from nothing.
type tenantDDL struct {
	fingerprint string
	stmts       []capturedStmt
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
// It replays the recorded DDL when there is one for the current models, and
// runs autoMigrate on a recording pool otherwise.
func (pr *Provisioner) buildTenant(db *gorm.DB, tenant, fingerprint string, autoMigrate func(gorm.ConnPool) error) error {
	replayable := pr.p.strategy == StrategySchema && !pr.DisableDDLReplay
	if d := pr.ddl.Load(); replayable && d != nil && d.fingerprint == fingerprint {
		return d.replay(db.Statement.Context, db.Statement.ConnPool, pr.p.engine)
	}
	rec := &ddlRecorder{ConnPool: db.Statement.ConnPool}
	if err := autoMigrate(rec); err != nil {
		return err
	}
	// A statement naming the tenant's schema would be wrong for the next
	// tenant; GORM's migrators write none, but a custom one might.
	if replayable && len(rec.stmts) > 0 && !rec.names(pr.p.engine.QuoteIdent(tenant)+".") {
		pr.ddl.Store(&tenantDDL{fingerprint: fingerprint, stmts: rec.stmts})
	}
	return nil
}
