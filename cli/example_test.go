package cli_test

import (
	"context"
	"fmt"
	"os"

	"github.com/glebarez/sqlite"
	"github.com/spf13/cobra"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/kirayedar/kirayedar"
	"github.com/kirayedar/kirayedar/cli"
)

// openExample returns an OpenFunc for a private in-memory SQLite database
// whose one tenant model is Note.
func openExample(name string) cli.OpenFunc {
	return func(ctx context.Context) (*kirayedar.Provisioner, error) {
		db, err := gorm.Open(sqlite.Open("file:"+name+"?mode=memory&cache=shared"), &gorm.Config{Logger: logger.Discard})
		if err != nil {
			return nil, err
		}
		if err := db.Use(kirayedar.New(kirayedar.Config{TenantModels: []any{&Note{}}})); err != nil {
			return nil, err
		}
		return kirayedar.NewProvisioner(db.WithContext(ctx))
	}
}

// Main runs the commands in a program without cobra. Results go to the first
// writer; progress and errors to the second, here standard error (the refused
// drop prints "Error: refusing to drop tenant initech without --yes: ...").
func Example() {
	open := openExample("cli_example")
	tenants := func(args ...string) {
		code := cli.Main(context.Background(), open, args, os.Stdout, os.Stderr)
		fmt.Println("exit", code)
	}

	tenants("create", "acme", "globex")
	tenants("rename", "globex", "initech")
	tenants("drop", "initech")
	tenants("list")
	// Output:
	// acme: created
	// globex: created
	// created 2 of 2 tenants
	// exit 0
	// globex -> initech: renamed
	// exit 0
	// exit 2
	// acme
	// initech
	// exit 0
}

// New mounts the commands under an application's own cobra root, next to
// its other commands; ExitCode turns Execute's error into the exit code.
func ExampleNew() {
	open := openExample("cli_example_new")
	for _, args := range [][]string{
		{"tenants", "create", "acme"},
		{"tenants", "list", "-o", "json"},
		{"tenants", "rename", "acme"},
	} {
		root := &cobra.Command{Use: "myapp"} // the application's root
		root.AddCommand(cli.New(open))
		root.SetErr(os.Stdout) // to show the error below; standard error by default
		root.SetArgs(args)
		err := root.ExecuteContext(context.Background())
		fmt.Println("exit", cli.ExitCode(err)) // os.Exit(cli.ExitCode(err)) in main
	}
	// Output:
	// acme: created
	// created 1 of 1 tenant
	// exit 0
	// {
	//   "tenants": [
	//     "acme"
	//   ]
	// }
	// exit 0
	// Error: accepts 2 arg(s), received 1
	// Run 'myapp tenants rename --help' for usage.
	// exit 2
}
