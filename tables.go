package kirayedar

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"github.com/kirayedar/kirayedar/internal/relations"
)

type tableKind uint8

const (
	unknownTable tableKind = iota
	tenantTable
	globalTable
)

// tableRegistry classifies table names, as GORM's tenant-neutral schema cache
// names them, into tenant and global tables. It is built by Initialize and
// read without locks; it changes only when a many2many join table is
// replaced with (*gorm.DB).SetupJoinTable after the plugin was registered.
type tableRegistry struct {
	current atomic.Pointer[tableSnapshot]
	// models are the tenant models to migrate: those configured, in the
	// order given, then the related models discovered from them.
	models []any
	// schemas are the application's parsed schemas of those models.
	schemas []*schema.Schema
	// joins are the many2many relations of tenant models, watched for
	// SetupJoinTable.
	joins []*joinWatch
	mu    sync.Mutex // serializes refresh
}

type tableSnapshot struct {
	kind map[string]tableKind
	// dropOrder lists every tenant table so that each comes before the
	// tables it references: join tables first, then models dependents-first.
	dropOrder []string
}

type joinWatch struct {
	rel  *schema.Relationship
	seen atomic.Pointer[schema.Schema] // the JoinTable classified last
}

// classify returns the kind of a table and its name as registered. Names
// match case-insensitively, as PostgreSQL folds unquoted names and SQLite
// ignores case: a table written "Comments" is the tenant table "comments".
func (r *tableRegistry) classify(table string) (tableKind, string) {
	for attempt := 0; attempt < 2; attempt++ {
		snap := r.current.Load()
		if k, ok := snap.kind[table]; ok {
			return k, table
		}
		if lower := strings.ToLower(table); lower != table {
			if k, ok := snap.kind[lower]; ok {
				return k, lower
			}
		}
		if !r.refresh() {
			break
		}
	}
	return unknownTable, table
}

func (r *tableRegistry) snapshot() *tableSnapshot { return r.current.Load() }

