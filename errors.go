package kirayedar

import (
	"errors"
	"fmt"

	"github.com/kirayedar/kirayedar/dialect"
	"github.com/kirayedar/kirayedar/internal/provision"
)

// Sentinel errors. Every error Kirayedar returns wraps one of these (or the
// database's own error), so callers match them with errors.Is.
var (
	// ErrInvalidTenantID: the tenant ID is not valid for this deployment. The
	// error also says why (see dialect.InvalidIDError). No SQL was built.
	ErrInvalidTenantID = dialect.ErrInvalidTenantID
	// ErrTenantExists: Create found the tenant (or its schema, database or
	// tables) already there and changed nothing.
	ErrTenantExists = provision.ErrTenantExists
	// ErrTenantNotFound: the tenant is not in the registry.
	ErrTenantNotFound = provision.ErrTenantNotFound
	// ErrNoTenant: a statement touches a tenant table but its context carries
	// no tenant and is not marked global. Nothing was sent to the database.
	ErrNoTenant = errors.New("no tenant in context")
	// ErrCrossTenant: a statement under one tenant names another tenant's
	// table (or the global copy of a tenant table) explicitly, or embeds a
	// subquery built under another tenant. Nothing was sent to the database.
	ErrCrossTenant = errors.New("statement crosses tenants")
	// ErrUnroutable: raw SQL (Raw, Exec, or a fragment inside a GORM
	// statement: a join string, a table expression, a condition, a selected
	// column) names a tenant table directly, which the plugin cannot
	// qualify; or a subquery is built in a way the plugin cannot see into.
	// Use a model, a relation join, or Table. Nothing was sent.
	ErrUnroutable = errors.New("raw SQL names a tenant table")
	// ErrLockTimeout: a lifecycle operation waited Provisioner.LockTimeout for
	// another operation on the same tenant (in this process or another) and
	// gave up. Nothing was changed.
	ErrLockTimeout = provision.ErrLockTimeout
	// ErrPooler: a connection pooler (PgBouncer) runs between a
	// NewConnector pool and PostgreSQL. StrategySession sets search_path per
	// connection, which a pooler in transaction mode hands to other clients;
	// see ConnectorOptions.AllowPooler.
	ErrPooler = errors.New("a connection pooler sits in front of PostgreSQL")
)

// Error reports a failed lifecycle operation on one tenant. It wraps the
// cause, which is one of the sentinel errors or the database's error.
type Error struct {
	Op     string // "create", "drop", "migrate", "rename", "exists"
	Tenant string
	Err    error
}

func (e *Error) Error() string {
	return fmt.Sprintf("kirayedar: %s tenant %q: %v", e.Op, e.Tenant, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// StatementError reports a GORM statement the plugin refused before sending
// it. It wraps ErrNoTenant, ErrInvalidTenantID, ErrCrossTenant or
// ErrUnroutable.
type StatementError struct {
	Table  string // the tenant table the statement touches
	Tenant string // the tenant in the statement's context, if any
	Err    error
	Detail string // what exactly was refused, for the message
	// counted: the refusal counter saw it (a reused *gorm.DB keeps its
	// error, and preloads pass theirs to the parent statement).
	counted bool
}

func (e *StatementError) Error() string {
	msg := "kirayedar: statement"
	if e.Table != "" {
		msg += " on tenant table " + quoteName(e.Table)
	}
	if e.Tenant != "" {
		msg += " under tenant " + quoteName(e.Tenant)
	}
	msg += ": " + e.Err.Error()
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return msg
}

// Unwrap returns the cause.
func (e *StatementError) Unwrap() error { return e.Err }

func quoteName(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return fmt.Sprintf("%q", s)
}
