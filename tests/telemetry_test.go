package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"gorm.io/plugin/opentelemetry/tracing"

	"github.com/kirayedar/kirayedar"
	"github.com/kirayedar/kirayedar/telemetry"
)

// observed is an env whose plugin reports to in-memory OpenTelemetry
// providers, an event list and a JSON log.
type observed struct {
	*env
	spans   *tracetest.SpanRecorder
	tp      *sdktrace.TracerProvider
	metrics *sdkmetric.ManualReader
	mu      sync.Mutex
	events  []telemetry.Event
	log     bytes.Buffer
}

func newObserved(t *testing.T, tg target, edit func(*telemetry.Options)) *observed {
	t.Helper()
	o := &observed{spans: tracetest.NewSpanRecorder(), metrics: sdkmetric.NewManualReader()}
	o.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(o.spans))
	opts := telemetry.Options{
		TracerProvider: o.tp,
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(o.metrics)),
		Logger:         slog.New(slog.NewJSONHandler(lockedWriter{o}, nil)),
		OnEvent: func(ev telemetry.Event) {
			o.mu.Lock()
			defer o.mu.Unlock()
			o.events = append(o.events, ev)
		},
	}
	if edit != nil {
		edit(&opts)
	}
	o.env = newEnv(t, tg, func(c *kirayedar.Config) { c.Telemetry = opts })
	return o
}

type lockedWriter struct{ o *observed }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.o.mu.Lock()
	defer w.o.mu.Unlock()
	return w.o.log.Write(b)
}

// reset forgets what was observed so far.
func (o *observed) reset(t *testing.T) {
	o.mu.Lock()
	o.events = nil
	o.log.Reset()
	o.mu.Unlock()
	o.spans.Reset()
	var rm metricdata.ResourceMetrics
	must(t, o.metrics.Collect(context.Background(), &rm)) // cumulative: read again later, compare
}

func (o *observed) takeEvents() []telemetry.Event {
	o.mu.Lock()
	defer o.mu.Unlock()
	ev := o.events
	o.events = nil
	return ev
}

func (o *observed) logLines(t *testing.T) []map[string]any {
	o.mu.Lock()
	defer o.mu.Unlock()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(o.log.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		must(t, json.Unmarshal([]byte(l), &m))
		lines = append(lines, m)
	}
	return lines
}

// points returns the data points of a metric, keyed by their attributes
// written "k=v,k=v" in sorted order.
func (o *observed) points(t *testing.T, name string) map[string]float64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	must(t, o.metrics.Collect(context.Background(), &rm))
	out := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch data := m.Data.(type) {
			case metricdata.Histogram[float64]:
				for _, p := range data.DataPoints {
					out[attrKey(p.Attributes)] = float64(p.Count)
					if p.Sum <= 0 {
						t.Errorf("%s %s: a duration sum of %v", name, attrKey(p.Attributes), p.Sum)
					}
				}
			case metricdata.Sum[int64]:
				for _, p := range data.DataPoints {
					out[attrKey(p.Attributes)] = float64(p.Value)
				}
			}
		}
	}
	return out
}

func attrKey(set attribute.Set) string {
	var parts []string
	for _, kv := range set.ToSlice() {
		parts = append(parts, string(kv.Key)+"="+kv.Value.Emit())
	}
	return strings.Join(parts, ",")
}

