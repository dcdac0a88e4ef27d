package session

import (
	"strconv"
	"strings"

	"github.com/kirayedar/kirayedar/dialect"
)

// On PostgreSQL a schema missing from search_path is skipped, silently: a
// connection whose search_path names a tenant that another process dropped
// or renamed would resolve the tenant's unqualified table names in the
// global schema. So every connection set for a tenant holds a shared
// advisory lock keyed on the tenant, for as long as it is set for it:
//
//   - at session level when the switch is a session one (outside a
//     transaction, and before BEGIN), released by the switch away from the
//     tenant;
//   - at transaction level for a transaction-local switch, released with
//     the transaction, when the LOCAL search_path ends too.
//
// The provisioner's Drop and Rename (in any process) take the lock
// exclusively before they drop or rename the schema, terminating the server
// processes that hold it: no connection stays set for the name, and a
// switch to it waits for the drop's commit and then finds the schema
// missing (ErrNotFound). A connection already set for its tenant sends
// nothing more per statement: the lock costs nothing on the warm path.
//
// The locks are keyed (LockClass, hashtext(tenant)): the two-integer key
// space, which never meets the one-bigint space of the provisioner's
// per-tenant locks. Two tenants whose names hash alike share a key: a drop
// of one then also ends the other's connections, which reconnect; no
// statement runs in a wrong schema.

// LockClass is the first key of the advisory locks connections set for a
// tenant hold; the second is hashtext(tenant), computed by the server.
const LockClass = 1263096409 // "KIRY"

// lockClass is LockClass as SQL.
var lockClass = strconv.Itoa(LockClass)

// writeLock writes a call of the advisory lock function fn for tenant's
// lock. IDs are validated to [a-z0-9_-]: the literal needs no escaping.
func writeLock(b *strings.Builder, fn, tenant string) {
	b.WriteString("pg_catalog.")
	b.WriteString(fn)
	b.WriteString("(" + lockClass + ", pg_catalog.hashtext('")
	b.WriteString(tenant)
	b.WriteString("'))")
}

// TenantLockHolders is a query with one placeholder (?), a tenant ID, that
// lists the server processes of the current database, other than the
// caller's, that hold the tenant's lock: the connections set for the tenant.
var TenantLockHolders = "SELECT l.pid FROM pg_catalog.pg_locks l" +
	" WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2" +
	" AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())" +
	" AND l.classid = " + lockClass +
	" AND l.objid = (pg_catalog.hashtext(?)::bigint & 4294967295)::oid" +
	" AND l.pid <> pg_catalog.pg_backend_pid()"

// TryTenantLock is a statement with one placeholder (?), a tenant ID, that
// takes the tenant's lock exclusively until the transaction ends if no other
// connection holds it, and returns whether it did.
var TryTenantLock = "SELECT pg_catalog.pg_try_advisory_xact_lock(" + lockClass + ", pg_catalog.hashtext(?))"

// postgresSwitch builds the statement that sets the connection's
// search_path for target ("" for the global schema) and moves the tenant
// lock with it: one statement, sent in one round trip. held is the tenant
// whose session-level lock the connection holds ("" for none); local makes
// the switch transaction-local. The statement returns one row when it set
// the connection for target, and none, having changed nothing, when
// target's schema is missing.
//
// Its WHERE clause runs before its select list, and the branches of a CASE
// run in order:
//
//  1. take target's lock, waiting while a Drop or Rename of the tenant
//     holds it;
//  2. absorb the catalog changes committed meanwhile: a statement reads
//     catalog caches as they were at the start of its transaction and
//     refreshes them when it locks a relation it has not locked yet, not
//     when it waits for an advisory lock (after waiting for a drop,
//     to_regnamespace still found the schema). pg_relation_is_updatable
//     opens, and so locks, pg_description: a catalog no cache reads, so
//     not locked earlier in this statement's own transaction;
//  3. check that target's schema exists (to_regnamespace, a catalog cache
//     lookup: reading pg_namespace instead made each switch about 40 µs
//     slower here; pgbench, simple protocol: 118 against 157 µs); if not,
//     give target's lock back.
//
// Then the select list sets search_path and gives back the lock held.
// When the connection holds target's lock already, steps 1 and 2 are left
// out: no Drop or Rename of target can have run since it took it (it would
// have ended the connection).
//
// Inside a transaction the lock is the transaction's, and step 2 cannot
// count on pg_description being unlocked in it; the schema is locked
// instead: pg_get_object_address(...) locks it (until the transaction
// ends), reads the catalog again and fails with "schema does not exist" if
// it is gone. That lock also holds off a DROP SCHEMA, even by hand, until
// the transaction ends. to_regnamespace comes first, so that a schema
// missing for certain sends no error, which would abort the transaction.
func postgresSwitch(global, target, held string, local bool) string {
	var b strings.Builder
	b.Grow(512)
	b.WriteString("SELECT pg_catalog.set_config('search_path', '")
	if target != "" {
		writeIdent(&b, target)
		b.WriteString(", ")
	}
	writeIdent(&b, global)
	if local {
		b.WriteString(", pg_temp', true)")
	} else {
		b.WriteString(", pg_temp', false)")
	}
	if !local && held != "" && held != target {
		b.WriteString(", ")
		writeLock(&b, "pg_advisory_unlock_shared", held)
	}
	exists := func() {
		b.WriteString("pg_catalog.to_regnamespace('")
		if target == "" {
			writeIdent(&b, global)
		} else {
			writeIdent(&b, target)
		}
		b.WriteString("') IS NOT NULL")
	}
	switch {
	case target == "":
		b.WriteString(" WHERE ")
		exists()
		return b.String()
	case local:
		b.WriteString(" WHERE CASE WHEN ")
		writeLock(&b, "pg_advisory_xact_lock_shared", target)
		b.WriteString(" IS NULL THEN false WHEN ")
		exists()
		b.WriteString(" THEN pg_catalog.pg_get_object_address('schema', '{")
		b.WriteString(target)
		b.WriteString("}', '{}') IS NOT NULL ELSE false END")
		return b.String()
	case held == target:
		b.WriteString(" WHERE CASE WHEN ")
	default:
		// pg_advisory_lock_shared returns void, never NULL.
		b.WriteString(" WHERE CASE WHEN ")
		writeLock(&b, "pg_advisory_lock_shared", target)
		b.WriteString(" IS NULL THEN false" +
			" WHEN pg_catalog.pg_relation_is_updatable('pg_catalog.pg_description'::regclass, false) < 0 THEN false WHEN ")
	}
	exists()
	b.WriteString(" THEN true ELSE ")
	writeLock(&b, "pg_advisory_unlock_shared", target)
	b.WriteString(" IS NULL END")
	return b.String()
}

