package kirayedar

import (
	"strings"
	"sync"

	"gorm.io/gorm"

	"github.com/kirayedar/kirayedar/internal/sqlscan"
)

// physical is how one tenant table is written for one tenant.
type physical struct {
	name    string // unquoted, as GORM's QuoteTo takes it: "acme.posts" or "acme_posts"
	quoted  string // `"acme"."posts"` or `"acme_posts"`
	aliased string // quoted, aliased to the neutral name where the name changed: `"acme_posts" AS "posts"`
}

// tenantTables holds the physical names of every tenant table for one
// tenant. It is immutable once built.
type tenantTables map[string]*physical

// nameCache keeps the physical names per tenant, so the hot path neither
// validates nor concatenates strings for a tenant it has seen. It is bounded:
// when full it starts over.
type nameCache struct {
	mu sync.RWMutex
	m  map[string]tenantTables
}

const nameCacheLimit = 10000

// tablesFor returns the physical names for tenant, validating the ID against
// the deployment's rules the first time it is seen.
func (p *Plugin) tablesFor(tenant string) (tenantTables, error) {
	p.names.mu.RLock()
	t, ok := p.names.m[tenant]
	p.names.mu.RUnlock()
	if ok {
		return t, nil
	}
	if err := p.ValidateTenantID(tenant); err != nil {
		return nil, err
	}
	kinds := p.tables.snapshot().kind
	t = make(tenantTables, len(kinds))
	for table, kind := range kinds {
		if kind == tenantTable {
			t[table] = p.physicalName(tenant, table)
		}
	}
	p.names.mu.Lock()
	if p.names.m == nil || len(p.names.m) >= nameCacheLimit {
		p.names.m = make(map[string]tenantTables)
	}
	p.names.m[tenant] = t
	p.names.mu.Unlock()
	return t, nil
}

func (p *Plugin) physicalName(tenant, table string) *physical {
	e := p.engine
	if p.strategy == StrategyPrefix {
		name := tenant + p.cfg.PrefixSeparator + table
		quoted := e.QuoteIdent(name)
		return &physical{name: name, quoted: quoted, aliased: quoted + " AS " + e.QuoteIdent(table)}
	}
	quoted := e.Qualify(tenant, table)
	return &physical{name: tenant + "." + table, quoted: quoted, aliased: quoted}
}

// globalPhysical is how a global table is written under StrategySession:
// qualified with the global schema.
func (p *Plugin) globalPhysical(table string) *physical {
	if v, ok := p.globals.Load(table); ok {
		return v.(*physical)
	}
	quoted := p.engine.Qualify(p.global, table)
	phys := &physical{name: p.global + "." + table, quoted: quoted, aliased: quoted}
	p.globals.Store(table, phys)
	return phys
}

// resolve decides how a table reference is written under sc. qualifier and
// table are the reference as the statement names it ("" and "posts", or
// "acme" and "posts"). It returns nil to leave the reference as written, the
// tenant's physical table, or the error that refuses the statement.
func (p *Plugin) resolve(sc *scope, qualifier, table string) (*physical, error) {
	kind, name := p.tables.classify(table)
	switch kind {
	case globalTable:
		if p.strategy == StrategySession && qualifier == "" && (sc == nil || !sc.global) {
			// The connection resolves names in the tenant's schema or
			// database first.
			return p.globalPhysical(name), nil
		}
		return nil, nil
	case unknownTable:
		if p.strategy == StrategyPrefix { // whatever the qualifier: main.globex_posts too
			return nil, p.checkPrefixed(sc, table)
		}
		return nil, nil
	}
	if sc == nil || (!sc.global && sc.tenant == "") {
		return nil, &StatementError{Table: name, Err: ErrNoTenant}
	}
	if sc.global {
		return nil, nil
	}
	if sc.err != nil {
		return nil, &StatementError{Table: name, Tenant: sc.tenant, Err: sc.err}
	}
	if qualifier != "" && (!p.schemaPerTenant() || qualifier != sc.tenant) {
		return nil, &StatementError{Table: name, Tenant: sc.tenant, Err: ErrCrossTenant,
			Detail: "it names " + qualifier + "." + table + " explicitly"}
	}
	var names tenantTables
	if cached := sc.names.Load(); cached != nil && cached.p == p {
		names = cached.tables
	} else {
		var err error
		if names, err = p.tablesFor(sc.tenant); err != nil {
			return nil, &StatementError{Table: name, Tenant: sc.tenant, Err: err}
		}
		sc.names.Store(&scopeNames{p: p, tables: names})
	}
	if phys := names[name]; phys != nil {
		return phys, nil
	}
	return p.physicalName(sc.tenant, name), nil // a join table set up after the cache entry
}

// checkPrefixed refuses a statement that names some tenant's physical table
// ("globex__posts") directly, unless it runs for that tenant or globally. The
// prefix separator cannot occur in tenant IDs, so the split is unambiguous.
func (p *Plugin) checkPrefixed(sc *scope, table string) error {
	sep := p.cfg.PrefixSeparator
	lower := strings.ToLower(table)
	i := strings.Index(lower, sep)
	if i <= 0 {
		return nil
	}
	owner, base := lower[:i], lower[i+len(sep):]
	if kind, _ := p.tables.classify(base); kind != tenantTable {
		return nil
	}
	detail := "it names " + table + ", tenant " + owner + "'s " + base + "; if " + table +
		" is a table of your own, list its model in Config.GlobalModels"
	switch {
	case sc != nil && sc.global:
		return nil
	case sc == nil || sc.tenant == "":
		return &StatementError{Table: base, Err: ErrNoTenant, Detail: detail}
	case sc.tenant != owner:
		return &StatementError{Table: base, Tenant: sc.tenant, Err: ErrCrossTenant, Detail: detail}
	}
	return nil
}

// mainTable is the statement's own table as written: the table GORM parsed
// from the model, or what db.Table set. alias is set when db.Table gave one
// ("posts p"); raw is set when the table expression is SQL the plugin cannot
// take apart (a subquery, placeholders, a join list).
type mainTable struct {
	qualifier, table, alias string
	raw                     bool
}

func (p *Plugin) mainTableOf(stmt *gorm.Statement) mainTable {
	expr := stmt.TableExpr
	if expr == nil {
		return mainTable{table: stmt.Table}
	}
	if len(expr.Vars) > 0 {
		return mainTable{raw: true}
	}
	qualifier, table, alias, ok := sqlscan.TableExpr(expr.SQL, p.engine)
	if !ok {
		return mainTable{raw: true} // the builders check what they cannot route
	}
	return mainTable{qualifier: qualifier, table: table, alias: alias}
}
