package kirayedar

import (
	"context"
	"sync/atomic"

	"gorm.io/gorm"

	"github.com/kirayedar/kirayedar/dialect"
)

// scopeKey is the context key for the tenant scope of a context.
type scopeKey struct{}

// scope is what a context says about tenancy: a tenant, the explicit global
// marker, or (with err set) a tenant ID that was rejected.
type scope struct {
	tenant string
	global bool
	err    error
	// manual: the statements set the connection's name resolution
	// themselves (the provisioner's search_path and USE); a StrategySession
	// connector leaves it as they set it.
	manual bool
	// names caches the tenant's physical table names for the plugin that
	// last resolved them, so the statements of one request look them up once.
	names atomic.Pointer[scopeNames]
}

type scopeNames struct {
	p      *Plugin
	tables tenantTables
}

// NewContext returns a copy of ctx whose statements run for tenant. An empty
// tenant clears any tenant or global marker that ctx carried, so statements
// on tenant tables fail with ErrNoTenant again.
//
// The ID is checked against the rules that hold on every engine (see
// ValidateTenantID). An invalid ID is kept in the context as an error: every
// statement on a tenant table under it fails with ErrInvalidTenantID before
// any SQL is built, and FromContext reports no tenant. Middleware should
// validate first and answer the request itself.
func NewContext(ctx context.Context, tenant string) context.Context {
	if tenant == "" {
		return context.WithValue(ctx, scopeKey{}, &scope{})
	}
	return context.WithValue(ctx, scopeKey{}, &scope{tenant: tenant, err: ValidateTenantID(tenant)})
}

// FromContext returns the tenant ctx runs for, and whether there is one. It
// reports false for a context without a tenant, for a global context, and for
// a context holding an invalid tenant ID.
func FromContext(ctx context.Context) (string, bool) {
	sc := scopeOf(ctx)
	if sc == nil || sc.tenant == "" || sc.err != nil {
		return "", false
	}
	return sc.tenant, true
}

// GlobalContext returns a copy of ctx that runs statements without tenant
// scoping, on purpose: tenant tables resolve to their global copy (the
// unqualified table). It replaces any tenant ctx carried. Use it for admin
// work and for code that must see every tenant's schema as-is.
func GlobalContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, scopeKey{}, &scope{global: true})
}

// provisioningContext is GlobalContext for the provisioner's own work, which
// names schemas and sets search_path or the current database itself.
func provisioningContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, scopeKey{}, &scope{global: true, manual: true})
}

// IsGlobal reports whether ctx was marked by GlobalContext (and not replaced
// by a later NewContext).
func IsGlobal(ctx context.Context) bool {
	sc := scopeOf(ctx)
	return sc != nil && sc.global
}

