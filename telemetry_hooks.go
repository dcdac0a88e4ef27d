package kirayedar

import (
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
// the schema and session strategies also db.namespace, the tenant's schema
// or database.
func (p *Plugin) annotateSpan(stmt *gorm.Statement) {
	if p.tel == nil {
		return
	}
	sc := scopeOf(stmt.Context)
	if sc == nil || sc.tenant == "" || sc.err != nil {
		return
	}
	namespace := ""
	if p.schemaPerTenant() {
		namespace = sc.tenant
	}
	p.tel.AnnotateStatement(stmt.Context, sc.tenant, namespace)
}

func (p *Plugin) countRefusal(kind string) func(*gorm.DB) {
	return func(db *gorm.DB) {
		if db.Error != nil && errors.Is(db.Error, ErrNoTenant) {
			p.tel.Refused(statementContext(db), kind)
		}
	}
}
