package kirayedar

import (
	"context"
	"database/sql"
	"errors"
	"reflect"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"

	"github.com/kirayedar/kirayedar/internal/sqlscan"
)

// inspect checks what a statement embeds before it is built: subqueries, which
// GORM builds from their own contexts, and raw SQL fragments, which the plugin
// cannot rewrite. GORM drops a subquery's errors and splices in whatever SQL
// it produced, so a subquery without a tenant must fail its outer statement
// here, or the outer statement would be sent. inspect reports false after
// adding an error to stmt.
func (p *Plugin) inspect(stmt *gorm.Statement, sc *scope) bool {
	in := inspector{p: p, sc: sc, stmt: stmt, dry: stmt.Context != nil && stmt.Context.Value(dryRunKey{}) != nil}
	if names := stmt.BuildClauses; len(names) > 0 {
		// The clauses GORM is about to build; a lookup each is cheaper than
		// ranging over the map.
		for _, name := range names {
			if c, ok := stmt.Clauses[name]; ok {
				in.clause(c)
			}
		}
	} else {
		for _, c := range stmt.Clauses {
			in.clause(c)
		}
	}
	if in.err == nil && stmt.TableExpr != nil {
		in.values(stmt.TableExpr.Vars)
	}
	if in.err == nil {
		switch dest := stmt.Dest.(type) { // maps of Update, Updates and Create: not yet clauses
		case map[string]any:
			in.value(dest)
		case []map[string]any:
			for _, m := range dest {
				in.value(m)
			}
		}
	}
	if in.err != nil {
		_ = stmt.AddError(in.err)
		return false
	}
	return true
}

func (in *inspector) clause(c clause.Clause) {
	in.expr(c.BeforeExpression)
	in.expr(c.AfterNameExpression)
	in.expr(c.Expression)
	in.expr(c.AfterExpression)
}

type inspector struct {
	p    *Plugin
	sc   *scope
	stmt *gorm.Statement
	err  error
	// dry: the statement is a subquery being built by checkSubquery, whose
	// own subqueries are checked in the SQL it produces, not built again.
	dry bool
}

// dryRunKey marks the context of a subquery checkSubquery builds.
type dryRunKey struct{}

func (in *inspector) raw(sqlText string, mode sqlscan.Mode) {
	if in.err == nil {
		in.err = in.p.checkRaw(in.sc, sqlText, mode)
	}
}

func (in *inspector) expr(e clause.Expression) {
	if e == nil || in.err != nil {
		return
	}
	switch e := e.(type) {
	case clause.Expr:
		in.raw(e.SQL, sqlscan.Fragment)
		in.values(e.Vars)
	case clause.NamedExpr:
		in.raw(e.SQL, sqlscan.Fragment)
		in.values(e.Vars)
	case clause.Where:
		in.exprs(e.Exprs)
	case clause.AndConditions:
		in.exprs(e.Exprs)
	case clause.OrConditions:
		in.exprs(e.Exprs)
	case clause.NotConditions:
		in.exprs(e.Exprs)
	case clause.CommaExpression:
		in.exprs(e.Exprs)
	case clause.IN:
		in.values(e.Values)
	case clause.Eq:
		in.value(e.Value)
	case clause.Neq:
		in.value(e.Value)
	case clause.Gt:
		in.value(e.Value)
	case clause.Gte:
		in.value(e.Value)
	case clause.Lt:
		in.value(e.Value)
	case clause.Lte:
		in.value(e.Value)
	case clause.Like:
		in.value(e.Value)
	case clause.Select:
		in.columns(e.Columns)
		in.expr(e.Expression)
	case clause.From:
		for _, j := range e.Joins {
			in.join(j)
		}
	case clause.Join:
		in.join(e)
	case clause.Set:
		for _, a := range e {
			in.value(a.Value)
		}
	case clause.GroupBy:
		in.columns(e.Columns)
		in.exprs(e.Having)
	case clause.OrderBy:
		for _, c := range e.Columns {
			in.column(c.Column)
		}
		in.expr(e.Expression)
	case clause.Returning:
		in.columns(e.Columns)
	case clause.Values:
		for _, row := range e.Values {
			in.values(row)
		}
	case clause.OnConflict:
		in.exprs(e.Where.Exprs)
		in.exprs(e.TargetWhere.Exprs)
		for _, a := range e.DoUpdates {
			in.value(a.Value)
		}
	case TableRef:
		in.tableRef(e)
	case clause.Limit, clause.Insert, clause.Update, clause.Delete, clause.Locking:
		// nothing embedded
	default:
		in.foreign(e)
	}
}

// columns checks raw column text: Select("(SELECT ... FROM comments) AS n"),
// Order, Group, Pluck and Distinct strings become raw columns.
func (in *inspector) columns(cols []clause.Column) {
	for _, c := range cols {
		in.column(c)
	}
}

func (in *inspector) column(c clause.Column) {
	if c.Raw {
		in.raw(c.Name, sqlscan.Fragment)
	}
}

