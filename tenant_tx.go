package kirayedar

import (
	"context"
	"database/sql"
	"fmt"

	"gorm.io/gorm"

	"github.com/kirayedar/kirayedar/dialect"
)

// Transaction runs fn in one database transaction bound to tenant. The
// transaction commits when fn returns nil and rolls back when it returns an
// error or panics (the panic goes on); either way nothing of it is left on
// the pooled connection.
//
// Every statement fn sends through tx runs for tenant: tx's context carries
// it. One for another tenant fails with ErrCrossTenant; one under
// GlobalContext runs as written.
//
// On PostgreSQL under StrategySchema, the transaction's search_path is the
// tenant's schema, then the global one, set with set_config(..., true), which
// ends with the transaction. Raw SQL in fn (tx.Raw, tx.Exec) may then name
// tenant tables unqualified, and they resolve to the tenant's: safely behind
// PgBouncer's transaction pooling, since the setting lives exactly as long as
// the transaction. On other engines and strategies raw SQL in fn names tenant
// tables through Table, as anywhere else.
//
// Called with a db inside a Transaction for the same tenant, it runs fn in a
// savepoint of it; for another tenant it fails with ErrCrossTenant.
func Transaction(ctx context.Context, db *gorm.DB, tenant string, fn func(tx *gorm.DB) error, opts ...*sql.TxOptions) error {
	p, err := pluginOf(db)
	if err != nil {
		return err
	}
	if err := p.ValidateTenantID(tenant); err != nil {
		return &Error{Op: "transaction", Tenant: tenant, Err: err}
	}
	if v, ok := p.boundTx.Load(db.Statement.ConnPool); ok {
		// Nested in a bound transaction: a savepoint of the same tenant's.
		if outer := v.(boundTenant).tenant; outer != tenant {
			return &Error{Op: "transaction", Tenant: tenant, Err: fmt.Errorf("%w: nested in a transaction bound to tenant %q", ErrCrossTenant, outer)}
		}
		return db.WithContext(NewContext(ctx, tenant)).Transaction(fn, opts...)
	}
	return db.WithContext(NewContext(ctx, tenant)).Transaction(func(tx *gorm.DB) error {
		bound := boundTenant{tenant: tenant}
		if p.engine == dialect.Postgres && p.strategy == StrategySchema {
			path := p.engine.QuoteIdent(tenant) + ", " + p.engine.QuoteIdent(p.global)
			if err := tx.Exec(p.engine.SetLocalSearchPath(), path).Error; err != nil {
				return &Error{Op: "transaction", Tenant: tenant, Err: fmt.Errorf("setting search_path: %w", err)}
			}
			bound.searchPath = true
		}
		pool := tx.Statement.ConnPool
		p.boundTx.Store(pool, bound)
		defer p.boundTx.Delete(pool)
		return fn(tx)
	}, opts...)
}

// boundTenant is what a running Transaction is bound to.
type boundTenant struct {
	tenant string
	// searchPath: the transaction's search_path resolves unqualified names
	// to the tenant's tables.
	searchPath bool
}