// refresh reclassifies join tables that SetupJoinTable replaced since the
// last look, and reports whether anything changed.
func (r *tableRegistry) refresh() bool {
	changed := false
	for _, w := range r.joins {
		if w.rel.JoinTable != w.seen.Load() {
			changed = true
			break
		}
	}
	if !changed {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.current.Load()
	next := &tableSnapshot{kind: make(map[string]tableKind, len(old.kind)+1)}
	for t, k := range old.kind {
		next.kind[t] = k
	}
	var added []string
	for _, w := range r.joins {
		jt := w.rel.JoinTable
		if jt == nil || jt == w.seen.Load() {
			continue
		}
		if next.kind[jt.Table] == unknownTable {
			next.kind[jt.Table] = tenantTable
			added = append(added, jt.Table)
		}
		w.seen.Store(jt)
	}
	next.dropOrder = append(added, old.dropOrder...)
	r.current.Store(next)
	return true
}

func (r *tableRegistry) tenantNames() []string {
	var names []string
	for t, k := range r.snapshot().kind {
		if k == tenantTable {
			names = append(names, t)
		}
	}
	sort.Strings(names)
	return names
}

func (r *tableRegistry) longestTenantTable() int {
	n := 0
	for t, k := range r.snapshot().kind {
		if k == tenantTable && len(t) > n {
			n = len(t)
		}
	}
	return n
}

// prefixCollisions returns the tenant IDs whose prefixed table names would
// equal the name of a table the registry knows ("plan" + "__" + "features" =
// "plan__features"), so validation can refuse them.
func (r *tableRegistry) prefixCollisions(sep string) []string {
	var ids []string
	kinds := r.snapshot().kind
	for g := range kinds {
		for t, tk := range kinds {
			if tk == tenantTable && len(g) > len(sep)+len(t) && strings.HasSuffix(g, sep+t) {
				ids = append(ids, g[:len(g)-len(sep)-len(t)])
			}
		}
	}
	return ids
}

// classify parses the configured models with db's naming strategy and sorts
// their tables into tenant and global ones. Relations of tenant models and
// their many2many join tables are tenant tables unless a global model owns
// them; the registry table is global.
func classify(db *gorm.DB, tenantModels, globalModels []any, registry string) (*tableRegistry, error) {
	r := &tableRegistry{models: append([]any(nil), tenantModels...)}
	kind := map[string]tableKind{registry: globalTable}
	parse := func(model any) (*schema.Schema, error) {
		stmt := &gorm.Statement{DB: db}
		if err := stmt.Parse(model); err != nil {
			return nil, fmt.Errorf("kirayedar: parsing model %T: %w", model, err)
		}
		return stmt.Schema, nil
	}

	for _, m := range globalModels {
		s, err := parse(m)
		if err != nil {
			return nil, err
		}
		kind[unqualified(s.Table)] = globalTable
		for _, rel := range s.Relationships.Relations {
			if rel.JoinTable != nil {
				kind[unqualified(rel.JoinTable.Table)] = globalTable
			}
		}
	}

	var joinTables []string
	visited := map[*schema.Schema]bool{}
	var walk func(s *schema.Schema, listed bool) error
	walk = func(s *schema.Schema, listed bool) error {
		if visited[s] && !listed {
			return nil
		}
		visited[s] = true
		if kind[s.Table] == globalTable {
			if listed {
				return fmt.Errorf("kirayedar: model %s (table %q) is listed both as a tenant and as a global model", s.Name, s.Table)
			}
			return nil
		}
		if strings.Contains(s.Table, ".") {
			return fmt.Errorf("kirayedar: tenant model %s has the schema-qualified table name %q; tenant tables must be unqualified", s.Name, s.Table)
		}
		kind[s.Table] = tenantTable
		r.schemas = append(r.schemas, s)
		if !listed {
			r.models = append(r.models, reflect.New(s.ModelType).Interface())
		}
		return relations.Walk(&s.Relationships, func(rel *schema.Relationship) error {
			if jt := rel.JoinTable; jt != nil && kind[jt.Table] != globalTable {
				if kind[jt.Table] != tenantTable {
					joinTables = append(joinTables, jt.Table)
				}
				kind[jt.Table] = tenantTable
				w := &joinWatch{rel: rel}
				w.seen.Store(jt)
				r.joins = append(r.joins, w)
			}
			if rel.FieldSchema != nil {
				return walk(rel.FieldSchema, false)
			}
			return nil
		})
	}
	listed := make([]*schema.Schema, len(tenantModels))
	for i, m := range tenantModels {
		s, err := parse(m)
		if err != nil {
			return nil, err
		}
		listed[i] = s
	}
	for _, s := range listed {
		visited[s] = true
		if err := walk(s, true); err != nil {
			return nil, err
		}
	}

	snap := &tableSnapshot{kind: kind, dropOrder: joinTables}
	created := creationOrder(db, r.models)
	for i := len(created) - 1; i >= 0; i-- {
		if t := created[i]; kind[t] == tenantTable && !contains(snap.dropOrder, t) {
			snap.dropOrder = append(snap.dropOrder, t)
		}
	}
	r.current.Store(snap)
	for _, t := range r.tenantNames() { // anything the migrator's order missed
		if !contains(snap.dropOrder, t) {
			snap.dropOrder = append(snap.dropOrder, t)
		}
	}
	return r, nil
}

// creationOrder returns the tables of models and their dependencies in the
// order GORM's migrator creates them (referenced tables first).
func creationOrder(db *gorm.DB, models []any) []string {
	reorderer, ok := db.Migrator().(interface {
		ReorderModels(values []interface{}, autoAdd bool) []interface{}
	})
	if !ok {
		return nil
	}
	var tables []string
	for _, m := range reorderer.ReorderModels(models, true) {
		stmt := &gorm.Statement{DB: db}
		if stmt.Parse(m) == nil {
			tables = append(tables, stmt.Schema.Table)
		}
	}
	return tables
}

func unqualified(table string) string {
	if i := strings.LastIndexByte(table, '.'); i >= 0 {
		return table[i+1:]
	}
	return table
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
