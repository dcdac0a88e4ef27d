package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of Kirayedar's tracer and meter.
const ScopeName = "github.com/kirayedar/kirayedar"

// Attribute keys on spans, metrics and log records.
const (
	AttrTenant    = attribute.Key("kirayedar.tenant")
	AttrNewTenant = attribute.Key("kirayedar.tenant.new")
	AttrAction    = attribute.Key("kirayedar.action")
	AttrStrategy  = attribute.Key("kirayedar.strategy")
	AttrOutcome   = attribute.Key("kirayedar.outcome")
	AttrKind      = attribute.Key("kirayedar.statement.kind")
	AttrEngine    = attribute.Key("db.system.name")
	AttrNamespace = attribute.Key("db.namespace")
	AttrMigrated  = attribute.Key("kirayedar.tenants.migrated")
	AttrUpToDate  = attribute.Key("kirayedar.tenants.up_to_date")
	AttrFailed    = attribute.Key("kirayedar.tenants.failed")
	AttrErrorType = attribute.Key("error.type")
)

// Metric names.
const (
	MetricDuration = "kirayedar.tenant.operation.duration"
	MetricFailures = "kirayedar.tenant.operation.failures"
	MetricRefused  = "kirayedar.statement.refused"
)

// Options configures telemetry. The zero value uses OpenTelemetry's global
// providers, which do nothing until the application installs an SDK, and
// logs nothing.
type Options struct {
	// TracerProvider and MeterProvider default to otel.GetTracerProvider()
	// and otel.GetMeterProvider().
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	// Logger, when set, receives one record per lifecycle operation: info
	// when it succeeded, error when it failed.
	Logger *slog.Logger
	// LogRefusals also logs, at warn, every statement refused for want of
	// a tenant. Off by default: nothing is logged per statement.
	LogRefusals bool
	// OnEvent, when set, is called with each lifecycle Event, synchronously,
	// on the goroutine that ran the operation: MigrateAll's workers call it
	// concurrently, so it must be safe for concurrent use. A panic in it is
	// recovered and reported to otel.Handle (and the Logger); it does not
	// change the operation's outcome.
	OnEvent func(Event)
	// ErrorType names an operation's error for the error.type attribute
	// (a short, bounded set); the plugin sets it.
	ErrorType func(error) string
	// TenantInMetrics adds the tenant ID to metric attributes. Off by
	// default: every tenant would be a time series of its own.
	TenantInMetrics bool
}

// Recorder reports lifecycle operations and refused statements for one
// plugin. The plugin makes it; its methods are safe for concurrent use.
type Recorder struct {
	opts     Options
	tracer   trace.Tracer
	duration metric.Float64Histogram
	failures metric.Int64Counter
	refused  metric.Int64Counter
	engine   string
	strategy string
	common   []attribute.KeyValue
}

// New returns the Recorder for a plugin on engine ("postgres", "mysql",
// "sqlite") with strategy ("schema", "prefix", "session").
func New(opts Options, engine, strategy string) (*Recorder, error) {
	tp, mp := opts.TracerProvider, opts.MeterProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	r := &Recorder{opts: opts, tracer: tp.Tracer(ScopeName), engine: engine, strategy: strategy,
		common: []attribute.KeyValue{AttrEngine.String(systemName(engine)), AttrStrategy.String(strategy)}}
	meter := mp.Meter(ScopeName)
	var err error
	if r.duration, err = meter.Float64Histogram(MetricDuration, metric.WithUnit("s"),
		metric.WithDescription("How long tenant lifecycle operations took."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)); err != nil {
		return nil, fmt.Errorf("kirayedar: telemetry: %w", err)
	}
	if r.failures, err = meter.Int64Counter(MetricFailures, metric.WithUnit("{operation}"),
		metric.WithDescription("Tenant lifecycle operations that failed.")); err != nil {
		return nil, fmt.Errorf("kirayedar: telemetry: %w", err)
	}
	if r.refused, err = meter.Int64Counter(MetricRefused, metric.WithUnit("{statement}"),
		metric.WithDescription("Statements refused before they were sent because their context had no tenant.")); err != nil {
		return nil, fmt.Errorf("kirayedar: telemetry: %w", err)
	}
	return r, nil
}

// systemName is OpenTelemetry's db.system.name for an engine.
func systemName(engine string) string {
	switch engine {
	case "postgres":
		return "postgresql"
	case "mysql":
		return "mysql"
	}
	return engine
}

// Operation is one lifecycle operation in progress; End reports it.
type Operation struct {
	r     *Recorder
	ctx   context.Context
	event Event
	span  trace.Span
}