// tableRef refuses Table(ctx, ...) for one tenant inside a statement for
// another.
func (in *inspector) tableRef(t TableRef) {
	if in.err != nil || t.ctx == nil || in.sc == nil || in.sc.tenant == "" {
		return
	}
	if ref := scopeOf(t.ctx); ref != nil && ref.tenant != "" && ref.tenant != in.sc.tenant {
		in.err = &StatementError{Table: t.Name, Tenant: in.sc.tenant, Err: ErrCrossTenant,
			Detail: "kirayedar.Table names it for tenant " + quoteName(ref.tenant)}
	}
}

// foreign refuses GORM's generic subqueries (gorm.G[T](db)...): GORM builds
// them with context.Background() whatever the caller's context, and drops
// the error that building them without a tenant raises.
func (in *inspector) foreign(e clause.Expression) {
	t := reflect.TypeOf(e)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if in.err == nil && t.PkgPath() == "gorm.io/gorm" && t.Name() != "result" {
		in.err = &StatementError{Err: ErrUnroutable,
			Detail: "a gorm.G subquery is built without the statement's context; use a *gorm.DB subquery"}
	}
}

func (in *inspector) join(j clause.Join) {
	switch e := j.Expression.(type) {
	case nil:
	case clause.Expr: // Joins("JOIN comments ...") or Joins(", comments")
		in.raw(e.SQL, sqlscan.TableList)
		in.values(e.Vars)
	case clause.NamedExpr:
		in.raw(e.SQL, sqlscan.TableList)
		in.values(e.Vars)
	default:
		in.expr(j.Expression)
	}
	in.exprs(j.ON.Exprs)
}

func (in *inspector) exprs(list []clause.Expression) {
	for _, e := range list {
		in.expr(e)
	}
}

func (in *inspector) values(list []any) {
	for _, v := range list {
		in.value(v)
	}
}

func (in *inspector) value(v any) {
	if in.err != nil {
		return
	}
	switch v := v.(type) {
	case *gorm.DB:
		if !in.dry {
			in.err = in.p.checkSubquery(in.stmt, in.sc, v)
		}
	case clause.Table:
		if v.Name != clause.CurrentTable {
			qualifier, table := splitQualified(v.Name)
			if in.sc == nil || !in.sc.global {
				_, in.err = tableCheck{p: in.p, sc: in.sc, scoped: in.p.sessionScoped(in.sc)}.table(&sqlscan.Ref{Qualifier: qualifier, Name: table})
			}
		}
	case clause.Expression:
		in.expr(v)
	case []any:
		in.values(v)
	case sql.NamedArg:
		in.value(v.Value)
	case map[string]any:
		for _, mv := range v {
			in.value(mv)
		}
	}
}

// checkSubquery builds sub the way GORM will, without sending it, and
// returns the error that building it would have hidden: no tenant, an invalid
// one, a tenant other than the outer statement's, or a tenant table its SQL
// names unrouted (a raw subquery, or one built on a *gorm.DB without the
// plugin).
func (p *Plugin) checkSubquery(outerStmt *gorm.Statement, outer *scope, sub *gorm.DB) error {
	if sub == nil || sub.Statement == nil {
		return nil
	}
	if sub.Statement.SQL.Len() > 0 { // db.Raw(...) as a subquery
		return p.checkRaw(outer, sub.Statement.SQL.String(), sqlscan.Statements)
	}
	ctx := sub.Statement.Context
	if ctx == nil {
		ctx = context.Background()
	}
	dry := sub.Session(&gorm.Session{DryRun: true, Context: context.WithValue(ctx, dryRunKey{}, true), Logger: logger.Discard})
	dry.Callback().Query().Execute(dry)
	if err := dry.Error; err != nil {
		var se *StatementError
		if errors.As(err, &se) && se.Detail == "" {
			detailed := *se // the error may be shared with the caller's chain
			detailed.Detail = "in a subquery"
			return &detailed
		}
		return err
	}
	if err := refusalIn(dry.Statement.SQL.String()); err != nil {
		return err
	}
	// Compare after the dry run: the subquery's own scopes (WithTenant) ran.
	inner := scopeOf(dry.Statement.Context)
	if inner != nil && (inner.global || inner.tenant != "" && (outer == nil || outer.tenant == "")) {
		markRawScope(outerStmt, inner) // its tables are in the SQL that will be checked as it is sent
	}
	switch {
	case inner != nil && inner.global:
		return nil // global on purpose
	case inner != nil && inner.tenant != "" && outer != nil && outer.tenant != "" && inner.tenant != outer.tenant:
		return &StatementError{Tenant: outer.tenant, Err: ErrCrossTenant,
			Detail: "it embeds a subquery built for tenant " + quoteName(inner.tenant)}
	case inner != nil && inner.tenant != "":
		return p.checkRaw(inner, dry.Statement.SQL.String(), sqlscan.Statements)
	}
	return p.checkRaw(outer, dry.Statement.SQL.String(), sqlscan.Statements)
}
