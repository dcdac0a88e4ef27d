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
// It replaces the tenant of the statement's context, which preloads,
// associations, hooks and transactions started from the chain inherit. An
// invalid ID fails the chain with ErrInvalidTenantID before any SQL is built.
func WithTenant(tenant string) func(*gorm.DB) *gorm.DB {
	return func(db *gorm.DB) *gorm.DB {
		ctx := NewContext(statementContext(db), tenant)
		db.Statement.Context = ctx
		if tenant == "" {
			_ = db.AddError(&dialect.InvalidIDError{ID: tenant, Reason: "it is empty"})
		} else if err := scopeOf(ctx).err; err != nil {
			_ = db.AddError(err)
		}
		return db
	}
}

// Global is a GORM scope that runs one chain without tenant scoping, on
// purpose (see GlobalContext):
//
//	db.Scopes(kirayedar.Global()).Find(&posts) // the global copy of posts
func Global() func(*gorm.DB) *gorm.DB {
	return func(db *gorm.DB) *gorm.DB {
		db.Statement.Context = GlobalContext(statementContext(db))
		return db
	}
}

// ValidateTenantID reports whether tenant may name a tenant on every engine
// Kirayedar supports: lower case a-z, 0-9 and _, at most 63 bytes, and not a
// name an engine reserves (public, information_schema, pg_*, mysql, sys,
// performance_schema, main, temp, sqlite_*). The error wraps
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