// Begin starts an operation. The returned context carries its span, so
// operations started from it (MigrateAll's tenants) are its children.
func (r *Recorder) Begin(ctx context.Context, action, tenant, newTenant string) (context.Context, *Operation) {
	op := &Operation{r: r, event: Event{
		Name: "kirayedar.tenant." + action, Action: action, Tenant: tenant, NewTenant: newTenant,
		Engine: r.engine, Strategy: r.strategy, Start: time.Now(),
	}}
	attrs := make([]attribute.KeyValue, 0, 5)
	attrs = append(attrs, AttrAction.String(action))
	attrs = append(attrs, r.common...)
	if tenant != "" {
		attrs = append(attrs, AttrTenant.String(tenant))
	}
	if newTenant != "" {
		attrs = append(attrs, AttrNewTenant.String(newTenant))
	}
	ctx, op.span = r.tracer.Start(ctx, op.event.Name, trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...))
	op.ctx = context.WithoutCancel(ctx)
	return ctx, op
}

// End reports the operation with its outcome: err nil for success.
func (o *Operation) End(err error) { o.end(err, nil) }

// EndRun reports a MigrateAll run with its counts.
func (o *Operation) EndRun(err error, counts RunCounts) { o.end(err, &counts) }

func (o *Operation) end(err error, counts *RunCounts) {
	r, ev, ctx := o.r, &o.event, o.ctx
	ev.Duration, ev.Err, ev.Run = time.Since(ev.Start), err, counts

	outcome := "success"
	attrs := make([]attribute.KeyValue, 0, 6)
	attrs = append(attrs, AttrAction.String(ev.Action))
	attrs = append(attrs, r.common...)
	if err != nil {
		outcome = "failure"
		errType := "_OTHER"
		if r.opts.ErrorType != nil {
			errType = r.opts.ErrorType(err)
		}
		attrs = append(attrs, AttrErrorType.String(errType))
		o.span.SetAttributes(AttrErrorType.String(errType))
	}
	attrs = append(attrs, AttrOutcome.String(outcome))
	if r.opts.TenantInMetrics && ev.Tenant != "" {
		attrs = append(attrs, AttrTenant.String(ev.Tenant))
	}
	// Recorded and logged under the span, so exemplars and trace-aware
	// log handlers link them to it.
	set := metric.WithAttributeSet(attribute.NewSet(attrs...))
	r.duration.Record(ctx, ev.Duration.Seconds(), set)
	if err != nil {
		r.failures.Add(ctx, 1, set)
	}
	if l := r.opts.Logger; l != nil {
		logAttrs := []slog.Attr{slog.String("action", ev.Action), slog.Duration("duration", ev.Duration)}
		if ev.Tenant != "" {
			logAttrs = append(logAttrs, slog.String("tenant", ev.Tenant))
		}
		if ev.NewTenant != "" {
			logAttrs = append(logAttrs, slog.String("new_tenant", ev.NewTenant))
		}
		if counts != nil {
			logAttrs = append(logAttrs, slog.Int("migrated", counts.Migrated), slog.Int("up_to_date", counts.UpToDate), slog.Int("failed", counts.Failed))
		}
		if err != nil {
			l.LogAttrs(ctx, slog.LevelError, ev.Name+" failed", append(logAttrs, slog.Any("error", err))...)
		} else {
			l.LogAttrs(ctx, slog.LevelInfo, ev.Name, logAttrs...)
		}
	}

	if counts != nil {
		o.span.SetAttributes(AttrMigrated.Int(counts.Migrated), AttrUpToDate.Int(counts.UpToDate), AttrFailed.Int(counts.Failed))
	}
	if err != nil {
		o.span.RecordError(err)
		o.span.SetStatus(codes.Error, err.Error())
	}
	o.span.End()

	if r.opts.OnEvent != nil {
		r.callOnEvent(*ev)
	}
}

// callOnEvent calls OnEvent, recovering a panic in it: the operation's
// outcome is decided already and must reach its caller.
func (r *Recorder) callOnEvent(ev Event) {
	defer func() {
		if p := recover(); p != nil {
			err := fmt.Errorf("kirayedar: telemetry: OnEvent panicked on %s: %v", ev.Name, p)
			otel.Handle(err)
			if r.opts.Logger != nil {
				r.opts.Logger.Error(err.Error())
			}
		}
	}()
	r.opts.OnEvent(ev)
}

// Refused counts a statement refused for want of a tenant; kind is GORM's
// statement kind ("query", "create", "update", "delete", "row", "raw").
func (r *Recorder) Refused(ctx context.Context, kind string) {
	r.refused.Add(ctx, 1, metric.WithAttributes(AttrKind.String(kind), r.common[0]))
	if r.opts.LogRefusals && r.opts.Logger != nil {
		r.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "kirayedar: statement refused: no tenant in context", slog.String("kind", kind))
	}
}

// AnnotateStatement puts the tenant (and namespace, when set) on the span
// in ctx, if one is recording: the per-statement span another
// instrumentation (go-gorm/opentelemetry) started. It starts no span.
func (r *Recorder) AnnotateStatement(ctx context.Context, tenant, namespace string) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	if namespace != "" {
		span.SetAttributes(AttrTenant.String(tenant), AttrNamespace.String(namespace))
		return
	}
	span.SetAttributes(AttrTenant.String(tenant))
}
