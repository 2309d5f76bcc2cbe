// Command regsql indexes a distribution registry's storage into SQLite,
// answers questions about it in SQL, and prunes what it finds.
package main

import (
	"fmt"
	"os"
)

func main() {
	app := newApp(os.Stdin, os.Stdout, os.Stderr)
	if err := app.Run(permuteArgs(app, os.Args)); err != nil {
		fmt.Fprintf(os.Stderr, "regsql: %v\n", err)
		os.Exit(exitCode(err))
	}
}
