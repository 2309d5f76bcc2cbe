package walker

// The storage drivers this build can open from a registry config: all of
// those a distribution v3 registry ships with. Adding one is a blank import
// here and a word in supportedDrivers.
import (
	_ "github.com/distribution/distribution/v3/registry/storage/driver/azure"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/gcs"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/s3-aws"
)

const supportedDrivers = "filesystem, s3 (s3aws), gcs, azure, inmemory"