// WithTenant is a GORM scope that runs one chain for tenant:
//
//	db.Scopes(kirayedar.WithTenant("acme")).Find(&posts)
//
// A scope fills in a context that names no tenant; it never overrides one
// that does. Over a context without a tenant (context.Background(),
// NewContext(ctx, "")), or one for tenant already, every statement the chain
// runs is for tenant, with the preloads, hooks, association saves, batches
// (CreateInBatches, FindInBatches), Save, FirstOrCreate and Association calls
// it makes, and the statements on the tx of a Transaction, Begin or
// Connection started from it. Over a context for another tenant, or a
// GlobalContext, each of them is refused with a *StatementError that wraps
// ErrCrossTenant and carries tenant, before it is sent (a Transaction, and a
// CreateInBatches of more than one batch, has sent BEGIN; it rolls back). To
// run work for a tenant other than the context's, replace the context:
// db.WithContext(kirayedar.NewContext(ctx, tenant)), or Transaction.
//
// GORM runs a chain's scopes only as each of its statements executes, and it
// makes some sessions from a chain before that: Association Append and
// Replace insert each map value through one, and the tx that Begin,
// Transaction and Connection hand to fn is one, so
// tx.Session(&gorm.Session{NewDB: true}) and tx.Statement.Context carry the
// chain's context, not its scope. Over a context without a tenant, statements
// built from them are refused with ErrNoTenant before they are sent. Over a
// context for another tenant, or a global one, nothing the plugin sees tells
// them from the context's own statements: they run for the context's scope.
// (A map's row is inserted there; the link, a statement of the chain, is
// refused. A fn that returns the refusal rolls its transaction back.) Do not
// scope a chain whose context names another tenant.
//
// An invalid or empty ID fails the chain with ErrInvalidTenantID before any
// SQL is built.
func WithTenant(tenant string) func(*gorm.DB) *gorm.DB {
	// One scope for every statement the chain runs: the ID is validated
	// once, and each statement's context costs one allocation.
	sc := &scope{tenant: tenant, err: ValidateTenantID(tenant)}
	if tenant == "" {
		sc.err = &dialect.InvalidIDError{ID: tenant, Reason: "it is empty"}
	}
	return func(db *gorm.DB) *gorm.DB {
		if sc.err != nil {
			_ = db.AddError(sc.err)
			return db
		}
		ctx := statementContext(db)
		switch have := scopeOf(ctx); {
		case have == nil || !have.global && have.tenant == "":
			db.Statement.Context = context.WithValue(ctx, scopeKey{}, sc)
		case have.global:
			_ = db.AddError(&StatementError{Tenant: tenant, Err: ErrCrossTenant,
				Detail: "WithTenant(" + quoteName(tenant) + ") on a global context; a scope does not override its context's scope"})
		case have.tenant != tenant:
			_ = db.AddError(&StatementError{Tenant: tenant, Err: ErrCrossTenant,
				Detail: "WithTenant(" + quoteName(tenant) + ") on a context for tenant " + quoteName(have.tenant) +
					"; a scope does not override its context's tenant: use WithContext(kirayedar.NewContext(ctx, tenant))"})
		}
		return db
	}
}

// globalScope is the scope of every Global() chain.
var globalScope = &scope{global: true}

// Global is a GORM scope that runs one chain without tenant scoping, on
// purpose (see GlobalContext):
//
//	db.Scopes(kirayedar.Global()).Find(&posts) // the global copy of posts
//
// Like WithTenant, it fills in a context that names no tenant: over a
// context for a tenant the chain's statements are refused with
// ErrCrossTenant (carrying the context's tenant) before anything is sent,
// and the sessions GORM makes before the chain's scopes run keep the
// context's tenant. Use WithContext(GlobalContext(ctx)) to leave a tenant's
// context on purpose.
func Global() func(*gorm.DB) *gorm.DB {
	return func(db *gorm.DB) *gorm.DB {
		ctx := statementContext(db)
		switch have := scopeOf(ctx); {
		case have == nil || !have.global && have.tenant == "":
			db.Statement.Context = context.WithValue(ctx, scopeKey{}, globalScope)
		case !have.global:
			_ = db.AddError(&StatementError{Tenant: have.tenant, Err: ErrCrossTenant,
				Detail: "Global() on a context for tenant " + quoteName(have.tenant) +
					"; a scope does not override its context's tenant: use WithContext(kirayedar.GlobalContext(ctx))"})
		}
		return db
	}
}

// ValidateTenantID reports whether tenant may name a tenant on every engine
// Kirayedar supports: lower case a-z, 0-9, _ and - (a hyphen neither first
// nor last), at most 63 bytes, and not a name an engine reserves (public,
// information_schema, pg_*, mysql, sys, performance_schema, main, temp,
// sqlite_*). The error wraps
// ErrInvalidTenantID and says why. Plugin.ValidateTenantID adds the rules of
// one deployment (its global schema, configured names, prefix lengths).
func ValidateTenantID(tenant string) error {
	return dialect.Validate(tenant, dialect.Rules{})
}

func scopeOf(ctx context.Context) *scope {
	if ctx == nil {
		return nil
	}
	sc, _ := ctx.Value(scopeKey{}).(*scope)
	return sc
}

func statementContext(db *gorm.DB) context.Context {
	if db.Statement.Context != nil {
		return db.Statement.Context
	}
	return context.Background()
}
