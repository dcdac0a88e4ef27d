package kirayedar

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"
)

type tableKind uint8

const (
	unknownTable tableKind = iota
	tenantTable
	globalTable
)

// tableRegistry classifies table names, as GORM's tenant-neutral schema cache
// names them, into tenant and global tables. It is built once by Initialize
// and read without locks afterwards.
type tableRegistry struct {
	kind map[string]tableKind
	// models are the tenant models to migrate: those configured, in the
	// order given, then the related models discovered from them.
	models []any
	// dropOrder lists every tenant table so that each comes before the
	// tables it references: join tables first, then models dependents-first.
	dropOrder []string
}

func (r *tableRegistry) lookup(table string) tableKind { return r.kind[table] }

func (r *tableRegistry) tenantNames() []string {
	var names []string
	for t, k := range r.kind {
		if k == tenantTable {
			names = append(names, t)
		}
	}
	sort.Strings(names)
	return names
}

func (r *tableRegistry) longestTenantTable() int {
	n := 0
	for t, k := range r.kind {
		if k == tenantTable && len(t) > n {
			n = len(t)
		}
	}
	return n
}

// prefixCollisions returns the tenant IDs whose prefixed table names would
// equal the name of a table the registry knows ("plan" + "_" + "features" =
// "plan_features"), so validation can refuse them.
func (r *tableRegistry) prefixCollisions(sep string) []string {
	var ids []string
	for g := range r.kind {
		for t, tk := range r.kind {
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
	r := &tableRegistry{kind: map[string]tableKind{registry: globalTable}, models: append([]any(nil), tenantModels...)}
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
		r.kind[unqualified(s.Table)] = globalTable
		for _, rel := range s.Relationships.Relations {
			if rel.JoinTable != nil {
				r.kind[unqualified(rel.JoinTable.Table)] = globalTable
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
		if r.kind[s.Table] == globalTable {
			if listed {
				return fmt.Errorf("kirayedar: model %s (table %q) is listed both as a tenant and as a global model", s.Name, s.Table)
			}
			return nil
		}
		if strings.Contains(s.Table, ".") {
			return fmt.Errorf("kirayedar: tenant model %s has the schema-qualified table name %q; tenant tables must be unqualified", s.Name, s.Table)
		}
		r.kind[s.Table] = tenantTable
		if !listed {
			r.models = append(r.models, reflect.New(s.ModelType).Interface())
		}
		return walkRelations(&s.Relationships, func(rel *schema.Relationship) error {
			if jt := rel.JoinTable; jt != nil && r.kind[jt.Table] != globalTable {
				if r.kind[jt.Table] != tenantTable {
					joinTables = append(joinTables, jt.Table)
				}
				r.kind[jt.Table] = tenantTable
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

	r.dropOrder = append(r.dropOrder, joinTables...)
	created := creationOrder(db, r.models)
	for i := len(created) - 1; i >= 0; i-- {
		if t := created[i]; r.kind[t] == tenantTable && !contains(r.dropOrder, t) {
			r.dropOrder = append(r.dropOrder, t)
		}
	}
	for _, t := range r.tenantNames() { // anything the migrator's order missed
		if !contains(r.dropOrder, t) {
			r.dropOrder = append(r.dropOrder, t)
		}
	}
	return r, nil
}

func walkRelations(rels *schema.Relationships, fn func(*schema.Relationship) error) error {
	names := make([]string, 0, len(rels.Relations))
	for name := range rels.Relations {
		names = append(names, name)
	}
	sort.Strings(names) // deterministic join-table order
	for _, name := range names {
		if err := fn(rels.Relations[name]); err != nil {
			return err
		}
	}
	for _, embedded := range rels.EmbeddedRelations {
		if err := walkRelations(embedded, fn); err != nil {
			return err
		}
	}
	return nil
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
