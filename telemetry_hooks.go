package kirayedar

import (
	"context"
	"errors"

	"gorm.io/gorm"
)

// The plugin's per-statement telemetry: a count of statements refused for
// want of a tenant, and the tenant put on the statement's span when another
// instrumentation (go-gorm/opentelemetry) made one, as the statement is sent
// (sent.go). It makes no spans of its own.

const refusalsName = "kirayedar:count_refusals"

func (p *Plugin) registerTelemetry(db *gorm.DB) error {
	cb := db.Callback()
	return errors.Join(
		cb.Create().After("*").Register(refusalsName, p.countRefusal("create")),
		cb.Query().After("*").Register(refusalsName, p.countRefusal("query")),
		cb.Update().After("*").Register(refusalsName, p.countRefusal("update")),
		cb.Delete().After("*").Register(refusalsName, p.countRefusal("delete")),
		cb.Row().After("*").Register(refusalsName, p.countRefusal("row")),
		cb.Raw().After("*").Register(refusalsName, p.countRefusal("raw")),
	)
}

// annotateSpan puts the statement's tenant on the span in its context; under
// the schema and session strategies also db.namespace: on PostgreSQL the
// tenant's schema qualified by the database, on MySQL the tenant's
// database, as OpenTelemetry's conventions name them.
func (p *Plugin) annotateSpan(stmt *gorm.Statement) {
	if p.tel == nil || stmt.DB == nil {
		return
	}
	if _, ok := stmt.DB.Config.Plugins[otelGormPlugin]; !ok {
		return // the span in the context is the application's, not a statement's
	}
	sc := scopeOf(stmt.Context)
	if sc == nil || sc.tenant == "" || sc.err != nil {
		return
	}
	namespace := ""
	switch {
	case p.schemaPerTenant() && p.database != "":
		namespace = p.database + "." + sc.tenant // PostgreSQL: database.schema
	case p.schemaPerTenant():
		namespace = sc.tenant // MySQL: the tenant's database
	}
	p.tel.AnnotateStatement(stmt.Context, sc.tenant, namespace)
}

func (p *Plugin) countRefusal(kind string) func(*gorm.DB) {
	return func(db *gorm.DB) {
		if db.Error == nil || !errors.Is(db.Error, ErrNoTenant) {
			return
		}
		var st *StatementError
		if errors.As(db.Error, &st) {
			if st.counted {
				return
			}
			st.counted = true
		}
		p.tel.Refused(statementContext(db), kind)
	}
}

// otelGormPlugin is the name gorm.io/plugin/opentelemetry registers under.
const otelGormPlugin = "otelgorm"

// errorType names a lifecycle error for the error.type attribute: a bounded
// set, as OpenTelemetry asks.
func errorType(err error) string {
	for _, c := range []struct {
		err  error
		name string
	}{
		{ErrTenantExists, "tenant_exists"},
		{ErrTenantNotFound, "tenant_not_found"},
		{ErrInvalidTenantID, "invalid_tenant_id"},
		{ErrLockTimeout, "lock_timeout"},
		{context.Canceled, "context_canceled"},
		{context.DeadlineExceeded, "deadline_exceeded"},
	} {
		if errors.Is(err, c.err) {
			return c.name
		}
	}
	return "_OTHER"
}
