// Package dialect holds what Kirayedar knows about each database engine: how
// identifiers are quoted and how long they may be, which names are reserved,
// which tenant IDs are valid, and the DDL and catalog queries the provisioner
// sends. It has no state and sends no SQL itself.
package dialect

import (
	"fmt"
	"strings"
)

// Engine identifies a database engine by the name its GORM dialector reports.
type Engine string

// The engines Kirayedar supports.
const (
	Postgres Engine = "postgres"
	MySQL    Engine = "mysql"
	SQLite   Engine = "sqlite"
)

// Detect maps a GORM dialector name (gorm.Dialector.Name) to an Engine.
// MariaDB is served by the mysql dialector and is reported as MySQL.
func Detect(dialectorName string) (Engine, error) {
	switch dialectorName {
	case "postgres", "pgx":
		return Postgres, nil
	case "mysql":
		return MySQL, nil
	case "sqlite", "sqlite3":
		return SQLite, nil
	}
	return "", fmt.Errorf("kirayedar: unsupported GORM dialector %q (want postgres, mysql or sqlite)", dialectorName)
}

// MaxIdentifierLen is the longest identifier, in bytes, the engine keeps
// without truncating it; 0 means no limit. PostgreSQL silently truncates
// longer names, which is how two tenants could end up sharing one schema.
func (e Engine) MaxIdentifierLen() int {
	switch e {
	case Postgres:
		return 63
	case MySQL:
		return 64
	}
	return 0
}

// DefaultGlobalSchema is the schema (PostgreSQL) or database (SQLite) that
// holds global tables when the configuration names none. MySQL has no fixed
// default: the global database is the connection's current one.
func (e Engine) DefaultGlobalSchema() string {
	switch e {
	case Postgres:
		return "public"
	case SQLite:
		return "main"
	}
	return ""
}

// Reserved reports whether name belongs to the engine itself and may never
// name a tenant.
func (e Engine) Reserved(name string) bool {
	switch e {
	case Postgres:
		return name == "public" || name == "information_schema" || strings.HasPrefix(name, "pg_")
	case MySQL:
		return name == "mysql" || name == "sys" || name == "information_schema" || name == "performance_schema"
	case SQLite:
		return name == "main" || name == "temp" || strings.HasPrefix(name, "sqlite_")
	}
	return false
}

// QuoteIdent quotes one identifier the way the engine's GORM dialector does.
// It assumes a validated name (no quote characters), which every caller in
// Kirayedar passes.
func (e Engine) QuoteIdent(name string) string {
	q := string(e.QuoteChar())
	return q + name + q
}

// QuoteChar is the character the engine's GORM dialector quotes identifiers
// with: a backtick on MySQL and SQLite, a double quote on PostgreSQL.
func (e Engine) QuoteChar() byte {
	if e == Postgres {
		return '"'
	}
	return '`'
}

// Qualify joins a schema (or database) and a table into one quoted reference.
// An empty schema yields the quoted table alone.
func (e Engine) Qualify(schema, table string) string {
	if schema == "" {
		return e.QuoteIdent(table)
	}
	return e.QuoteIdent(schema) + "." + e.QuoteIdent(table)
}
