package tests

import (
	"sort"
	"strings"
	"testing"

	"github.com/kirayedar/kirayedar"
)

// shape describes a tenant's tables as the catalog sees them, one sorted line
// per column (type, nullability, default), index (its columns, uniqueness)
// and constraint (primary, unique, check, foreign key with its references
// and actions), with the tenant's ID replaced by "T". Two tenants built from
// the same models have the same shape. Tenant "" describes the global
// schema, without this run's tenants' tables.
func (e *env) shape(t testing.TB, tenant string) []string {
	t.Helper()
	schema := tenant
	if e.tg.strategy == kirayedar.StrategyPrefix || tenant == "" {
		schema = e.global
	}
	var queries []string
	switch e.tg.engine {
	case "postgres":
		queries = []string{
			`SELECT concat_ws('|', 'column', table_name, column_name, data_type, character_maximum_length, numeric_precision, numeric_scale, is_nullable, column_default)
				FROM information_schema.columns WHERE table_schema = ?`,
			`SELECT concat_ws('|', tablename, 'index', indexname, replace(indexdef, schemaname || '.', ''))
				FROM pg_indexes WHERE schemaname = ?`,
			`SELECT concat_ws('|', cl.relname, 'constraint', co.conname, co.contype, pg_get_constraintdef(co.oid))
				FROM pg_constraint co JOIN pg_class cl ON cl.oid = co.conrelid JOIN pg_namespace n ON n.oid = cl.relnamespace
				WHERE n.nspname = ?`,
		}
	case "mysql":
		queries = []string{
			`SELECT CONCAT_WS('|', TABLE_NAME, 'column', COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COALESCE(COLUMN_DEFAULT, 'none'), EXTRA, COLLATION_NAME)
				FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ?`,
			`SELECT CONCAT_WS('|', TABLE_NAME, 'index', INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, COALESCE(SUB_PART, 0), INDEX_TYPE)
				FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ?`,
			`SELECT CONCAT_WS('|', TABLE_NAME, 'key', CONSTRAINT_NAME, COLUMN_NAME, ORDINAL_POSITION, COALESCE(REFERENCED_TABLE_NAME, ''), COALESCE(REFERENCED_COLUMN_NAME, ''))
				FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = ?`,
			`SELECT CONCAT_WS('|', tc.TABLE_NAME, 'constraint', tc.CONSTRAINT_NAME, tc.CONSTRAINT_TYPE, COALESCE(rc.UPDATE_RULE, ''), COALESCE(rc.DELETE_RULE, ''))
				FROM information_schema.TABLE_CONSTRAINTS tc LEFT JOIN information_schema.REFERENTIAL_CONSTRAINTS rc
				ON rc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND rc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME AND rc.TABLE_NAME = tc.TABLE_NAME
				WHERE tc.TABLE_SCHEMA = ?`,
			`SELECT CONCAT_WS('|', TABLE_NAME, 'check', CONSTRAINT_NAME, CHECK_CLAUSE)
				FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ?`,
		}
	default:
		queries = []string{`SELECT tbl_name || '|' || type || '|' || name || '|' || COALESCE(sql, '') FROM sqlite_master WHERE ? <> ''`}
	}
	var lines []string
	for _, q := range queries {
		var got []string
		if err := e.admin().Raw(q, schema).Scan(&got).Error; err != nil {
			t.Fatalf("%s: reading the catalog of %s: %v", e.tg, tenant, err)
		}
		for _, line := range got {
			switch {
			case tenant == "":
				if strings.Contains(line, "t"+runID) {
					continue // a tenant's table
				}
				lines = append(lines, line)
				continue
			case e.tg.strategy == kirayedar.StrategyPrefix && !strings.Contains(line, tenant+prefixSeparator):
				continue // another tenant's, or a global table
			}
			if e.tg.engine == "sqlite" {
				// GORM writes a table's constraints in map order.
				parts := strings.Split(strings.TrimSuffix(line, ")"), ",CONSTRAINT ")
				sort.Strings(parts[1:])
				line = strings.Join(parts, ",CONSTRAINT ")
			}
			lines = append(lines, strings.ReplaceAll(line, tenant, "T"))
		}
	}
	sort.Strings(lines)
	return lines
}

// shapeDiff lists the lines only one of two shapes has.
func shapeDiff(a, b []string) []string {
	count := map[string]int{}
	for _, l := range a {
		count[l]++
	}
	for _, l := range b {
		count[l]--
	}
	var diff []string
	for l, n := range count {
		switch {
		case n > 0:
			diff = append(diff, "- "+l)
		case n < 0:
			diff = append(diff, "+ "+l)
		}
	}
	sort.Strings(diff)
	return diff
}
