package kirayedar_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/kirayedar/kirayedar"
	"github.com/kirayedar/kirayedar/telemetry"
)

type Note struct {
	ID   uint
	Text string
}

type Plan struct {
	ID   uint
	Name string
}

// openExample opens a private in-memory SQLite database with the plugin
// registered and two tenants provisioned.
func openExample(name string) (*gorm.DB, *kirayedar.Provisioner) {
	db, err := gorm.Open(sqlite.Open("file:"+name+"?mode=memory&cache=shared"), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		panic(err)
	}
	if err := db.Use(kirayedar.New(kirayedar.Config{
		TenantModels: []any{&Note{}},
		GlobalModels: []any{&Plan{}},
	})); err != nil {
		panic(err)
	}
	prov, err := kirayedar.NewProvisioner(db)
	if err != nil {
		panic(err)
	}
	for _, tenant := range []string{"acme", "globex"} {
		if err := prov.Create(context.Background(), tenant); err != nil {
			panic(err)
		}
	}
	return db, prov
}

func Example() {
	db, _ := openExample("example")

	acme := kirayedar.NewContext(context.Background(), "acme")
	globex := kirayedar.NewContext(context.Background(), "globex")
	db.WithContext(acme).Create(&Note{Text: "acme's note"})
	db.WithContext(globex).Create(&Note{Text: "globex's note"})

	var notes []Note
	db.WithContext(acme).Find(&notes)
	fmt.Println("acme sees:", notes[0].Text, len(notes))

	err := db.WithContext(context.Background()).Find(&notes).Error
	fmt.Println("no tenant:", errors.Is(err, kirayedar.ErrNoTenant))

	sql := db.WithContext(globex).ToSQL(func(tx *gorm.DB) *gorm.DB { return tx.Find(&notes) })
	fmt.Println(sql)
	// Output:
	// acme sees: acme's note 1
	// no tenant: true
	// SELECT * FROM `globex__notes` AS `notes`
}

func ExampleWithTenant() {
	db, _ := openExample("example_with_tenant")
	db.Scopes(kirayedar.WithTenant("globex")).Create(&Note{Text: "hello"})

	var n int64
	db.Scopes(kirayedar.WithTenant("globex")).Model(&Note{}).Count(&n)
	fmt.Println("globex:", n)
	db.Scopes(kirayedar.WithTenant("acme")).Model(&Note{}).Count(&n)
	fmt.Println("acme:", n)
	// Output:
	// globex: 1
	// acme: 0
}

func ExampleTable() {
	db, _ := openExample("example_table")
	ctx := kirayedar.NewContext(context.Background(), "acme")
	db.WithContext(ctx).Create(&Note{Text: "raw"})

	var text string
	db.Raw("SELECT n.text FROM ? n WHERE n.id = ?", kirayedar.Table(ctx, "notes"), 1).Scan(&text)
	fmt.Println(text)
	fmt.Println(db.ToSQL(func(tx *gorm.DB) *gorm.DB {
		return tx.Exec("DELETE FROM ?", kirayedar.Table(ctx, "notes"))
	}))
	// Output:
	// raw
	// DELETE FROM `acme__notes`
}

func ExampleGlobal() {
	db, _ := openExample("example_global")
	// The global copy of a tenant table is an ordinary table, here created
	// on purpose for admin reporting.
	db.WithContext(kirayedar.GlobalContext(context.Background())).AutoMigrate(&Note{})
	db.Scopes(kirayedar.Global()).Create(&Note{Text: "for everyone"})

	var notes []Note
	db.Scopes(kirayedar.Global()).Find(&notes)
	fmt.Println(len(notes), notes[0].Text)
	// Output: 1 for everyone
}

func ExampleProvisioner_Create() {
	_, prov := openExample("example_create")
	ctx := context.Background()

	err := prov.Create(ctx, "acme")
	fmt.Println(errors.Is(err, kirayedar.ErrTenantExists))
	err = prov.Create(ctx, "Not Valid")
	fmt.Println(errors.Is(err, kirayedar.ErrInvalidTenantID))
	fmt.Println(err)
	err = prov.Drop(ctx, "public")
	fmt.Println(errors.Is(err, kirayedar.ErrInvalidTenantID))

	tenants, _ := prov.List(ctx)
	fmt.Println(tenants)
	// Output:
	// true
	// true
	// kirayedar: create tenant "Not Valid": invalid tenant ID "Not Valid": upper case letters are not allowed (use a-z, 0-9, - and _)
	// true
	// [acme globex]
}

func ExampleValidateTenantID() {
	for _, id := range []string{"acme", "pg_catalog", "acme;drop"} {
		fmt.Println(id, kirayedar.ValidateTenantID(id))
	}
	// Output:
	// acme <nil>
	// pg_catalog invalid tenant ID "pg_catalog": "pg_catalog" is reserved by postgres
	// acme;drop invalid tenant ID "acme;drop": character ';' at position 5 is not allowed (use a-z, 0-9, - and _)
}

// Lifecycle operations report one telemetry.Event each, success or failure,
// with their duration; the same Options send spans and metrics to
// OpenTelemetry (the global providers unless given) and records to an
// slog.Logger.
func Example_telemetry() {
	db, err := gorm.Open(sqlite.Open("file:example_telemetry?mode=memory&cache=shared"), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		panic(err)
	}
	err = db.Use(kirayedar.New(kirayedar.Config{
		TenantModels: []any{&Note{}},
		Telemetry: telemetry.Options{
			// TracerProvider: tp, MeterProvider: mp, Logger: slog.Default(),
			OnEvent: func(ev telemetry.Event) {
				fmt.Printf("%s %s ok=%v took>0=%v err=%v\n", ev.Name, ev.Tenant, ev.Succeeded(), ev.Duration > 0, ev.Err != nil)
			},
		},
	}))
	if err != nil {
		panic(err)
	}
	prov, err := kirayedar.NewProvisioner(db)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	_ = prov.Create(ctx, "acme")
	_ = prov.Create(ctx, "acme") // exists already
	_ = prov.Drop(ctx, "acme")
	// Output:
	// kirayedar.tenant.create acme ok=true took>0=true err=false
	// kirayedar.tenant.create acme ok=false took>0=true err=true
	// kirayedar.tenant.drop acme ok=true took>0=true err=false
}
