package dialect

import "strings"

// The statements below take validated identifiers only: tenant IDs checked by
// Validate, table names parsed from the application's models.

// CreateSchema creates the schema (PostgreSQL) or database (MySQL) of a
// tenant. It fails when one of that name exists already.
func (e Engine) CreateSchema(name string) string {
	if e == MySQL {
		return "CREATE DATABASE " + e.QuoteIdent(name)
	}
	return "CREATE SCHEMA " + e.QuoteIdent(name)
}

// DropSchema drops a tenant's schema or database and everything in it.
func (e Engine) DropSchema(name string) string {
	if e == MySQL {
		return "DROP DATABASE IF EXISTS " + e.QuoteIdent(name)
	}
	return "DROP SCHEMA IF EXISTS " + e.QuoteIdent(name) + " CASCADE"
}

// SchemaExists is a query with one placeholder (the name) returning one row
// with a count greater than zero when the schema or database exists.
// PostgreSQL reads pg_namespace, never information_schema.
func (e Engine) SchemaExists() string {
	if e == MySQL {
		return "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?"
	}
	return "SELECT COUNT(*) FROM pg_catalog.pg_namespace WHERE nspname = ?"
}

// ExistingTables is a query with two placeholders (the schema, then a list of
// table names) returning the names of those tables that exist in the schema.
// On SQLite the schema placeholder is ignored but still bound.
func (e Engine) ExistingTables() string {
	switch e {
	case Postgres:
		return "SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ? AND c.relname IN ?"
	case MySQL:
		return "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN ?"
	}
	return "SELECT name FROM sqlite_master WHERE type = 'table' AND ? <> '' AND name IN ?"
}

// DropTables drops the named tables of schema, in the order given, in one
// statement where the engine allows it.
func (e Engine) DropTables(schema string, tables []string) []string {
	quoted := make([]string, len(tables))
	for i, t := range tables {
		if e == SQLite {
			quoted[i] = e.QuoteIdent(t)
		} else {
			quoted[i] = e.Qualify(schema, t)
		}
	}
	switch e {
	case Postgres:
		return []string{"DROP TABLE IF EXISTS " + strings.Join(quoted, ", ") + " CASCADE"}
	case MySQL:
		return []string{"DROP TABLE IF EXISTS " + strings.Join(quoted, ", ")}
	}
	stmts := make([]string, len(quoted))
	for i, q := range quoted {
		stmts[i] = "DROP TABLE IF EXISTS " + q
	}
	return stmts
}

// CreateRegistry creates the tenant registry table if it is missing.
func (e Engine) CreateRegistry(schema, table string) string {
	name := e.Qualify(schema, table)
	switch e {
	case Postgres:
		return "CREATE TABLE IF NOT EXISTS " + name + ` (
	id varchar(64) PRIMARY KEY,
	status varchar(16) NOT NULL,
	fingerprint varchar(64) NOT NULL DEFAULT '',
	created_at timestamptz NOT NULL DEFAULT now(),
	migrated_at timestamptz
)`
	case MySQL:
		return "CREATE TABLE IF NOT EXISTS " + name + ` (
	id varchar(64) NOT NULL PRIMARY KEY,
	status varchar(16) NOT NULL,
	fingerprint varchar(64) NOT NULL DEFAULT '',
	created_at datetime(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
	migrated_at datetime(6) NULL
) CHARACTER SET ascii COLLATE ascii_bin`
	}
	return "CREATE TABLE IF NOT EXISTS " + e.QuoteIdent(table) + ` (
	id text PRIMARY KEY,
	status text NOT NULL,
	fingerprint text NOT NULL DEFAULT '',
	created_at datetime NOT NULL DEFAULT CURRENT_TIMESTAMP,
	migrated_at datetime
)`
}

// RegistryName is the registry table as it is written in SQL: qualified by
// the global schema except on SQLite, which has one.
func (e Engine) RegistryName(schema, table string) string {
	if e == SQLite {
		return e.QuoteIdent(table)
	}
	return e.Qualify(schema, table)
}

// TransactionLock is a statement with one placeholder (a lock name) that takes
// a lock held until the transaction ends, or "" when the engine has none.
// SetLocalLockTimeout bounds its wait.
func (e Engine) TransactionLock() string {
	if e == Postgres {
		return "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))"
	}
	return ""
}

// SetLocalLockTimeout is a PostgreSQL statement with one placeholder (a
// lock_timeout value such as "30000ms") that bounds lock waits until the
// transaction ends or ResetLockTimeout.
func (e Engine) SetLocalLockTimeout() string {
	return "SELECT set_config('lock_timeout', ?, true)"
}

// ResetLockTimeout gives PostgreSQL's lock_timeout back its default (the
// server's, database's or role's setting) for the rest of the transaction.
func (e Engine) ResetLockTimeout() string {
	return "SET LOCAL lock_timeout TO DEFAULT"
}

// SessionLock is a MySQL statement with two placeholders (a lock name and a
// timeout in seconds) returning 1 when the lock was taken; ReleaseLock gives
// it back. Other engines return "".
func (e Engine) SessionLock() (lock, release string) {
	if e == MySQL {
		return "SELECT GET_LOCK(?, ?)", "SELECT RELEASE_LOCK(?)"
	}
	return "", ""
}

