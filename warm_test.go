package main_test

import (
	_ "github.com/distribution/distribution/v3/configuration"
	_ "github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/factory"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
	_ "github.com/jmoiron/sqlx"
	_ "github.com/olekukonko/tablewriter"
	_ "github.com/opencontainers/image-spec/specs-go/v1"
	_ "github.com/pressly/goose/v3"
	_ "github.com/regclient/regclient"
	_ "github.com/urfave/cli/v2"
	_ "modernc.org/sqlite"
	"testing"
)

func TestX(t *testing.T) {}
