package walker

// The storage drivers this build can open from a registry config. Adding an
// object store is a blank import here and a word in supportedDrivers.
import (
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
)

const supportedDrivers = "filesystem, inmemory"
