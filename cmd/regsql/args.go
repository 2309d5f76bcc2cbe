package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// permuteArgs moves each command's flags before its positional arguments.
// urfave/cli v2 stops parsing flags at the first positional argument, but
// people type `regsql query "SELECT 1" -o json`. Everything after "--" is
// left alone, and a lone "-" is a positional (standard input).
func permuteArgs(app *cli.App, args []string) []string {
	if len(args) == 0 {
		return args
	}
	out := []string{args[0]}
	flags := app.Flags
	cmds := app.Commands
	rest := args[1:]
	for {
		var lead, pos []string
		i := 0
		var sub *cli.Command
		for ; i < len(rest); i++ {
			a := rest[i]
			if a == "--" {
				pos = append(pos, rest[i:]...)
				i = len(rest)
				break
			}
			if isFlag(a) {
				lead = append(lead, a)
				if !strings.Contains(a, "=") && takesValue(flags, a) && i+1 < len(rest) {
					i++
					lead = append(lead, rest[i])
				}
				continue
			}
			if len(pos) == 0 {
				if c := findCommand(cmds, a); c != nil {
					sub = c
					i++
					break
				}
			}
			pos = append(pos, a)
		}
		out = append(out, lead...)
		if sub == nil {
			return append(out, pos...)
		}
		out = append(out, pos...) // empty: a command comes first
		out = append(out, rest[i-1])
		flags, cmds, rest = sub.Flags, sub.Subcommands, rest[i:]
	}
}

func isFlag(a string) bool {
	return len(a) > 1 && a[0] == '-'
}

// takesValue reports whether the flag named by arg (-x, --name) needs a
// value. Unknown flags are assumed boolean so that cli reports them.
func takesValue(flags []cli.Flag, arg string) bool {
	name := strings.TrimLeft(arg, "-")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			if bf, ok := f.(*cli.BoolFlag); ok && bf != nil {
				return false
			}
			return true
		}
	}
	return false
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}