func spanAttr(s sdktrace.ReadOnlySpan, key attribute.Key) string {
	for _, kv := range s.Attributes() {
		if kv.Key == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

func forEachObservedTarget(t *testing.T, fn func(t *testing.T, tg target)) {
	for _, tg := range targets {
		if tg.via == "" && tg.strategy == kirayedar.StrategySchema {
			t.Run(tg.String(), func(t *testing.T) { fn(t, tg) })
		}
	}
}

// Every lifecycle operation reports exactly one event, one span, one
// duration and one log record when it ends, successful or not, with the
// same name, tenant, engine, strategy and duration; failures carry the
// error, span status Error and a failure count.
func TestLifecycleTelemetry(t *testing.T) {
	forEachObservedTarget(t, func(t *testing.T, tg target) {
		o := newObserved(t, tg, nil)
		ctx := context.Background()
		a, b := o.tenantID(), o.tenantID()
		engine := map[string]string{"postgres": "postgresql", "mysql": "mysql"}[tg.engine]

		type step struct {
			name, tenant, newTenant string
			run                     func() error
			want                    error
		}
		steps := []step{
			{telemetry.EventCreate, a, "", func() error { return o.prov.Create(ctx, a) }, nil},
			{telemetry.EventCreate, a, "", func() error { return o.prov.Create(ctx, a) }, kirayedar.ErrTenantExists},
			{telemetry.EventMigrate, a, "", func() error { return o.prov.Migrate(ctx, a) }, nil},
			{telemetry.EventMigrate, b, "", func() error { return o.prov.Migrate(ctx, b) }, kirayedar.ErrTenantNotFound},
			{telemetry.EventRename, a, b, func() error { return o.prov.Rename(ctx, a, b) }, nil},
			{telemetry.EventRename, a, b, func() error { return o.prov.Rename(ctx, a, b) }, kirayedar.ErrTenantNotFound},
			{telemetry.EventDrop, b, "", func() error { return o.prov.Drop(ctx, b) }, nil},
			{telemetry.EventDrop, b, "", func() error { return o.prov.Drop(ctx, b) }, kirayedar.ErrTenantNotFound},
			{telemetry.EventCreate, "Not Valid", "", func() error { return o.prov.Create(ctx, "Not Valid") }, kirayedar.ErrInvalidTenantID},
		}
		o.reset(t)
		wantDurations := map[string]float64{}
		wantFailures := map[string]float64{}
		for _, st := range steps {
			err := st.run()
			if !errors.Is(err, st.want) || (st.want == nil) != (err == nil) {
				t.Fatalf("%s %s: %v, want %v", st.name, st.tenant, err, st.want)
			}
			action := strings.TrimPrefix(st.name, "kirayedar.tenant.")
			outcome := "success"
			if st.want != nil {
				outcome = "failure"
			}
			errType := ""
			switch {
			case st.want == nil:
			case errors.Is(st.want, kirayedar.ErrTenantExists):
				errType = "error.type=tenant_exists,"
			case errors.Is(st.want, kirayedar.ErrTenantNotFound):
				errType = "error.type=tenant_not_found,"
			default:
				errType = "error.type=invalid_tenant_id,"
			}
			key := "db.system.name=" + engine + "," + errType + "kirayedar.action=" + action + ",kirayedar.outcome=" + outcome + ",kirayedar.strategy=schema"
			wantDurations[key]++
			if st.want != nil {
				wantFailures[key]++
			}

			events := o.takeEvents()
			if len(events) != 1 {
				t.Fatalf("%s %s: %d events, want exactly 1", st.name, st.tenant, len(events))
			}
			ev := events[0]
			if ev.Name != st.name || ev.Action != action || ev.Tenant != st.tenant || ev.NewTenant != st.newTenant ||
				ev.Engine != tg.engine || ev.Strategy != "schema" || ev.Duration <= 0 || ev.Start.IsZero() {
				t.Errorf("%s %s: event %+v", st.name, st.tenant, ev)
			}
			if (ev.Err == nil) != (st.want == nil) || ev.Succeeded() != (st.want == nil) || (st.want != nil && !errors.Is(ev.Err, st.want)) {
				t.Errorf("%s %s: event error %v, want %v", st.name, st.tenant, ev.Err, st.want)
			}

			spans := o.spans.Ended()
			if len(spans) != 1 {
				t.Fatalf("%s %s: %d spans, want 1", st.name, st.tenant, len(spans))
			}
			s := spans[0]
			o.spans.Reset()
			if s.Name() != st.name || spanAttr(s, telemetry.AttrTenant) != st.tenant || spanAttr(s, telemetry.AttrAction) != action ||
				spanAttr(s, telemetry.AttrEngine) != engine || spanAttr(s, telemetry.AttrStrategy) != "schema" ||
				spanAttr(s, telemetry.AttrNewTenant) != st.newTenant || !s.EndTime().After(s.StartTime()) {
				t.Errorf("%s %s: span %s with %v", st.name, st.tenant, s.Name(), s.Attributes())
			}
			if st.want == nil && s.Status().Code == codes.Error {
				t.Errorf("%s %s: a successful operation's span has status Error", st.name, st.tenant)
			}
			if st.want != nil && (s.Status().Code != codes.Error || len(s.Events()) == 0 || s.Events()[0].Name != "exception") {
				t.Errorf("%s %s: a failed operation's span: status %v, events %v", st.name, st.tenant, s.Status(), s.Events())
			}
		}

		if got := o.points(t, telemetry.MetricDuration); !sameCounts(got, wantDurations) {
			t.Errorf("duration histogram: %v, want %v", got, wantDurations)
		}
		if got := o.points(t, telemetry.MetricFailures); !sameCounts(got, wantFailures) {
			t.Errorf("failure counter: %v, want %v", got, wantFailures)
		}

		lines := o.logLines(t)
		if len(lines) != len(steps) {
			t.Fatalf("%d log records for %d operations", len(lines), len(steps))
		}
		for i, l := range lines {
			wantLevel := "INFO"
			if steps[i].want != nil {
				wantLevel = "ERROR"
			}
			if l["level"] != wantLevel || l["tenant"] != steps[i].tenant || l["duration"] == nil || (wantLevel == "ERROR") != (l["error"] != nil) {
				t.Errorf("log record %d: %v", i, l)
			}
		}
	})
}

func sameCounts(got, want map[string]float64) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// MigrateAll reports the run and, as its children, each tenant it migrated;
// the run fails when a tenant did, and says how many.
func TestMigrateAllTelemetry(t *testing.T) {
	forEachObservedTarget(t, func(t *testing.T, tg target) {
		o := newObserved(t, tg, nil)
		x, y := o.newTenant(t), o.newTenant(t)
		o.reset(t)
		o.spans.Reset()
		report, err := o.prov.MigrateAll(context.Background(), kirayedar.MigrateOptions{Tenants: []string{x, y, "ghost_" + randomID(4)}, Force: true})
		if err == nil || report.Migrated != 2 || report.Failed != 1 {
			t.Fatalf("MigrateAll: %+v, %v", report, err)
		}
		events := o.takeEvents()
		if len(events) != 3 {
			t.Fatalf("%d events, want the two tenants' and the run's", len(events))
		}
		run := events[len(events)-1]
		if run.Name != telemetry.EventMigrateAll || run.Err == nil || run.Run == nil ||
			*run.Run != (telemetry.RunCounts{Migrated: 2, Failed: 1}) || run.Duration <= 0 {
			t.Errorf("the run's event: %+v", run)
		}
		var runSpan sdktrace.ReadOnlySpan
		children := map[string]sdktrace.ReadOnlySpan{}
		for _, s := range o.spans.Ended() {
			switch s.Name() {
			case telemetry.EventMigrateAll:
				runSpan = s
			case telemetry.EventMigrate:
				children[spanAttr(s, telemetry.AttrTenant)] = s
			}
		}
		if runSpan == nil || runSpan.Status().Code != codes.Error || spanAttr(runSpan, telemetry.AttrFailed) != "1" {
			t.Fatalf("the run's span: %v", runSpan)
		}
		for _, tenant := range []string{x, y} {
			c := children[tenant]
			if c == nil || c.Parent().SpanID() != runSpan.SpanContext().SpanID() || c.Status().Code == codes.Error {
				t.Errorf("tenant %s's span is not a successful child of the run's: %v", tenant, c)
			}
		}
	})
}

// Statements refused for want of a tenant are counted by kind; tenant IDs
// stay out of metric attributes unless asked for.
func TestRefusalsAndTenantAttributes(t *testing.T) {
	forEachObservedTarget(t, func(t *testing.T, tg target) {
		o := newObserved(t, tg, nil)
		_ = o.db.Find(&[]Post{}).Error
		_ = o.db.Find(&[]Post{}).Error
		_ = o.db.Create(&Post{Title: "x"}).Error
		got := o.points(t, telemetry.MetricRefused)
		engine := map[string]string{"postgres": "postgresql", "mysql": "mysql"}[tg.engine]
		want := map[string]float64{
			"db.system.name=" + engine + ",kirayedar.statement.kind=query":  2,
			"db.system.name=" + engine + ",kirayedar.statement.kind=create": 1,
		}
		if !sameCounts(got, want) {
			t.Errorf("refusals: %v, want %v", got, want)
		}
		o.newTenant(t)
		for key := range o.points(t, telemetry.MetricDuration) {
			if strings.Contains(key, "kirayedar.tenant=") {
				t.Errorf("a tenant ID in metric attributes by default: %s", key)
			}
		}

		with := newObserved(t, tg, func(opts *telemetry.Options) { opts.TenantInMetrics = true })
		tenant := with.newTenant(t)
		found := false
		for key := range with.points(t, telemetry.MetricDuration) {
			found = found || strings.Contains(key, "kirayedar.tenant="+tenant)
		}
		if !found {
			t.Error("TenantInMetrics did not add the tenant to the duration's attributes")
		}
	})
}

// With go-gorm/opentelemetry registered, the span it makes for each
// statement carries the statement's tenant (and its schema or database as
// db.namespace); the plugin makes no per-statement span of its own.
func TestQuerySpansCarryTheTenant(t *testing.T) {
	forEachObservedTarget(t, func(t *testing.T, tg target) {
		o := newObserved(t, tg, nil)
		must(t, o.db.Use(tracing.NewPlugin(tracing.WithTracerProvider(o.tp), tracing.WithoutMetrics())))
		a := o.newTenant(t)
		o.spans.Reset()
		A := o.db.WithContext(ctxFor(a))
		must(t, A.Create(&Tag{Name: "t"}).Error)
		must(t, A.Find(&[]Tag{}).Error)
		must(t, A.Exec("UPDATE ? SET name = name", kirayedar.Table(ctxFor(a), "tags")).Error)
		spans := o.spans.Ended()
		if len(spans) < 3 {
			t.Fatalf("%d statement spans", len(spans))
		}
		for _, s := range spans {
			if s.InstrumentationScope().Name == telemetry.ScopeName {
				t.Errorf("the plugin made a span %q for a statement", s.Name())
				continue
			}
			namespace := a
			if tg.engine == "postgres" {
				namespace = o.d.name + "." + a // database.schema
			}
			if spanAttr(s, telemetry.AttrTenant) != a || spanAttr(s, telemetry.AttrNamespace) != namespace {
				t.Errorf("span %s: tenant %q, namespace %q, want %q and %q", s.Name(), spanAttr(s, telemetry.AttrTenant), spanAttr(s, telemetry.AttrNamespace), a, namespace)
			}
		}
	})
}

// A panic in OnEvent does not reach the operation's caller; a panic in the
// operation is reported as a failure before it goes on; a MigrateAll whose
// context ends reports every tenant it did not start; one refusal counts
// once, however often GORM passes its error on.
func TestTelemetryEdgeCases(t *testing.T) {
	forEachObservedTarget(t, func(t *testing.T, tg target) {
		ctx := context.Background()
		t.Run("OnEvent panics", func(t *testing.T) {
			o := newObserved(t, tg, func(opts *telemetry.Options) {
				opts.OnEvent = func(telemetry.Event) { panic("boom") }
			})
			id := o.tenantID()
			must(t, o.prov.Create(ctx, id))
			must(t, o.prov.Drop(ctx, id))
		})
		t.Run("the operation panics", func(t *testing.T) {
			o := newObserved(t, tg, nil)
			id := o.newTenant(t)
			o.takeEvents()
			func() {
				defer func() {
					if recover() == nil {
						t.Error("the panic did not go on")
					}
				}()
				_, _ = o.prov.MigrateAll(ctx, kirayedar.MigrateOptions{Tenants: []string{id}, Force: true,
					Progress: func(kirayedar.Progress) { panic("progress") }})
			}()
			var run *telemetry.Event
			for _, ev := range o.takeEvents() {
				if ev.Name == telemetry.EventMigrateAll {
					run = &ev
				}
			}
			if run == nil || run.Err == nil {
				t.Errorf("a run that panicked reported %+v", run)
			}
		})
		t.Run("a cancelled MigrateAll", func(t *testing.T) {
			o := newObserved(t, tg, nil)
			ids := []string{o.newTenant(t), o.newTenant(t), o.newTenant(t)}
			o.takeEvents()
			cctx, cancel := context.WithCancel(ctx)
			report, _ := o.prov.MigrateAll(cctx, kirayedar.MigrateOptions{Tenants: ids, Force: true, Concurrency: 1,
				Progress: func(kirayedar.Progress) { cancel() }})
			events := o.takeEvents()
			if len(events) != report.Total()+1 {
				t.Errorf("%d events for %d tenants and the run", len(events), report.Total())
			}
		})
		t.Run("one refusal, one count", func(t *testing.T) {
			o := newObserved(t, tg, nil)
			var n int64
			db := o.db.Model(&Post{})
			_ = db.Count(&n).Find(&[]Post{}).Error
			got := o.points(t, telemetry.MetricRefused)
			total := 0.0
			for _, v := range got {
				total += v
			}
			if total != 1 {
				t.Errorf("one refused chain counted %v times: %v", total, got)
			}
		})
	})
}
