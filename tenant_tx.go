package kirayedar

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"gorm.io/gorm"

	"github.com/kirayedar/kirayedar/dialect"
	"github.com/kirayedar/kirayedar/internal/sqlscan"
)

// Transaction runs fn in one database transaction bound to tenant. The
// transaction commits when fn returns nil and rolls back when it returns an
// error or panics (the panic goes on).
//
// Every statement fn sends through tx runs for tenant: tx's context carries
// it, so sessions made from tx (tx.Session(&gorm.Session{NewDB: true})) and
// tx.Statement.Context have it too, which a GORM Transaction started from a
// WithTenant chain cannot give them (see WithTenant). One for another tenant
// fails with ErrCrossTenant.
//
// On PostgreSQL under StrategySchema, the transaction's search_path is the
// tenant's schema, then the global one, then pg_temp, set with
// set_config(..., true), which ends with the transaction. Raw SQL in fn
// (tx.Raw, tx.Exec) may then name tenant tables unqualified, and they
// resolve to the tenant's: safely behind PgBouncer's transaction pooling,
// since the setting lives exactly as long as the transaction. To keep it
// so, SQL in fn that would change session state or end the transaction
// (SET or RESET of search_path, set_config('search_path', ...), DISCARD,
// COMMIT, ROLLBACK other than to a savepoint, BEGIN) is refused with
// ErrUnroutable, and statements under GlobalContext may not name tenant
// tables unqualified (they would be the tenant's). On other engines and
// strategies raw SQL in fn names tenant tables through Table, as anywhere
// else.
//
// db must not be in a transaction already, unless it is one Transaction
// started for the same tenant: then fn runs in a savepoint of it. For another
// tenant that fails with ErrCrossTenant.
func Transaction(ctx context.Context, db *gorm.DB, tenant string, fn func(tx *gorm.DB) error, opts ...*sql.TxOptions) error {
	p, err := pluginOf(db)
	if err != nil {
		return err
	}
	if err := p.ValidateTenantID(tenant); err != nil {
		return &Error{Op: "transaction", Tenant: tenant, Err: err}
	}
	if v, ok := p.boundTo(db.Statement.ConnPool); ok {
		if outer := v.tenant; outer != tenant {
			return &Error{Op: "transaction", Tenant: tenant, Err: fmt.Errorf("%w: nested in a transaction bound to tenant %q", ErrCrossTenant, outer)}
		}
		if db.DisableNestedTransaction {
			return &Error{Op: "transaction", Tenant: tenant, Err: errors.New("nested in a transaction, with nested transactions (savepoints) disabled")}
		}
		return db.WithContext(NewContext(ctx, tenant)).Transaction(fn)
	}
	if _, inTx := db.Statement.ConnPool.(gorm.TxCommitter); inTx {
		// Its search_path would outlive the savepoint GORM would make.
		return &Error{Op: "transaction", Tenant: tenant, Err: errors.New("db is in a transaction already; start Transaction from the connection pool")}
	}
	return db.WithContext(NewContext(ctx, tenant)).Transaction(func(tx *gorm.DB) error {
		bound := boundTenant{tenant: tenant}
		switch {
		case p.strategy == StrategySession:
			// The connector set the connection for tenant before BEGIN.
			bound.searchPath = true
		case p.engine == dialect.Postgres && p.strategy == StrategySchema:
			if err := tx.Exec(p.engine.SetLocalSearchPath(), p.searchPath(tenant)).Error; err != nil {
				return &Error{Op: "transaction", Tenant: tenant, Err: fmt.Errorf("setting search_path: %w", err)}
			}
			bound.searchPath = true
		}
		key := txKey(tx.Statement.ConnPool)
		p.boundTx.Store(key, bound)
		p.bound.Add(1)
		defer func() {
			p.boundTx.Delete(key)
			p.bound.Add(-1)
		}()
		return fn(tx)
	}, opts...)
}

// searchPath is the search_path that makes tenant's tables resolve first:
// the tenant's schema, the global one (for types and extensions), and
// pg_temp last, which PostgreSQL would otherwise search first.
func (p *Plugin) searchPath(tenant string) string {
	return p.engine.QuoteIdent(tenant) + ", " + p.engine.QuoteIdent(p.global) + ", pg_temp"
}

// boundTenant is what a running Transaction is bound to.
type boundTenant struct {
	tenant string
	// searchPath: the transaction's name resolution (search_path, or under
	// StrategySession the connection's) finds the tenant's tables for
	// unqualified names.
	searchPath bool
}

// boundTo returns what the transaction behind pool is bound to, if it is one
// a Transaction runs. Without any running, it costs an atomic load.
func (p *Plugin) boundTo(pool gorm.ConnPool) (boundTenant, bool) {
	if pool == nil || p.bound.Load() == 0 {
		return boundTenant{}, false
	}
	v, ok := p.boundTx.Load(txKey(pool))
	if !ok {
		return boundTenant{}, false
	}
	return v.(boundTenant), true
}

// txKey is what identifies a transaction whatever wraps it: the plugin's
// send-time guard, or the *gorm.PreparedStmtTX of a PrepareStmt session.
func txKey(pool gorm.ConnPool) any {
	for {
		switch c := pool.(type) {
		case interface{ guarded() *guardedPool }:
			pool = c.guarded().ConnPool
		case *gorm.PreparedStmtTX:
			if c.Tx == nil {
				return c
			}
			pool = c.Tx
		default:
			return pool
		}
	}
}

// checkBound checks a statement sent in a bound transaction: it must be for
// the bound tenant (or global), must not change the transaction's session
// state, and under GlobalContext must not name tenant tables unqualified
// where search_path would make them the tenant's. scoped reports whether
// unqualified tenant tables resolve to the statement's tenant.
func (p *Plugin) checkBound(sc *scope, bound boundTenant, sql string) (scoped bool, err error) {
	if sc != nil && !sc.global && bound.tenant != sc.tenant {
		return false, &StatementError{Tenant: sc.tenant, Err: ErrCrossTenant,
			Detail: fmt.Sprintf("the transaction is bound to tenant %q", bound.tenant)}
	}
	if !bound.searchPath {
		return false, nil
	}
	if what := sqlscan.SessionChange(sql, p.engine); what != "" {
		return false, &StatementError{Tenant: bound.tenant, Err: ErrUnroutable,
			Detail: what + " inside kirayedar.Transaction would undo its search_path; end fn instead"}
	}
	if sc != nil && sc.global {
		// Checked as if it had no tenant: unqualified tenant tables refused.
		_, err := p.checkRawScoped(nil, nil, sql, false)
		return false, err
	}
	return sc != nil, nil // without a tenant, the usual refusals stand
}