// writeIdent writes a quoted identifier, for a string literal: IDs and the
// global schema's name hold no single quote (checked where they are
// validated and configured).
func writeIdent(b *strings.Builder, name string) {
	b.WriteByte('"')
	b.WriteString(strings.ReplaceAll(name, `"`, `""`))
	b.WriteByte('"')
}

// lostConnection reports a server error after which the server ended the
// session: SQLSTATE class 08 (connection exception) and 57P01-57P05
// (terminated by an administrator, for example by the provisioner's Drop of
// the tenant the connection was set for; crash; shutdown; idle timeout).
func lostConnection(state string) bool {
	return strings.HasPrefix(state, "08") || strings.HasPrefix(state, "57P")
}

// DropGuard returns SQL that installs, in schema (the global one), event
// triggers that do for a DROP SCHEMA or ALTER SCHEMA ... RENAME run by hand
// what the provisioner's Drop and Rename do: take the schema's tenant lock
// exclusively, ending the connections set for it, before the command
// commits. Creating event triggers takes a superuser; the statements are
// idempotent.
func DropGuard(schema string) string {
	q := dialect.Postgres.QuoteIdent(schema)
	class := strconv.Itoa(LockClass)
	return `CREATE OR REPLACE FUNCTION ` + q + `.kirayedar_end_sessions(schema_name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $fn$
DECLARE
	deadline timestamptz := clock_timestamp() + interval '30 seconds';
BEGIN
	WHILE NOT pg_try_advisory_xact_lock(` + class + `, hashtext(schema_name)) LOOP
		IF clock_timestamp() > deadline THEN
			RAISE EXCEPTION 'kirayedar: the connections set for schema % did not end', schema_name
				USING ERRCODE = 'lock_not_available';
		END IF;
		PERFORM pg_terminate_backend(l.pid) FROM pg_locks l
			WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
			AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
			AND l.classid = ` + class + ` AND l.objid = (hashtext(schema_name)::bigint & 4294967295)::oid
			AND l.pid <> pg_backend_pid();
		PERFORM pg_sleep(0.005);
	END LOOP;
END
$fn$;
CREATE OR REPLACE FUNCTION ` + q + `.kirayedar_guard_schemas() RETURNS event_trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $fn$
DECLARE
	gone text;
BEGIN
	IF TG_EVENT = 'sql_drop' THEN
		FOR gone IN SELECT object_name FROM pg_event_trigger_dropped_objects() WHERE object_type = 'schema' LOOP
			PERFORM ` + q + `.kirayedar_end_sessions(gone);
		END LOOP;
	ELSIF TG_EVENT = 'ddl_command_start' THEN
		-- ALTER SCHEMA: note the names, to find the one a rename takes away.
		PERFORM set_config('kirayedar.schemas', (SELECT array_agg(nspname)::text FROM pg_namespace), true);
	ELSE
		FOR gone IN SELECT n FROM unnest(current_setting('kirayedar.schemas')::text[]) n
				WHERE NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = n) LOOP
			PERFORM ` + q + `.kirayedar_end_sessions(gone);
		END LOOP;
	END IF;
END
$fn$;
DROP EVENT TRIGGER IF EXISTS kirayedar_schema_drop;
DROP EVENT TRIGGER IF EXISTS kirayedar_schema_alter_start;
DROP EVENT TRIGGER IF EXISTS kirayedar_schema_alter_end;
CREATE EVENT TRIGGER kirayedar_schema_drop ON sql_drop
	EXECUTE FUNCTION ` + q + `.kirayedar_guard_schemas();
CREATE EVENT TRIGGER kirayedar_schema_alter_start ON ddl_command_start WHEN TAG IN ('ALTER SCHEMA')
	EXECUTE FUNCTION ` + q + `.kirayedar_guard_schemas();
CREATE EVENT TRIGGER kirayedar_schema_alter_end ON ddl_command_end WHEN TAG IN ('ALTER SCHEMA')
	EXECUTE FUNCTION ` + q + `.kirayedar_guard_schemas();
`
}
