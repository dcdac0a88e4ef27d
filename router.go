package kirayedar

import (
	"strings"
	"sync"

	"gorm.io/gorm"
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
	t = make(tenantTables, len(p.tables.kind))
	for table, kind := range p.tables.kind {
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

// resolve decides how a table reference is written under sc. qualifier and
// table are the reference as the statement names it ("" and "posts", or
// "acme" and "posts"). It returns nil to leave the reference as written, the
// tenant's physical table, or the error that refuses the statement.
func (p *Plugin) resolve(sc *scope, qualifier, table string) (*physical, error) {
	switch p.tables.lookup(table) {
	case globalTable:
		return nil, nil
	case unknownTable:
		if qualifier == "" && p.strategy == StrategyPrefix {
			return nil, p.checkPrefixed(sc, table)
		}
		return nil, nil
	}
	if sc == nil || (!sc.global && sc.tenant == "") {
		return nil, &StatementError{Table: table, Err: ErrNoTenant}
	}
	if sc.global {
		return nil, nil
	}
	if sc.err != nil {
		return nil, &StatementError{Table: table, Tenant: sc.tenant, Err: sc.err}
	}
	if qualifier != "" && (p.strategy != StrategySchema || qualifier != sc.tenant) {
		return nil, &StatementError{Table: table, Tenant: sc.tenant, Err: ErrCrossTenant,
			Detail: "it names " + qualifier + "." + table + " explicitly"}
	}
	names, err := p.tablesFor(sc.tenant)
	if err != nil {
		return nil, &StatementError{Table: table, Tenant: sc.tenant, Err: err}
	}
	return names[table], nil
}

// checkPrefixed refuses a statement that names some tenant's physical table
// ("globex_posts") directly, unless it runs for that tenant or globally. The
// prefix separator cannot occur in tenant IDs, so the split is unambiguous.
func (p *Plugin) checkPrefixed(sc *scope, table string) error {
	sep := p.cfg.PrefixSeparator
	i := strings.Index(table, sep)
	if i <= 0 {
		return nil
	}
	owner, base := table[:i], table[i+len(sep):]
	if p.tables.lookup(base) != tenantTable {
		return nil
	}
	switch {
	case sc != nil && sc.global:
		return nil
	case sc == nil || sc.tenant == "":
		return &StatementError{Table: base, Err: ErrNoTenant, Detail: "it names " + table + " directly"}
	case sc.tenant != owner:
		return &StatementError{Table: base, Tenant: sc.tenant, Err: ErrCrossTenant, Detail: "it names " + table + " directly"}
	}
	return nil
}

// mainTable is the statement's own table as written: the table GORM parsed
// from the model, or what db.Table set. alias is set when db.Table gave one
// ("posts p"); raw is set when the table expression is SQL the plugin cannot
// take apart (a subquery, placeholders).
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
	sql := strings.TrimSpace(expr.SQL)
	first, rest := nextIdent(sql, p.engine.QuoteChar())
	if first == "" {
		return mainTable{raw: true}
	}
	m := mainTable{table: first}
	if strings.HasPrefix(rest, ".") {
		second, after := nextIdent(rest[1:], p.engine.QuoteChar())
		if second == "" {
			return mainTable{raw: true}
		}
		m.qualifier, m.table, rest = first, second, after
	}
	rest = strings.TrimSpace(rest)
	if rest == "" {
		return m
	}
	if len(rest) > 3 && strings.EqualFold(rest[:3], "as ") {
		rest = strings.TrimSpace(rest[3:])
	}
	alias, after := nextIdent(rest, p.engine.QuoteChar())
	if alias == "" || strings.TrimSpace(after) != "" {
		return mainTable{raw: true}
	}
	m.alias = alias
	return m
}

// nextIdent reads one identifier, bare or quoted with q or '"', from the
// start of s and returns it with the rest of s.
func nextIdent(s string, q byte) (ident, rest string) {
	if s == "" {
		return "", s
	}
	if c := s[0]; c == q || c == '"' || c == '`' {
		end := strings.IndexByte(s[1:], c)
		if end <= 0 {
			return "", s
		}
		return s[1 : end+1], s[end+2:]
	}
	i := 0
	for i < len(s) && isIdentByte(s[i]) {
		i++
	}
	if i == 0 {
		return "", s
	}
	return s[:i], s[i:]
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '$'
}