// SetLocalSearchPath is a PostgreSQL statement with one placeholder (a
// search_path value) that sets search_path until the transaction ends.
func (e Engine) SetLocalSearchPath() string {
	return "SELECT set_config('search_path', ?, true)"
}

// Use makes name the current database of a MySQL connection.
func (e Engine) Use(name string) string {
	return "USE " + e.QuoteIdent(name)
}

// RenameSchema renames a PostgreSQL schema.
func (e Engine) RenameSchema(from, to string) string {
	return "ALTER SCHEMA " + e.QuoteIdent(from) + " RENAME TO " + e.QuoteIdent(to)
}

// SchemaTables is a MySQL query with one placeholder (a database) returning
// its tables and views as rows of table_name and table_type.
func (e Engine) SchemaTables() string {
	return "SELECT TABLE_NAME AS table_name, TABLE_TYPE AS table_type FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME"
}

// SchemaCharset is a MySQL query with one placeholder (a database) returning
// its default character_set and collation.
func (e Engine) SchemaCharset() string {
	return "SELECT DEFAULT_CHARACTER_SET_NAME AS character_set, DEFAULT_COLLATION_NAME AS collation FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?"
}

// CreateSchemaLike creates a MySQL database with the given default character
// set and collation (either may be empty).
func (e Engine) CreateSchemaLike(name, charset, collation string) string {
	stmt := e.CreateSchema(name)
	if charset != "" && isWord(charset) {
		stmt += " CHARACTER SET " + charset
	}
	if collation != "" && isWord(collation) {
		stmt += " COLLATE " + collation
	}
	return stmt
}

// MoveTables moves the named tables from one MySQL database to another in
// one atomic RENAME TABLE.
func (e Engine) MoveTables(from, to string, tables []string) string {
	parts := make([]string, len(tables))
	for i, t := range tables {
		parts[i] = e.Qualify(from, t) + " TO " + e.Qualify(to, t)
	}
	return "RENAME TABLE " + strings.Join(parts, ", ")
}

func isWord(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// CatalogRows is a query with two named placeholders (@schema and @tables, a
// list of table names) returning one text row per relation of those names in
// the schema (PostgreSQL) or database (MySQL), whatever its kind, and per
// column (type, nullability, default, comment), index and constraint of
// them, with the schema's own name left out, so that two schemas with the
// same tables return the same rows. Every lookup goes through a catalog
// index, so its cost does not grow with the number of tenants. SQLite has
// no schemas: it returns no rows.
func (e Engine) CatalogRows() string {
	switch e {
	case Postgres:
		return `WITH rel AS (
	SELECT c.oid, c.relname, c.relkind FROM pg_catalog.pg_class c
	WHERE c.relnamespace = (SELECT n.oid FROM pg_catalog.pg_namespace n WHERE n.nspname = @schema) AND c.relname IN @tables
)
SELECT replace(x, @schema || '.', '') FROM (
	SELECT concat_ws('|', 'r', rel.relname, rel.relkind) AS x FROM rel
	UNION ALL SELECT concat_ws('|', 'c', rel.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity, a.attgenerated,
			coalesce(pg_get_expr(d.adbin, d.adrelid), '~'), coalesce(col_description(rel.oid, a.attnum), '~'))
		FROM rel JOIN pg_catalog.pg_attribute a ON a.attrelid = rel.oid
		LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		WHERE a.attnum > 0 AND NOT a.attisdropped
	UNION ALL SELECT concat_ws('|', 'i', rel.relname, pg_get_indexdef(i.indexrelid))
		FROM rel JOIN pg_catalog.pg_index i ON i.indrelid = rel.oid
	UNION ALL SELECT concat_ws('|', 'k', rel.relname, co.conname, co.contype, pg_get_constraintdef(co.oid))
		FROM rel JOIN pg_catalog.pg_constraint co ON co.conrelid = rel.oid
) t`
	case MySQL:
		return `SELECT CONCAT_WS('|', 'r', TABLE_NAME, TABLE_TYPE) FROM information_schema.TABLES WHERE TABLE_SCHEMA = @schema AND TABLE_NAME IN @tables
UNION ALL SELECT CONCAT_WS('|', 'c', TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COALESCE(COLUMN_DEFAULT, '~'), EXTRA, COALESCE(COLLATION_NAME, ''), COLUMN_COMMENT)
	FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = @schema AND TABLE_NAME IN @tables
UNION ALL SELECT CONCAT_WS('|', 'i', TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COALESCE(COLUMN_NAME, '~'), COALESCE(SUB_PART, 0))
	FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = @schema AND TABLE_NAME IN @tables
UNION ALL SELECT CONCAT_WS('|', 'k', TABLE_NAME, CONSTRAINT_NAME, CONSTRAINT_TYPE)
	FROM information_schema.TABLE_CONSTRAINTS WHERE TABLE_SCHEMA = @schema AND TABLE_NAME IN @tables`
	}
	return "SELECT '' WHERE @schema <> '' AND 0 = 1 AND '' IN @tables"
}

// SchemaRoutines is a MySQL query with three placeholders (the same database
// each time) counting its triggers, routines and events.
func (e Engine) SchemaRoutines() string {
	return `SELECT (SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?)
	+ (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?)
	+ (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?)`
}
